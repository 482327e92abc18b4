"""Residual units (basic, bottleneck, pre-activation bottleneck) with SE.

Every unit takes an `se` callable (or None) and an `integration` that says
where the SE block sits (the paper's section 6.5, Table 14):

- `standard`: on the residual branch after its last BN, before the addition;
- `pre`: on the unit's input, at the start of the residual branch only;
- `post`: after the addition and its activation;
- `identity`: on the shortcut path, in parallel to the residual branch;
- `3x3`: right after the 3x3 convolution (the grouped one in ResNeXt) and its
  activation; in a basic unit, after the first 3x3 convolution.

Layer names follow keras.applications: `conv3_block2_1_conv`, ...,
`conv3_block2_0_conv` for the projection shortcut, `conv3_block2_se` for SE.
"""

import keras

from keras_se.layers import get_attention
from keras_se.layers.attention import attention_name, layer_arguments
from keras_se.layers.attention_types import DEFAULT_ATTENTION

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def channel_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def batch_norm(x, name):
    return keras.layers.BatchNormalization(
        axis=channel_axis(), epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name
    )(x)


def conv(x, filters, kernel_size, stride, name, groups=1):
    """A bias-free convolution with PyTorch-style symmetric padding."""
    pad = kernel_size // 2
    if pad and stride > 1:
        # "same" pads asymmetrically at stride 2; pad explicitly as timm does.
        x = keras.layers.ZeroPadding2D(pad, name=name + "_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding=padding, groups=groups,
        use_bias=False, name=name,
    )(x)


def make_se(se_ratio, se_kwargs, attention=DEFAULT_ATTENTION):
    """A factory `se(x, name)` that applies an attention block (SE by
    default; see `keras_se.layers.get_attention`), or None without one.

    The factory's `suffix` ends its layers' names: the attention type
    (`conv3_block2_se`, `conv3_block2_eca`), or `attn` for a callable.
    """
    if se_ratio is None or attention is None:
        return None
    kwargs = layer_arguments(attention, se_ratio, se_kwargs)

    def se(x, name):
        return get_attention(attention, name=name, **kwargs)(x)

    se.suffix = attention_name(attention)
    return se


def attention_prefix(se_ratio, attention):
    """A default model name's prefix: `se_`, `eca_`, ..., `attn_` for a
    callable, nothing without attention."""
    if se_ratio is None or attention is None:
        return ""
    return attention_name(attention) + "_"


def _project(x, filters, stride, name, preact=False, avg_down=False):
    if avg_down and stride > 1:
        # ResNet-D: average, then a stride-1 projection that sees every input.
        x = keras.layers.AveragePooling2D(stride, strides=stride, padding="same",
                                          name=name + "_0_pool")(x)
        stride = 1
    x = conv(x, filters, 1, stride, name + "_0_conv")
    if not preact:
        x = batch_norm(x, name + "_0_bn")
    return x


def _apply(se, x, name, integration, where):
    if se is not None and integration == where:
        return se(x, f"{name}_{se.suffix}")
    return x


def basic_unit(
    x, filters, stride, name, se=None, integration="standard", branch_relu=False,
    avg_down=False,
):
    """Two 3x3 convolutions (ResNet-18/34 and the CIFAR ResNets).

    `branch_relu=True` adds a ReLU after the second BN, before SE and the
    addition, as timm's legacy SE-ResNet-18/34 have it. `avg_down=True`
    downsamples the shortcut by average pooling (ResNet-D).
    """
    in_channels = x.shape[channel_axis()]
    shortcut = x
    if stride != 1 or in_channels != filters:
        shortcut = _project(x, filters, stride, name, avg_down=avg_down)
    shortcut = _apply(se, shortcut, name, integration, "identity")
    h = _apply(se, x, name, integration, "pre")
    h = conv(h, filters, 3, stride, name + "_1_conv")
    h = batch_norm(h, name + "_1_bn")
    h = keras.layers.Activation("relu", name=name + "_1_relu")(h)
    h = _apply(se, h, name, integration, "3x3")
    h = conv(h, filters, 3, 1, name + "_2_conv")
    h = batch_norm(h, name + "_2_bn")
    if branch_relu:
        h = keras.layers.Activation("relu", name=name + "_2_relu")(h)
    h = _apply(se, h, name, integration, "standard")
    x = keras.layers.Add(name=name + "_add")([shortcut, h])
    x = keras.layers.Activation("relu", name=name + "_out")(x)
    return _apply(se, x, name, integration, "post")


def bottleneck_unit(
    x, filters, stride, name, se=None, integration="standard",
    groups=1, width=None, stride_in_1x1=True, expansion=4, avg_down=False,
):
    """1x1 -> 3x3 (grouped for ResNeXt) -> 1x1, output `filters * expansion`;
    `avg_down=True` downsamples the shortcut by average pooling (ResNet-D)."""
    out_channels = filters * expansion
    width = width or filters
    in_channels = x.shape[channel_axis()]
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        shortcut = _project(x, out_channels, stride, name, avg_down=avg_down)
    shortcut = _apply(se, shortcut, name, integration, "identity")
    s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
    h = _apply(se, x, name, integration, "pre")
    h = conv(h, width, 1, s1, name + "_1_conv")
    h = batch_norm(h, name + "_1_bn")
    h = keras.layers.Activation("relu", name=name + "_1_relu")(h)
    h = conv(h, width, 3, s3, name + "_2_conv", groups=groups)
    h = batch_norm(h, name + "_2_bn")
    h = keras.layers.Activation("relu", name=name + "_2_relu")(h)
    h = _apply(se, h, name, integration, "3x3")
    h = conv(h, out_channels, 1, 1, name + "_3_conv")
    h = batch_norm(h, name + "_3_bn")
    h = _apply(se, h, name, integration, "standard")
    x = keras.layers.Add(name=name + "_add")([shortcut, h])
    x = keras.layers.Activation("relu", name=name + "_out")(x)
    return _apply(se, x, name, integration, "post")


def preact_bottleneck_unit(
    x, filters, stride, name, se=None, integration="standard", expansion=4
):
    """He et al.'s pre-activation bottleneck (BN-ReLU-conv), for ResNet-164."""
    out_channels = filters * expansion
    in_channels = x.shape[channel_axis()]
    pre = batch_norm(x, name + "_preact_bn")
    pre = keras.layers.Activation("relu", name=name + "_preact_relu")(pre)
    shortcut = x
    if stride != 1 or in_channels != out_channels:
        shortcut = _project(pre, out_channels, stride, name, preact=True)
    shortcut = _apply(se, shortcut, name, integration, "identity")
    h = _apply(se, pre, name, integration, "pre")
    h = conv(h, filters, 1, 1, name + "_1_conv")
    h = batch_norm(h, name + "_1_bn")
    h = keras.layers.Activation("relu", name=name + "_1_relu")(h)
    h = conv(h, filters, 3, stride, name + "_2_conv")
    h = _apply(se, h, name, integration, "3x3")
    h = batch_norm(h, name + "_2_bn")
    h = keras.layers.Activation("relu", name=name + "_2_relu")(h)
    h = conv(h, out_channels, 1, 1, name + "_3_conv")
    h = _apply(se, h, name, integration, "standard")
    x = keras.layers.Add(name=name + "_add")([shortcut, h])
    return _apply(se, x, name, integration, "post")
