"""Helpers for editing the graph of a functional or Sequential Keras model."""

import keras


def is_graph_model(model):
    """Whether `model` is a functional or Sequential `keras.Model` with a graph to edit."""
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def as_functional(model):
    """`model` itself, or for a Sequential model a functional model over its graph
    (`keras.models.clone_model` edits layer calls of functional models only)."""
    if isinstance(model, keras.Sequential):
        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def calls_in_graph(model):
    """{id(layer): [node, ...]}: the calls of each layer inside `model`'s own graph.

    Keras 3's `layer.input` and `layer.output` answer with a shared layer's first call
    and raise nothing, so a layer called twice is only seen by counting its nodes.
    """
    calls = {}
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            calls.setdefault(id(node.operation), []).append(node)
    return calls


def called_once(model):
    """The ids of the layers that `model`'s graph calls exactly once."""
    return {layer_id for layer_id, nodes in calls_in_graph(model).items() if len(nodes) == 1}


def rebuild(model, clone_function, call_function, name):
    """A new functional model from `model`'s input tensors through
    `keras.models.clone_model` (weights are the caller's to copy)."""
    new = keras.models.clone_model(
        model, input_tensors=model.input, clone_function=clone_function,
        call_function=call_function,
    )
    unwrap = lambda tensors: tensors[0] if len(tensors) == 1 else tensors  # noqa: E731
    return keras.Model(unwrap(new.inputs), unwrap(new.outputs), name=name)
