"""Utilities of keras_se."""

from keras_se.utils.gates import GateProbe, gate_values, se_layers
from keras_se.utils.model_stats import layer_macs, model_stats

__all__ = ["model_stats", "layer_macs", "gate_values", "GateProbe", "se_layers"]
