"""SE-ResNeXt (32x4d) for ImageNet-sized inputs."""

from keras_se.models.registry import register
from keras_se.models.resnet import build_resnet


def SEResNeXt50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", se_ratio=16,
                se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=False,
                attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNeXt-50 (32x4d).

    ResNeXt-50 (Xie et al., 2017): bottlenecks whose 3x3 convolution has 32
    groups of 4 channels per 64 of width, with an SE block in each unit. 27.63M
    parameters and 4.244 GMACs at 224x224, the paper's 4.25 GFLOPs (Table 2).

    Args:
        include_top: whether to include the classifier (`avg_pool` and
            `predictions`).
        weights: None for random weights or a path to load them from.
        input_tensor: optional input tensor of the network.
        input_shape: 224x224x3 if None and `include_top`; 32 pixels or more
            a side.
        pooling: None, "avg" or "max" when `include_top=False`.
        classes: number of output classes.
        classifier_activation: activation of the last layer; None for logits.
        se_ratio: r of the SE blocks; None builds ResNeXt-50 32x4d.
        se_integration: "standard", "pre", "post", "identity" or "3x3" (after
            the grouped convolution).
        se_stages: the SE stages among 2, 3, 4 and 5 (None: all).
        se_kwargs: other arguments of the `SqueezeExcite` blocks.
        stride_in_1x1: False (the default, as in the ResNeXt paper) strides in
            the grouped 3x3 convolution; True in the first 1x1.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: the model's name ("se_resnext50" by default).

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEResNeXt50(input_shape=(96, 96, 3), classes=5)
    """
    return build_resnet(50, groups=32, base_width=4, **locals())


def SEResNeXt101(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", se_ratio=16,
                 se_integration="standard", se_stages=None, se_kwargs=None, stride_in_1x1=False,
                 attention="se", resnet_d=False, name=None):
    """Instantiates SE-ResNeXt-101 (32x4d).

    The 101-layer ResNeXt with 32 groups, 23 units in conv4_x, and SE in each
    unit: 49.09M parameters, 7.993 GMACs at 224x224 (ResNeXt-101 alone: 44.32M,
    7.970 G).

    Args:
        include_top: True for the ImageNet-style head.
        weights: None, or where to load the weights from.
        input_tensor: a Keras tensor to feed the network with, or None.
        input_shape: defaults to (224, 224, 3) with the top; sides >= 32.
        pooling: global pooling of a headless model ("avg", "max" or None).
        classes: the number of classes.
        classifier_activation: "softmax" by default, None for raw logits.
        se_ratio: reduction ratio; set None to remove every SE block.
        se_integration: the SE position in each unit ("standard", ...).
        se_stages: restrict SE to these stages (2 to 5), or None.
        se_kwargs: a dict forwarded to `keras_se.SqueezeExcite`.
        stride_in_1x1: where a downsampling unit strides (False: in the
            grouped 3x3 convolution, the ResNeXt layout).
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        resnet_d: ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of
            three 3x3 convolutions (32, 32, 64 channels) and average pooling
            before each downsampling shortcut's 1x1 convolution (timm's `d`).
        name: optional model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> backbone = keras_se.models.SEResNeXt101(include_top=False, se_ratio=8)
    """
    return build_resnet(101, groups=32, base_width=4, **locals())


register("resnext", 224, 32, SEResNeXt50, SEResNeXt101)
