"""Epoch checkpoints of a trial, written atomically, so a killed run resumes."""

import json
import os
import types

import keras
import numpy as np

from se_tune.files import atomic_write_text


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the training state (every variable of the model, random seeds and
    batch-norm statistics included, and of its optimizer) and the history at
    the end of every epoch, so that a kill at any moment leaves the previous
    checkpoint or the new one whole: the arrays go to a file of their own, and
    the JSON that names them, written last and atomically, is the commit point.

    The arrays alone, not a `.keras` file: saving the whole model (its config
    and every layer's state through Keras' saving walk) took a quarter of a
    default search's epoch. A resumed run builds its model again and
    `restore`s them.

    Args:
        folder: the trial's folder.
        prior_history: history of the epochs before a resume.
    """

    def __init__(self, folder, prior_history=None):
        super().__init__()
        self.folder = folder
        self.history = {k: list(v) for k, v in (prior_history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        name = f"checkpoint-{epoch + 1}.npz"
        with open(os.path.join(self.folder, name), "wb") as f:
            np.savez(f, *[keras.ops.convert_to_numpy(v) for v in _state(self.model)])
        state = {"epoch": epoch + 1, "model": name, "history": self.history}
        atomic_write_text(os.path.join(self.folder, "checkpoint.json"), json.dumps(state))
        for old in os.listdir(self.folder):
            if old.startswith("checkpoint-") and old != name:
                os.remove(os.path.join(self.folder, old))


def _state(model):
    """The variables a checkpoint holds, in an order fixed by the model's build."""
    return [*model.variables, *model.optimizer.variables]


def load_checkpoint(folder):
    """The state of a trial's last whole checkpoint (`epoch`, `model`: the
    file of its arrays, `history`), or None."""
    state_path = os.path.join(folder, "checkpoint.json")
    if not os.path.exists(state_path):
        return None
    with open(state_path) as f:
        return json.load(f)


def restore(model, folder, state):
    """Gives a compiled `model`, built as the checkpointed one was, the
    checkpoint's variables, its optimizer's included.

    Args:
        model: the run's model, built and compiled again.
        folder: the trial's folder.
        state: `load_checkpoint(folder)`.

    Example:

    >>> restore(model, "runs/search/trials/trial_0/seed_0", load_checkpoint(folder))
    """
    model.optimizer.build(model.trainable_variables)
    path = os.path.join(folder, state["model"])
    with np.load(path) as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    variables = _state(model)
    if [tuple(v.shape) for v in variables] != [np.shape(v) for v in values]:
        raise ValueError(f"The checkpoint {path} does not fit the model built for it.")
    for variable, value in zip(variables, values):
        variable.assign(value)


def clear_checkpoint(folder):
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.startswith("checkpoint"):
            os.remove(os.path.join(folder, name))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' `EarlyStopping` that a resumed run continues: it first replays
    the epochs the run had before its kill, so it stops where an uninterrupted
    run stops.

    Args:
        monitor: the metric watched (the search's objective).
        direction: "min" or "max".
        patience: epochs without improvement before the run stops.
        prior: the monitored values of the epochs before a resume.

    Example:

    >>> ResumableEarlyStopping("val_loss", "min", patience=3, prior=[0.9, 0.8])
    """

    def __init__(self, monitor, direction, patience, prior=()):
        super().__init__(monitor=monitor, mode=direction, patience=patience)
        self.prior = list(prior)

    def stopped_before(self):
        """Whether the prior epochs already stopped the run (killed after the
        epoch that stopped it): it then trains no further epoch."""
        probe = ResumableEarlyStopping(self.monitor, self.mode, self.patience, self.prior)
        probe.set_model(types.SimpleNamespace(stop_training=False))
        probe.on_train_begin()
        return probe.model.stop_training

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, value in enumerate(self.prior):
            super().on_epoch_end(epoch, {self.monitor: value})
