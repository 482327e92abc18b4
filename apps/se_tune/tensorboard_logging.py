"""TensorBoard event files on every backend, written with tensorboardX.

keras.callbacks.TensorBoard needs TensorFlow; tensorboardX writes the same
event files (scalars, histograms, the HParams plugin's summaries) without it.
"""

import time

import keras
import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams as hparams_summaries

import keras_se


def write_experiment(logdir, hparam_example, metric_names):
    """Writes the HParams experiment (columns and metrics) at the log root."""
    exp, _, _ = hparams_summaries(
        {k: _hparam_value(v) for k, v in hparam_example.items()},
        {name: 0.0 for name in metric_names},
    )
    with SummaryWriter(logdir=logdir) as writer:
        writer.file_writer.add_summary(exp)


def write_scalars(logdir, scalars):
    """Adds scalars at step 0 to a run's folder: measures taken after training
    that the HParams dashboard shows as metrics (latency, parameters).

    Args:
        logdir: the run's event folder.
        scalars: tag -> number.

    Example:

    >>> write_scalars("runs/search/tb/trial_0/seed_0", {"hparams/latency_1_ms": 0.8})
    """
    with SummaryWriter(logdir=logdir) as writer:
        for tag, value in scalars.items():
            writer.add_scalar(tag, float(value), 0)


def _hparam_value(value):
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class TensorBoardLogger(keras.callbacks.Callback):
    """Per-epoch scalars (loss, accuracy, learning rate, images/s), gate
    histograms of every SqueezeExcite layer, and one HParams session.

    Args:
        logdir: this run's (or trial's) event folder.
        num_train: training images per epoch, for images/s.
        gate_images: a few validation images for the gate histograms.
        hparams: this run's hyperparameters for the HParams dashboard, or None.
        gate_probe: the model's `keras_se.utils.GateProbe`, when a run before
            this one on the same model made it (its predict step is compiled).
    """

    def __init__(self, logdir, num_train, gate_images=None, hparams=None, gate_probe=None):
        super().__init__()
        self.logdir = logdir
        self.num_train = num_train
        self.gate_images = gate_images
        self.hparams = hparams
        self.writer = None
        self.gate_probe = gate_probe
        self._start = self._train_end = None
        self.best = {}
        self.images_per_second = []

    def on_train_begin(self, logs=None):
        self.writer = SummaryWriter(logdir=self.logdir)
        if self.gate_images is not None and self.gate_probe is None:
            self.gate_probe = keras_se.utils.GateProbe(self.model)
        if self.hparams is not None:
            _, ssi, _ = hparams_summaries(
                {k: _hparam_value(v) for k, v in self.hparams.items()}, {}
            )
            self.writer.file_writer.add_summary(ssi)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_end = None

    def on_test_begin(self, logs=None):
        # fit() runs validation through the same callbacks: images/s counts training only.
        if self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._train_end or time.perf_counter()) - self._start
        ips = self.num_train / seconds
        self.images_per_second.append(ips)
        logs = dict(logs or {})
        logs["images_per_second"] = ips
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        for key, value in logs.items():
            self.writer.add_scalar(f"epoch/{key}", float(value), epoch + 1)
            if key.startswith("val_") and "acc" in key:
                self.best[key] = max(self.best.get(key, -np.inf), float(value))
        if self.gate_probe is not None:
            gates = self.gate_probe(self.gate_images)
            for name, values in gates.items():
                self.writer.add_histogram(f"gates/{name}", values, epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.hparams is not None:
            _, _, sei = hparams_summaries({"_": 0}, {})
            for key, value in self.best.items():
                self.writer.add_scalar(f"hparams/best_{key}", value, 0)
            self.writer.file_writer.add_summary(sei)
        self.writer.close()
