"""Conversion of timm's PyTorch ResNet family (SE, ECA, ESE, CBAM, GE; ResNet-D) into Keras."""

from keras_se.convert.timm_architectures import (
    IMAGENET_MEAN, IMAGENET_STD, STRUCTURE, TIMM_ARCHITECTURES, build_timm_resnet, ratio_for)
from keras_se.convert.timm_weights import TIMM_ATTENTION_ATTRIBUTES
from keras_se.layers import eca_kernel_size
from keras_se.layers.attention_types import DEFAULT_ATTENTION, timm_attention
from keras_se.models import resnet

# (unit kind, units per stage) -> depth: the builders' layouts, inverted.
_DEPTHS = {layout: depth for depth, layout in resnet.RESNET_LAYOUTS.items()}

_GATES = {"Sigmoid": "sigmoid", "Hardsigmoid": "hard_sigmoid", "HardSigmoid": "hard_sigmoid"}


def from_timm(module, input_shape=(None, None, 3), include_preprocessing=True, name=None):
    """Builds the keras_se model matching a timm module and copies its weights.

    Supports timm's ResNets and ResNeXts with a 7x7 stem or ResNet-D's deep
    stem and average-pool shortcuts (`resnet50d`, `seresnext26d_32x4d`), and
    their attention blocks: SE of any width (`seresnet18..152`,
    `legacy_seresnet*`, `seresnext*_32x4d`), ECA (`ecaresnet50d`,
    `ecaresnet101d`), ESE, CBAM and Gather-Excite (timm's `ResNet` with
    `block_args={"attn_layer": ...}`); the plain ones are built without
    attention. The tiered stems (`...t`) and other architectures are refused
    with a clear error. The Keras model is channels_last; in eval mode and
    float32 its output equals timm's to about 1e-5.

    Input: with `include_preprocessing=True` (the default) the model takes RGB
    images with values in [0, 255], as `keras.applications` models do: its
    first layer, `normalization`, applies timm's normalization (the module's
    `pretrained_cfg` mean and std, for images scaled to [0, 1]). With False it
    takes images already normalized as timm expects them.

    Args:
        module: a timm model (`torch.nn.Module`), for example
            `timm.create_model("seresnet50", pretrained=True)`.
        input_shape: the Keras model's input shape, `(None, None, 3)` by default
            (any image size).
        include_preprocessing: whether the model starts with timm's
            normalization of [0, 255] images.
        name: the Keras model's name; defaults to the module's class layout.

    Returns:
        A `keras.Model` with the module's weights.

    Example:

    >>> import timm
    >>> torch_model = timm.create_model("ecaresnet50d", pretrained=True).eval()
    >>> model = keras_se.convert.from_timm(torch_model)
    >>> probabilities = keras.ops.softmax(model(images_0_to_255))
    """
    cfg = getattr(module, "pretrained_cfg", None) or {}
    arguments = timm_builder_arguments(module)
    size = cfg.get("input_size")
    metadata = {"input_size": tuple(size[1:]) if size else None,
                "crop_pct": cfg.get("crop_pct"), "interpolation": cfg.get("interpolation"),
                "label_names": cfg.get("label_names"),
                "source": _timm_source(cfg.get("architecture"), arguments)}
    return build_timm_resnet(
        arguments, num_classes=module.num_classes,
        state={key: _np(value) for key, value in module.state_dict().items()},
        input_shape=input_shape, mean=cfg.get("mean", IMAGENET_MEAN),
        std=cfg.get("std", IMAGENET_STD), include_preprocessing=include_preprocessing,
        metadata=metadata, name=name)


def _timm_source(architecture, arguments):
    """timm's `architecture` and `model_args` that rebuild a module of these
    builder arguments (so that `save_preset` writes timm's schema), or None
    when timm's table does not describe it."""
    entry = TIMM_ARCHITECTURES.get(architecture)
    if entry is None or any(entry[k] != arguments[k] for k in STRUCTURE):
        return None
    model_args = {}
    if arguments["se_ratio"] is not None and \
            arguments["attention"] != timm_attention(entry["attention_module"]):
        model_args = {"block_args": {"attn_layer": arguments["attention"]}}
    return {"architecture": architecture, "model_args": model_args}


