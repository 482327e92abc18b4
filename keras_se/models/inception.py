"""SE-Inception-v3 and SE-Inception-ResNet-v2: keras.applications' networks with SE."""

import re

import keras

from keras_se.models import builder_utils as bu
from keras_se.models import residual_units as ru
from keras_se.models.registry import register
from keras_se.retrofit import retrofit

def _build(app, where, fn_name, include_top, weights, input_tensor, input_shape, pooling,
           classes, classifier_activation, se_ratio, se_integration, se_stages, se_kwargs,
           attention, name):
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    bu.validate_se_arguments(se_ratio, se_integration, None, se_kwargs, (), attention)
    if se_integration != "standard":
        raise ValueError(
            f"{fn_name} places SE one way only: `se_integration` must be 'standard'. "
            f"Received: se_integration={se_integration!r}"
        )
    if se_stages is not None:
        raise ValueError(
            f"{fn_name} puts SE in every module: `se_stages` must be None. "
            f"Received: se_stages={se_stages!r}"
        )
    base = app(
        include_top=include_top, weights=None, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    default = fn_name.replace("SE", ru.attention_prefix(se_ratio, attention)).lower()
    if se_ratio is None or attention is None:
        # Still swap keras.applications' private scale layer for a serializable one.
        model = retrofit(base, where=lambda layer: False, allow_none=True,
                         name=name or default)
    else:
        model = retrofit(base, se_ratio=se_ratio, where=where, se_kwargs=se_kwargs,
                         attention=attention, name=name or default)
    if weights is not None:
        model.load_weights(weights)
    return model


def SEInceptionV3(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  se_ratio=16, se_integration="standard", se_stages=None,
                  se_kwargs=None, attention="se", name=None):
    """Instantiates SE-Inception-v3.

    keras.applications.InceptionV3's layout and layer names, with an SE block
    on the concatenated output of each of its 11 inception modules
    (`mixed0_se`..`mixed10_se`), as the paper's SE-Inception module (Fig. 2)
    places it. 25.51M parameters and 5.720 GMACs at 299x299.

    Args:
        include_top: whether to include the fully-connected top layer.
        weights: None or the path to a weights file. To start from
            keras.applications' ImageNet weights, use
            `keras_se.retrofit(keras.applications.InceptionV3(), ...)`.
        input_tensor: optional Keras tensor used as the image input.
        input_shape: (299, 299, 3) by default with the top; 75x75 at least.
        pooling: "avg", "max" or None for a model without its top.
        classes: classes to classify images into.
        classifier_activation: the top layer's activation, or None.
        se_ratio: SE reduction ratio; None returns InceptionV3 itself (the
            same layers, parameters and MACs).
        se_integration: only "standard" (after each module's concatenation).
        se_stages: only None: every module gets SE.
        se_kwargs: further `keras_se.SqueezeExcite` arguments.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        name: the model's name ("se_inception_v3" by default).

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEInceptionV3(input_shape=(139, 139, 3), classes=10)
    """
    return _build(
        keras.applications.InceptionV3,
        lambda layer: re.fullmatch(r"mixed\d+", layer.name) is not None,
        "SEInceptionV3", include_top, weights, input_tensor, input_shape, pooling,
        classes, classifier_activation, se_ratio, se_integration, se_stages, se_kwargs,
        attention, name,
    )


def SEInceptionResNetV2(include_top=True, weights=None, input_tensor=None,
                        input_shape=None, pooling=None, classes=1000,
                        classifier_activation="softmax", se_ratio=16,
                        se_integration="standard", se_stages=None, se_kwargs=None,
                        attention="se", name=None):
    """Instantiates SE-Inception-ResNet-v2 (the paper's SE-ResNet module, Fig. 3,
    on Inception-ResNet-v2's residual branches).

    keras.applications.InceptionResNetV2's layout and names, with an SE block on
    each residual branch before its scaled addition (`block35_1_se`, ...). Its
    scale layers are keras_se's serializable `ScaledResidual`. 64.42M
    parameters and 13.187 GMACs at 299x299.

    Args:
        include_top: True keeps the classification layer on top.
        weights: None, or a weights file; for ImageNet weights, retrofit
            keras.applications.InceptionResNetV2 with `keras_se.retrofit`.
        input_tensor: an optional tensor to use as input.
        input_shape: image shape, 299x299x3 by default (75x75 minimum).
        pooling: pooling mode of a model built with `include_top=False`.
        classes: number of classes.
        classifier_activation: `predictions`' activation; None gives logits.
        se_ratio: the blocks' reduction ratio; None leaves the network
            without SE.
        se_integration: must be "standard" (SE on the branch, before the
            scaled residual addition).
        se_stages: must be None (SE in all 40 residual blocks).
        se_kwargs: keyword arguments for each `SqueezeExcite`.
        attention: the attention block: "se" (default), "ese", "eca", "cbam"
            or "ge" (see `keras_se.layers.get_attention`), a callable that
            makes a layer, or None; `se_ratio` is its ratio where it has one.
        name: a model name; "se_inception_resnet_v2" when None.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.SEInceptionResNetV2(include_top=False, pooling="avg")
    """
    return _build(
        keras.applications.InceptionResNetV2, "auto", "SEInceptionResNetV2",
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, se_ratio, se_integration, se_stages, se_kwargs, attention,
        name,
    )


register("inception", 299, 75, SEInceptionV3, SEInceptionResNetV2)
