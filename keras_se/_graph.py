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


def single_call(layer):
    """Whether `layer` was called once (so that `layer.input`/`.output` are defined)."""
    try:
        layer.output
        return True
    except (AttributeError, ValueError):
        return False
