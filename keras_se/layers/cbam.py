"""CBAM: channel attention on average and max pooling, then spatial attention."""

import math

import keras
from keras import ops

from keras_se.layers.attention_layer import (
    AttentionLayer, activation_config, elements, get_activation,
    is_positive_int)

_CONVS = {3: keras.layers.Conv1D, 4: keras.layers.Conv2D, 5: keras.layers.Conv3D}


@keras.saving.register_keras_serializable(package="keras_se")
class CBAM(AttentionLayer):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018).

    Channel attention first: one bottleneck MLP `C -> C/r -> C`, shared by the
    global average and the global max of each channel, whose two outputs are
    summed and gated. Then spatial attention: a `k x k` convolution (no bias,
    followed by batch normalization as in the paper's code and timm) over the
    channel-wise mean and max maps, and a gate per position. timm's
    `CbamModule`.

    Args:
        ratio: positive number, the channel MLP's reduction ratio (16).
        units: optional int, an explicit MLP width (overrides `ratio`).
        divisor: int >= 1, the width's rounding (see `se_units`).
        spatial_kernel_size: odd int, the spatial convolution's size (7).
        activation: the MLP's activation (`"relu"`).
        gate: the gate of both attentions (`"sigmoid"`).
        use_bias: whether the MLP has biases (False, as in the paper).
        kernel_initializer: initializer of the MLP and convolution kernels.
        data_format: `"channels_last"`, `"channels_first"` or None.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a tensor of rank 3 to 5 (1D, 2D or 3D maps).
        training: whether the spatial batch normalization uses the batch's
            statistics (and updates its moving ones).

    Example:

    >>> CBAM(ratio=8)(keras.random.normal((2, 8, 8, 32))).shape
    (2, 8, 8, 32)

    Reference:
        - [Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018](
            https://arxiv.org/abs/1807.06521)
    """

    def __init__(self, ratio=16, units=None, divisor=1, spatial_kernel_size=7,
                 activation="relu", gate="sigmoid", use_bias=False,
                 kernel_initializer="glorot_uniform", data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.set_width(ratio, units, divisor)
        if not (is_positive_int(spatial_kernel_size) and spatial_kernel_size % 2):
            raise ValueError(
                "`spatial_kernel_size` must be an odd positive integer. "
                f"Received: spatial_kernel_size={spatial_kernel_size!r}")
        self.spatial_kernel_size = spatial_kernel_size
        self.activation = get_activation("activation", activation)
        self.gate = get_activation("gate", gate)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.channels = self.input_channels(input_shape)
        if len(input_shape) > 5:
            raise ValueError(
                "CBAM takes 1D, 2D or 3D maps (rank 3 to 5). "
                f"Received: input_shape={tuple(input_shape)}")
        self.fc1_kernel, self.fc1_bias, self.fc2_kernel, self.fc2_bias = self.add_bottleneck(
            self.channels, ("fc1", "fc2"), self.use_bias, self.kernel_initializer)
        # The spatial branch runs in float32 like the gates, on channels_last
        # maps (TensorFlow's CPU convolutions take no other layout).
        self.spatial_conv = _CONVS[len(input_shape)](
            1, self.spatial_kernel_size, padding="same", use_bias=False,
            data_format="channels_last", kernel_initializer=self.kernel_initializer,
            dtype="float32", name="spatial_conv")
        self.spatial_bn = keras.layers.BatchNormalization(
            axis=-1, epsilon=1e-5, momentum=0.9, dtype="float32", name="spatial_bn")
        spatial = [input_shape[a] for a in self.spatial_axes(len(input_shape))]
        self.spatial_conv.build((input_shape[0], *spatial, 2))
        self.spatial_bn.build((input_shape[0], *spatial, 1))

    def _mlp(self, z):
        return self.bottleneck(z, (self.fc1_kernel, self.fc1_bias, self.fc2_kernel, self.fc2_bias))

    def compute_gates(self, inputs):
        """The channel attention's `(batch, C)` float32 gates for `inputs`.

        Example:

        >>> CBAM(ratio=4).compute_gates(keras.random.normal((2, 4, 4, 8))).shape
        (2, 8)
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        return self.gate(self._mlp(self.pooled(inputs)) + self._mlp(self.pooled(inputs, "max")))

    def spatial_gates(self, inputs, training=None):
        """The spatial attention's float32 gates: the input's shape with one channel."""
        x = ops.cast(inputs, "float32")
        maps = ops.concatenate([
            ops.mean(x, axis=self.channel_axis, keepdims=True),
            ops.max(x, axis=self.channel_axis, keepdims=True)], axis=self.channel_axis)
        if self.channel_axis == 1:
            maps = ops.moveaxis(maps, 1, -1)
        gates = self.gate(self.spatial_bn(self.spatial_conv(maps), training=training))
        return ops.moveaxis(gates, -1, 1) if self.channel_axis == 1 else gates

    def call(self, inputs, training=None):
        x = self.rescale(inputs, self.compute_gates(inputs))
        return self.rescale(x, self.spatial_gates(x, training=training))

    def macs(self, input_shape):
        # Channel MLP on avg and max; avg, max and rescale for the channel
        # gate, then again for the spatial one; the 2-map spatial convolution.
        size = elements(input_shape)
        units = self.bottleneck_units(self.channels)
        positions = size // self.channels
        conv = positions * 2 * math.prod(self.spatial_conv.kernel_size)
        return 4 * self.channels * units + 6 * size + conv

    def get_config(self):
        return {
            **super().get_config(),
            "ratio": self.ratio,
            "units": self.units,
            "divisor": self.divisor,
            "spatial_kernel_size": self.spatial_kernel_size,
            "activation": keras.activations.serialize(self.activation),
            "gate": keras.activations.serialize(self.gate),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "activation", "gate"))
