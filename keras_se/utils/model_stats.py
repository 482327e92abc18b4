"""Parameter and multiply-accumulate (MAC) counts of Keras models."""

import math

import keras

from keras_se.layers import AttentionLayer
from keras_se.models.registry import get_builder


def model_stats(model, **builder_kwargs):
    """Parameters and MACs of one sample through `model`.

    MACs are those of the convolution and Dense layers (Conv1D/2D/3D, grouped,
    depthwise, separable and transposed convolutions), the convention behind
    keras.applications.ResNet50's 3.858 G, plus the whole work of every
    `SqueezeExcite`: its two FC layers, one accumulate per input element for
    the squeeze and one multiply per element for the rescale (which brings
    the counts to the SE paper's figures: SE-ResNet-50 3.87 G). SE's
    successors are counted the same way: their FC layers and convolutions,
    plus one per input element for each pooling pass and each rescale (see
    `layer_macs`). Other element-wise work (BN, activations, additions) is not
    counted. Nested models are walked through.

    Args:
        model: a built `keras.Model` whose spatial input sizes are known, or
            the name of a builder of `keras_se.models`, which is then built at
            its registered default input size.
        **builder_kwargs: with a builder's name, its arguments (`se_ratio`,
            `input_shape`, `classes`...).

    Returns:
        `{"params": int, "macs": int}`.

    Example:

    >>> stats = model_stats(keras_se.models.SEResNet50())
    >>> round(stats["macs"] / 1e9, 3)
    3.872
    >>> model_stats("SEResNet50", se_ratio=None)["params"]
    25610152
    """
    if isinstance(model, str):
        info = get_builder(model)
        model = info.builder(**{"input_shape": info.default_input_shape(), **builder_kwargs})
    elif builder_kwargs:
        raise ValueError(
            "builder arguments go with a builder's name, not a built model. "
            f"Received: model={type(model).__name__}, {builder_kwargs}"
        )
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: model={type(model).__name__}"
        )
    return {"params": int(model.count_params()), "macs": int(_model_macs(model))}


def _model_macs(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += _model_macs(layer)
        else:
            total += layer_macs(layer)
    return total


def _shapes(layer):
    try:
        return tuple(layer.input.shape), tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None, None


def _size(shape, layer):
    dims = shape[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"model_stats needs fixed input sizes; layer {layer.name!r} has "
            f"an unknown dimension. Received: shape={shape}"
        )
    return math.prod(dims)


def layer_macs(layer):
    """MACs of one sample through a single layer (0 for element-wise layers)."""
    if not isinstance(
        layer,
        (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
         keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
         keras.layers.Conv3DTranspose, keras.layers.Dense,
         keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
         keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
         keras.layers.EinsumDense, AttentionLayer),
    ):
        return 0
    in_shape, out_shape = _shapes(layer)
    if in_shape is None:
        return 0
    if isinstance(layer, AttentionLayer):
        _size(in_shape, layer)  # fixed sizes
        return layer.macs(in_shape)
    if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
        kernel = math.prod(layer.kernel.shape)
        per_position = _size(out_shape, layer) // math.prod(
            layer.kernel.shape[1:] if isinstance(layer, keras.layers.Dense)
            else [out_shape[-1]]
        )
        return per_position * kernel
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    in_channels = in_shape[-1] if channels_last else in_shape[1]
    out_size = _size(out_shape, layer)
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        return out_size * math.prod(layer.kernel_size)
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        out_channels = out_shape[-1] if channels_last else out_shape[1]
        positions = out_size // out_channels
        depthwise = positions * in_channels * layer.depth_multiplier * math.prod(
            layer.kernel_size
        )
        return depthwise + positions * in_channels * layer.depth_multiplier * out_channels
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                          keras.layers.Conv3DTranspose)):
        out_channels = out_shape[-1] if channels_last else out_shape[1]
        return _size(in_shape, layer) * out_channels * math.prod(layer.kernel_size)
    # Grouped and plain convolutions: each output sees kernel * C_in / groups.
    groups = getattr(layer, "groups", 1)
    return out_size * math.prod(layer.kernel_size) * in_channels // groups
