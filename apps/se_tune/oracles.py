"""keras-tuner oracles whose state survives a SIGKILL at any moment.

keras-tuner writes `oracle.json` and each `trial.json` in place and at different
moments of a trial's start and end, so a kill can leave them half written or
out of step: a trial file that the oracle's state never heard of stays RUNNING
for ever, and GridSearch's own ordering (a linked list kept in `oracle.json`)
then fails to reload (keras-tuner #1055) or believes the grid exhausted. These
oracles write their state atomically, forget such orphaned trials when they
reload (the oracle creates them again, as it did before the kill), and derive the grid's next
configuration from the trials on disk alone.

In a distributed search the chief's oracle also knows which workers are alive
(`worker_alive`): reloaded after the chief's death, it leaves each live worker
the trial it runs instead of sending that trial to another worker as well; a
trial whose worker died goes to the next worker that asks; a trial ends once,
however often a worker repeats the call that ends it.

`make_oracle` gives the oracle of each `search.tuner`.
"""

import datetime
import json

import keras_tuner as kt

from se_tune.files import atomic_write_text
from se_tune.objective import objective_direction
from se_tune.search_space import max_trials

RUNNING = kt.engine.trial.TrialStatus.RUNNING
IDLE = kt.engine.trial.TrialStatus.IDLE
STOPPED = kt.engine.trial.TrialStatus.STOPPED
ENDED = (kt.engine.trial.TrialStatus.COMPLETED, kt.engine.trial.TrialStatus.FAILED)

# keras-tuner's contract with these oracles (keras-tuner 1.4.8, pinned below 1.5):
# the parts of its oracle state (`Oracle.get_state()`) and the oracle attributes
# they read or write, with their types.
ORACLE_STATE = {"ongoing_trials": dict, "retry_queue": list, "start_order": list,
                "end_order": list, "display": dict}
DISPLAY_STATE = {"search_start": (str, type(None)), "trial_start": dict, "trial_number": dict}
ORACLE_ATTRIBUTES = {"trials": dict, "end_order": list, "ongoing_trials": dict,
                     "tuner_ids": set}


def contract_breaches(state, oracle):
    """What keras-tuner no longer provides of the state and attributes these
    oracles rely on: one line per missing key or wrong type, none when the
    contract holds.

    Args:
        state: an oracle's `get_state()`.
        oracle: the oracle.

    Example:

    >>> contract_breaches(oracle.get_state(), oracle)
    []
    """
    breaches = []
    for where, found, expected in (("state", state, ORACLE_STATE),
                                   ("state['display']", state.get("display", {}),
                                    DISPLAY_STATE)):
        for key, kind in expected.items():
            if key not in found:
                breaches.append(f"{where} has no {key!r}")
            elif not isinstance(found[key], kind):
                breaches.append(f"{where}[{key!r}] is a {type(found[key]).__name__}")
    for name, kind in ORACLE_ATTRIBUTES.items():
        if not isinstance(getattr(oracle, name, None), kind):
            breaches.append(f"the oracle's {name} is not a {kind.__name__}")
    return breaches