def timm_builder_arguments(module):
    """The `keras_se.models` ResNet builder arguments that describe a timm
    module: `depth`, `groups`, `base_width`, `stride_in_1x1`, `resnet_d`,
    `legacy` (timm's legacy SENet layout), `attention`, `se_ratio`, `se_kwargs`.

    Args:
        module: a timm ResNet, ResNeXt or legacy SENet module.

    Returns:
        A dict.

    Example:

    >>> timm_builder_arguments(timm.create_model("ecaresnet50d"))["resnet_d"]
    True
    """
    legacy = hasattr(module, "layer0")
    stem_conv = module.layer0.conv1 if legacy else getattr(module, "conv1", None)
    deep_stem = _is_deep_stem(stem_conv)
    if not deep_stem and not (_is_conv(stem_conv) and tuple(stem_conv.kernel_size) == (7, 7)):
        raise ValueError(
            "from_timm supports timm's ResNet/ResNeXt/SENet models with a 7x7 stem "
            "convolution or ResNet-D's deep stem of 32, 32 and 64 channels (the "
            "tiered 't' stems and other architectures are not supported). "
            f"Received: {type(module).__name__}"
        )
    stages = [getattr(module, f"layer{i}") for i in range(1, 5)]
    first = stages[0][0]
    kind = "bottleneck" if hasattr(first, "conv3") else "basic"
    counts = tuple(len(stage) for stage in stages)
    depth = _DEPTHS.get((kind, counts))
    if depth is None:
        raise ValueError(
            f"from_timm found an unsupported layout: {kind} units {counts}. "
            f"Received: {type(module).__name__}"
        )
    groups, base_width, stride_in_1x1 = 1, 64, True
    if kind == "bottleneck":
        groups = first.conv2.groups
        planes = first.conv3.out_channels // 4
        base_width = first.conv2.out_channels * 64 // (planes * groups)
        stride_in_1x1 = tuple(stages[1][0].conv1.stride) == (2, 2)
    avg_down = _is_avg_down(stages[1][0].downsample)
    if avg_down != deep_stem:
        raise ValueError(
            "from_timm supports ResNet-D (deep stem and average-pool shortcuts) or "
            "neither, not one without the other. Received: "
            f"{type(module).__name__} with deep_stem={deep_stem}, avg_down={avg_down}")
    attention, se_ratio, se_kwargs = _attention_arguments(stages, legacy)
    return {"depth": depth, "groups": groups, "base_width": base_width,
            "stride_in_1x1": stride_in_1x1, "resnet_d": deep_stem, "legacy": legacy,
            "attention": attention, "se_ratio": se_ratio, "se_kwargs": se_kwargs}


def _is_conv(layer):
    return layer is not None and type(layer).__name__ == "Conv2d"


def _is_deep_stem(stem):
    if type(stem).__name__ != "Sequential":
        return False
    convs = [m for m in stem if _is_conv(m)]
    return [c.out_channels for c in convs] == [32, 32, 64] and all(
        tuple(c.kernel_size) == (3, 3) for c in convs)


def _is_avg_down(downsample):
    return downsample is not None and type(downsample[0]).__name__ in ("AvgPool2d", "Identity")


def _attention_of(block):
    module = next((getattr(block, name) for name in TIMM_ATTENTION_ATTRIBUTES.values()
                   if getattr(block, name, None) is not None), None)
    return module if module is not None and type(module).__name__ != "Identity" else None


def _attention_arguments(stages, legacy):
    """`(attention, se_ratio, se_kwargs)` for the builder: the type of the
    stages' blocks, and a ratio that gives each block timm's width."""
    blocks = [(stage_number, block) for stage_number, stage in enumerate(stages, 2)
              for block in stage]
    modules = [(stage_number, _attention_of(block)) for stage_number, block in blocks]
    kinds = {type(m).__name__ for _, m in modules}
    if kinds == {"NoneType"}:
        return DEFAULT_ATTENTION, None, None
    if len(kinds) != 1:
        raise ValueError(f"from_timm needs one attention type in every block. Received: {kinds}")
    kind = kinds.pop()
    sample = modules[0][1]
    attention = timm_attention(kind)
    if kind == "SEModule":
        widths = [(stage, m.fc1.in_channels, m.fc1.out_channels) for stage, m in modules]
        return (attention,) + ratio_for(widths, 1 if legacy else 8)
    if kind == "EffectiveSEModule":
        gate = _GATES.get(type(sample.gate).__name__)
        if gate is None:
            raise ValueError(f"from_timm: unsupported ESE gate. Received: {sample.gate}")
        return attention, 16, {"gate": gate, "squeeze": "avgmax" if sample.add_maxpool else "avg"}
    if kind == "EcaModule":
        if sample.conv2 is not None or any(
                m.conv.kernel_size[0] != eca_kernel_size(_channels(b))
                for (_, m), (_, b) in zip(modules, blocks)):
            raise ValueError("from_timm supports ECA without its MLP and with ECA-Net's kernel "
                             f"sizes. Received: {sample}")
        return attention, 16, None
    if kind == "CbamModule":
        widths = [(stage, m.channel.fc1.in_channels, m.channel.fc1.out_channels)
                  for stage, m in modules]
        ratio, kwargs = ratio_for(widths, 1)
        kwargs.update(use_bias=sample.channel.fc1.bias is not None,
                      spatial_kernel_size=sample.spatial.conv.conv.kernel_size[0])
        return attention, ratio, kwargs
    if kind == "GatherExcite":
        if sample.add_maxpool:
            raise ValueError(f"from_timm: unsupported GatherExcite add_maxpool. Received: {sample}")
        use_mlp = type(sample.mlp).__name__ != "Identity"
        kwargs = {"extent": sample.extent, "extra_params": sample.gather is not None,
                  "use_mlp": use_mlp}
        if not use_mlp:
            return attention, 16, kwargs
        widths = [(stage, m.mlp.fc1.in_channels, m.mlp.fc1.out_channels) for stage, m in modules]
        ratio, extra = ratio_for(widths, 1)
        return attention, ratio, {**kwargs, **extra}
    raise ValueError(
        "from_timm supports timm's SE, ESE, ECA, CBAM and GatherExcite blocks. "
        f"Received: a block with {kind}")


def _channels(block):
    last = getattr(block, "conv3", None) or block.conv2
    return last.out_channels


def _np(tensor):
    return tensor.detach().cpu().float().numpy()
