"""The input scale a model's weights expect, as a frozen first layer.

se-tune reads images as RGB in [0, 1]. Each named scale is a per-channel affine
map of them (channel order included), read off the function that defines it:
keras.applications' `preprocess_input` for `tf`, `torch` and `caffe`, the
identity on [0, 255] for `raw`. The map is a frozen `Dense` on the channel axis
named `preprocessing`, saved with the model.
"""

import keras
import numpy as np

from se_tune.config import PREPROCESSING
from se_tune.errors import UsageError

PREPROCESSING_LAYER = "preprocessing"


def _affine(function):
    """`(kernel, bias)` with `function(255 * u) == u @ kernel + bias` for RGB `u` in [0, 1]."""
    probe = np.concatenate([np.zeros((1, 3)), 255.0 * np.eye(3)]).reshape(4, 1, 1, 3)
    out = np.asarray(function(probe.copy()), "float64").reshape(4, 3)
    bias = out[0]
    kernel = out[1:] - bias
    check = np.random.default_rng(0).uniform(0, 1, (5, 1, 1, 3))
    if not np.allclose(np.asarray(function(255.0 * check), "float64").reshape(5, 3),
                       check.reshape(5, 3) @ kernel + bias, atol=1e-4):
        return None
    return kernel.astype("float32"), bias.astype("float32")


def _mode_function(mode):
    if mode == "raw":
        return lambda x: x
    return lambda x: keras.applications.imagenet_utils.preprocess_input(x, mode=mode)


def named_mode(function, name):
    """The named scale (raw, tf, torch, caffe) that `function` computes on
    [0, 255] images, such as a keras.applications family's `preprocess_input`.

    Raises:
        UsageError: when it is none of them.

    Example:

    >>> named_mode(keras.applications.mobilenet_v2.preprocess_input, "MobileNetV2")
    'tf'
    """
    found = _affine(function)
    for mode in PREPROCESSING[2:]:
        expected = _affine(_mode_function(mode))
        if found is not None and all(np.allclose(a, b, atol=1e-4)
                                     for a, b in zip(found, expected)):
            return mode
    raise UsageError(f"model.preprocessing: the preprocess_input of {name}'s module is none "
                     f"of {', '.join(PREPROCESSING[2:])}; set one. Received: 'auto'")


def preprocessing_layer(mode):
    """The frozen layer that maps the app's [0, 1] images to `mode`'s scale
    (None for `none`): a per-channel affine map, channel order included.

    Args:
        mode: none, raw, tf, torch or caffe.

    Example:

    >>> layer = preprocessing_layer("tf")  # [0, 1] -> [-1, 1]
    """
    if mode == "none":
        return None
    kernel, bias = _affine(_mode_function(mode))
    layer = keras.layers.Dense(3, name=PREPROCESSING_LAYER, dtype="float32", trainable=False)
    layer.build((None, 3))
    layer.set_weights([kernel, bias])
    return layer
