"""Insert SE blocks into an existing functional Keras model."""

import keras
import numpy as np

from keras_se._graph import as_functional, called_once, is_graph_model, rebuild
from keras_se.layers import ScaledResidual, get_attention
from keras_se.layers.attention import attention_name, layer_arguments, validate_attention
from keras_se.layers.attention_types import DEFAULT_ATTENTION, REGISTRY

# With identity_init every gate starts here (sigmoid(9.9), for instance).
IDENTITY_GATE = 0.99995


def _is_scaled_residual(layer):
    return isinstance(layer, ScaledResidual) or type(layer).__name__ == "CustomScaleLayer"


def _is_residual_add(layer, once):
    return (isinstance(layer, keras.layers.Add) and id(layer) in once
            and len(layer.input) == 2)


def retrofit(model, se_ratio=16, where="auto", identity_init=False, se_kwargs=None, name=None,
             allow_none=False, attention=DEFAULT_ATTENTION):
    """A new functional model with SE (or other attention) blocks inserted into `model`.

    With `where="auto"`, SE goes on the residual branch just before each
    residual addition (`Add` of two tensors, or Inception-ResNet's scaled
    addition), as the paper's standard integration; a model without residual
    additions gets SE after each inception-style `Concatenate` (one that does
    not only feed another Concatenate). `where` may also be a callable
    `where(layer) -> bool`: SE is then added after the output of each layer it
    picks. Every original weight is copied; the SE blocks are new.

    The SE block after `conv3_block2_add`'s residual is named
    `conv3_block2_se`; after another layer `L`, `L_se` (`_eca`, `_cbam`... for
    the other attention types, `_attn` for a callable). So
    `retrofit(SEResNet50(se_ratio=None))` has the structure and parameter count
    of `SEResNet50()`.

    Args:
        model: a functional or Sequential `keras.Model`.
        se_ratio: the reduction ratio of the new blocks (of the types that
            have one).
        where: `"auto"` or a callable that picks layers.
        identity_init: start every gate at 0.99995 (expand kernel 0, expand
            bias where the gate gives 0.99995: 9.9 for sigmoid, 3.0 for
            hard_sigmoid, 5.3 for tanh, 1.0 for relu) so that the new model's
            output stays close to the original's (within about 1e-3 relative
            on ResNet50). It needs biases (`use_bias=True`) and a gate that
            rises through 0.99995; other choices raise a `ValueError`. SE and
            ESE (kernel 0, bias about 3.0 for its hard sigmoid) can start there; the
            other attention types cannot (ECA has no bias, CBAM's spatial and
            GE's gates have no such start) and raise a `ValueError`.
        se_kwargs: further arguments of the attention layers.
        name: the new model's name (default: the old one with `_se`, `_eca`...).
        allow_none: return a plain copy instead of an error when `where` picks
            no layer.
        attention: the block's type: "se" (default), "ese", "eca", "cbam",
            "ge" (see `keras_se.layers.get_attention`) or a callable that
            makes a layer.

    Returns:
        A new `keras.Model`.

    Example:

    >>> base = keras.applications.ResNet50(weights=None)
    >>> model = keras_se.retrofit(base, se_ratio=16, identity_init=True)
    """
    if not is_graph_model(model):
        raise ValueError(
            "retrofit needs a functional or Sequential keras.Model (subclassed "
            "models have no graph to edit). "
            f"Received: model={type(model).__name__}"
        )
    if where != "auto" and not callable(where):
        raise ValueError(
            f"`where` must be 'auto' or a callable. Received: where={where!r}"
        )
    if validate_attention(attention) is None:
        raise ValueError("retrofit inserts attention blocks: `attention` may not be None. "
                         "Received: attention=None")
    se_kwargs = layer_arguments(attention, se_ratio, se_kwargs)
    suffix = attention_name(attention)
    identity_bias = _identity_bias(attention, se_kwargs) if identity_init else None
    model = as_functional(model)
    # Layers called once in this graph: `.input`/`.output` are then their only call.
    once = called_once(model)
    residual_layers = {
        id(layer) for layer in model.layers
        if _is_scaled_residual(layer) or _is_residual_add(layer, once)
    }
    concat_layers = set()
    if where == "auto" and not residual_layers:
        concat_layers = _inception_concatenations(model, once)
    if where == "auto" and not residual_layers and not concat_layers:
        raise ValueError(
            "retrofit found no place to insert SE: the model has no residual "
            "addition and no inception-style Concatenate; pass `where`. "
            f"Received: model={model.name!r}"
        )
    producers = {id(layer.output): layer for layer in model.layers if id(layer) in once}
    block_names = {
        layer.name: _block_name(layer, producers) for layer in model.layers
        if id(layer) in residual_layers
    }
    depth = {}
    inserted = []

    def tensor_depth(tensor):
        return depth.get(id(tensor), 0)

    def make_se(base_name):
        se = get_attention(attention, name=f"{base_name}_{suffix}", **se_kwargs)
        inserted.append(se)
        return se

    def call_function(layer, *args, **kwargs):
        original = by_name.get(layer.name)
        if where == "auto" and id(original) in residual_layers:
            pair = list(args[0])
            # The residual branch is the longer path (or the scaled one).
            i = 1 if _is_scaled_residual(layer) or tensor_depth(pair[1]) >= tensor_depth(
                pair[0]) else 0
            pair[i] = make_se(block_names[original.name])(pair[i])
            outputs = layer(pair, *args[1:], **kwargs)
        else:
            outputs = layer(*args, **kwargs)
            if (where == "auto" and id(original) in concat_layers) or (
                    where != "auto" and where(original)):
                outputs = make_se(layer.name)(outputs)
        d = 1 + max([tensor_depth(t) for t in keras.tree.flatten(args)] or [0])
        for t in keras.tree.flatten(outputs):
            depth[id(t)] = d
        return outputs

    renamed = {layer.name: block_names[layer.name] for layer in model.layers
               if type(layer).__name__ == "CustomScaleLayer"}
    by_name = {renamed.get(layer.name, layer.name): layer for layer in model.layers}
    def clone_layer(layer):
        if type(layer).__name__ == "CustomScaleLayer":
            # keras.applications' private class is not serializable: use ours.
            return ScaledResidual(layer.scale, name=renamed[layer.name])
        return layer.__class__.from_config(layer.get_config())

    # The new graph starts from the original input tensors (kept as they are).
    new = rebuild(model, clone_layer, call_function, name or f"{model.name}_{suffix}")
    if not inserted and not allow_none:
        raise ValueError(
            "retrofit found no place to insert SE: `where` picked no layer. "
            f"Received: where={where!r}"
        )
    for layer in model.layers:
        if layer.weights:
            new.get_layer(layer.name).set_weights(layer.get_weights())
    if identity_init:
        for se in inserted:
            kernel, bias = se.identity_weights()
            kernel.assign(np.zeros(kernel.shape, "float32"))
            bias.assign(np.full(bias.shape, identity_bias, "float32"))
    return new


