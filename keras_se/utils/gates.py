"""The excitation values (gates) of every SE block in a model."""

import keras

from keras_se.layers import SqueezeExcite


def se_layers(model):
    """Every `SqueezeExcite` layer of a functional model, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, SqueezeExcite):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(se_layers(layer))
    return found


def gate_values(model, inputs, batch_size=64):
    """The gates of every SE block of `model` for `inputs`.

    Args:
        model: a functional `keras.Model` with `SqueezeExcite` layers (a
            keras_se builder, a retrofitted or a converted model).
        inputs: a batch of model inputs (NumPy array or tensor).
        batch_size: images per forward pass.

    Returns:
        A dict from SE layer name to a NumPy array `(num_inputs, channels)` of
        gate values, in network order.

    Example:

    >>> model = keras_se.models.CifarSEResNet(depth=20)
    >>> gates = gate_values(model, np.zeros((4, 32, 32, 3)))
    >>> gates["conv2_block1_se"].shape
    (4, 16)
    """
    layers = se_layers(model)
    if not layers:
        raise ValueError(
            f"`model` has no SqueezeExcite layer. Received: model={model.name!r}"
        )
    top = [layer for layer in layers if layer in model.layers]
    if len(top) != len(layers):
        raise ValueError(
            "gate_values needs the SE layers at the top level of a functional "
            f"model. Received: model={model.name!r}"
        )
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    features = probe.predict(inputs, batch_size=batch_size, verbose=0)
    if len(layers) == 1:
        features = [features]
    return {
        layer.name: keras.ops.convert_to_numpy(layer.compute_gates(f))
        for layer, f in zip(layers, features)
    }
