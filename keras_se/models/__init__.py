"""Network builders of keras_se, with the keras.applications contract."""

from keras_se.models.bn_inception import SEBNInception
from keras_se.models.cifar_resnet import CifarSEResNet
from keras_se.models.inception import SEInceptionResNetV2, SEInceptionV3
from keras_se.models.resnet import (
    SEResNet18,
    SEResNet34,
    SEResNet50,
    SEResNet101,
    SEResNet152,
)
from keras_se.models.resnext import SEResNeXt50, SEResNeXt101

#: Every builder by name, for apps and command lines.
BUILDERS = {
    "SEResNet18": SEResNet18,
    "SEResNet34": SEResNet34,
    "SEResNet50": SEResNet50,
    "SEResNet101": SEResNet101,
    "SEResNet152": SEResNet152,
    "SEResNeXt50": SEResNeXt50,
    "SEResNeXt101": SEResNeXt101,
    "CifarSEResNet": CifarSEResNet,
    "SEInceptionV3": SEInceptionV3,
    "SEInceptionResNetV2": SEInceptionResNetV2,
    "SEBNInception": SEBNInception,
}

__all__ = list(BUILDERS) + ["BUILDERS"]
