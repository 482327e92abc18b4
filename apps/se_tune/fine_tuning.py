"""Fine-tuning's warm-up (`train.freeze_epochs`): the new head, and the
attention blocks retrofit added, train alone first, then the whole model.

Keras fixes which weights train when a model is compiled, so a run with a
warm-up trains its first phase on the frozen model and its second after it
is unfrozen and compiled again; its callbacks see one run
(`se_tune.run_callbacks.RunCallbacks`).
"""

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
