"""Keras layers of keras_se: SE, its successors, and the attention registry."""

from keras_se.layers.attention import ATTENTION_TYPES, get_attention
from keras_se.layers.attention_layer import AttentionLayer, se_units
from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.layers.cbam import CBAM
from keras_se.layers.effective_squeeze_excite import EffectiveSqueezeExcite
from keras_se.layers.efficient_channel_attention import (
    EfficientChannelAttention, eca_kernel_size)
from keras_se.layers.gather_excite import GatherExcite
from keras_se.layers.image_normalization import ImageNormalization
from keras_se.layers.scaled_residual import ScaledResidual
from keras_se.layers.squeeze_excite import SqueezeExcite

__all__ = [
    "SqueezeExcite", "EffectiveSqueezeExcite", "EfficientChannelAttention", "CBAM",
    "GatherExcite", "AttentionLayer", "ImageNormalization", "ScaledResidual", "get_attention",
    "ATTENTION_TYPES",
    "DEFAULT_ATTENTION",
    "se_units", "eca_kernel_size",
]
