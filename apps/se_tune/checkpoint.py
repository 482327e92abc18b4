"""Epoch checkpoints of a trial, written atomically, so a killed run resumes."""

import json
import os
import types

import keras

from se_tune.files import atomic_write_text


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights and optimizer state) and the history at
    the end of every epoch: first to a temporary file, then renamed, so that a
    kill at any moment leaves the previous checkpoint or the new one whole.

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
        # The model goes to a file of its own; the JSON names it and is the
        # commit point, written last and atomically.
        name = f"checkpoint-{epoch + 1}.keras"
        self.model.save(os.path.join(self.folder, name))
        state = {"epoch": epoch + 1, "model": name, "history": self.history}
        atomic_write_text(os.path.join(self.folder, "checkpoint.json"), json.dumps(state))
        for old in os.listdir(self.folder):
            if old.startswith("checkpoint-") and old != name:
                os.remove(os.path.join(self.folder, old))


def load_checkpoint(folder):
    """`(model, state)` of a trial's last whole checkpoint, or None."""
    state_path = os.path.join(folder, "checkpoint.json")
    if not os.path.exists(state_path):
        return None
    with open(state_path) as f:
        state = json.load(f)
    model = keras.saving.load_model(os.path.join(folder, state["model"]), safe_mode=True)
    return model, state


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
