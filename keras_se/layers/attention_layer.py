"""What SE's successors share: data formats, float32 gates, the rescale."""

import keras
from keras import ops

DATA_FORMATS = ("channels_last", "channels_first")


class AttentionLayer(keras.layers.Layer):
    """Base of keras_se's attention layers other than `SqueezeExcite`.

    Such a layer keeps SE's contract: its output has the input's shape, it
    takes 1D, 2D or 3D feature maps in either data format, and it computes its
    gates in float32 whatever the dtype policy, casting them to the input's
    dtype only for the rescale (a float16 sum over a large map can overflow).

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
