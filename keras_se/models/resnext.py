"""SE-ResNeXt (32x4d) for ImageNet-sized inputs."""

from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.models.docstrings import PRETRAINED_WEIGHTS, document
from keras_se.models.registry import register
from keras_se.models.resnet import build_resnet


def SEResNeXt50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=False,
                attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(50, groups=32, base_width=4, builder=SEResNeXt50,
                        **locals())


def SEResNeXt101(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", se_ratio=16,
                 se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=False,
                 attention=DEFAULT_ATTENTION, resnet_d=False, name=None):
    return build_resnet(101, groups=32, base_width=4, builder=SEResNeXt101,
                        **locals())


document(SEResNeXt50, """Instantiates SE-ResNeXt-50 (32x4d).

ResNeXt-50 (Xie et al., 2017): bottlenecks whose 3x3 convolution has 32
groups of 4 channels per 64 of width, with an SE block in each unit. 27.63M
parameters and 4.244 GMACs at 224x224, the paper's 4.25 GFLOPs (Table 2).""",
         "model = keras_se.models.SEResNeXt50(input_shape=(96, 96, 3), classes=5)",
         overrides={"weights": PRETRAINED_WEIGHTS},
         size=224, min_size=32, stages="2 to 5", plain="ResNeXt-50 32x4d",
         default_name="se_resnext50")
document(SEResNeXt101, """Instantiates SE-ResNeXt-101 (32x4d).

The 101-layer ResNeXt with 32 groups, 23 units in conv4_x, and SE in each
unit: 49.09M parameters, 7.993 GMACs at 224x224 (ResNeXt-101 alone: 44.32M,
7.970 G).""",
         "backbone = keras_se.models.SEResNeXt101(include_top=False, se_ratio=8)",
         overrides={"weights": PRETRAINED_WEIGHTS},
         size=224, min_size=32, stages="2 to 5", plain="ResNeXt-101 32x4d",
         default_name="se_resnext101")

register("resnext", 224, 32, SEResNeXt50, SEResNeXt101)
