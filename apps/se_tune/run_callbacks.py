"""The callbacks of a run that several `fit` calls train."""

import keras


class RunCallbacks(keras.callbacks.Callback):
    """A run's callbacks across the `fit` calls that train it (one per epoch,
    see `se_tune.feeds.fit_feeds`, and one per warm-up phase): they see the
    run begin once, end once (`end`) and last `epochs` epochs, as if one `fit`
    trained it, so that they log, checkpoint and stop early as for one call.

    Args:
        callbacks: the run's callbacks.
        epochs: the epoch the run ends at (`params["epochs"]`).
        verbose: Keras' `verbose` for the run: 1 or 2 shows Keras' progress
            bar or its line per epoch.

    Example:

    >>> run = RunCallbacks([logger], epochs=8)
    >>> for epoch in range(8):
    ...     model.fit(x, y, initial_epoch=epoch, epochs=epoch + 1, callbacks=[run])
    >>> run.end()
    """

    def __init__(self, callbacks, epochs, verbose=0):
        super().__init__()
        self.callbacks = list(callbacks)
        self.epochs = epochs
        self.verbose = verbose
        if verbose in (1, 2):
            self.callbacks.append(keras.callbacks.ProgbarLogger())
        self.began = False

    def set_model(self, model):
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        # Each call's own `epochs` is where that call stops, and its verbose 0.
        params = {**params, "epochs": self.epochs, "verbose": self.verbose}
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _forward(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None):
        if not self.began:
            self.began = True
            self._forward("on_train_begin", logs)

    def end(self, logs=None):
        """Tells the callbacks that the run ended (it began too, if no `fit`
        call trained an epoch)."""
        self.on_train_begin()
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
