"""Where a run's model comes from, and what it is given to start.

`model.name` is a keras_se builder, a dotted path to any callable that returns
a Keras model (`keras.applications.MobileNetV2`, `my_package.nets:build`), a
`.keras` file, or a keras_se preset (`hf://OWNER/NAME`, or a folder holding
`config.json` and `model.safetensors`). Whatever its source, the app's model:

- returns logits for the data's classes: a last `Dense` with other outputs is
  replaced by a new one (the new head), and a softmax at the end is left out;
- takes the app's images (RGB in [0, 1]) and maps them to the scale its
  weights expect (`model.preprocessing`) with a frozen per-channel affine
  layer named `preprocessing`, saved with the model;
- gets SE (or another attention block) through `keras_se.retrofit`, starting
  from the identity, when it has none and an attention key was set explicitly
  (`model.retrofit`, resolved before the config is saved).
"""

import importlib
import inspect
import os
import warnings

import keras

import keras_se
from keras_se.models.presets import KERAS_SE_SCHEMA
from se_tune.config import PREPROCESSING
from se_tune.errors import UsageError
from se_tune.input_scale import PREPROCESSING_LAYER, named_mode, preprocessing_layer
from se_tune.model_edits import with_attention, with_front, with_head
from se_tune.search_space import SE_LAYER_ARGS

# The builder arguments of a model whose `model.kwargs` is null: the CIFAR
# ResNet at depth 20 (the paper's CIFAR networks are deeper; 20 trains in minutes).
DEFAULT_BUILDER_KWARGS = {"CifarSEResNet": {"depth": 20}}
# The ModelConfig fields and search-space keys that ask for attention blocks.
ATTENTION_KEYS = ("se_ratio", "attention", "se_kwargs", *SE_LAYER_ARGS)


def model_kind(name):
    """"builder", "preset", "file" or "callable": how `model.name` names a model.

    Args:
        name: `model.name`.

    Example:

    >>> model_kind("keras.applications.MobileNetV2")
    'callable'
    """
    if name in keras_se.models.BUILDERS:
        return "builder"
    if name.startswith("hf://") or os.path.isfile(os.path.join(name, "config.json")):
        return "preset"
    if name.endswith(".keras"):
        return "file"
    if ("." in name or ":" in name) and os.path.sep not in name:
        return "callable"
    raise UsageError(
        f"model.name must be a keras_se builder ({', '.join(keras_se.models.BUILDERS)}), a "
        "dotted path to a callable that returns a Keras model, a .keras file or a preset "
        f"(hf://OWNER/NAME or a folder with config.json). Received: {name!r}")


def builder_kwargs(model_config):
    """`model.kwargs`, or the app's defaults for `model.name` when it is null.

    Args:
        model_config: the model section of the config.

    Example:

    >>> builder_kwargs(ModelConfig(name="SEResNet50"))
    {}
    """
    if model_config.kwargs is not None:
        return dict(model_config.kwargs)
    return dict(DEFAULT_BUILDER_KWARGS.get(model_config.name, {}))


def is_builder_from_scratch(model_config):
    """Whether the model is a keras_se builder's, trained from scratch on the
    app's [0, 1] images (the app's default, built on its input directly)."""
    return (model_kind(model_config.name) == "builder"
            and preprocessing_mode(model_config) == "none")


def is_pretrained(model_config):
    """Whether the model starts from weights rather than from scratch."""
    kwargs = model_config.kwargs or {}
    return (model_config.weights is not None or kwargs.get("weights") is not None
            or model_kind(model_config.name) in ("preset", "file"))


def resolve_model_defaults(cfg, given, space_keys=()):
    """Fills the model-dependent defaults of a fit or search config in place,
    before it is saved, so that `config.yaml` says what the run did.

    - `model.retrofit`: for a model from outside keras_se, whether an
      attention key was set explicitly (`given`, or a search-space key);
    - `model.preprocessing`: `auto` becomes the scale found for the model;
    - `data.image_size`: left at 0 for a pretrained or foreign model, the
      model's own input size.

    Args:
        cfg: the command's config (namespace or dataclasses).
        given: the dotted keys the user set.
        space_keys: the search space's keys.
    """
    model = cfg.model
    kind = model_kind(model.name)
    if model.weights is not None and kind != "builder" and not os.path.isfile(model.weights):
        raise UsageError(f"model.weights must be a weights file (.weights.h5). "
                         f"Received: {model.weights!r}")
    if kind != "builder" and model.retrofit is None:
        model.retrofit = bool({f"model.{k}" for k in ATTENTION_KEYS} & set(given)
                              or set(ATTENTION_KEYS) & set(space_keys))
    if model.preprocessing == "auto":
        model.preprocessing = preprocessing_mode(model)
    if (kind != "builder" or is_pretrained(model)) and not cfg.data.image_size \
            and "data.image_size" not in given:
        cfg.data.image_size = own_image_size(model)
        print(f"data.image_size {cfg.data.image_size}: the input size of {model.name}",
              flush=True)


