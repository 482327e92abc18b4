"""SE-ResNeXt (32x4d) for ImageNet-sized inputs."""

from keras_se.models.resnet import make_builder

SEResNeXt50 = make_builder("SEResNeXt50", 50, 32, 4, stride_in_1x1=False)
SEResNeXt101 = make_builder("SEResNeXt101", 101, 32, 4, stride_in_1x1=False)
