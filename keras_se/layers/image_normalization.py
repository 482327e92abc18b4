"""The input end of a pretrained model: its normalization and what it expects."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_se")
class ImageNormalization(keras.layers.Layer):
    """Normalizes RGB images in [0, 255] as a pretrained checkpoint expects, and
    carries what a user needs to feed the model and read its output.

    The layer computes `(x / 255 - mean) / std` per channel (timm's recipe:
    scale to [0, 1], then normalize), or passes `x` through with
    `normalize=False` (a model fed already normalized images). Its other
    arguments are the checkpoint's facts, saved with the model and read back
    by `keras_se.models.preset_metadata`.

    Args:
        mean: per-channel mean, for images scaled to [0, 1].
        std: per-channel standard deviation, for images scaled to [0, 1].
        normalize: whether to normalize (False: the identity).
        input_size: `(height, width)` the checkpoint was evaluated at, or None.
        crop_pct: the fraction of the resized image its evaluation crop kept.
        interpolation: the resize's interpolation (`"bicubic"`, ...).
        label_names: the classes' names, in output order, or None.
        source: what made the weights: timm's `architecture` and
            `model_args` for a timm checkpoint (so that `save_preset` can write
            timm's schema again), or None.
        **kwargs: base layer arguments.

    Example:

    >>> layer = ImageNormalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> keras.ops.convert_to_numpy(layer(np.full((1, 2, 2, 3), 255.0, "float32")))[0, 0, 0]
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), normalize=True,
                 input_size=None, crop_pct=None, interpolation=None, label_names=None,
                 source=None, **kwargs):
        super().__init__(**kwargs)
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != len(std) or not all(v > 0 for v in std):
            raise ValueError("`mean` and `std` must have one value per channel, `std` above 0. "
                             f"Received: mean={mean}, std={std}")
        self.mean, self.std, self.normalize = mean, std, bool(normalize)
        self.input_size = None if input_size is None else tuple(int(v) for v in input_size)
        self.crop_pct = crop_pct
        self.interpolation = interpolation
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        self.source = source

    def call(self, inputs):
        if not self.normalize:
            return inputs
        mean = np.asarray(self.mean, "float32") * 255.0
        std = np.asarray(self.std, "float32") * 255.0
        return (inputs - ops.cast(mean, inputs.dtype)) / ops.cast(std, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "normalize": self.normalize, "input_size": self.input_size,
                "crop_pct": self.crop_pct, "interpolation": self.interpolation,
                "label_names": self.label_names, "source": self.source}