class ResumableOracle:
    """Mixed into a keras-tuner oracle: atomic state, orphaned trials created again,
    and, in a distributed search's chief, trials kept by the workers that run them.

    Args:
        state_path: the oracle's `oracle.json` (DIRECTORY/PROJECT/oracle.json).
        worker_alive: for a distributed search's chief, a function of a worker's
            keras-tuner id that says whether that worker still runs
            (`se_tune.distributed.worker_alive`); None in one process.
        **kwargs: the keras-tuner oracle's arguments.

    Example:

    >>> oracle = RandomOracle(state_path="runs/search/tuner/oracle.json",
    ...                       objective=kt.Objective("val_accuracy", "max"), max_trials=4)
    """

    def __init__(self, state_path, worker_alive=None, **kwargs):
        self.state_path = state_path
        self.worker_alive = worker_alive
        self.saved_owners = {}
        super().__init__(**kwargs)

    def save(self):
        atomic_write_text(self.state_path, json.dumps(self.get_state()))

    def set_state(self, state):
        # A trial whose own file says RUNNING but which the saved state never heard
        # of was killed between keras-tuner's two writes of its creation, before it
        # ran. Forgotten, it is created again from the state saved before it: the
        # same id and values, and the oracle's own bookkeeping (Hyperband's
        # brackets, the random seed, the values tried) counts it once.
        listed = set(state["ongoing_trials"].values()) | set(state["retry_queue"])
        for trial_id in [trial_id for trial_id, trial in self.trials.items()
                         if trial.status == RUNNING and trial_id not in listed
                         and trial_id not in state["end_order"]]:
            del self.trials[trial_id]
        self.saved_owners = dict(state["ongoing_trials"])
        super().set_state(state)

    def reload(self):
        # keras-tuner sends every trial that was running to its retry queue.
        super().reload()
        if self.worker_alive is not None:
            self._assign(self.saved_owners)

    @kt.synchronized
    def create_trial(self, tuner_id):
        if self.worker_alive is not None:
            self._assign(self.get_state()["ongoing_trials"])
        return super().create_trial(tuner_id)

    @kt.synchronized
    def end_trial(self, trial):
        if trial.trial_id in self.end_order:
            # Ended before: a worker repeats the call the dead chief never answered.
            for tuner_id, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == trial.trial_id:
                    self.ongoing_trials.pop(tuner_id)
            return None
        if trial.trial_id not in self.trials:
            # A chief that died before writing the trial's file: the worker's copy is all
            # there is.
            self.trials[trial.trial_id] = trial
        self._note_starts([trial.trial_id])
        return super().end_trial(trial)

    def _note_starts(self, trial_ids):
        """Gives keras-tuner's display a start for each of these trials that it
        lacks: it times a trial from its start, which a reloaded state can miss
        (keras-tuner saves before it notes the start), and fails without one."""
        state = self.get_state()
        display = state["display"]
        missing = [t for t in trial_ids
                   if t not in display["trial_start"] or t not in display["trial_number"]]
        if not missing and display["search_start"] is not None:
            return
        display["search_start"] = display["search_start"] or datetime.datetime.now().isoformat()
        for trial_id in missing:
            display["trial_start"].setdefault(trial_id, datetime.datetime.now().isoformat())
            order = state["start_order"]
            display["trial_number"].setdefault(
                trial_id, order.index(trial_id) + 1 if trial_id in order else len(self.trials))
        self.set_state(state)

    def _assign(self, owners):
        """Running trials: to their `owners` (worker id -> trial id) that are
        alive, to the retry queue when theirs died; ended trials to neither."""
        state = self.get_state()
        live = {tuner_id: trial_id for tuner_id, trial_id in owners.items()
                if self.trials[trial_id].status not in ENDED and self.worker_alive(tuner_id)}
        dead = [tuner_id for tuner_id in self.tuner_ids if not self.worker_alive(tuner_id)]
        retry = [trial_id for trial_id in state["retry_queue"] + list(owners.values())
                 if trial_id not in live.values() and self.trials[trial_id].status not in ENDED]
        retry = list(dict.fromkeys(retry))
        for tuner_id in dead:
            # keras-tuner's chief exits once every worker it heard from has left.
            self.tuner_ids.discard(tuner_id)
        if live != state["ongoing_trials"] or retry != state["retry_queue"]:
            self.set_state({**state, "ongoing_trials": live, "retry_queue": retry})
        self._note_starts(list(live.values()))


class GridOracle(ResumableOracle, kt.Oracle):
    """Grid search over a finite space: each new trial takes the first
    configuration, in the grid's order, that no trial on disk holds.

    Args:
        configurations: every configuration (a dict of keras-tuner values),
            in order.
        **kwargs: `ResumableOracle`'s and keras-tuner `Oracle`'s arguments.

    Example:

    >>> oracle = GridOracle(SearchSpace({"se_ratio": [4, 16, 32]}).configurations(),
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


class RandomOracle(ResumableOracle, kt.oracles.RandomSearchOracle):
    """keras-tuner's random search, resumable (see `ResumableOracle`)."""


class BayesianOracle(ResumableOracle, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimization, resumable (see `ResumableOracle`)."""


class HyperbandOracle(ResumableOracle, kt.oracles.HyperbandOracle):
    """keras-tuner's Hyperband, resumable (see `ResumableOracle`)."""


ORACLES = {
    "random": RandomOracle,
    "bayesian": BayesianOracle,
    "hyperband": HyperbandOracle,
}


def make_oracle(search, space, seed, epochs, state_path, alive=None):
    """The oracle of `search.tuner` over the declared space, saving its state
    atomically to `state_path`; `alive` tells a chief which workers still run
    (see `se_tune.oracles`)."""
    kwargs = dict(worker_alive=alive,
        # keras-tuner draws a random seed for a seed of 0: shift ours by one so that
        # every seed, 0 included, gives the same search in every process.
        state_path=state_path, seed=seed + 1,
        objective=kt.Objective(search.objective, objective_direction(search.objective)),
        hyperparameters=space.hyperparameters(),
        # SETuner applies search.max_consecutive_failures itself; keras-tuner's
        # own check would end the search with a bare RuntimeError.
        max_consecutive_failed_trials=None,
    )
    if search.tuner == "grid":
        return GridOracle(space.configurations(),
                                  max_trials=max_trials(search, space), **kwargs)
    if search.tuner == "hyperband":
        return ORACLES["hyperband"](max_epochs=epochs, **kwargs)
    return ORACLES[search.tuner](max_trials=max_trials(search, space), **kwargs)
