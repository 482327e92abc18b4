"""SE-Inception-v3 and SE-Inception-ResNet-v2: keras.applications' networks with SE."""

import re

import keras

from keras_se.layers.attention_types import DEFAULT_ATTENTION
from keras_se.models import builder_utils as bu
from keras_se.models.docstrings import document
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
                  se_kwargs=None, attention=DEFAULT_ATTENTION, name=None):
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
                        attention=DEFAULT_ATTENTION, name=None):
    return _build(
        keras.applications.InceptionResNetV2, "auto", "SEInceptionResNetV2",
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, se_ratio, se_integration, se_stages, se_kwargs, attention,
        name,
    )


_ONE_WAY = {
    "weights": "None, or the path of a weights file. To start from keras.applications' "
               "ImageNet weights, retrofit its network: `keras_se.retrofit({app}(), ...)`.",
    "se_integration": "`\"standard\"` only: {where}.",
    "se_stages": "None only: every {module} gets a block.",
}
document(SEInceptionV3, """Instantiates SE-Inception-v3.

keras.applications.InceptionV3's layout and layer names, with an SE block
on the concatenated output of each of its 11 inception modules
(`mixed0_se`..`mixed10_se`), as the paper's SE-Inception module (Fig. 2)
places it. 25.51M parameters and 5.720 GMACs at 299x299.""",
         "model = keras_se.models.SEInceptionV3(input_shape=(139, 139, 3), classes=10)",
         overrides=_ONE_WAY, app="keras.applications.InceptionV3",
         where="after each module's concatenation", module="module", size=299, min_size=75,
         plain="InceptionV3",
         default_name="se_inception_v3")
document(SEInceptionResNetV2, """Instantiates SE-Inception-ResNet-v2 (the paper's SE-ResNet
module, Fig. 3, on Inception-ResNet-v2's residual branches).

keras.applications.InceptionResNetV2's layout and names, with an SE block on
each residual branch before its scaled addition (`block35_1_se`, ...). Its
scale layers are keras_se's serializable `ScaledResidual`. 64.42M
parameters and 13.187 GMACs at 299x299.""",
         'model = keras_se.models.SEInceptionResNetV2(include_top=False, pooling="avg")',
         overrides=_ONE_WAY, app="keras.applications.InceptionResNetV2",
         where="on each residual branch, before the scaled addition",
         module="of the 40 residual blocks", size=299, min_size=75,
         plain="InceptionResNetV2", default_name="se_inception_resnet_v2")

register("inception", 299, 75, SEInceptionV3, SEInceptionResNetV2)
