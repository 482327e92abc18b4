"""Utilities of keras_se."""

from keras_se.utils.gates import GateProbe, gate_values, has_channel_gates, se_layers
from keras_se.utils.model_stats import layer_macs, model_stats

__all__ = ["model_stats", "layer_macs", "gate_values", "GateProbe", "se_layers",
           "has_channel_gates"]
