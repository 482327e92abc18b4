"""He et al.'s CIFAR ResNets with SE (depths 20 to 110, and 164)."""

import keras

from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.models import builder_utils as bu
from keras_se.models.docstrings import document
from keras_se.models import residual_units as ru
from keras_se.models.registry import register

CIFAR_STAGES = (2, 3, 4)
BASIC_DEPTHS = (20, 32, 44, 56, 110)
PREACT_DEPTHS = (164,)


def CifarSEResNet(depth=56, include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=10, classifier_activation="softmax", se_ratio=16,
                  se_integration="standard", se_stages=None, se_kwargs=None,
                  attention=DEFAULT_ATTENTION, name=None):
    if depth not in BASIC_DEPTHS + PREACT_DEPTHS:
        raise ValueError(
            f"`depth` must be one of {BASIC_DEPTHS + PREACT_DEPTHS}. "
            f"Received: depth={depth!r}"
        )
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    ratios = bu.validate_se_arguments(
        se_ratio, se_integration, se_stages, se_kwargs, CIFAR_STAGES, attention
    )
    img_input, inputs = bu.model_inputs(
        input_tensor, input_shape, include_top, default_size=32, min_size=8
    )
    preact = depth in PREACT_DEPTHS
    count = (depth - 2) // (9 if preact else 6)

    x = ru.conv(img_input, 16, 3, 1, "conv1_conv")
    if not preact:
        x = ru.batch_norm(x, "conv1_bn")
        x = keras.layers.Activation("relu", name="conv1_relu")(x)
    for stage, filters in zip(CIFAR_STAGES, (16, 32, 64)):
        stage_se = ru.make_se(ratios.get(stage), se_kwargs, attention)
        for block in range(1, count + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            block_name = f"conv{stage}_block{block}"
            if preact:
                x = ru.preact_bottleneck_unit(
                    x, filters, stride, block_name, stage_se, se_integration
                )
            else:
                x = ru.basic_unit(
                    x, filters, stride, block_name, stage_se, se_integration
                )
    if preact:
        x = ru.batch_norm(x, "post_bn")
        x = keras.layers.Activation("relu", name="post_relu")(x)
    x = bu.classifier_head(x, include_top, pooling, classes, classifier_activation)
    if name is None:
        name = f"cifar_{ru.attention_prefix(se_ratio, attention)}resnet{depth}"
    return bu.finish_model(inputs, x, name, weights)


document(CifarSEResNet, """Instantiates a CIFAR SE-ResNet (He et al., 2016, with SE blocks).

Depths 20, 32, 44, 56 and 110 stack `(depth - 2) / 6` basic units per stage
with 16, 32 and 64 channels; depth 164 is the pre-activation bottleneck
network (`(depth - 2) / 9` units per stage, 64, 128, 256 output channels).
A unit that changes the shape has a 1x1 projection shortcut (He et al.'s
option B). Stages are numbered 2, 3 and 4 (conv2_x..conv4_x).""",
         "model = keras_se.models.CifarSEResNet(depth=20, se_ratio=8)",
         overrides={"depth": "one of 20, 32, 44, 56, 110, 164."},
         size=32, min_size=8, stages="2, 3, 4", plain="the plain CIFAR ResNet",
         default_name="cifar_se_resnet56")

register("cifar_resnet", 32, 8, CifarSEResNet)
