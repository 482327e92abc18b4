"""The Squeeze-and-Excitation layer."""

import keras

from keras_se.layers.attention_layer import (
    SQUEEZE_TYPES, AttentionLayer, activation_config, elements,
    get_activation, se_units)

__all__ = ["SqueezeExcite", "se_units"]


@keras.saving.register_keras_serializable(package="keras_se")
class SqueezeExcite(AttentionLayer):
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
        super().__init__(data_format=data_format, **kwargs)
        self.set_width(ratio, units, divisor, min_units)
        if squeeze not in SQUEEZE_TYPES:
            raise ValueError(
                f"`squeeze` must be one of {SQUEEZE_TYPES}. "
                f"Received: squeeze={squeeze!r}"
            )
        self.squeeze = squeeze
        self.activation = get_activation("activation", activation)
        self.gate = get_activation("gate", gate)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        self.channels = self.input_channels(input_shape)
        self.reduce_kernel, self.reduce_bias, self.expand_kernel, self.expand_bias = \
            self.add_bottleneck(
                self.channels, ("reduce", "expand"), self.use_bias, self.kernel_initializer,
                self.bias_initializer, self.kernel_regularizer, self.bias_regularizer)

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
        weights = (self.reduce_kernel, self.reduce_bias, self.expand_kernel, self.expand_bias)
        return self.gate(self.bottleneck(self.squeezed(inputs, self.squeeze), weights))

    def call(self, inputs):
        return self.rescale(inputs, self._gates(inputs))

    def identity_weights(self):
        return self.expand_kernel, self.expand_bias

    def macs(self, input_shape):
        # The two FC layers; the squeeze accumulates and the rescale multiplies
        # every element once.
        units = self.bottleneck_units(self.channels)
        return 2 * self.channels * units + 2 * elements(input_shape)

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
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "activation", "gate"))
