"""SE-BN-Inception: Ioffe and Szegedy's BN-Inception (2015) with SE."""

import keras

from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.models import builder_utils as bu
from keras_se.models.docstrings import document
from keras_se.models import residual_units as ru
from keras_se.models.registry import register

# module: (1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool, pool proj, stride)
# as in the released BN-Inception (the SE paper's base model).
MODULES = {
    "3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "5b": (352, 192, 320, 192, 224, "max", 128, 1),
}
STAGES = (3, 4, 5)


def _conv_bn(x, filters, kernel, stride, name):
    x = ru.conv(x, filters, kernel, stride, name)
    x = ru.batch_norm(x, name + "_bn")
    return keras.layers.Activation("relu", name=name + "_relu")(x)


def _pool(x, kind, stride, name):
    if stride == 1:
        pool = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
        return pool(3, strides=1, padding="same", name=name)(x)
    # Caffe's ceil-mode 3x3/2 pooling: pad the bottom and right by one.
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=name + "_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)


def inception_module(x, spec, name):
    n1, r3, n3, rd, nd, pool, proj, stride = spec
    branches = []
    if n1:
        branches.append(_conv_bn(x, n1, 1, 1, f"{name}_1x1"))
    b = _conv_bn(x, r3, 1, 1, f"{name}_3x3_reduce")
    branches.append(_conv_bn(b, n3, 3, stride, f"{name}_3x3"))
    b = _conv_bn(x, rd, 1, 1, f"{name}_double_3x3_reduce")
    b = _conv_bn(b, nd, 3, 1, f"{name}_double_3x3_1")
    branches.append(_conv_bn(b, nd, 3, stride, f"{name}_double_3x3_2"))
    b = _pool(x, pool, stride, f"{name}_pool")
    if proj:
        b = _conv_bn(b, proj, 1, 1, f"{name}_pool_proj")
    branches.append(b)
    return keras.layers.Concatenate(axis=ru.channel_axis(), name=f"{name}_output")(branches)


def SEBNInception(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  se_ratio=16, se_integration="standard", se_stages=None,
                  se_kwargs=None, attention=DEFAULT_ATTENTION, name=None):
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    ratios = bu.validate_se_arguments(se_ratio, se_integration, se_stages, se_kwargs, STAGES,
                                      attention)
    if se_integration != "standard":
        raise ValueError(
            "SEBNInception places SE one way only: `se_integration` must be "
            f"'standard'. Received: se_integration={se_integration!r}"
        )
    img_input, inputs = bu.model_inputs(
        input_tensor, input_shape, include_top, default_size=224, min_size=32
    )
    x = _conv_bn(img_input, 64, 7, 2, "conv1_7x7")
    x = _pool(x, "max", 2, "pool1")
    x = _conv_bn(x, 64, 1, 1, "conv2_3x3_reduce")
    x = _conv_bn(x, 192, 3, 1, "conv2_3x3")
    x = _pool(x, "max", 2, "pool2")
    for module, spec in MODULES.items():
        x = inception_module(x, spec, f"inception_{module}")
        se = ru.make_se(ratios.get(int(module[0])), se_kwargs, attention)
        if se is not None:
            x = se(x, f"inception_{module}_{se.suffix}")
    x = bu.classifier_head(x, include_top, pooling, classes, classifier_activation)
    if name is None:
        name = f"{ru.attention_prefix(se_ratio, attention)}bn_inception"
    return bu.finish_model(inputs, x, name, weights)


document(SEBNInception, """Instantiates SE-BN-Inception (the SE paper's SE-BN-Inception).

BN-Inception (Ioffe and Szegedy, Batch Normalization, ICML 2015) in the layout
of its released model, with an SE block on the concatenated output of each of
its ten inception modules (`inception_3a_se` ... `inception_5b_se`). 2.03
GMACs plain and 2.04 with SE at 224x224.""",
         "model = keras_se.models.SEBNInception(input_shape=(64, 64, 3), classes=10)",
         overrides={"se_integration": "`\"standard\"` only: after each module's concatenation."},
         size=224, min_size=32, stages="3, 4, 5: inception_3x, 4x, 5x",
         plain="BN-Inception", default_name="se_bn_inception")

register("inception", 224, 32, SEBNInception)
