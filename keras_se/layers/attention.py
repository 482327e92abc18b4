"""`get_attention`: one string picks SE or one of its successors."""

from keras_se.layers.attention_types import CALLABLE_SUFFIX, REGISTRY
from keras_se.layers.cbam import CBAM
from keras_se.layers.effective_squeeze_excite import EffectiveSqueezeExcite
from keras_se.layers.efficient_channel_attention import EfficientChannelAttention
from keras_se.layers.gather_excite import GatherExcite
from keras_se.layers.squeeze_excite import SqueezeExcite

_CLASSES = {cls.__name__: cls for cls in (
    SqueezeExcite, EffectiveSqueezeExcite, EfficientChannelAttention, CBAM, GatherExcite)}

#: Attention type -> layer class (the registry, `keras_se.layers.attention_types`,
#: names both).
ATTENTION_TYPES = {name: _CLASSES[t.layer] for name, t in REGISTRY.items()}


def attention_name(attention):
    """What layer names end with for `attention`: its type, or `attn` for a
    callable (`conv3_block2_eca`, `conv3_block2_attn`)."""
    return attention if isinstance(attention, str) else CALLABLE_SUFFIX


def layer_arguments(attention, ratio, kwargs):
    """`kwargs` with `ratio` added for the types that take one."""
    kwargs = dict(kwargs or {})
    if isinstance(attention, str) and REGISTRY[attention].takes_ratio:
        kwargs["ratio"] = ratio
    return kwargs


def validate_attention(attention):
    """Returns `attention` if it names a type, is None or is callable, else
    raises a ValueError naming it."""
    if attention is None or callable(attention) or (
            isinstance(attention, str) and attention in ATTENTION_TYPES):
        return attention
    raise ValueError(
        f"`attention` must be one of {tuple(ATTENTION_TYPES)}, None or a callable "
        f"that returns a layer. Received: attention={attention!r}")


def get_attention(attention, **kwargs):
    """A new attention layer of the type `attention` names (timm's `attn_layer`).

    Args:
        attention: `"se"` (`SqueezeExcite`), `"ese"` (`EffectiveSqueezeExcite`),
            `"eca"` (`EfficientChannelAttention`), `"cbam"` (`CBAM`), `"ge"`
            (`GatherExcite`), None (no layer), or a callable that returns a
            layer when called with `**kwargs`.
        **kwargs: the layer's arguments (`ratio`, `name`, ...).

    Returns:
        A Keras layer whose output has its input's shape, or None.

    Example:

    >>> layer = get_attention("eca", name="conv2_block1_eca")
    >>> type(layer).__name__
    'EfficientChannelAttention'
    >>> get_attention("se", ratio=8).ratio
    8
    """
    attention = validate_attention(attention)
    if attention is None:
        return None
    if isinstance(attention, str):
        return ATTENTION_TYPES[attention](**kwargs)
    return attention(**kwargs)
