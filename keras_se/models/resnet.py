"""SE-ResNet and SE-ResNeXt for ImageNet-sized inputs (keras.applications layout)."""

import keras

from keras_se.models import builder_utils as bu
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
    attention="se",
    resnet_d=False,
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
    `resnet_d` gives the deep stem and average-pool downsampling of ResNet-D.
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
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    ratios = bu.validate_se_arguments(
        se_ratio, se_integration, se_stages, se_kwargs, IMAGENET_STAGES, attention
    )
    kind, counts = RESNET_LAYOUTS[depth]
    if groups > 1 and kind != "bottleneck":
        raise ValueError(f"ResNeXt needs bottleneck units. Received: depth={depth}")
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
               attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNet-18.

    ResNet-18 (He et al., 2016): two 3x3 convolutions per basic unit, two units
    per stage, with an SE block on each unit's residual branch. Not in the SE
    paper; timm has it as `seresnet18`. 11.79M parameters and 1.816 GMACs at
    224x224 (11.70M and 1.814 G plain).

    Args:
        include_top: whether the model ends with `avg_pool` and `predictions`.
        weights: None, or the path of a weights file to load.
        input_tensor: a Keras tensor to build the model on, if any.
        input_shape: the input's shape; 224x224x3 with the top by default,
            32x32 at least.
        pooling: without the top, None (a 4D feature map), "avg" or "max".
        classes: the classifier's outputs.
        classifier_activation: the activation of `predictions`; None for logits.
        se_ratio: the reduction ratio r; None gives the plain ResNet-18.
        se_integration: "standard", "pre", "post", "identity" or "3x3" (after
            the first 3x3 convolution of a basic unit).
        se_stages: which of stages 2 to 5 get SE blocks; None for every stage.
        se_kwargs: further `keras_se.SqueezeExcite` arguments.
        stride_in_1x1: a bool, kept for the signature of the bottleneck
            ResNets; basic units have no 1x1 convolution to stride in.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: the model's name (default "se_resnet18", "resnet18" without SE).

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEResNet18(input_shape=(64, 64, 3), classes=10)
    """
    return build_resnet(18, **locals())


def SEResNet34(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", se_ratio=16,
               se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
               attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNet-34.

    ResNet-34's basic units (3, 4, 6 and 3 of them in stages 2 to 5), each with
    an SE block before its addition, named like keras.applications' ResNets
    (`conv4_block6_se`). 21.98M parameters, 3.667 GMACs at 224x224; the SE
    blocks add 0.17M parameters.

    Args:
        include_top: True to keep the global-average-pooled classifier.
        weights: a weights file's path, or None for a random start.
        input_tensor: optional tensor the network is applied to.
        input_shape: defaults to (224, 224, 3) when `include_top` is True;
            each side must be 32 or more.
        pooling: "avg" or "max" pools the features when `include_top` is False.
        classes: number of classes to predict.
        classifier_activation: `predictions`' activation ("softmax"), or None.
        se_ratio: SE's reduction ratio (16); None builds ResNet-34 without SE.
        se_integration: where each block sits in the unit: "standard" (on the
            branch), "pre", "post", "identity" or "3x3".
        se_stages: a subset of (2, 3, 4, 5) to put SE in, or None for all.
        se_kwargs: a dict of `SqueezeExcite` options, e.g. {"squeeze": "max"}.
        stride_in_1x1: no effect here (a basic unit strides in its first 3x3
            convolution); it must still be a bool.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: optional name of the model.

    Returns:
        A `keras.Model`.

    Example:

    >>> backbone = keras_se.models.SEResNet34(include_top=False, pooling="avg")
    """
    return build_resnet(34, **locals())


def SEResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", se_ratio=16,
               se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
               attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNet-50, the SE paper's main ImageNet network.

    ResNet-50 with an SE block on the residual branch of each of its 16
    bottleneck units, in keras.applications.ResNet50's layout and layer names
    (`conv3_block2_se`); convolutions followed by BN have no bias. At 224x224 it
    counts 28.14M parameters and 3.872 GMACs, the paper's 28.1M and 3.87
    GFLOPs (Table 2).

    Args:
        include_top: whether to include `avg_pool` and the `predictions` layer.
        weights: None or the path to a weights file. keras_se never downloads:
            `keras_se.convert.from_timm` converts timm's pretrained models.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: optional shape tuple, (224, 224, 3) by default with
            `include_top`, else (None, None, 3); at least 32x32.
        pooling: with `include_top=False`: None (4D output), "avg" or "max".
        classes: number of classes of the classifier.
        classifier_activation: activation of `predictions`, or None for logits.
        se_ratio: the SE reduction ratio r (16 in the paper; section 6.1 and
            Table 10 compare 2 to 32). None builds ResNet-50 itself.
        se_integration: "standard", "pre", "post", "identity" or "3x3", the
            placements of the paper's section 6.5 (Table 14).
        se_stages: the stages (2 to 5, after conv2_x..conv5_x) that get SE,
            as in section 6.4 (Table 13); None for all.
        se_kwargs: further `keras_se.SqueezeExcite` arguments, for example
            {"squeeze": "max", "gate": "hard_sigmoid", "divisor": 8}.
        stride_in_1x1: whether a downsampling unit strides in its first 1x1
            convolution (True: the original ResNet and keras.applications) or
            in its 3x3 convolution (False: torchvision and timm).
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: the model's name ("se_resnet50", or "resnet50" without SE).

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEResNet50(se_ratio=8, classifier_activation=None)

    Reference:
        - [Hu et al., Squeeze-and-Excitation Networks, CVPR 2018](
            https://arxiv.org/abs/1709.01507)
    """
    return build_resnet(50, **locals())


def SEResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
                attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNet-101 (the SE paper's Table 2).

    ResNet-101: 3, 4, 23 and 3 bottleneck units, 23 of them in conv4_x, each
    with SE. 49.43M parameters and 7.593 GMACs at 224x224, against the paper's
    7.60 GFLOPs (7.570 and 44.65M without SE).

    Args:
        include_top: keep the classifier (`avg_pool`, `predictions`) or not.
        weights: path of weights to load after building, or None.
        input_tensor: a tensor to build on (its source inputs become the
            model's inputs).
        input_shape: (rows, cols, 3); 224 by 224 when left None with the
            classifier, at least 32 by 32.
        pooling: the headless model's global pooling: None, "avg", "max".
        classes: size of the classifier's output.
        classifier_activation: None returns logits; default "softmax".
        se_ratio: bottleneck ratio of every SE block; None: no SE at all.
        se_integration: one of "standard", "pre", "post", "identity", "3x3".
        se_stages: stage numbers 2..5 that get SE; None means all four.
        se_kwargs: extra keyword arguments of each `SqueezeExcite`.
        stride_in_1x1: True strides in the 1x1 convolution of a downsampling
            bottleneck (keras.applications' layout), False in the 3x3.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: model name; "se_resnet101" or "resnet101" when None.

    Returns:
        A `keras.Model`.

    Example:

    >>> features = keras_se.models.SEResNet101(include_top=False, se_stages=(4, 5))
    """
    return build_resnet(101, **locals())


def SEResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=True,
                attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNet-152, the deepest ResNet of the SE paper.

    Stages of 3, 8, 36 and 3 bottleneck units with SE: 66.97M parameters and
    11.315 GMACs at 224x224 (the paper: 11.32 GFLOPs, 21.57% top-1 error).

    Args:
        include_top: if True, the network ends in ImageNet's classifier head.
        weights: None, or a weights file to load (never a download).
        input_tensor: Keras tensor to use as image input, optional.
        input_shape: optional; with `include_top` it defaults to 224x224x3.
            The smallest side accepted is 32.
        pooling: applied to the last feature map without the top ("avg",
            "max" or None).
        classes: how many classes `predictions` has.
        classifier_activation: str or callable for `predictions`, or None.
        se_ratio: r for all SE blocks. Use None for the plain ResNet-152.
        se_integration: the SE block's place ("standard" by default).
        se_stages: None (all stages) or some of 2, 3, 4, 5.
        se_kwargs: options passed to every `SqueezeExcite` layer.
        stride_in_1x1: stride placement of downsampling bottlenecks (True:
            first 1x1 convolution; False: 3x3 convolution).
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: the name of the returned model.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEResNet152(weights="se_resnet152.weights.h5")
    """
    return build_resnet(152, **locals())


register("resnet", 224, 32, SEResNet18, SEResNet34, SEResNet50, SEResNet101, SEResNet152)
