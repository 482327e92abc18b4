"""Conversion of timm's PyTorch (SE-)ResNets and (SE-)ResNeXts into Keras."""

import numpy as np

from keras_se.layers import se_units
from keras_se.models import resnet

_DEPTHS = {
    ("basic", (2, 2, 2, 2)): 18,
    ("basic", (3, 4, 6, 3)): 34,
    ("bottleneck", (2, 2, 2, 2)): 26,
    ("bottleneck", (3, 4, 6, 3)): 50,
    ("bottleneck", (3, 4, 23, 3)): 101,
    ("bottleneck", (3, 8, 36, 3)): 152,
}


def from_timm(module, input_shape=(None, None, 3), name=None):
    """Builds the keras_se model matching a timm module and copies its weights.

    Supports timm's `seresnet18/34/50/101/152`, `legacy_seresnet18..152`,
    `seresnext50_32x4d`, `seresnext101_32x4d` (and other plain-stem 32x4d or
    64x4d widths), `legacy_seresnext26/50/101_32x4d`, and the plain
    `resnet18..152` / `resnext50_32x4d` (built with `se_ratio=None`). Deep-stem
    variants (`...d`, `...t`) are refused with a clear error. The Keras model
    is channels_last; in eval mode and float32 its output equals timm's to
    about 1e-5.

    Args:
        module: a timm model (`torch.nn.Module`), for example
            `timm.create_model("seresnet50", pretrained=True)`.
        input_shape: the Keras model's input shape, `(None, None, 3)` by default
            (any image size).
        name: the Keras model's name; defaults to the module's class layout.

    Returns:
        A `keras.Model` with the module's weights.

    Example:

    >>> import timm
    >>> torch_model = timm.create_model("seresnet50", pretrained=True).eval()
    >>> model = keras_se.convert.from_timm(torch_model)
    >>> model.save("seresnet50.keras")
    """
    legacy = hasattr(module, "layer0")
    stem_conv = module.layer0.conv1 if legacy else getattr(module, "conv1", None)
    if not _is_conv(stem_conv) or tuple(stem_conv.kernel_size) != (7, 7):
        raise ValueError(
            "from_timm supports timm's ResNet/ResNeXt/SENet models with a single "
            "7x7 stem convolution (deep-stem 'd'/'t' variants and other "
            f"architectures are not supported). Received: {type(module).__name__}"
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
    se_module = _se_of(first)
    groups, base_width, stride_in_1x1 = 1, 64, True
    if kind == "bottleneck":
        groups = first.conv2.groups
        planes = first.conv3.out_channels // 4
        base_width = first.conv2.out_channels * 64 // (planes * groups)
        stride_in_1x1 = tuple(stages[1][0].conv1.stride) == (2, 2)
    se_ratio, se_kwargs = None, None
    if se_module is not None:
        channels = se_module.fc1.in_channels
        units = se_module.fc1.out_channels
        # timm's SEModule rounds to a multiple of 8; the legacy SENets floor.
        se_ratio, se_kwargs = 16, {"divisor": 1 if legacy else 8}
        if se_units(channels, se_ratio, **se_kwargs) != units:
            raise ValueError(
                "from_timm supports SE blocks of reduction ratio 16. Received: "
                f"an SE block of {units} units for {channels} channels"
            )
    classifier = module.last_linear if legacy else module.fc
    model = resnet.build_resnet(
        depth,
        input_shape=input_shape,
        classes=classifier.out_features,
        classifier_activation=None,
        se_ratio=se_ratio,
        se_kwargs=se_kwargs,
        stride_in_1x1=stride_in_1x1,
        groups=groups,
        base_width=base_width,
        stem_pool_padding=((0, 1), (0, 1)) if legacy else 1,
        basic_branch_relu=legacy,
        name=name,
    )
    _copy_weights(module, model, legacy, stages)
    return model


def _is_conv(layer):
    return layer is not None and type(layer).__name__ == "Conv2d"


def _se_of(block):
    se = getattr(block, "se", None) or getattr(block, "se_module", None)
    if se is None or not hasattr(se, "fc1"):
        return None
    return se


def _np(tensor):
    return tensor.detach().cpu().float().numpy()


def _set_conv(model, name, conv):
    model.get_layer(name).set_weights([np.transpose(_np(conv.weight), (2, 3, 1, 0))])


def _set_bn(model, name, bn):
    model.get_layer(name).set_weights(
        [_np(bn.weight), _np(bn.bias), _np(bn.running_mean), _np(bn.running_var)]
    )


def _set_se(model, name, se):
    w1 = _np(se.fc1.weight)[:, :, 0, 0].T
    w2 = _np(se.fc2.weight)[:, :, 0, 0].T
    model.get_layer(name).set_weights(
        [w1, _np(se.fc1.bias), w2, _np(se.fc2.bias)]
    )


def _copy_weights(module, model, legacy, stages):
    stem = module.layer0 if legacy else module
    _set_conv(model, "conv1_conv", stem.conv1)
    _set_bn(model, "conv1_bn", stem.bn1)
    for stage_index, stage in enumerate(stages, 2):
        for block_index, block in enumerate(stage, 1):
            prefix = f"conv{stage_index}_block{block_index}"
            for i in (1, 2, 3):
                if hasattr(block, f"conv{i}"):
                    _set_conv(model, f"{prefix}_{i}_conv", getattr(block, f"conv{i}"))
                    _set_bn(model, f"{prefix}_{i}_bn", getattr(block, f"bn{i}"))
            if block.downsample is not None:
                _set_conv(model, f"{prefix}_0_conv", block.downsample[0])
                _set_bn(model, f"{prefix}_0_bn", block.downsample[1])
            se = _se_of(block)
            if se is not None:
                _set_se(model, f"{prefix}_se", se)
    classifier = module.last_linear if legacy else module.fc
    model.get_layer("predictions").set_weights(
        [_np(classifier.weight).T, _np(classifier.bias)]
    )
