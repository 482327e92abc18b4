"""SE-ResNet and SE-ResNeXt for ImageNet-sized inputs (keras.applications layout)."""

import keras

from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.models import builder_utils as bu
from keras_se.models.docstrings import PRETRAINED_WEIGHTS, document
from keras_se.models import residual_units as ru
from keras_se.models.registry import register

IMAGENET_STAGES = (2, 3, 4, 5)

# depth -> (unit kind, units per stage)
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    26: ("bottleneck", (2, 2, 2, 2)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


# The arguments a pretrained builder model is made from.
_PRESET_ARGUMENTS = (
    "depth", "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
    "classifier_activation", "se_ratio", "se_integration", "se_stages", "se_kwargs",
    "stride_in_1x1", "attention", "resnet_d", "groups", "name")


def build_resnet(depth, include_top=True, weights=None, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", se_ratio=16,
                 se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
                 attention=DEFAULT_ATTENTION, resnet_d=False, groups=1, base_width=64,
                 stem_pool_padding=1, basic_branch_relu=False, name=None, builder=None):
    """Builds an ImageNet (SE-)ResNet or (SE-)ResNeXt; see `SEResNet50`.

    `groups` and `base_width` make a ResNeXt (32 and 4 for 32x4d).
    `stem_pool_padding` is 1 (torchvision, timm, keras.applications) or
    `((0, 1), (0, 1))` for the ceil-mode max pool of timm's legacy SENets,
    which also have `basic_branch_relu=True` (see `basic_unit`).
    `resnet_d` gives the deep stem and average-pool downsampling of ResNet-D.
    `builder`: the public builder called (its defaults tell which arguments a
    user gave, when `weights` is `"imagenet"` or a preset).
    """
    if depth not in RESNET_LAYOUTS:
        raise ValueError(
            f"`depth` must be one of {tuple(RESNET_LAYOUTS)}. Received: depth={depth!r}"
        )
    if not isinstance(stride_in_1x1, bool):
        raise ValueError(
            f"`stride_in_1x1` must be a bool. Received: stride_in_1x1={stride_in_1x1!r}"
        )
    if not isinstance(resnet_d, bool):
        raise ValueError(f"`resnet_d` must be a bool. Received: resnet_d={resnet_d!r}")
    bu.validate_top_arguments(weights, include_top, pooling, classes, presets=True)
    ratios = bu.validate_se_arguments(
        se_ratio, se_integration, se_stages, se_kwargs, IMAGENET_STAGES, attention
    )
    kind, counts = RESNET_LAYOUTS[depth]
    if groups > 1 and kind != "bottleneck":
        raise ValueError(f"ResNeXt needs bottleneck units. Received: depth={depth}")
    if bu.is_preset(weights):
        from keras_se.models.presets import pretrained_builder_model  # presets build on this

        arguments = dict(locals())
        return pretrained_builder_model(builder, {k: arguments[k] for k in _PRESET_ARGUMENTS})
    img_input, inputs = bu.model_inputs(
        input_tensor, input_shape, include_top, default_size=224, min_size=32
    )

    if resnet_d:
        # Three 3x3 convolutions in place of the 7x7 one (ResNet-D's deep stem).
        x = img_input
        for i, (filters, stride) in enumerate(((32, 2), (32, 1)), 1):
            x = ru.conv(x, filters, 3, stride, f"conv1_{i}_conv")
            x = ru.batch_norm(x, f"conv1_{i}_bn")
            x = keras.layers.Activation("relu", name=f"conv1_{i}_relu")(x)
        x = ru.conv(x, 64, 3, 1, "conv1_3_conv")
    else:
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
        x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = ru.batch_norm(x, "conv1_bn")
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(stem_pool_padding, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    for stage, (count, filters) in enumerate(zip(counts, (64, 128, 256, 512)), 2):
        stage_se = ru.make_se(ratios.get(stage), se_kwargs, attention)
        for block in range(1, count + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            block_name = f"conv{stage}_block{block}"
            if kind == "basic":
                x = ru.basic_unit(
                    x, filters, stride, block_name, stage_se, se_integration,
                    branch_relu=basic_branch_relu, avg_down=resnet_d,
                )
            else:
                width = filters * base_width // 64 * groups
                x = ru.bottleneck_unit(
                    x, filters, stride, block_name, stage_se, se_integration,
                    groups=groups, width=width, stride_in_1x1=stride_in_1x1,
                    avg_down=resnet_d,
                )

    x = bu.classifier_head(x, include_top, pooling, classes, classifier_activation)
    if name is None:
        family = "resnext" if groups > 1 else "resnet"
        name = f"{ru.attention_prefix(se_ratio, attention)}{family}{depth}{'d' if resnet_d else ''}"
    return bu.finish_model(inputs, x, name, weights)


# Each builder passes its own arguments on: `locals()` at the top of its body is
# exactly its signature.


def SEResNet18(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", se_ratio=16,
               se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
               attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(18, builder=SEResNet18, **locals())


def SEResNet34(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", se_ratio=16,
               se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
               attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(34, builder=SEResNet34, **locals())


def SEResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", se_ratio=16,
               se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
               attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(50, builder=SEResNet50, **locals())


def SEResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
                attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(101, builder=SEResNet101, **locals())


def SEResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
                attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(152, builder=SEResNet152, **locals())


_BASIC_INTEGRATION = (
    "where a block sits in a basic unit: `\"standard\"` (on the branch, before the "
    "addition), `\"pre\"`, `\"post\"`, `\"identity\"` or `\"3x3\"` (after the first 3x3 "
    "convolution), the placements of the paper's section 6.5 (Table 14).")
_BASIC = {"stride_in_1x1": "a bool, kept for the signature of the bottleneck ResNets; a basic "
                           "unit strides in its first 3x3 convolution.",
          "se_integration": _BASIC_INTEGRATION, "weights": PRETRAINED_WEIGHTS}
_BOTTLENECK = {"weights": PRETRAINED_WEIGHTS}
document(SEResNet18, """Instantiates SE-ResNet-18.

ResNet-18 (He et al., 2016): two 3x3 convolutions per basic unit, two units
per stage, with an SE block on each unit's residual branch. Not in the SE
paper; timm has it as `seresnet18`. 11.79M parameters and 1.816 GMACs at
224x224 (11.70M and 1.814 G plain).""",
         'model = keras_se.models.SEResNet18(input_shape=(64, 64, 3), classes=10)',
         overrides=_BASIC,
         size=224, min_size=32, stages="2 to 5", plain="ResNet-18", default_name="se_resnet18")
document(SEResNet34, """Instantiates SE-ResNet-34.

ResNet-34's basic units (3, 4, 6 and 3 of them in stages 2 to 5), each with
an SE block before its addition, named like keras.applications' ResNets
(`conv4_block6_se`). 21.98M parameters, 3.667 GMACs at 224x224; the SE
blocks add 0.17M parameters.""",
         'backbone = keras_se.models.SEResNet34(include_top=False, pooling="avg")',
         overrides=_BASIC,
         size=224, min_size=32, stages="2 to 5", plain="ResNet-34", default_name="se_resnet34")
document(SEResNet50, """Instantiates SE-ResNet-50, the SE paper's main ImageNet network.

ResNet-50 with an SE block on the residual branch of each of its 16
bottleneck units, in keras.applications.ResNet50's layout and layer names
(`conv3_block2_se`); convolutions followed by BN have no bias. At 224x224 it
counts 28.14M parameters and 3.872 GMACs, the paper's 28.1M and 3.87
GFLOPs (Hu et al., Squeeze-and-Excitation Networks, CVPR 2018, Table 2).""",
         'model = keras_se.models.SEResNet50(se_ratio=8, classifier_activation=None)',
         overrides=_BOTTLENECK,
         size=224, min_size=32, stages="2 to 5", plain="ResNet-50", default_name="se_resnet50")
document(SEResNet101, """Instantiates SE-ResNet-101 (the SE paper's Table 2).

ResNet-101: 3, 4, 23 and 3 bottleneck units, 23 of them in conv4_x, each
with SE. 49.43M parameters and 7.593 GMACs at 224x224, against the paper's
7.60 GFLOPs (7.570 and 44.65M without SE).""",
         'features = keras_se.models.SEResNet101(include_top=False, se_stages=(4, 5))',
         overrides=_BOTTLENECK,
         size=224, min_size=32, stages="2 to 5", plain="ResNet-101", default_name="se_resnet101")
document(SEResNet152, """Instantiates SE-ResNet-152, the deepest ResNet of the SE paper.

Stages of 3, 8, 36 and 3 bottleneck units with SE: 66.97M parameters and
11.315 GMACs at 224x224 (the paper: 11.32 GFLOPs, 21.57% top-1 error).""",
         'model = keras_se.models.SEResNet152(input_shape=(128, 128, 3))',
         overrides=_BOTTLENECK,
         size=224, min_size=32, stages="2 to 5", plain="ResNet-152", default_name="se_resnet152")

register("resnet", 224, 32, SEResNet18, SEResNet34, SEResNet50, SEResNet101, SEResNet152)
