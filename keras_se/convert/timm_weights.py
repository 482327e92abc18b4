"""Which tensor of timm's state dict is which weight of a keras-se ResNet.

One plan serves both directions: `load_timm_weights` copies a state dict
(NumPy arrays under timm's names, as `safetensors.numpy.load_file` reads them
or a module's `state_dict()` gives them) into a model of the ResNet builders,
and `timm_state_dict` gives such a model's weights under timm's names.
"""

import re

import numpy as np

from keras_se.layers import (
    CBAM, AttentionLayer, EffectiveSqueezeExcite, EfficientChannelAttention, GatherExcite,
    SqueezeExcite)

# How a timm tensor becomes a Keras weight (and back): convolution kernels are
# OIHW in PyTorch and HWIO in Keras; 1x1 convolutions of the attention blocks are
# Dense kernels; a Linear layer's weight is transposed; the rest is as it is.
_TO_KERAS = {
    "conv": lambda w: np.transpose(w, (2, 3, 1, 0)),
    "depthwise": lambda w: np.transpose(w, (2, 3, 0, 1)),
    "fc1x1": lambda w: w[:, :, 0, 0].T,
    "linear": lambda w: w.T,
    "kernel1d": lambda w: w.reshape(-1),
    "vector": lambda w: w,
}
_TO_TIMM = {
    "conv": lambda w: np.transpose(w, (3, 2, 0, 1)),
    "depthwise": lambda w: np.transpose(w, (2, 3, 0, 1)),
    "fc1x1": lambda w: w.T[:, :, None, None],
    "linear": lambda w: w.T,
    "kernel1d": lambda w: w.reshape(1, 1, -1),
    "vector": lambda w: w,
}
_BN = ("weight", "bias", "running_mean", "running_var")
# The attribute of timm's blocks that holds their attention module (timm's own
# names, not attention types): ResNet's `block.se`, the legacy SENets' `se_module`.
TIMM_ATTENTION_ATTRIBUTES = {False: "se", True: "se_module"}
_BLOCK_CONV = re.compile(r"conv(\d)_block(\d+)_(\d)_conv")
_BLOCK = re.compile(r"conv(\d)_block(\d+)_")


def _bn(prefix):
    return [(f"{prefix}.{name}", "vector") for name in _BN]


def _fc(prefix, bias):
    return [(f"{prefix}.weight", "fc1x1")] + ([(f"{prefix}.bias", "vector")] if bias else [])


def _attention_tensors(layer, prefix):
    """timm's tensors of an attention block, in the order of the layer's weights."""
    if isinstance(layer, SqueezeExcite):
        return _fc(f"{prefix}.fc1", layer.use_bias) + _fc(f"{prefix}.fc2", layer.use_bias)
    if isinstance(layer, EffectiveSqueezeExcite):
        return _fc(f"{prefix}.fc", True)
    if isinstance(layer, EfficientChannelAttention):
        return [(f"{prefix}.conv.weight", "kernel1d")]
    if isinstance(layer, CBAM):
        return (_fc(f"{prefix}.channel.fc1", layer.use_bias)
                + _fc(f"{prefix}.channel.fc2", layer.use_bias)
                + [(f"{prefix}.spatial.conv.conv.weight", "conv")]
                + _bn(f"{prefix}.spatial.conv.bn"))
    if isinstance(layer, GatherExcite):
        tensors = (_fc(f"{prefix}.mlp.fc1", True) + _fc(f"{prefix}.mlp.fc2", True)
                   if layer.use_mlp else [])
        for i in range(1, len(layer.gather_convs) + 1):
            tensors += [(f"{prefix}.gather.conv{i}.weight", "depthwise")]
            tensors += _bn(f"{prefix}.gather.norm{i}")
        return tensors
    raise ValueError(f"timm has no counterpart of {type(layer).__name__} layers. "
                     f"Received: layer {layer.name!r}")


