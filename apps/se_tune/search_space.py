"""The search space: the config's lists of values as keras-tuner Choices,
their conditions, their decoding, and a trial's values applied to the configs."""

import copy
import dataclasses
import json

import keras_tuner as kt

from se_tune.attention_registry import ATTENTION_NAMES
from se_tune.config import ModelConfig, TrainConfig
from se_tune.errors import UsageError

SE_LAYER_ARGS = ("squeeze", "gate", "activation", "divisor", "min_units", "use_bias")
ATTENTIONS = (*ATTENTION_NAMES, None)


def _encode_values(key, values):
    """keras-tuner Choices hold numbers, strings or bools of one kind: a list of
    those stays as it is, any other list (null, lists, mixed kinds) becomes JSON
    strings. Returns `(choices, as_json)`."""
    if not isinstance(values, list) or not values:
        raise UsageError(f"search.space.{key} must be a non-empty list. Received: {values!r}")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or \
            all(isinstance(v, str) for v in values) or all(isinstance(v, bool) for v in values):
        return list(values), False
    return [json.dumps(v) for v in values], True


def apply_hyperparameters(values, model_config, train_config):
    """New configs with the trial's hyperparameter values applied."""
    model = copy.deepcopy(model_config)
    train = copy.deepcopy(train_config)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
        if key == "se_ratio" and isinstance(value, dict):
            value = _stage_ratios(value)
        if key in model_fields:
            setattr(model, key, value)
        elif key in SE_LAYER_ARGS:
            model.se_kwargs = {**model.se_kwargs, key: value}
        elif key in train_fields:
            setattr(train, key, value)
        else:
            raise UsageError(
                f"search.space has an unknown hyperparameter {key!r}; use a model "
                f"field, a SqueezeExcite argument ({', '.join(SE_LAYER_ARGS)}) or a "
                "train field"
            )
    return model, train


def _stage_ratios(ratios):
    """A per-stage se_ratio from JSON, whose keys are strings: `{"3": 8}` -> `{3: 8}`."""
    try:
        return {int(stage): ratio for stage, ratio in ratios.items()}
    except ValueError:
        raise UsageError("search.space.se_ratio: a dict maps stage numbers to ratios. "
                         f"Received: {json.dumps(ratios)}") from None


class SearchSpace:
    """The search space of a config: keras-tuner Choices, their conditions and
    their decoding.

    Args:
        space: hyperparameter -> list of values, or `{"values": [...], "when":
            {"earlier_key": [values]}}` for a key searched only when an earlier,
            unconditional key takes one of those values (`SearchConfig.space`).

    Example:

    >>> space = SearchSpace({"optimizer": ["sgd", "adamw"],
    ...                      "momentum": {"values": [0.0, 0.9], "when": {"optimizer": ["sgd"]}}})
    >>> space.grid_size  # sgd with each momentum, adamw
    3
    """

    def __init__(self, space):
        self.encoded, self.as_json, self.conditions = {}, set(), {}
        for key, spec in space.items():
            values = spec
            if isinstance(spec, dict):
                values = spec.get("values")
                self.conditions[key] = self._condition(key, spec)
            self.encoded[key], as_json = _encode_values(key, values)
            if as_json:
                self.as_json.add(key)
        # Refused before any trial, not inside one.
        for ratios in (v for v in self.decode_values("se_ratio") if isinstance(v, dict)):
            _stage_ratios(ratios)
        unknown = [v for v in self.decode_values("attention") if v not in ATTENTIONS]
        if unknown:
            raise UsageError(f"search.space.attention: each value must be one of "
                             f"{', '.join(a or 'null' for a in ATTENTIONS)}. "
                             f"Received: {json.dumps(unknown[0])}")
        self.grid_size = len(self.configurations())

    def _condition(self, key, spec):
        when = spec.get("when")
        if set(spec) != {"values", "when"} or not isinstance(when, dict) or len(when) != 1:
            raise UsageError(
                f"search.space.{key} must be a list of values or "
                '{"values": [...], "when": {"earlier_key": [values]}}. '
                f"Received: {spec!r}")
        (parent, parent_values), = when.items()
        if parent not in self.encoded or parent in self.conditions:
            raise UsageError(
                f"search.space.{key} depends on {parent!r}, which must be an earlier, "
                f"unconditional key of the space. Received: when={when!r}")
        if not isinstance(parent_values, list) or not parent_values:
            raise UsageError(f"search.space.{key}.when.{parent} must be a non-empty list. "
                             f"Received: {parent_values!r}")
        encoded = [json.dumps(v) if parent in self.as_json else v for v in parent_values]
        unknown = [v for v, e in zip(parent_values, encoded) if e not in self.encoded[parent]]
        if unknown:
            raise UsageError(f"search.space.{key}.when.{parent} names values {parent} does not "
                             f"take. Received: {unknown!r}")
        return parent, encoded

    def hyperparameters(self):
        """A `kt.HyperParameters` that declares every Choice, the conditional
        ones in their conditional scope."""
        hp = kt.HyperParameters()
        for key, choices in self.encoded.items():
            if key in self.conditions:
                with hp.conditional_scope(*self.conditions[key]):
                    hp.Choice(key, choices, ordered=False)
            else:
                hp.Choice(key, choices, ordered=False)
        return hp

    def configurations(self):
        """Every configuration of the grid (keras-tuner values), in order, the last
        key varying fastest; a conditional key only where its condition holds."""
        configurations = [{}]
        for key, choices in self.encoded.items():
            parent, wanted = self.conditions.get(key, (None, None))
            configurations = [
                grown for values in configurations
                for grown in ([values] if parent and values[parent] not in wanted
                              else [{**values, key: choice} for choice in choices])
            ]
        return configurations

    def decode_values(self, key):
        """The values of `key` as the config gave them (none when it is not searched)."""
        return [self.decode({key: v})[key] for v in self.encoded.get(key, [])]

    def decode(self, values):
        """Values as the config gave them, from keras-tuner's."""
        return {k: json.loads(v) if k in self.as_json else v for k, v in values.items()}

    def values(self, hp):
        """A trial's active values as the config gave them (None: the network
        without SE); an inactive conditional key is left out."""
        return self.decode({k: hp.get(k) for k in self.encoded if hp.is_active(k)})

    def hparams(self, hp):
        """A trial's active values as TensorBoard's HParams columns take them:
        numbers, strings and bools as they are, other values as JSON ("null": no SE,
        or no attention block)."""
        values = {k: hp.get(k) for k in self.encoded if hp.is_active(k)}
        return {k: json.loads(v) if k in self.as_json and isinstance(json.loads(v), str)
                else v for k, v in values.items()}


def max_trials(search, space):
    return search.max_trials or (space.grid_size if search.tuner == "grid" else 10)


def format_values(values):
    return ", ".join(f"{k}={'none' if v is None else v}" for k, v in values.items())
