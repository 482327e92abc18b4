"""Multi-scale features of a ResNet or ResNeXt: the stage outputs P2..P5."""

import re

import keras

_STAGE_LAYER = re.compile(r"conv([2-5])_block\d+_\w+")


def pyramid(model):
    """A model whose output is the dict of `model`'s stage features P2..P5.

    `Pk` is the output of the last unit of stage k (`conv{k}_x`), at stride
    2^k: 4, 8, 16 and 32 pixels, as keras-hub's `pyramid_outputs` name them, for
    feature-pyramid necks of detection and segmentation models (timm's
    `features_only`). The new model shares `model`'s layers and weights.

    Args:
        model: a ResNet or ResNeXt of `keras_se.models` (with or without its
            top), a retrofitted one, or one converted with
            `keras_se.convert.from_timm`: a functional model whose stage layers
            are named `conv{2..5}_block{n}_...`.

    Returns:
        A `keras.Model` with the same inputs and a dict output
        `{"P2": ..., "P3": ..., "P4": ..., "P5": ...}`.

    Example:

    >>> backbone = keras_se.models.SEResNet50(include_top=False, input_shape=(224, 224, 3))
    >>> features = keras_se.models.pyramid(backbone)
    >>> {k: v.shape for k, v in features.output.items()}["P3"]
    (None, 28, 28, 512)
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(
            "pyramid needs a functional keras.Model. "
            f"Received: model={type(model).__name__}")
    last = {}
    # Functional models list their layers in graph order: the last layer of a
    # stage's name is the stage's output.
    for layer in model.layers:
        match = _STAGE_LAYER.fullmatch(layer.name)
        if match:
            last[f"P{match.group(1)}"] = layer
    missing = [level for level in ("P2", "P3", "P4", "P5") if level not in last]
    if missing:
        raise ValueError(
            "pyramid needs the four stages conv2_x..conv5_x of a ResNet or ResNeXt; "
            f"found no layer named conv{missing[0][1]}_block*. Received: model={model.name!r}")
    outputs = {level: last[level].output for level in ("P2", "P3", "P4", "P5")}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_pyramid")