def timm_plan(model, legacy=False):
    """`[(keras layer, [(timm name, kind), ...]), ...]`: for each layer with
    weights, the timm tensors of its weights, in order.

    Args:
        model: a model of `keras_se.models`' ResNet or ResNeXt builders (or a
            converted one).
        legacy: timm's legacy SENet names (`layer0.conv1`, `se_module`,
            `last_linear`) instead of its ResNet class's.

    Returns:
        A list of pairs.

    Example:

    >>> plan = timm_plan(keras_se.models.SEResNet50())
    >>> plan[0][0].name, plan[0][1]
    ('conv1_conv', [('conv1.weight', 'conv')])
    """
    stem = "layer0." if legacy else ""
    names = {layer.name for layer in model.layers}
    plan = []
    for layer in model.layers:
        if not layer.weights:
            continue
        name = layer.name
        match = _BLOCK_CONV.fullmatch(name) or _BLOCK_CONV.fullmatch(
            name.replace("_bn", "_conv"))
        block = _BLOCK.match(name)
        if name == "conv1_conv":
            tensors = [(f"{stem}conv1.weight", "conv")]
        elif name == "conv1_bn":
            tensors = _bn(f"{stem}bn1")
        elif re.fullmatch(r"conv1_\d_(conv|bn)", name):
            # ResNet-D's deep stem: conv, BN, ReLU, conv, BN, ReLU, conv in one Sequential.
            index = 3 * (int(name[6]) - 1) + (1 if name.endswith("_bn") else 0)
            tensors = ([(f"conv1.{index}.weight", "conv")] if name.endswith("_conv")
                       else _bn(f"conv1.{index}"))
        elif match:
            stage, number, unit = (int(g) for g in match.groups())
            prefix = f"layer{stage - 1}.{number - 1}"
            if unit == 0:
                # ResNet-D (its deep stem) averages first: its downsample is (pool
                # or identity, conv, BN).
                first = 1 if "conv1_1_conv" in names else 0
                index = first + (1 if name.endswith("_bn") else 0)
                prefix = f"{prefix}.downsample.{index}"
            else:
                prefix = f"{prefix}.{'bn' if name.endswith('_bn') else 'conv'}{unit}"
            tensors = _bn(prefix) if name.endswith("_bn") else [(f"{prefix}.weight", "conv")]
        elif isinstance(layer, AttentionLayer) and block:
            stage, number = int(block.group(1)), int(block.group(2))
            module = TIMM_ATTENTION_ATTRIBUTES[legacy]
            tensors = _attention_tensors(layer, f"layer{stage - 1}.{number - 1}.{module}")
        elif name == "predictions":
            head = "last_linear" if legacy else "fc"
            tensors = [(f"{head}.weight", "linear"), (f"{head}.bias", "vector")]
        else:
            continue  # not timm's (the normalization of [0, 255] inputs)
        plan.append((layer, tensors))
    return plan


def load_timm_weights(model, state, legacy=False, skip=()):
    """Copies timm's tensors into `model`.

    Args:
        model: see `timm_plan`.
        state: timm's name -> NumPy array.
        legacy: see `timm_plan`.
        skip: names of Keras layers left as they are (a fresh head).

    Raises:
        ValueError: naming the tensor, when one is missing or has the wrong shape.

    Example:

    >>> load_timm_weights(model, safetensors.numpy.load_file("model.safetensors"))
    """
    for layer, tensors in timm_plan(model, legacy):
        if layer.name in skip:
            continue
        values = []
        for (key, kind), weight in zip(tensors, layer.weights):
            if key not in state:
                raise ValueError(f"The checkpoint has no tensor {key!r} (for layer "
                                 f"{layer.name!r}). Received: a state dict of {len(state)} "
                                 "tensors")
            value = _TO_KERAS[kind](np.asarray(state[key]))
            if tuple(value.shape) != tuple(weight.shape):
                expected = _TO_TIMM[kind](np.zeros(weight.shape)).shape
                raise ValueError(
                    f"The checkpoint's tensor {key!r} has the wrong shape for layer "
                    f"{layer.name!r}: expected {tuple(expected)}. Received: "
                    f"shape={tuple(np.shape(state[key]))}")
            values.append(value.astype(weight.dtype))
        layer.set_weights(values)


def timm_state_dict(model, legacy=False):
    """`model`'s weights under timm's names (float32 NumPy arrays), batch norms
    with timm's `num_batches_tracked`, so that timm loads them strictly.

    Example:

    >>> safetensors.numpy.save_file(timm_state_dict(model), "model.safetensors")
    """
    state = {}
    for layer, tensors in timm_plan(model, legacy):
        for (key, kind), value in zip(tensors, layer.get_weights()):
            state[key] = np.ascontiguousarray(_TO_TIMM[kind](value), dtype="float32")
            if key.endswith(".running_var"):
                state[key[:-len("running_var")] + "num_batches_tracked"] = np.zeros((), "int64")
    return state
