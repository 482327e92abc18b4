"""Effective Squeeze-Excitation (ESE), CenterMask's one-layer SE."""

import keras
from keras import ops

from keras_se.layers.attention_layer import (
    AttentionLayer, activation_config, elements, get_activation)


@keras.saving.register_keras_serializable(package="keras_se")
class EffectiveSqueezeExcite(AttentionLayer):
    """Effective Squeeze-Excitation (Lee & Park, CenterMask, 2020).

    SE with one fully connected layer `C -> C` (with bias) in place of SE's
    bottleneck, so that no channel information is lost to the reduction, and
    a hard-sigmoid gate: `x * hard_sigmoid(W mean(x) + b)`. It has about C^2
    parameters per block. timm's `EffectiveSEModule`.

    Args:
        squeeze: `"avg"` (default) or `"avgmax"` (the mean of global average
            and global max pooling, timm's `add_maxpool`).
        gate: the gate activation, a Keras activation name or callable;
            `"hard_sigmoid"` (default, `relu6(x + 3) / 6`) as in CenterMask.
        kernel_initializer: initializer of the FC kernel.
        bias_initializer: initializer of the FC bias.
        kernel_regularizer: optional regularizer of the FC kernel.
        data_format: `"channels_last"`, `"channels_first"` or None.
        **kwargs: base layer arguments.

    Example:

    >>> y = EffectiveSqueezeExcite()(keras.random.normal((2, 8, 8, 32)))
    >>> y.shape
    (2, 8, 8, 32)

    Reference:
        - [Lee & Park, CenterMask: Real-Time Anchor-Free Instance
          Segmentation, CVPR 2020](https://arxiv.org/abs/1911.06667)
    """

    def __init__(self, squeeze="avg", gate="hard_sigmoid", kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if squeeze not in ("avg", "avgmax"):
            raise ValueError(
                f"`squeeze` must be 'avg' or 'avgmax'. Received: squeeze={squeeze!r}")
        self.squeeze = squeeze
        self.gate = get_activation("gate", gate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        self.channels = self.input_channels(input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.channels, self.channels),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(
            name="bias", shape=(self.channels,), initializer=self.bias_initializer)

    def compute_gates(self, inputs):
        """The `(batch, C)` float32 gates for `inputs`.

        Example:

        >>> EffectiveSqueezeExcite().compute_gates(keras.random.normal((2, 4, 4, 8))).shape
        (2, 8)
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        z = self.squeezed(inputs, self.squeeze)
        s = ops.matmul(z, ops.cast(self.kernel.value, "float32"))
        return self.gate(s + ops.cast(self.bias.value, "float32"))

    def call(self, inputs):
        return self.rescale(inputs, self.compute_gates(inputs))

    def identity_weights(self):
        return self.kernel, self.bias

    def macs(self, input_shape):
        # One C x C FC layer; each pooling pass and the rescale read every element.
        pools = 2 if self.squeeze == "avgmax" else 1
        return self.channels * self.channels + (pools + 1) * elements(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "squeeze": self.squeeze,
            "gate": keras.activations.serialize(self.gate),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "gate"))
