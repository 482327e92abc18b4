"""Edits of a model's graph that the app makes: a head for the data's
classes, attention blocks, and layers in front of its input."""

import keras

import keras_se

from se_tune.errors import UsageError


def _is_softmax(activation):
    return getattr(activation, "__name__", "") == "softmax"


def with_head(model, num_classes, name):
    """`model` ending in logits for `num_classes`: its last Dense, new when its
    outputs differ, without softmax.

    Args:
        model: a functional model.
        num_classes: the data's classes (None: the model as it is).
        name: how the user named the model, for errors.

    Example:

    >>> model = with_head(keras.applications.MobileNetV2(weights=None), 5, "MobileNetV2")
    """
    if num_classes is None:
        return model
    last = dense = model.layers[-1]
    if isinstance(last, keras.layers.Activation) and _is_softmax(last.activation):
        dense = model.layers[-2] if len(model.layers) > 1 else None
        if dense is not None and dense.output is not last.input:
            dense = None
    if isinstance(dense, keras.layers.Dense):
        linear = getattr(dense.activation, "__name__", "") == "linear"
        if dense is last and linear and dense.units == num_classes:
            return model
        head = keras.layers.Dense(num_classes, name=dense.name)
        outputs = head(dense.input)
        if dense.units == num_classes:
            head.set_weights(dense.get_weights())  # the same classifier, as logits
        return keras.Model(model.input, outputs, name=model.name)
    if len(model.output.shape) == 2 and model.output.shape[-1] == num_classes:
        return model  # taken as logits
    raise UsageError(
        f"model.name: {name} ends in a {type(last).__name__} with outputs "
        f"{tuple(model.output.shape)}; the app gives a model a head for the data's "
        f"{num_classes} classes when its last layer is a Dense. Received: {name!r}")


def with_front(model, layers):
    """A copy of `model` on a new input that passes through `layers` first, its
    own layers (copies, with their weights) at the top level, where gate
    analysis finds them; each layer of the copy is called once, so that its
    `input` and `output` are in the copy's graph.

    Args:
        model: a functional model with one input.
        layers: the layers its input goes through first.

    Example:

    >>> model = with_front(model, [keras.layers.RandomFlip("horizontal")])
    """
    inputs = keras.Input(model.input_shape[1:])
    front = {}

    def call(layer, *args, **kwargs):
        if args and args[0] is inputs:
            if "x" not in front:
                x = inputs
                for before in layers:
                    x = before(x)
                front["x"] = x
            args = (front["x"], *args[1:])
        return layer(*args, **kwargs)

    structure = [inputs] if isinstance(model.input, (list, tuple)) else inputs
    clone = keras.models.clone_model(model, input_tensors=structure, call_function=call)
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return keras.Model(inputs, clone.outputs[0], name=model.name)


def with_attention(model, model_config):
    """`model` with the attention blocks of `model_config` added by
    `keras_se.retrofit`, starting from the identity where the block type has
    one; `model` itself when it has blocks already or the configuration has
    none.

    Args:
        model: a functional model.
        model_config: the model section (`se_ratio`, `attention`, `se_kwargs`).

    Example:

    >>> model = with_attention(keras.applications.MobileNetV2(weights=None),
    ...                        ModelConfig(name="keras.applications.MobileNetV2", se_ratio=8))
    """
    if model_config.se_ratio is None or model_config.attention is None:
        return model  # the configuration without attention: the model as it is
    if keras_se.utils.se_layers(model):
        return model
    if isinstance(model_config.se_ratio, dict):
        raise UsageError("model.se_ratio: ratios per stage need a keras_se builder. "
                         f"Received: {model_config.se_ratio!r}")
    arguments = dict(model=model, se_ratio=model_config.se_ratio,
                     se_kwargs=dict(model_config.se_kwargs) or None,
                     attention=model_config.attention)
    try:
        return keras_se.retrofit(identity_init=True, **arguments)
    except ValueError:
        pass  # no identity start for this attention type: retried without
    try:
        return keras_se.retrofit(**arguments)
    except ValueError as error:
        # The library's advice (its `where` argument) is not the app's to give.
        reason = str(error).splitlines()[0].split("; pass `where`")[0].split(" Received:")[0]
        raise UsageError(f"model: retrofit cannot add {model_config.attention} blocks to "
                         f"{model_config.name}: {reason.rstrip('.')}. "
                         f"Received: {model_config.name!r}") from None
