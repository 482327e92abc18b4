"""Efficient Channel Attention (ECA-Net): a 1D convolution across channels."""

import math

import keras
from keras import ops

from keras_se.layers.attention_layer import (
    AttentionLayer, activation_config, elements, get_activation, is_positive_int,
    is_positive_number)


def eca_kernel_size(channels, gamma=2, beta=1):
    """ECA-Net's kernel size for C channels: the odd number nearest
    `|log2(C) + beta| / gamma`, at least 3 (timm's rule).

    Args:
        channels: int, C.
        gamma: positive number.
        beta: number.

    Returns:
        An odd int >= 3.

    Example:

    >>> eca_kernel_size(256), eca_kernel_size(2048)
    (5, 7)
    """
    t = int(abs(math.log2(channels) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@keras.saving.register_keras_serializable(package="keras_se")
class EfficientChannelAttention(AttentionLayer):
    """Efficient Channel Attention (Wang et al., ECA-Net, CVPR 2020).

    SE without the bottleneck: each channel's average is mixed with its `k`
    neighbours' by a 1D convolution across channels (no bias, zero padding),
    then a sigmoid gates the channels. `k` grows with log2(C) (see
    `eca_kernel_size`), so a block has 3 to 9 parameters: ECA on ResNet-50 adds
    about 80 in all. timm's `EcaModule`.

    Args:
        kernel_size: an odd int, or None (default) to choose it from C with
            `gamma` and `beta`.
        gamma: positive number of the kernel-size rule.
        beta: number of the kernel-size rule.
        gate: the gate activation (default `"sigmoid"`).
        kernel_initializer: initializer of the 1D kernel.
        data_format: `"channels_last"`, `"channels_first"` or None.
        **kwargs: base layer arguments.

    Example:

    >>> layer = EfficientChannelAttention()
    >>> layer(keras.random.normal((2, 8, 8, 256))).shape
    (2, 8, 8, 256)
    >>> layer.kernel.shape
    (5,)

    Reference:
        - [Wang et al., ECA-Net: Efficient Channel Attention for Deep
          Convolutional Neural Networks, CVPR 2020](https://arxiv.org/abs/1910.03151)
    """

    def __init__(self, kernel_size=None, gamma=2, beta=1, gate="sigmoid",
                 kernel_initializer="glorot_uniform", data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if kernel_size is not None and not (is_positive_int(kernel_size) and kernel_size % 2):
            raise ValueError(
                "`kernel_size` must be an odd positive integer or None. "
                f"Received: kernel_size={kernel_size!r}")
        if not is_positive_number(gamma):
            raise ValueError(f"`gamma` must be a positive number. Received: gamma={gamma!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise ValueError(f"`beta` must be a number. Received: beta={beta!r}")
        self.kernel_size = kernel_size
        self.gamma = gamma
        self.beta = beta
        self.gate = get_activation("gate", gate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.channels = self.input_channels(input_shape)
        k = self.kernel_size or eca_kernel_size(self.channels, self.gamma, self.beta)
        self.kernel = self.add_weight(name="kernel", shape=(k,),
                                      initializer=self.kernel_initializer)

    def compute_gates(self, inputs):
        """The `(batch, C)` float32 gates for `inputs`.

        Example:

        >>> EfficientChannelAttention().compute_gates(keras.random.normal((2, 4, 4, 8))).shape
        (2, 8)
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        z = self.pooled(inputs)
        k = self.kernel.shape[0]
        pad = (k - 1) // 2
        # Cross-correlation over the channel axis, as a sum of shifted copies:
        # k slices of a (batch, C) vector, which every runtime fuses.
        padded = ops.pad(z, [[0, 0], [pad, pad]])
        kernel = ops.cast(self.kernel.value, "float32")
        s = padded[:, 0:self.channels] * kernel[0]
        for i in range(1, k):
            s = s + padded[:, i:i + self.channels] * kernel[i]
        return self.gate(s)

    def call(self, inputs):
        return self.rescale(inputs, self.compute_gates(inputs))

    def macs(self, input_shape):
        # The convolution across channels; the squeeze and the rescale.
        return self.channels * int(self.kernel.shape[0]) + 2 * elements(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "gamma": self.gamma,
            "beta": self.beta,
            "gate": keras.activations.serialize(self.gate),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "gate"))
