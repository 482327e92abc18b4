"""keras-tuner oracles whose state survives a SIGKILL at any moment.

keras-tuner writes `oracle.json` and each `trial.json` in place and at different
moments of a trial's start and end, so a kill can leave them half written or
out of step: a trial file that the oracle's state never heard of stays RUNNING
for ever, and GridSearch's own ordering (a linked list kept in `oracle.json`)
then fails to reload (keras-tuner #1055) or believes the grid exhausted. These
oracles write their state atomically, send such orphaned trials back to
keras-tuner's retry queue when they reload, and derive the grid's next
configuration from the trials on disk alone.
"""

import itertools
import json

import keras_tuner as kt

from se_tune.checkpoint import atomic_write_text

RUNNING = kt.engine.trial.TrialStatus.RUNNING
IDLE = kt.engine.trial.TrialStatus.IDLE
STOPPED = kt.engine.trial.TrialStatus.STOPPED


class ResumableOracle:
    """Mixed into a keras-tuner oracle: atomic state, and orphaned trials retried.

    Args:
        state_path: the oracle's `oracle.json` (DIRECTORY/PROJECT/oracle.json).
        **kwargs: the keras-tuner oracle's arguments.

    Example:

    >>> oracle = RandomOracle(state_path="runs/search/tuner/oracle.json",
    ...                       objective=kt.Objective("val_accuracy", "max"), max_trials=4)
    """

    def __init__(self, state_path, **kwargs):
        self.state_path = state_path
        super().__init__(**kwargs)

    def save(self):
        atomic_write_text(self.state_path, json.dumps(self.get_state()))

    def set_state(self, state):
        # keras-tuner retries the trials its saved state lists as running; add the
        # ones whose own files say RUNNING but which that state never heard of
        # (killed between writing the trial's file and the oracle's).
        listed = set(state["ongoing_trials"].values())
        orphans = {f"resumed-{trial_id}": trial_id for trial_id, trial in self.trials.items()
                   if trial.status == RUNNING and trial_id not in listed}
        super().set_state({**state, "ongoing_trials": {**state["ongoing_trials"], **orphans}})


class GridOracle(ResumableOracle, kt.Oracle):
    """Grid search over a finite space: each new trial takes the first
    configuration, in the grid's order, that no trial on disk holds.

    Args:
        configurations: every configuration (a dict of keras-tuner values),
            in order.
        **kwargs: `ResumableOracle`'s and keras-tuner `Oracle`'s arguments.

    Example:

    >>> oracle = GridOracle(grid({"se_ratio": [4, 16, 0]}),
    ...                     state_path="runs/search/tuner/oracle.json",
    ...                     objective=kt.Objective("val_accuracy", "max"), max_trials=3)
    """

    def __init__(self, configurations, **kwargs):
        self.configurations = [dict(values) for values in configurations]
        super().__init__(**kwargs)

    def populate_space(self, trial_id):
        held = [t.hyperparameters.values for t in self.trials.values()
                if t.trial_id != trial_id]
        for values in self.configurations:
            if not any(_same(values, other) for other in held):
                return {"status": RUNNING, "values": dict(values)}
        if self.ongoing_trials:
            return {"status": IDLE, "values": None}
        return {"status": STOPPED, "values": None}


def _same(values, other):
    return all(other.get(key) == value for key, value in values.items())


def grid(encoded_space):
    """Every configuration of `{name: [values]}`, the last name varying fastest.

    Args:
        encoded_space: hyperparameter name -> its keras-tuner values.

    Example:

    >>> grid({"se_ratio": [4, 0], "gate": ["sigmoid"]})
    [{'se_ratio': 4, 'gate': 'sigmoid'}, {'se_ratio': 0, 'gate': 'sigmoid'}]
    """
    names = list(encoded_space)
    return [dict(zip(names, values))
            for values in itertools.product(*(encoded_space[n] for n in names))]


class RandomOracle(ResumableOracle, kt.oracles.RandomSearchOracle):
    """keras-tuner's random search, resumable (see `ResumableOracle`)."""


class BayesianOracle(ResumableOracle, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimization, resumable (see `ResumableOracle`)."""


class HyperbandOracle(ResumableOracle, kt.oracles.HyperbandOracle):
    """keras-tuner's Hyperband, resumable (see `ResumableOracle`)."""
