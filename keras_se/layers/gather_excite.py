"""Gather-Excite: gates from context gathered over a global or local extent."""

import math

import keras
from keras import ops

from keras_se.layers.attention_layer import (
    AttentionLayer, activation_config, elements, get_activation)

_DEPTHWISE = {3: keras.layers.DepthwiseConv1D, 4: keras.layers.DepthwiseConv2D}


@keras.saving.register_keras_serializable(package="keras_se")
class GatherExcite(AttentionLayer):
    """Gather-Excite (Hu et al., NeurIPS 2018).

    Gather: each channel is averaged over an extent, the whole map
    (`extent=0`) or a window of stride `extent` (a `2 * extent - 1` average
    pool that ignores padding, or with `extra_params`, log2(extent) strided 3x3
    depthwise convolutions with batch normalization). Excite: the gathered map,
    optionally through a bottleneck MLP, is brought back to the input's size
    (nearest neighbour) and gates every position of every channel.

    The paper's variants: GE-theta-minus (the default: `extent=0`, no
    parameters at all), GE-theta (`extra_params=True`) and GE-theta-plus
    (`use_mlp=True` as well). With `extent=0` and `use_mlp=True` it is SE. As
    timm's `GatherExcite` (whose `use_mlp` defaults to True).

    Args:
        extent: 0 (global) or an even stride, a power of two with
            `extra_params`.
        extra_params: gather with depthwise convolutions instead of averaging;
            needs `extent > 0` and 1D or 2D maps.
        use_mlp: put a bottleneck MLP `C -> C/r -> C` (with biases) between
            gather and excite.
        ratio: positive number, the MLP's reduction ratio (16).
        units: optional int, an explicit MLP width.
        divisor: int >= 1, the width's rounding (see `se_units`).
        activation: the activation inside the MLP and between convolutions.
        gate: the gate (`"sigmoid"`).
        data_format: `"channels_last"`, `"channels_first"` or None.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a tensor of rank 3 or more.
        training: for the batch normalization of `extra_params`.

    Example:

    >>> GatherExcite(extent=2)(keras.random.normal((2, 8, 8, 16))).shape
    (2, 8, 8, 16)

    Reference:
        - [Hu et al., Gather-Excite: Exploiting Feature Context in
          Convolutional Neural Networks, NeurIPS 2018](https://arxiv.org/abs/1810.12348)
    """

    def __init__(self, extent=0, extra_params=False, use_mlp=False, ratio=16, units=None,
                 divisor=1, activation="relu", gate="sigmoid", data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if isinstance(extent, bool) or not isinstance(extent, int) or extent < 0 or extent % 2:
            raise ValueError(
                f"`extent` must be 0 (global) or an even positive integer. "
                f"Received: extent={extent!r}")
        if extra_params and (extent == 0 or extent & (extent - 1)):
            raise ValueError(
                "`extra_params` gathers with log2(extent) strided convolutions: "
                f"`extent` must then be a power of two. Received: extent={extent!r}")
        self.set_width(ratio, units, divisor)
        self.extent = extent
        self.extra_params = bool(extra_params)
        self.use_mlp = bool(use_mlp)
        self.activation = get_activation("activation", activation)
        self.gate = get_activation("gate", gate)

    @property
    def has_channel_gates(self):
        """Whether the gates are one per channel (a global extent)."""
        return self.extent == 0

    def build(self, input_shape):
        self.channels = self.input_channels(input_shape)
        self.gather_convs, self.gather_bns = [], []
        if self.extra_params:
            if len(input_shape) not in _DEPTHWISE:
                raise ValueError(
                    "GatherExcite with `extra_params` takes 1D or 2D maps. "
                    f"Received: input_shape={tuple(input_shape)}")
            # The gather works on channels_last maps (TensorFlow's CPU kernels
            # take no other layout).
            shape = tuple(input_shape)
            if self.channel_axis == 1:
                shape = (shape[0],) + shape[2:] + (shape[1],)
            spatial = range(1, len(shape) - 1)
            for i in range(int(math.log2(self.extent))):
                # float32, as the rest of the gate computation.
                conv = _DEPTHWISE[len(input_shape)](
                    3, strides=2, padding="valid", use_bias=False,
                    data_format="channels_last", dtype="float32", name=f"gather_conv{i + 1}")
                bn = keras.layers.BatchNormalization(
                    axis=-1, epsilon=1e-5, momentum=0.9, dtype="float32",
                    name=f"gather_bn{i + 1}")
                padded = tuple(s + 2 if j in spatial and s is not None else s
                               for j, s in enumerate(shape))
                conv.build(padded)
                shape = tuple(conv.compute_output_shape(padded))
                bn.build(shape)
                self.gather_convs.append(conv)
                self.gather_bns.append(bn)
        self.fc1_kernel = self.fc1_bias = self.fc2_kernel = self.fc2_bias = None
        if self.use_mlp:
            self.fc1_kernel, self.fc1_bias, self.fc2_kernel, self.fc2_bias = \
                self.add_bottleneck(self.channels, ("fc1", "fc2"))

    @staticmethod
    def _pad(x, amount):
        """Pads the spatial axes of a channels_last map."""
        return ops.pad(x, [[0, 0]] + [[amount, amount]] * (len(x.shape) - 2) + [[0, 0]])

    def _gather(self, x, training):
        """The gathered context of a channels_last float32 map."""
        if self.extra_params:
            for i, (conv, bn) in enumerate(zip(self.gather_convs, self.gather_bns)):
                x = bn(conv(self._pad(x, 1)), training=training)
                if i < len(self.gather_convs) - 1:
                    x = self.activation(x)
            return x
        # An average pool of 2e - 1 at stride e over a map padded by e - 1,
        # counting only the real elements (PyTorch's count_include_pad=False).
        size, stride = 2 * self.extent - 1, self.extent
        pool = lambda t: ops.average_pool(  # noqa: E731
            self._pad(t, self.extent - 1), size, stride, "valid", "channels_last")
        return pool(x) / pool(ops.ones_like(x[..., 0:1]))

    def _mlp(self, x):
        """The bottleneck MLP over the last axis."""
        return self.bottleneck(x, (self.fc1_kernel, self.fc1_bias, self.fc2_kernel, self.fc2_bias))

    @staticmethod
    def _upsample(gathered, x):
        """Nearest-neighbour resize of the channels_last `gathered` to `x`'s
        spatial size (source index floor(i * in / out), as PyTorch's
        `interpolate`)."""
        for axis in range(1, len(x.shape) - 1):
            small, large = gathered.shape[axis], x.shape[axis]
            if small == 1:
                continue  # broadcast
            if large is None:
                large = ops.shape(x)[axis]
            if small is None:
                small = ops.shape(gathered)[axis]
            index = ops.floor_divide(ops.arange(large) * small, large)
            gathered = ops.take(gathered, index, axis=axis)
        return gathered

    def compute_gates(self, inputs, training=None):
        """The float32 gates for `inputs`: `(batch, C)` with a global extent,
        else the input's shape.

        Example:

        >>> GatherExcite().compute_gates(keras.random.normal((2, 4, 4, 8))).shape
        (2, 8)
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        if self.extent == 0:
            x = self.pooled(inputs)
            return self.gate(self._mlp(x) if self.use_mlp else x)
        x = ops.cast(inputs, "float32")
        if self.channel_axis == 1:
            x = ops.moveaxis(x, 1, -1)
        gathered = self._gather(x, training)
        if self.use_mlp:
            gathered = self._mlp(gathered)
        gates = self.gate(self._upsample(gathered, x))
        return ops.moveaxis(gates, -1, 1) if self.channel_axis == 1 else gates

    def call(self, inputs, training=None):
        return self.rescale(inputs, self.compute_gates(inputs, training=training))

    def macs(self, input_shape):
        spatial = [input_shape[a] for a in self.spatial_axes(len(input_shape))]
        macs = 2 * elements(input_shape)  # the gather's reads and the rescale
        gathered = [1] * len(spatial)
        if self.extent and self.extra_params:
            gathered = spatial
            for conv in self.gather_convs:
                gathered = [(n - 1) // 2 + 1 for n in gathered]
                macs += math.prod(gathered) * self.channels * math.prod(conv.kernel_size)
        elif self.extent:
            gathered = [(n - 1) // self.extent + 1 for n in spatial]
        if self.use_mlp:
            macs += math.prod(gathered) * 2 * self.channels * int(self.fc1_kernel.shape[1])
        return macs

    def get_config(self):
        return {
            **super().get_config(),
            "extent": self.extent,
            "extra_params": self.extra_params,
            "use_mlp": self.use_mlp,
            "ratio": self.ratio,
            "units": self.units,
            "divisor": self.divisor,
            "activation": keras.activations.serialize(self.activation),
            "gate": keras.activations.serialize(self.gate),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**activation_config(config, "activation", "gate"))
