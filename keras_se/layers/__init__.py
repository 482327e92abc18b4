"""Keras layers of keras_se."""

from keras_se.layers.scaled_residual import ScaledResidual
from keras_se.layers.squeeze_excite import SqueezeExcite, se_units

__all__ = ["SqueezeExcite", "ScaledResidual", "se_units"]