def preprocessing_mode(model_config):
    """The input scale of `model.preprocessing`; for `auto`, the one the model's
    source tells: none for a keras_se builder from scratch, raw for its
    pretrained weights and for timm's presets, the `preprocess_input` of a
    callable's module (keras.applications' families), and for a .keras file
    or a keras_se preset what the model holds: raw when it normalizes [0, 255]
    images itself (`ImageNormalization`), none when the app saved it.

    Raises:
        UsageError: when `auto` cannot tell a pretrained model's scale.
    """
    mode = model_config.preprocessing
    if mode != "auto":
        return mode
    kind = model_kind(model_config.name)
    if kind == "builder":
        return "raw" if is_pretrained(model_config) else "none"
    if kind == "preset" and KERAS_SE_SCHEMA not in _preset(
            keras_se.models.preset_config, model_config.name):
        return "raw"  # timm's layout: `from_preset` normalizes inside
    if kind == "callable":
        module = importlib.import_module(_callable(model_config.name).__module__)
        if hasattr(module, "preprocess_input"):
            return named_mode(module.preprocess_input, model_config.name)
        if not is_pretrained(model_config):
            return "none"
    else:
        layers = (_load_file(model_config.name) if kind == "file"
                  else _preset(keras_se.models.from_preset, model_config.name)).layers
        if any(layer.name == PREPROCESSING_LAYER for layer in layers):
            return "none"  # saved by the app: it scales its inputs itself
        if any(isinstance(layer, keras_se.layers.ImageNormalization) for layer in layers):
            return "raw"
    raise UsageError(
        f"model.preprocessing: auto cannot tell which input scale {model_config.name} expects; "
        f"set one of {', '.join(PREPROCESSING[1:])}. Received: 'auto'")


def own_image_size(model_config):
    """The input size a model is built for without `input_shape`."""
    kind = model_kind(model_config.name)
    if kind == "preset":
        model = _preset(keras_se.models.from_preset, model_config.name)
    else:
        model = _network(model_config, kind, None, None, load_weights=False)
    size = model.input_shape[1]
    if size is None and any(isinstance(layer, keras_se.layers.ImageNormalization)
                            for layer in model.layers):
        size = (keras_se.models.preset_metadata(model)["input_size"] or (None,))[-1]
    if size is None:
        raise UsageError(f"data.image_size: {model_config.name} has no input size of its "
                         "own; set data.image_size. Received: 0")
    return int(size)


def build_foreign_model(model_config, input_shape, num_classes):
    """A model from outside the builders, or a builder's with pretrained
    weights: loaded, given its head for `num_classes`, its attention blocks
    (`model.retrofit`) and its `preprocessing` layer.

    Args:
        model_config: the model section.
        input_shape: the data's image shape.
        num_classes: the data's classes.

    Returns:
        A functional `keras.Model` that returns logits.

    Example:

    >>> model = build_foreign_model(ModelConfig(name="keras.applications.MobileNetV2",
    ...                             kwargs={"alpha": 0.35}), (96, 96, 3), 5)
    """
    kind = model_kind(model_config.name)
    model = _network(model_config, kind, input_shape, num_classes)
    model = with_head(model, num_classes, model_config.name)
    if model_config.retrofit and kind != "builder":
        model = with_attention(model, model_config)
    layer = preprocessing_layer(preprocessing_mode(model_config))
    return with_front(model, [layer]) if layer is not None else model


def _callable(name):
    module_name, _, attribute = name.rpartition(":") if ":" in name else name.rpartition(".")
    try:
        found = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except Exception as error:  # noqa: BLE001 - any failure to import is the user's path
        raise UsageError(f"model.name does not import ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}). "
                         f"Received: {name!r}") from None
    if not callable(found):
        raise UsageError(f"model.name must name a callable. Received: {name!r}")
    return found


