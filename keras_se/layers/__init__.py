"""Keras layers of keras_se."""

from keras_se.layers.squeeze_excite import SqueezeExcite, se_units

__all__ = ["SqueezeExcite", "se_units"]
