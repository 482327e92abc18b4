"""SE-ResNet and SE-ResNeXt for ImageNet-sized inputs (keras.applications layout)."""

import keras

from keras_se.models import builder_utils as bu
from keras_se.models import residual_units as ru

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


def build_resnet(
    depth,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    se_ratio=16,
    se_integration="standard",
    se_stages=None,
    se_kwargs=None,
    stride_in_1x1=True,
    groups=1,
    base_width=64,
    stem_pool_padding=1,
    basic_branch_relu=False,
    name=None,
):
    """Builds an ImageNet (SE-)ResNet or (SE-)ResNeXt; see `SEResNet50`.

    `groups` and `base_width` make a ResNeXt (32 and 4 for 32x4d).
    `stem_pool_padding` is 1 (torchvision, timm, keras.applications) or
    `((0, 1), (0, 1))` for the ceil-mode max pool of timm's legacy SENets,
    which also have `basic_branch_relu=True` (see `basic_unit`).
    """
    if depth not in RESNET_LAYOUTS:
        raise ValueError(
            f"`depth` must be one of {tuple(RESNET_LAYOUTS)}. Received: depth={depth!r}"
        )
    if not isinstance(stride_in_1x1, bool):
        raise ValueError(
            f"`stride_in_1x1` must be a bool. Received: stride_in_1x1={stride_in_1x1!r}"
        )
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    stages = bu.validate_se_arguments(
        se_ratio, se_integration, se_stages, se_kwargs, IMAGENET_STAGES
    )
    kind, counts = RESNET_LAYOUTS[depth]
    if groups > 1 and kind != "bottleneck":
        raise ValueError(f"ResNeXt needs bottleneck units. Received: depth={depth}")
    img_input, inputs = bu.model_inputs(
        input_tensor, input_shape, include_top, default_size=224, min_size=32
    )
    se = ru.make_se(se_ratio, se_kwargs)

    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = ru.batch_norm(x, "conv1_bn")
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(stem_pool_padding, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    for stage, (count, filters) in enumerate(zip(counts, (64, 128, 256, 512)), 2):
        stage_se = se if stage in stages else None
        for block in range(1, count + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            block_name = f"conv{stage}_block{block}"
            if kind == "basic":
                x = ru.basic_unit(
                    x, filters, stride, block_name, stage_se, se_integration,
                    branch_relu=basic_branch_relu,
                )
            else:
                width = filters * base_width // 64 * groups
                x = ru.bottleneck_unit(
                    x, filters, stride, block_name, stage_se, se_integration,
                    groups=groups, width=width, stride_in_1x1=stride_in_1x1,
                )

    x = bu.classifier_head(x, include_top, pooling, classes, classifier_activation)
    if name is None:
        family = "resnext" if groups > 1 else "resnet"
        name = ("se_" if se_ratio is not None else "") + f"{family}{depth}"
    return bu.finish_model(inputs, x, name, weights)


_BUILDER_DOC = """Instantiates the {title} architecture.

    {summary}

    Args:
        include_top: whether to include the classifier (`avg_pool` and
            `predictions`) at the top.
        weights: None (random initialization) or the path to a weights file.
            keras_se never downloads weights: convert timm's pretrained models
            with `keras_se.convert.from_timm`.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: optional shape tuple, `(224, 224, 3)` by default with
            `include_top`, else `(None, None, 3)`; at least 32x32.
        pooling: with `include_top=False`: None (4D output), `"avg"` or `"max"`.
        classes: number of classes of the classifier.
        classifier_activation: activation of the `predictions` layer, or None
            to return logits.
        se_ratio: the SE reduction ratio r (16 in the paper); None builds the
            same network without SE.
        se_integration: where SE sits in a residual unit: `"standard"`,
            `"pre"`, `"post"`, `"identity"` or `"3x3"`.
        se_stages: the stages (2 to 5, after conv2_x..conv5_x) that get SE;
            None for all.
        se_kwargs: further `keras_se.SqueezeExcite` arguments, for example
            `{{"squeeze": "max", "gate": "hard_sigmoid", "divisor": 8}}`.
        stride_in_1x1: whether a downsampling bottleneck strides in its first
            1x1 convolution (True) or in its 3x3 convolution (False).
            Defaults to {stride_default}.
        name: the model's name.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.{fn}(input_shape=(64, 64, 3), classes=10)

    Reference:
        - [Hu et al., Squeeze-and-Excitation Networks, CVPR 2018](
            https://arxiv.org/abs/1709.01507)
    """


def make_builder(fn_name, depth, groups=1, base_width=64, stride_in_1x1=True):
    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        se_ratio=16,
        se_integration="standard",
        se_stages=None,
        se_kwargs=None,
        stride_in_1x1=stride_in_1x1,
        name=None,
    ):
        return build_resnet(
            depth, include_top=include_top, weights=weights,
            input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
            classes=classes, classifier_activation=classifier_activation,
            se_ratio=se_ratio, se_integration=se_integration,
            se_stages=se_stages, se_kwargs=se_kwargs,
            stride_in_1x1=stride_in_1x1, groups=groups, base_width=base_width,
            name=name,
        )

    if groups > 1:
        title = f"SE-ResNeXt-{depth} ({groups}x{base_width}d)"
        summary = (
            "ResNeXt with grouped 3x3 convolutions (Xie et al., 2017) and an SE "
            "block in every unit. Strides in the grouped 3x3 convolution by "
            "default, as in the ResNeXt paper."
        )
    else:
        title = f"SE-ResNet-{depth}"
        summary = (
            "ResNet (He et al., 2016) with an SE block in every residual unit, "
            "in keras.applications' layout and layer names (`conv3_block2_se`). "
            "Convolutions followed by BN have no bias."
        )
    builder.__name__ = builder.__qualname__ = fn_name
    builder.__doc__ = _BUILDER_DOC.format(
        title=title, summary=summary, fn=fn_name, stride_default=stride_in_1x1
    )
    return builder


SEResNet18 = make_builder("SEResNet18", 18)
SEResNet34 = make_builder("SEResNet34", 34)
SEResNet50 = make_builder("SEResNet50", 50)
SEResNet101 = make_builder("SEResNet101", 101)
SEResNet152 = make_builder("SEResNet152", 152)