def _preset(function, name, **kwargs):
    """`function(name, ...)` of keras_se's presets, its errors one line naming model.name."""
    try:
        return function(name, **kwargs)
    except ValueError as error:
        reason = str(error).splitlines()[0].split(" Received:")[0]
        raise UsageError(f"model.name: {reason} Received: {name!r}") from None


def _parameters(function):
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def _load_file(path):
    if not os.path.isfile(path):
        raise UsageError(f"model.name: no such .keras file. Received: {path!r}")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # noqa: BLE001 - a file Keras cannot load is the user's
        raise UsageError(f"model.name: Keras cannot load this file ({type(error).__name__}). "
                         f"Received: {path!r}") from None


def _network(model_config, kind, input_shape, num_classes, load_weights=True):
    """The model as its source makes it, with `model.weights` loaded (unless
    only its shape is wanted)."""
    if kind == "preset":
        if model_config.weights is not None:
            raise UsageError("model.weights: a preset carries its own weights. "
                             f"Received: {model_config.weights!r}")
        # A keras_se preset is the saved model itself, input shape included.
        timm = KERAS_SE_SCHEMA not in _preset(keras_se.models.preset_config, model_config.name)
        return _preset(keras_se.models.from_preset, model_config.name, classes=num_classes,
                                           input_shape=input_shape if timm else None)
    if kind == "builder":
        kwargs = builder_kwargs(model_config)
        kwargs.update(weights=model_config.weights if load_weights else None,
                      classifier_activation=None,
                      se_ratio=model_config.se_ratio, attention=model_config.attention,
                      se_integration=model_config.se_integration,
                      se_stages=model_config.se_stages,
                      se_kwargs=dict(model_config.se_kwargs) or None)
        if input_shape is not None:
            kwargs["input_shape"] = input_shape
        # keras_se's builders make a new head for `classes` themselves.
        return _call(keras_se.models.BUILDERS[model_config.name].builder,
                     {**kwargs, "classes": num_classes}, model_config.name)
    for key, default in (("se_integration", "standard"), ("se_stages", None)):
        if getattr(model_config, key) != default:
            raise UsageError(f"model.{key} applies to keras_se builders; a retrofitted model "
                             f"gets the standard integration everywhere. Received: "
                             f"{getattr(model_config, key)!r}")
    if kind == "file":
        attempts = [lambda: _load_file(model_config.name)]
    else:
        builder = _callable(model_config.name)
        kwargs = dict(model_config.kwargs or {})
        if input_shape is not None:
            kwargs.setdefault("input_shape", input_shape)
        if "weights" in _parameters(builder):
            # From scratch unless told (keras.applications' default is imagenet).
            kwargs.setdefault("weights", None)
        # A weights file fits the model with the data's classes or with the
        # callable's own (the new head then replaces it); weights the callable
        # loads itself keep its own classes.
        sizes = [{}]
        if num_classes is not None and "classes" not in kwargs and kwargs.get("weights") is None:
            sizes = [{"classes": num_classes}, *([{}] if model_config.weights else [])]
        attempts = [lambda extra=extra: _call(builder, {**kwargs, **extra}, model_config.name)
                    for extra in sizes]
    errors = []
    for attempt in attempts:
        try:
            model = attempt()
        except UsageError:
            if not errors:
                raise
            break  # no model of its own classes: the file's misfit is the news
        if model_config.weights is None or not load_weights:
            return model
        try:
            with warnings.catch_warnings():
                # Keras warns of a container of the functional graph that
                # weights files do not hold; the layers' weights all load.
                warnings.filterwarnings("ignore", message="Skipping nested container")
                model.load_weights(model_config.weights)
            return model
        except Exception as error:  # noqa: BLE001 - a file that does not fit is the user's
            errors.append(error)
    raise UsageError(f"model.weights does not fit {model_config.name} "
                     f"({type(errors[0]).__name__}: {str(errors[0]).splitlines()[0][:200]}). "
                     f"Received: {model_config.weights!r}")


def _call(builder, kwargs, name):
    try:
        model = builder(**kwargs)
    except (ValueError, TypeError) as error:
        raise UsageError(f"model: {name}: {str(error).splitlines()[0]}") from None
    if not isinstance(model, keras.Model):
        raise UsageError(f"model.name must return a Keras model; it returned a "
                         f"{type(model).__name__}. Received: {name!r}")
    return model