def _identity_bias(attention, se_kwargs):
    """The bias of the last FC layer at which the blocks' gate gives
    `IDENTITY_GATE`: with a zero kernel, every gate then starts there."""
    if not (isinstance(attention, str) and REGISTRY[attention].identity_start):
        raise ValueError(
            "identity_init starts the gates of SE and ESE blocks at 1; the other types "
            "have no bias that does (ECA has none, CBAM's and GE's gates are not only "
            f"one per channel). Received: attention={attention!r}")
    if not se_kwargs.get("use_bias", True):
        raise ValueError(
            "identity_init sets the SE blocks' expand bias; without biases every gate "
            "starts at gate(0). Received: se_kwargs={'use_bias': False, ...}"
        )
    probe = get_attention(attention, **layer_arguments(attention, 1, se_kwargs))

    def gate(x):
        value = probe.gate(keras.ops.convert_to_tensor(np.array([x], "float32")))
        return float(keras.ops.convert_to_numpy(value)[0])

    low, high = -60.0, 60.0
    if not gate(low) < IDENTITY_GATE <= gate(high):
        raise ValueError(
            "identity_init needs a gate that rises through 0.99995 (sigmoid, "
            "hard_sigmoid, tanh, relu...). "
            f"Received: gate={se_kwargs.get('gate', 'sigmoid')!r}"
        )
    for _ in range(60):  # bisection, to float32's resolution
        middle = 0.5 * (low + high)
        low, high = (middle, high) if gate(middle) < IDENTITY_GATE else (low, middle)
    if abs(gate(high) - IDENTITY_GATE) > 1e-5:
        raise ValueError(
            "identity_init could not find where the gate gives 0.99995 (is it "
            f"increasing?). Received: gate={se_kwargs.get('gate', 'sigmoid')!r}"
        )
    return high


def _block_name(layer, producers):
    """`conv3_block2` for `conv3_block2_add`; for an unnamed scaled addition,
    the residual conv's block (`block17_3` for `block17_3_conv`)."""
    if layer.name.endswith("_add"):
        return layer.name[: -len("_add")]
    if type(layer).__name__ == "CustomScaleLayer" or isinstance(layer, ScaledResidual):
        residual = producers.get(id(layer.input[1]))
        if residual is not None and residual.name.endswith("_conv"):
            return residual.name[: -len("_conv")]
    return layer.name


def _inception_concatenations(model, once):
    concats = [layer for layer in model.layers
               if isinstance(layer, keras.layers.Concatenate) and id(layer) in once
               and len(layer.output.shape) >= 3]
    outputs = {id(layer.output): layer for layer in concats}
    feeds_concat_only = set()
    for layer in concats:
        for t in keras.tree.flatten(layer.input):
            if id(t) in outputs:
                feeds_concat_only.add(id(outputs[id(t)]))
    return {id(layer) for layer in concats} - feeds_concat_only
