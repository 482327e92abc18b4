"""The app's default progress display: one line per run (a fit, or one seed of
a trial) instead of Keras' one or two lines an epoch."""

import sys

import keras

#: The metrics the line shows, when the run logs them.
SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


class ProgressLine(keras.callbacks.Callback):
    """One line per run: on a terminal it is rewritten in place at every epoch;
    elsewhere (a log file, a pipe) it is printed once, when the run ends.

    Args:
        label: what the line names first (`fit`, `  seed 1`).
        stream: where it goes (default: standard output).

    Example:

    >>> model.fit(x, y, epochs=8, verbose=0, callbacks=[ProgressLine("fit")])
    fit: epoch 8/8, loss 0.1264, accuracy 0.9600, val_loss 0.2996, val_accuracy 0.9201
    """

    def __init__(self, label, stream=None):
        super().__init__()
        self.label = label
        self.stream = stream or sys.stdout
        self.line = ""

    def on_epoch_end(self, epoch, logs=None):
        shown = [f"{key} {float(logs[key]):.4f}" for key in SHOWN if key in (logs or {})]
        epochs = self.params.get("epochs", epoch + 1)
        self.line = ", ".join([f"{self.label}: epoch {epoch + 1}/{epochs}", *shown])
        if self.stream.isatty():
            self.stream.write("\r\033[K" + self.line)
            self.stream.flush()

    def on_train_end(self, logs=None):
        if not self.line:
            return
        self.stream.write("\n" if self.stream.isatty() else self.line + "\n")
        self.stream.flush()
