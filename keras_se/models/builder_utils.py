"""What every builder shares: the keras.applications contract and SE arguments."""

import os

import keras

from keras_se.layers.attention import validate_attention
from keras_se.layers.attention_layer import is_positive_number
from keras_se.layers.attention_types import DEFAULT_ATTENTION

SE_INTEGRATIONS = ("standard", "pre", "post", "identity", "3x3")


def validate_se_arguments(se_ratio, se_integration, se_stages, se_kwargs, stages,
                          attention=DEFAULT_ATTENTION):
    """Checks the SE arguments of a builder and returns each SE stage's ratio.

    Args:
        se_ratio: a positive number (every SE block's r), a dict of stage
            number -> positive number (each stage's own r; the stages it leaves
            out get no SE, as in the paper's stage ablation, section 6.4), or
            None.
        se_integration: one of `SE_INTEGRATIONS`.
        se_stages: None or an iterable of stage numbers from `stages`.
        se_kwargs: None or a dict of further `SqueezeExcite` arguments.
        stages: the stage numbers the network has.
        attention: an attention type of `keras_se.layers.get_attention`, None
            or a callable.

    Returns:
        A dict of stage number -> ratio for the stages that get SE (empty when
        `se_ratio` is None).

    Example:

    >>> validate_se_arguments({3: 8, 4: 16}, "standard", None, None, (2, 3, 4))
    {3: 8, 4: 16}
    """
    validate_attention(attention)
    if isinstance(se_ratio, dict):
        if not se_ratio or not all(_is_stage(stage, stages) and is_positive_number(ratio)
                                   for stage, ratio in se_ratio.items()):
            raise ValueError(
                "`se_ratio` as a dict must map stages of "
                f"{tuple(stages)} to positive numbers. Received: se_ratio={se_ratio!r}"
            )
        ratios = dict(se_ratio)
    elif se_ratio is not None and not is_positive_number(se_ratio):
        raise ValueError(
            f"`se_ratio` must be a positive number, a dict of stage -> positive "
            f"number, or None. Received: se_ratio={se_ratio!r}"
        )
    else:
        ratios = {stage: se_ratio for stage in stages} if se_ratio is not None else {}
    if se_integration not in SE_INTEGRATIONS:
        raise ValueError(
            f"`se_integration` must be one of {SE_INTEGRATIONS}. "
            f"Received: se_integration={se_integration!r}"
        )
    if se_kwargs is not None and not isinstance(se_kwargs, dict):
        raise ValueError(
            f"`se_kwargs` must be a dict or None. Received: se_kwargs={se_kwargs!r}"
        )
    if se_kwargs and ("ratio" in se_kwargs or "name" in se_kwargs):
        raise ValueError(
            "`se_kwargs` may not set `ratio` or `name` (use `se_ratio`). "
            f"Received: se_kwargs={se_kwargs!r}"
        )
    if se_ratio is None or se_stages is None:
        return ratios
    try:
        chosen = frozenset(se_stages)
    except TypeError:
        chosen = None
    if chosen is None or not chosen <= frozenset(stages):
        raise ValueError(
            f"`se_stages` must be None or a subset of {tuple(stages)}. "
            f"Received: se_stages={se_stages!r}"
        )
    return {stage: ratio for stage, ratio in ratios.items() if stage in chosen}


def _is_stage(value, stages):
    return isinstance(value, int) and not isinstance(value, bool) and value in stages


def model_inputs(input_tensor, input_shape, include_top, default_size, min_size):
    """The input layer of a builder, as keras.applications makes it.

    Returns:
        `(img_input, inputs)`: the tensor the network starts from, and the
        model's inputs (the source inputs of `input_tensor` when given).
    """
    channels_first = keras.config.image_data_format() == "channels_first"
    if input_shape is None:
        if input_tensor is not None:
            input_shape = tuple(input_tensor.shape[1:])
        elif include_top:
            input_shape = (3, default_size, default_size) if channels_first else (
                default_size, default_size, 3)
        else:
            input_shape = (3, None, None) if channels_first else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three integers (rows, cols, "
            f"channels). Received: input_shape={input_shape!r}"
        )
    spatial = input_shape[1:] if channels_first else input_shape[:2]
    if any(s is not None and s < min_size for s in spatial):
        raise ValueError(
            f"Input size must be at least {min_size}x{min_size}. "
            f"Received: input_shape={input_shape!r}"
        )
    if input_tensor is None:
        img_input = keras.Input(shape=input_shape)
        return img_input, img_input
    if not keras.backend.is_keras_tensor(input_tensor):
        img_input = keras.Input(tensor=input_tensor, shape=input_shape)
        return img_input, img_input
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def is_preset(weights):
    """Whether `weights` names pretrained weights rather than a weights file:
    `"imagenet"`, `hf://OWNER/NAME`, or a preset folder (see `from_preset`)."""
    return isinstance(weights, (str, os.PathLike)) and (
        weights == "imagenet" or str(weights).startswith("hf://")
        or os.path.isfile(os.path.join(weights, "config.json")))


def validate_top_arguments(weights, include_top, pooling, classes, presets=False):
    """Checks keras.applications' arguments; `presets`: whether the builder
    takes pretrained weights (`is_preset`)."""
    if is_preset(weights) and not presets:
        raise ValueError(
            "Pretrained weights (`imagenet`, a preset) exist for the SEResNet and "
            "SEResNeXt builders; this one takes None or the path to a weights file. "
            f"Received: weights={weights!r}")
    if weights is not None and not is_preset(weights) and not (
        isinstance(weights, (str, os.PathLike)) and os.path.exists(weights)
    ):
        raise ValueError(
            "`weights` must be None, the path to an existing weights file, or, for the "
            "SEResNet and SEResNeXt builders, 'imagenet' or a preset. "
            f"Received: weights={weights!r}"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}"
        )
    if include_top and (
        isinstance(classes, bool) or not isinstance(classes, int) or classes < 1
    ):
        raise ValueError(
            f"`classes` must be a positive integer. Received: classes={classes!r}"
        )


def classifier_head(x, include_top, pooling, classes, classifier_activation):
    """keras.applications' top: pooling and the `predictions` Dense layer."""
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.layers.Dense(
            classes, activation=classifier_activation, name="predictions"
        )(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish_model(inputs, outputs, name, weights):
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # a single input, not a list of one, as keras.Input gives
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
