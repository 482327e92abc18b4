"""Conversion of other libraries' SE models into keras_se models.

Needs the `convert` extra (torch and timm) only when called.
"""

from keras_se.convert.timm import from_timm

__all__ = ["from_timm"]
