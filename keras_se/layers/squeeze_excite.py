"""The Squeeze-and-Excitation layer."""

import keras
from keras import ops

from keras_se.layers.attention_layer import (
    activation_config, check_width_arguments, get_activation)

SQUEEZE_TYPES = ("avg", "max", "avgmax")
DATA_FORMATS = ("channels_last", "channels_first")


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


@keras.saving.register_keras_serializable(package="keras_se")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation block (Hu et al., 2018).

    Pools each channel to one number (squeeze), passes that vector through a
    bottleneck MLP `C -> units -> C` with an activation and a gate
    (excitation), and rescales the input channels by the gate values.

    Args:
        ratio: positive number, the reduction ratio r. The bottleneck width is
            `C / ratio` rounded as `divisor` says. Ignored when `units` is
            given. Defaults to 16.
        units: optional int, an explicit bottleneck width.
        divisor: int >= 1. With 1 (default) the width is `C // ratio`; above 1
            it is rounded to the nearest multiple of `divisor` as timm's
            `make_divisible(..., round_limit=0)` does (timm's SE-ResNets use 8).
        min_units: optional int >= 1, the smallest bottleneck width. Defaults to
            1, or to `divisor` when `divisor > 1` (timm's rule).
        squeeze: `"avg"` (default, global average pooling), `"max"` (global max
            pooling) or `"avgmax"` (the mean of both).
        activation: activation of the bottleneck, any Keras activation name or
            callable. Defaults to `"relu"`.
        gate: activation that makes the gates, any Keras activation name or
            callable (`"sigmoid"`, the default; `"hard_sigmoid"`, `"tanh"`,
            `"relu"` are the paper's ablations).
        use_bias: bool, whether both FC layers have biases. Defaults to True.
        kernel_initializer: initializer of both FC kernels.
        bias_initializer: initializer of both FC biases.
        kernel_regularizer: optional regularizer of both FC kernels.
        bias_regularizer: optional regularizer of both FC biases.
        data_format: `"channels_last"`, `"channels_first"` or None (the value
            of `keras.config.image_data_format()`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of rank 3 or more.

    Input shape:
        `(batch, *spatial, C)` with `channels_last`, `(batch, C, *spatial)` with
        `channels_first`, for any number of spatial axes (1D, 2D, 3D, ...).

    Output shape:
        The input shape.

    Example:

    >>> x = keras.random.normal((2, 8, 8, 32))
    >>> y = SqueezeExcite(ratio=4)(x)
    >>> y.shape
    (2, 8, 8, 32)

    Reference:
        - [Hu et al., Squeeze-and-Excitation Networks, CVPR 2018](
            https://arxiv.org/abs/1709.01507)
    """

    def __init__(
        self,
        ratio=16,
        units=None,
        divisor=1,
        min_units=None,
        squeeze="avg",
        activation="relu",
        gate="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_width_arguments(ratio, units, divisor, min_units)
        if squeeze not in SQUEEZE_TYPES:
            raise ValueError(
                f"`squeeze` must be one of {SQUEEZE_TYPES}. "
                f"Received: squeeze={squeeze!r}"
            )
        data_format = data_format or keras.config.image_data_format()
        if data_format not in DATA_FORMATS:
            raise ValueError(
                f"`data_format` must be one of {DATA_FORMATS} or None. "
                f"Received: data_format={data_format!r}"
            )
        self.ratio = ratio
        self.units = units
        self.divisor = divisor
        self.min_units = min_units
        self.squeeze = squeeze
        self.activation = get_activation("activation", activation)
        self.gate = get_activation("gate", gate)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.data_format = data_format
        self.input_spec = keras.layers.InputSpec(min_ndim=3)

    @property
    def channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def bottleneck_units(self, channels):
        """The bottleneck width this layer uses for `channels` input channels."""
        if self.units is not None:
            return self.units
        return se_units(channels, self.ratio, self.divisor, self.min_units)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"SqueezeExcite needs an input of rank >= 3 (batch, spatial..., "
                f"channels). Received: input_shape={tuple(input_shape)}"
            )
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise ValueError(
                "The channel dimension of the inputs of SqueezeExcite must be "
                f"known (data_format={self.data_format!r}). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.channels = int(channels)
        units = self.bottleneck_units(self.channels)
        # Weight order: reduce kernel, reduce bias, expand kernel, expand bias
        # (the order of timm's fc1/fc2 parameters).
        self.reduce_kernel, self.reduce_bias = self._add_fc("reduce", self.channels, units)
        self.expand_kernel, self.expand_bias = self._add_fc("expand", units, self.channels)
        axis = len(input_shape) - 1 if self.channel_axis == -1 else 1
        self.input_spec = keras.layers.InputSpec(
            ndim=len(input_shape), axes={axis: self.channels}
        )

    def _add_fc(self, prefix, fan_in, fan_out):
        kernel = self.add_weight(
            name=f"{prefix}_kernel",
            shape=(fan_in, fan_out),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        bias = None
        if self.use_bias:
            bias = self.add_weight(
                name=f"{prefix}_bias",
                shape=(fan_out,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        return kernel, bias

    def _spatial_axes(self, rank):
        if self.data_format == "channels_last":
            return tuple(range(1, rank - 1))
        return tuple(range(2, rank))

    def compute_gates(self, inputs):
        """The excitation values for `inputs`.

        Args:
            inputs: a tensor the layer accepts.

        Returns:
            A `(batch, C)` tensor of gate values (in `[0, 1]` for the sigmoid
            gate), in float32 so that gates are comparable across policies.

        Example:

        >>> layer = SqueezeExcite(ratio=4)
        >>> x = keras.random.normal((2, 8, 8, 32))
        >>> layer.compute_gates(x).shape
        (2, 32)
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        return self._gates(inputs)

    def _gates(self, inputs):
        axes = self._spatial_axes(len(inputs.shape))
        # Pool in float32: a float16 sum over a large feature map can overflow.
        x = ops.cast(inputs, "float32")
        if self.squeeze == "avg":
            z = ops.mean(x, axis=axes)
        elif self.squeeze == "max":
            z = ops.max(x, axis=axes)
        else:
            z = 0.5 * (ops.mean(x, axis=axes) + ops.max(x, axis=axes))
        # The two FC layers are tiny: keep them in float32 as well.
        h = ops.matmul(z, ops.cast(self.reduce_kernel.value, "float32"))
        if self.use_bias:
            h = h + ops.cast(self.reduce_bias.value, "float32")
        h = self.activation(h)
        s = ops.matmul(h, ops.cast(self.expand_kernel.value, "float32"))
        if self.use_bias:
            s = s + ops.cast(self.expand_bias.value, "float32")
        return self.gate(s)

    def call(self, inputs):
        rank = len(inputs.shape)
        gates = ops.cast(self._gates(inputs), inputs.dtype)
        # Broadcast (batch, C) over the spatial axes.
        for axis in self._spatial_axes(rank):
            gates = ops.expand_dims(gates, axis)
        return inputs * gates

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "units": self.units,
                "divisor": self.divisor,
                "min_units": self.min_units,
                "squeeze": self.squeeze,
                "activation": keras.activations.serialize(self.activation),
                "gate": keras.activations.serialize(self.gate),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "data_format": self.data_format,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "activation", "gate"))
