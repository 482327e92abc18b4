"""What SE and its successors share: data formats, the squeeze, the FC
bottleneck, float32 gates and the rescale."""

import math

import keras
from keras import ops

DATA_FORMATS = ("channels_last", "channels_first")
SQUEEZE_TYPES = ("avg", "max", "avgmax")


def se_units(channels, ratio=16, divisor=1, min_units=None):
    """Width of the SE bottleneck for `channels` input channels.

    With `divisor == 1` the width is `channels // ratio` (the paper's and
    timm's legacy SENet rule). With `divisor > 1` it follows timm's
    `make_divisible(channels / ratio, divisor, round_limit=0)`: rounded to the
    nearest multiple of `divisor`, at least `min_units` (default: `divisor`).

    Args:
        channels: int, number of input channels.
        ratio: positive number, the reduction ratio r.
        divisor: int >= 1, the width is rounded to a multiple of it.
        min_units: int >= 1 or None, the smallest width allowed.

    Returns:
        int, the bottleneck width.

    Example:

    >>> se_units(256, ratio=16)
    16
    >>> se_units(64, ratio=16, divisor=8)
    8
    """
    value = channels / ratio
    if divisor > 1:
        min_value = min_units or divisor
        return int(max(min_value, int(value + divisor / 2) // divisor * divisor))
    return int(max(min_units or 1, int(value)))


class AttentionLayer(keras.layers.Layer):
    """Base of keras_se's attention layers: SE and its successors.

    Such a layer keeps SE's contract: its output has the input's shape, it
    takes 1D, 2D or 3D feature maps in either data format, and it computes its
    gates in float32 whatever the dtype policy, casting them to the input's
    dtype only for the rescale (a float16 sum over a large map can overflow).
    A subclass gives its cost (`macs`), and where it can start at the identity,
    the last FC layer before its gate (`identity_weights`).

    Args:
        data_format: `"channels_last"`, `"channels_first"` or None (the value
            of `keras.config.image_data_format()`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> class Halve(AttentionLayer):
    ...     def call(self, inputs):
    ...         return self.rescale(inputs, ops.full((1, 1, 1, 1), 0.5))
    >>> Halve()(ops.ones((1, 2, 2, 3))).shape
    (1, 2, 2, 3)
    """

    #: Whether the gates are one per channel and image (see
    #: `keras_se.utils.has_channel_gates`).
    has_channel_gates = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format or keras.config.image_data_format()
        if data_format not in DATA_FORMATS:
            raise ValueError(
                f"`data_format` must be one of {DATA_FORMATS} or None. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format
        self.input_spec = keras.layers.InputSpec(min_ndim=3)

    @property
    def channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def spatial_axes(self, rank):
        """The spatial axes of a rank-`rank` input."""
        if self.data_format == "channels_last":
            return tuple(range(1, rank - 1))
        return tuple(range(2, rank))

    def input_channels(self, input_shape):
        """Checks `input_shape`, fixes the input spec and returns C."""
        name = type(self).__name__
        if len(input_shape) < 3:
            raise ValueError(
                f"{name} needs an input of rank >= 3 (batch, spatial..., "
                f"channels). Received: input_shape={tuple(input_shape)}"
            )
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise ValueError(
                f"The channel dimension of the inputs of {name} must be "
                f"known (data_format={self.data_format!r}). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        axis = len(input_shape) - 1 if self.channel_axis == -1 else 1
        self.input_spec = keras.layers.InputSpec(
            ndim=len(input_shape), axes={axis: int(channels)}
        )
        return int(channels)

    def pooled(self, inputs, how="avg"):
        """`(batch, C)`: each channel's float32 mean or max over space."""
        x = ops.cast(inputs, "float32")
        axes = self.spatial_axes(len(inputs.shape))
        return ops.mean(x, axis=axes) if how == "avg" else ops.max(x, axis=axes)

    def squeezed(self, inputs, squeeze):
        """`(batch, C)` float32: the squeeze `"avg"`, `"max"` or `"avgmax"` (the
        mean of both) of each channel."""
        if squeeze == "avgmax":
            return 0.5 * (self.pooled(inputs) + self.pooled(inputs, "max"))
        return self.pooled(inputs, squeeze)

    def set_width(self, ratio, units, divisor, min_units=None):
        """Checks and keeps the FC bottleneck's width arguments (see `se_units`)."""
        check_width_arguments(ratio, units, divisor, min_units)
        self.ratio, self.units, self.divisor, self.min_units = ratio, units, divisor, min_units

    def bottleneck_units(self, channels):
        """The FC bottleneck's width for `channels` input channels (`units`, or
        `se_units` of `ratio`, `divisor` and `min_units`)."""
        if self.units is not None:
            return self.units
        return se_units(channels, self.ratio, self.divisor, self.min_units)

    def add_bottleneck(self, channels, names, use_bias=True, kernel_initializer="glorot_uniform",
                       bias_initializer="zeros", kernel_regularizer=None,
                       bias_regularizer=None):
        """Adds the weights of the FC bottleneck `C -> units -> C` of SE, CBAM
        and GE: `[kernel1, bias1, kernel2, bias2]`, biases None without
        `use_bias`, named `{names[i]}_kernel` and `{names[i]}_bias` (in the
        order of timm's fc1/fc2 parameters)."""
        units = self.bottleneck_units(channels)
        weights = []
        for name, shape in zip(names, ((channels, units), (units, channels))):
            weights.append(self.add_weight(
                name=f"{name}_kernel", shape=shape, initializer=kernel_initializer,
                regularizer=kernel_regularizer))
            weights.append(self.add_weight(
                name=f"{name}_bias", shape=shape[1:], initializer=bias_initializer,
                regularizer=bias_regularizer) if use_bias else None)
        return weights

    def bottleneck(self, x, weights):
        """The FC bottleneck over `x`'s last axis, in float32 (tiny layers):
        `fc2(activation(fc1(x)))` with `self.activation`."""
        kernel1, bias1, kernel2, bias2 = weights
        h = ops.matmul(x, ops.cast(kernel1.value, "float32"))
        if bias1 is not None:
            h = h + ops.cast(bias1.value, "float32")
        s = ops.matmul(self.activation(h), ops.cast(kernel2.value, "float32"))
        if bias2 is not None:
            s = s + ops.cast(bias2.value, "float32")
        return s

    def identity_weights(self):
        """`(kernel, bias)` of the FC layer in front of the gate, for the types
        that `retrofit(identity_init=True)` starts at the identity (zero kernel,
        a bias at which the gate gives 1); None for the others."""
        return None

    def macs(self, input_shape):
        """Multiply-accumulates of one sample of `input_shape` (batch first):
        FC and convolution MACs, plus one per input element for each pooling
        pass over the input and each rescale (`keras_se.utils.model_stats`)."""
        raise NotImplementedError(f"{type(self).__name__} does not count its MACs")

    def rescale(self, inputs, gates):
        """`inputs * gates`; `(batch, C)` gates are broadcast over space."""
        if len(gates.shape) == 2:
            for axis in self.spatial_axes(len(inputs.shape)):
                gates = ops.expand_dims(gates, axis)
        return inputs * ops.cast(gates, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def elements(input_shape):
    """Elements of one sample of `input_shape` (batch first)."""
    return math.prod(input_shape[1:])


def get_activation(argument, identifier):
    """`keras.activations.get(identifier)`, or a ValueError naming `argument`."""
    try:
        fn = keras.activations.get(identifier)
    except (ValueError, TypeError):
        fn = None
    if fn is None or not callable(fn):
        raise ValueError(
            f"`{argument}` must be a Keras activation name or a callable. "
            f"Received: {argument}={identifier!r}"
        )
    return fn


def activation_config(config, *keys):
    """`config` with the serialized activations under `keys` deserialized."""
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = keras.activations.deserialize(config[key])
    return config


def check_width_arguments(ratio, units, divisor, min_units=None):
    """Raises a ValueError naming the first bad bottleneck-width argument
    (`ratio`, `units`, `divisor`, `min_units`: see `se_units`)."""
    if units is None and not is_positive_number(ratio):
        raise ValueError(f"`ratio` must be a positive number. Received: ratio={ratio!r}")
    if units is not None and not is_positive_int(units):
        raise ValueError(
            f"`units` must be a positive integer or None. Received: units={units!r}")
    if not is_positive_int(divisor):
        raise ValueError(f"`divisor` must be an integer >= 1. Received: divisor={divisor!r}")
    if min_units is not None and not is_positive_int(min_units):
        raise ValueError(
            f"`min_units` must be an integer >= 1 or None. Received: min_units={min_units!r}")


def is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
