"""The excitation values (gates) of every SE block in a model."""

import keras

from keras_se.layers import AttentionLayer


def has_channel_gates(layer):
    """Whether `layer` gates each channel with one value per image: SE, ESE,
    ECA, CBAM (its channel attention) and Gather-Excite with a global extent.

    Args:
        layer: a Keras layer.

    Returns:
        bool.

    Example:

    >>> has_channel_gates(keras_se.layers.GatherExcite(extent=2))
    False
    """
    return isinstance(layer, AttentionLayer) and layer.has_channel_gates


def se_layers(model):
    """Every layer of a functional model that gates channels (`SqueezeExcite`
    and its successors, see `has_channel_gates`), nested models included.

    Args:
        model: a `keras.Model`.

    Returns:
        A list of layers, in network order.

    Example:

    >>> se_layers(keras_se.models.CifarSEResNet(depth=20))[0].name
    'conv2_block1_se'
    """
    found = []
    for layer in model.layers:
        if has_channel_gates(layer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(se_layers(layer))
    return found


class GateProbe:
    """The gates of every SE block (and of every other layer with per-channel
    gates, see `has_channel_gates`) of a model, computed on the device.

    One Keras model, built once, runs the network up to each SE block and the
    block's excitation, so that only the `(batch, channels)` gates leave the
    device, never the feature maps. It follows the model's weights as they
    train: build it once and call it every epoch.

    Args:
        model: a functional `keras.Model` with `SqueezeExcite` layers at its
            top level (a keras_se builder, a retrofitted or a converted model).

    Example:

    >>> model = keras_se.models.CifarSEResNet(depth=20)
    >>> probe = GateProbe(model)
    >>> probe(np.zeros((4, 32, 32, 3)))["conv2_block1_se"].shape
    (4, 16)
    """

    def __init__(self, model):
        self.layers = se_layers(model)
        if not self.layers:
            raise ValueError(
                "`model` has no layer with per-channel gates (SE, ESE, ECA, CBAM, "
                f"global Gather-Excite). Received: model={model.name!r}"
            )
        if any(layer not in model.layers for layer in self.layers):
            raise ValueError(
                "GateProbe needs the SE layers at the top level of a functional "
                f"model. Received: model={model.name!r}"
            )
        features = keras.Model(model.inputs, [layer.input for layer in self.layers])
        self.gates = _Gates(features, self.layers, name=f"{model.name}_gates")

    def __call__(self, inputs, batch_size=64):
        """A dict from SE layer name to a NumPy array `(num_inputs, channels)`
        of gate values, in network order.

        Args:
            inputs: a batch of model inputs (NumPy array or tensor).
            batch_size: images per forward pass.
        """
        if len(inputs) <= batch_size:
            # One batch: Keras' compiled predict step without `predict`'s
            # per-call set-up (a data adapter, an iterator, callbacks).
            gates = self.gates.predict_on_batch(inputs)
        else:
            gates = self.gates.predict(inputs, batch_size=batch_size, verbose=0)
        if not isinstance(gates, (list, tuple)):
            gates = [gates]  # a back end may give a one-output list its one array
        return {layer.name: g for layer, g in zip(self.layers, gates)}


class _Gates(keras.Model):
    """Images -> the gates of each SE layer, on the SE layers' own weights."""

    def __init__(self, features, layers, **kwargs):
        super().__init__(**kwargs)
        self.features = features
        self.se = layers

    def call(self, inputs):
        maps = self.features(inputs, training=False)
        if len(self.se) == 1:
            maps = [maps]
        return [layer.compute_gates(x) for layer, x in zip(self.se, maps)]


def gate_values(model, inputs, batch_size=64):
    """The gates of every SE block of `model` for `inputs` (see `GateProbe`,
    which to build once when gates are read repeatedly).

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
    return GateProbe(model)(inputs, batch_size=batch_size)
