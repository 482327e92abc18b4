"""The attention registry: every attention type's name, layer class and options.

The one place where the types are named. It is plain data (no Keras), so that
a program can list the types without loading a back end (`se-tune --help`);
`keras_se.layers.get_attention` maps each name to its layer class.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class AttentionType:
    """One attention type.

    Args:
        name: the `attention=` string (timm's `attn_layer` name).
        layer: the name of its class in `keras_se.layers`.
        takes_ratio: whether the layer takes a reduction ratio (`ratio`),
            which builders and `retrofit` set from `se_ratio`.
        identity_start: whether `retrofit(identity_init=True)` can start it at
            the identity (a last FC layer with a bias before a per-channel gate).
        timm_module: the class of timm's module of this type.

    Example:

    >>> REGISTRY["eca"].layer
    'EfficientChannelAttention'
    """

    name: str
    layer: str
    takes_ratio: bool
    identity_start: bool
    timm_module: str


REGISTRY = {t.name: t for t in (
    AttentionType("se", "SqueezeExcite", True, True, "SEModule"),
    AttentionType("ese", "EffectiveSqueezeExcite", False, True, "EffectiveSEModule"),
    AttentionType("eca", "EfficientChannelAttention", False, False, "EcaModule"),
    AttentionType("cbam", "CBAM", True, False, "CbamModule"),
    AttentionType("ge", "GatherExcite", True, False, "GatherExcite"),
)}

#: The attention type of builders, `retrofit` and se-tune when none is given.
DEFAULT_ATTENTION = "se"

#: Every type's name, in the registry's order.
ATTENTION_NAMES = tuple(REGISTRY)

#: Name of the layer-name suffix of an attention block made by a callable.
CALLABLE_SUFFIX = "attn"


def timm_attention(module_class):
    """The attention type of a timm module class name (`"EcaModule"` ->
    `"eca"`), or None for a class that is none of them.

    Example:

    >>> timm_attention("CbamModule")
    'cbam'
    """
    return next((t.name for t in REGISTRY.values() if t.timm_module == module_class), None)
