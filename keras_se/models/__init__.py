"""Network builders of keras_se, with the keras.applications contract.

Every builder takes keras.applications' arguments (`include_top`, `weights`,
`input_tensor`, `input_shape`, `pooling`, `classes`, `classifier_activation`,
`name`) and the SE arguments: `se_ratio` (the reduction ratio r; a dict of
stage -> r for a ratio per stage, the stages it leaves out without SE; None for
the network without SE), `se_integration` (where the block sits in a residual unit:
"standard", "pre", "post", "identity" or "3x3", the paper's section 6.5),
`se_stages` (which stages get SE) and `se_kwargs` (further `SqueezeExcite`
arguments), `attention` (SE by default, or "ese", "eca", "cbam", "ge"; see
`keras_se.layers.get_attention`) and, for the ResNets and ResNeXts, `resnet_d`.
`BUILDERS` and `get_builder` give each builder's family and default input size;
`pyramid` turns a ResNet or ResNeXt into its P2..P5 stage features;
`from_preset` builds a pretrained model from timm's checkpoints (or keras-se's
own, written by `save_preset`).
"""

from keras_se.models.bn_inception import SEBNInception
from keras_se.models.cifar_resnet import CifarSEResNet
from keras_se.models.inception import SEInceptionResNetV2, SEInceptionV3
from keras_se.models.presets import (
    IMAGENET_PRESETS, from_preset, preset_config, preset_metadata, save_preset)
from keras_se.models.pyramid import pyramid
from keras_se.models.registry import BUILDERS, BuilderInfo, get_builder, register
from keras_se.models.resnet import (
    SEResNet18,
    SEResNet34,
    SEResNet50,
    SEResNet101,
    SEResNet152,
)
from keras_se.models.resnext import SEResNeXt50, SEResNeXt101

__all__ = [
    "SEResNet18", "SEResNet34", "SEResNet50", "SEResNet101", "SEResNet152", "SEResNeXt50",
    "SEResNeXt101", "CifarSEResNet", "SEInceptionV3", "SEInceptionResNetV2", "SEBNInception",
    "BUILDERS", "BuilderInfo", "get_builder", "register", "pyramid", "from_preset",
    "save_preset", "preset_metadata", "preset_config", "IMAGENET_PRESETS",
]
