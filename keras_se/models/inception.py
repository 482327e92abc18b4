"""SE-Inception-v3 and SE-Inception-ResNet-v2: keras.applications' networks with SE."""

import re

import keras

from keras_se.models import builder_utils as bu
from keras_se.retrofit import retrofit

_DOC = """Instantiates {title}.

    {summary}

    Args:
        include_top: whether to include the classifier at the top.
        weights: None or the path to a weights file (keras-se never downloads;
            to start from keras.applications' ImageNet weights, use
            `keras_se.retrofit(keras.applications.{app}(), ...)`).
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: optional shape tuple, `(299, 299, 3)` by default with
            `include_top`; at least 75x75.
        pooling: with `include_top=False`: None, `"avg"` or `"max"`.
        classes: number of classes.
        classifier_activation: activation of `predictions`, or None.
        se_ratio: the SE reduction ratio; None gives keras.applications.{app}
            itself (same layers, parameters and MACs).
        se_integration: `"standard"` only ({where}).
        se_stages: None only (every module gets SE).
        se_kwargs: further `keras_se.SqueezeExcite` arguments.
        name: the model's name.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = keras_se.models.{fn}(input_shape=(139, 139, 3), classes=10)
    """


def _build(app, where, fn_name, include_top, weights, input_tensor, input_shape, pooling,
           classes, classifier_activation, se_ratio, se_integration, se_stages, se_kwargs,
           name):
    bu.validate_top_arguments(weights, include_top, pooling, classes)
    bu.validate_se_arguments(se_ratio, se_integration, None, se_kwargs, ())
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
    default = fn_name.replace("SE", "se_" if se_ratio else "").lower()
    if se_ratio is None:
        # Still swap keras.applications' private scale layer for a serializable one.
        model = retrofit(base, where=lambda layer: False, allow_none=True,
                         name=name or default)
    else:
        model = retrofit(base, se_ratio=se_ratio, where=where, se_kwargs=se_kwargs,
                         name=name or default)
    if weights is not None:
        model.load_weights(weights)
    return model


def SEInceptionV3(include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=None, classes=1000, classifier_activation="softmax",
                  se_ratio=16, se_integration="standard", se_stages=None,
                  se_kwargs=None, name=None):
    return _build(
        keras.applications.InceptionV3,
        lambda layer: re.fullmatch(r"mixed\d+", layer.name) is not None,
        "SEInceptionV3", include_top, weights, input_tensor, input_shape, pooling,
        classes, classifier_activation, se_ratio, se_integration, se_stages, se_kwargs,
        name,
    )


def SEInceptionResNetV2(include_top=True, weights=None, input_tensor=None,
                        input_shape=None, pooling=None, classes=1000,
                        classifier_activation="softmax", se_ratio=16,
                        se_integration="standard", se_stages=None, se_kwargs=None,
                        name=None):
    return _build(
        keras.applications.InceptionResNetV2, "auto", "SEInceptionResNetV2",
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, se_ratio, se_integration, se_stages, se_kwargs, name,
    )


SEInceptionV3.__doc__ = _DOC.format(
    title="SE-Inception-v3", app="InceptionV3", fn="SEInceptionV3",
    where="after each inception module's concatenation, `mixed0_se`..`mixed10_se`",
    summary="keras.applications.InceptionV3's layout and layer names, with an SE "
    "block on the concatenated output of each inception module (the paper's "
    "SE-Inception figure).",
)
SEInceptionResNetV2.__doc__ = _DOC.format(
    title="SE-Inception-ResNet-v2", app="InceptionResNetV2", fn="SEInceptionResNetV2",
    where="on the residual branch before the scaled addition, `block35_1_se`...",
    summary="keras.applications.InceptionResNetV2's layout and layer names, with an "
    "SE block on each residual branch before its scaled addition. Its scale "
    "layers are keras_se's serializable `ScaledResidual`.",
)
