"""Fine-tuning's warm-up (`train.freeze_epochs`): the new head, and the
attention blocks retrofit added, train alone first, then the whole model.

Keras fixes which weights train when a model is compiled, so a run with a
warm-up is two `fit` calls: the first on the frozen model, the second after
it is unfrozen and compiled again. Its callbacks see one run.
"""

import keras

import keras_se
from se_tune import input_scale, model_source


def warm_up_layers(model, model_config):
    """The names of the layers the warm-up trains: the head (the last layer)
    and, in a model the app retrofitted, its attention blocks.

    Args:
        model: the built model.
        model_config: its model section.

    Example:

    >>> warm_up_layers(model, config.model)
    ['block_1_se', ..., 'predictions']
    """
    names = []
    if model_config.retrofit and model_source.model_kind(model_config.name) != "builder":
        names = [layer.name for layer in keras_se.utils.se_layers(model)]
    return [*names, model.layers[-1].name]


def training_phases(freeze_epochs, initial_epoch, last_epoch):
    """`[(first epoch, end epoch, frozen), ...]` of a run from `initial_epoch`
    (a resumed run starts in the phase its epoch falls in).

    Example:

    >>> training_phases(2, 0, 5)
    [(0, 2, True), (2, 5, False)]
    """
    if not freeze_epochs:
        return [(initial_epoch, last_epoch, False)]
    phases = []
    if initial_epoch < freeze_epochs:
        phases.append((initial_epoch, min(freeze_epochs, last_epoch), True))
    if last_epoch > freeze_epochs:
        phases.append((max(initial_epoch, freeze_epochs), last_epoch, False))
    return phases or [(initial_epoch, last_epoch, False)]


def set_frozen(model, frozen, warm_up):
    """Makes the warm-up layers alone trainable (`frozen`) or every layer but
    the input scaling; returns whether anything changed (the model must then
    be compiled again: a checkpoint of the same phase keeps its optimizer)."""
    changed = False
    for layer in model.layers:
        trainable = layer.name != input_scale.PREPROCESSING_LAYER and (
            not frozen or layer.name in warm_up)
        if layer.trainable != trainable:
            layer.trainable = trainable
            changed = True
    return changed


class PhaseCallbacks(keras.callbacks.Callback):
    """`callbacks` for one phase's `fit`: they see the training start in the
    first phase only and its end in the last, so that they log, checkpoint
    and stop early as for one run.

    Args:
        callbacks: the run's callbacks.
        first: whether this is the run's first phase.
        last: whether it is its last.
    """

    def __init__(self, callbacks, first, last):
        super().__init__()
        self.callbacks = list(callbacks)
        self.first, self.last = first, last

    def set_model(self, model):
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _forward(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None):
        if self.first:
            self._forward("on_train_begin", logs)

    def on_train_end(self, logs=None):
        if self.last:
            self._forward("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._forward("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._forward("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._forward("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._forward("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._forward("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._forward("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._forward("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._forward("on_test_batch_end", batch, logs)
