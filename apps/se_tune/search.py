"""The keras-tuner search of SE hyperparameters, with its reports."""

import copy
import dataclasses
import glob
import json
import os
import shutil
import time

import keras
import keras_tuner as kt
import numpy as np

from se_tune import checkpoint, oracles, tensorboard_logging, training
from se_tune.latency import inference_latency_ms
from se_tune.config import ModelConfig, TrainConfig
from se_tune.distributed import ChiefConnection, ChiefWatch, distributed_role, worker_alive
from se_tune.errors import SearchIncomplete, SearchStopped, TrialFailure, UsageError
from se_tune.results import (RESULT_COLUMNS, RUN_COLUMNS, accuracy_interval,
                              plot_configurations, plot_ratio, verdict_lines, write_frontier,
                              write_results)

SE_LAYER_ARGS = ("squeeze", "gate", "activation", "divisor", "min_units", "use_bias")
ATTENTIONS = ("se", "ese", "eca", "cbam", "ge", None)
# Each seed's run reports these to TensorBoard's HParams dashboard.
HPARAMS_METRICS = ("hparams/best_val_accuracy", "hparams/latency_1_ms",
                   "hparams/latency_batch_ms", "hparams/params", "hparams/macs")
ORACLES = {
    "random": oracles.RandomOracle,
    "bayesian": oracles.BayesianOracle,
    "hyperband": oracles.HyperbandOracle,
}
# Values that Hyperband's oracle adds to a trial's hyperparameters.
HYPERBAND_EPOCHS, HYPERBAND_INITIAL_EPOCH, HYPERBAND_PARENT = (
    "tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")


def _encode_values(key, values):
    """keras-tuner Choices hold numbers, strings or bools of one kind: a list of
    those stays as it is, any other list (null, lists, mixed kinds) becomes JSON
    strings. Returns `(choices, as_json)`."""
    if not isinstance(values, list) or not values:
        raise UsageError(f"search.space.{key} must be a non-empty list. Received: {values!r}")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or \
            all(isinstance(v, str) for v in values) or all(isinstance(v, bool) for v in values):
        return list(values), False
    return [json.dumps(v) for v in values], True


def apply_hyperparameters(values, model_config, train_config):
    """New configs with the trial's hyperparameter values applied."""
    model = copy.deepcopy(model_config)
    train = copy.deepcopy(train_config)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
        if key == "se_ratio" and isinstance(value, dict):
            value = _stage_ratios(value)
        if key in model_fields:
            setattr(model, key, value)
        elif key in SE_LAYER_ARGS:
            model.se_kwargs = {**model.se_kwargs, key: value}
        elif key in train_fields:
            setattr(train, key, value)
        else:
            raise UsageError(
                f"search.space has an unknown hyperparameter {key!r}; use a model "
                f"field, a SqueezeExcite argument ({', '.join(SE_LAYER_ARGS)}) or a "
                "train field"
            )
    return model, train


def _stage_ratios(ratios):
    """A per-stage se_ratio from JSON, whose keys are strings: `{"3": 8}` -> `{3: 8}`."""
    try:
        return {int(stage): ratio for stage, ratio in ratios.items()}
    except ValueError:
        raise UsageError("search.space.se_ratio: a dict maps stage numbers to ratios. "
                         f"Received: {json.dumps(ratios)}") from None


class SearchSpace:
    """The search space of a config: keras-tuner Choices, their conditions and
    their decoding.

    Args:
        space: hyperparameter -> list of values, or `{"values": [...], "when":
            {"earlier_key": [values]}}` for a key searched only when an earlier,
            unconditional key takes one of those values (`SearchConfig.space`).

    Example:

    >>> space = SearchSpace({"optimizer": ["sgd", "adamw"],
    ...                      "momentum": {"values": [0.0, 0.9], "when": {"optimizer": ["sgd"]}}})
    >>> space.grid_size  # sgd with each momentum, adamw
    3
    """

    def __init__(self, space):
        self.encoded, self.as_json, self.conditions = {}, set(), {}
        for key, spec in space.items():
            values = spec
            if isinstance(spec, dict):
                values = spec.get("values")
                self.conditions[key] = self._condition(key, spec)
            self.encoded[key], as_json = _encode_values(key, values)
            if as_json:
                self.as_json.add(key)
        # Refused before any trial, not inside one.
        for ratios in (v for v in self.decode_values("se_ratio") if isinstance(v, dict)):
            _stage_ratios(ratios)
        unknown = [v for v in self.decode_values("attention") if v not in ATTENTIONS]
        if unknown:
            raise UsageError(f"search.space.attention: each value must be one of "
                             f"{', '.join(a or 'null' for a in ATTENTIONS)}. "
                             f"Received: {json.dumps(unknown[0])}")
        self.grid_size = len(self.configurations())

    def _condition(self, key, spec):
        when = spec.get("when")
        if set(spec) != {"values", "when"} or not isinstance(when, dict) or len(when) != 1:
            raise UsageError(
                f"search.space.{key} must be a list of values or "
                '{"values": [...], "when": {"earlier_key": [values]}}. '
                f"Received: {spec!r}")
        (parent, parent_values), = when.items()
        if parent not in self.encoded or parent in self.conditions:
            raise UsageError(
                f"search.space.{key} depends on {parent!r}, which must be an earlier, "
                f"unconditional key of the space. Received: when={when!r}")
        if not isinstance(parent_values, list) or not parent_values:
            raise UsageError(f"search.space.{key}.when.{parent} must be a non-empty list. "
                             f"Received: {parent_values!r}")
        encoded = [json.dumps(v) if parent in self.as_json else v for v in parent_values]
        unknown = [v for v, e in zip(parent_values, encoded) if e not in self.encoded[parent]]
        if unknown:
            raise UsageError(f"search.space.{key}.when.{parent} names values {parent} does not "
                             f"take. Received: {unknown!r}")
        return parent, encoded

    def hyperparameters(self):
        """A `kt.HyperParameters` that declares every Choice, the conditional
        ones in their conditional scope."""
        hp = kt.HyperParameters()
        for key, choices in self.encoded.items():
            if key in self.conditions:
                with hp.conditional_scope(*self.conditions[key]):
                    hp.Choice(key, choices, ordered=False)
            else:
                hp.Choice(key, choices, ordered=False)
        return hp

    def configurations(self):
        """Every configuration of the grid (keras-tuner values), in order, the last
        key varying fastest; a conditional key only where its condition holds."""
        configurations = [{}]
        for key, choices in self.encoded.items():
            parent, wanted = self.conditions.get(key, (None, None))
            configurations = [
                grown for values in configurations
                for grown in ([values] if parent and values[parent] not in wanted
                              else [{**values, key: choice} for choice in choices])
            ]
        return configurations

    def decode_values(self, key):
        """The values of `key` as the config gave them (none when it is not searched)."""
        return [self.decode({key: v})[key] for v in self.encoded.get(key, [])]

    def decode(self, values):
        """Values as the config gave them, from keras-tuner's."""
        return {k: json.loads(v) if k in self.as_json else v for k, v in values.items()}

    def values(self, hp):
        """A trial's active values as the config gave them (None: the network
        without SE); an inactive conditional key is left out."""
        return self.decode({k: hp.get(k) for k in self.encoded if hp.is_active(k)})

    def hparams(self, hp):
        """A trial's active values as TensorBoard's HParams columns take them:
        numbers, strings and bools as they are, other values as JSON ("null": no SE,
        or no attention block)."""
        values = {k: hp.get(k) for k in self.encoded if hp.is_active(k)}
        return {k: json.loads(v) if k in self.as_json and isinstance(json.loads(v), str)
                else v for k, v in values.items()}


def trial_dir(run_dir, trial_id):
    return os.path.join(run_dir, "trials", f"trial_{trial_id}")


def best_run_model(run_dir, row):
    """The model file of a trial's best seed (a `collect_results` row), and that seed."""
    run = max(row["runs"], key=lambda r: r["best_val_accuracy"])
    return os.path.join(trial_dir(run_dir, row["trial"]), f"seed_{run['seed']}",
                        "model.keras"), run["seed"]


def make_oracle(search, space, seed, epochs, state_path, alive=None):
    """The oracle of `search.tuner` over the declared space, saving its state
    atomically to `state_path`; `alive` tells a chief which workers still run
    (see `se_tune.oracles`)."""
    kwargs = dict(worker_alive=alive,
        # keras-tuner draws a random seed for a seed of 0: shift ours by one so that
        # every seed, 0 included, gives the same search in every process.
        state_path=state_path, objective=kt.Objective(search.objective, "max"), seed=seed + 1,
        hyperparameters=space.hyperparameters(),
        # SETuner applies search.max_consecutive_failures itself; keras-tuner's
        # own check would end the search with a bare RuntimeError.
        max_consecutive_failed_trials=None,
    )
    if search.tuner == "grid":
        return oracles.GridOracle(space.configurations(),
                                  max_trials=max_trials(search, space), **kwargs)
    if search.tuner == "hyperband":
        return ORACLES["hyperband"](max_epochs=epochs, **kwargs)
    return ORACLES[search.tuner](max_trials=max_trials(search, space), **kwargs)


def max_trials(search, space):
    return search.max_trials or (space.grid_size if search.tuner == "grid" else 10)


class SETuner(kt.Tuner):
    """A keras-tuner `Tuner` whose `run_trial` builds, trains and reports one
    keras_se model per trial, resuming a killed trial from its last epoch.

    Each trial writes `trials/trial_ID/` (stats, epoch checkpoints, summary,
    model) and `tb/trial_ID/` (its TensorBoard run).

    Args:
        config: the resolved `se-tune search` config.
        splits: the data (`se_tune.data.Splits`).
        run_dir: the run folder.

    Example:

    >>> tuner = SETuner(config, splits, "runs/search")
    >>> tuner.search()
    """

    def __init__(self, config, splits, run_dir):
        self.config = config
        self.splits = splits
        self.run_dir = run_dir
        self.space = SearchSpace(config.search.space)
        apply_hyperparameters({k: None for k in self.space.encoded}, config.model,
                              config.train)
        project = os.path.join(run_dir, "tuner")
        if config.search.fresh and distributed_role() != "worker":
            for folder in ("tuner", "trials", "tb"):
                shutil.rmtree(os.path.join(run_dir, folder), ignore_errors=True)
        _discard_half_written_trials(project)
        oracle = make_oracle(config.search, self.space, config.seed, config.train.epochs,
                             os.path.join(project, "oracle.json"),
                             worker_alive(run_dir) if distributed_role() == "chief" else None)
        super().__init__(oracle=oracle, directory=run_dir, project_name="tuner")
        if distributed_role() == "worker":
            self.oracle = ChiefConnection(self.oracle)
        search = config.search
        # Hyperband's trial count follows from its brackets, not from max_trials.
        self.total_trials = {
            "grid": min(max_trials(search, self.space), self.space.grid_size),
            "hyperband": None,
        }.get(search.tuner, max_trials(search, self.space))
        self.started = time.perf_counter()
        self.finished_here = 0
        self.failed_in_a_row = 0
        # (trial id, model, its optimizer's initial values): the last compiled model,
        # which the trial's next seed trains again from that seed's initial weights.
        self.compiled = None

    def save(self):
        # keras-tuner's own save writes in place: a kill could leave half a file.
        if distributed_role() != "worker":
            self.oracle.save()
        checkpoint.atomic_write_text(
            os.path.join(self.project_dir, f"{self.tuner_id}.json"), json.dumps(self.get_state()))

    def run_trial(self, trial, *args, **kwargs):
        values = self.space.values(trial.hyperparameters)
        model_config, train_config = apply_hyperparameters(
            values, self.config.model, self.config.train)
        extra = trial.hyperparameters.values
        if HYPERBAND_EPOCHS in extra:
            train_config.epochs = extra[HYPERBAND_EPOCHS]
        folder = trial_dir(self.run_dir, trial.trial_id)
        recorded = _trial_record(folder, {**values, **_hyperband_values(extra)})
        if recorded.get("status") == "COMPLETED":
            # Finished before a kill that keras-tuner's files did not see.
            print(f"Trial {trial.trial_id} finished before; its results are kept", flush=True)
            return recorded["metrics"]
        if recorded.get("status") == "FAILED":
            raise kt.errors.FailedTrialError(recorded["reason"])
        self._announce(trial, values)
        runs = []
        try:
            for seed in self.seeds():
                runs.append(self._run_seed(trial, folder, seed, model_config, train_config))
        except TrialFailure as failure:
            training.write_json(
                os.path.join(folder, "summary.json"),
                {"status": "FAILED", "reason": str(failure), "hyperparameters": values},
            )
            print(f"Trial {trial.trial_id} failed: {failure}", flush=True)
            raise kt.errors.FailedTrialError(str(failure)) from None
        summary = _trial_summary(runs)
        summary["status"] = "COMPLETED"
        summary["hyperparameters"] = values
        objective = self.config.search.objective
        # keras-tuner's executions_per_trial: the objective is the mean over the seeds.
        summary["metrics"] = {objective: float(np.mean([run["objective"] for run in runs]))}
        training.write_json(os.path.join(folder, "summary.json"), summary)
        return summary["metrics"]

    def seeds(self):
        """The seeds of each configuration's runs: the same for every
        configuration, so that their comparison is paired."""
        return [self.config.seed + k for k in range(self.config.search.repeats)]

    def _run_seed(self, trial, folder, seed, model_config, train_config):
        """Trains (or resumes, or reads back) one seed's run of a trial, in
        `trials/trial_ID/seed_SEED/` and `tb/trial_ID/seed_SEED/`."""
        run_folder = os.path.join(folder, f"seed_{seed}")
        recorded = _read_json(os.path.join(run_folder, "summary.json"))
        if recorded.get("status") == "COMPLETED":
            return recorded
        os.makedirs(run_folder, exist_ok=True)
        if self.config.search.repeats > 1:
            print(f"  seed {seed}", flush=True)
        logdir = os.path.join(self.run_dir, "tb", f"trial_{trial.trial_id}", f"seed_{seed}")
        if self.compiled is None or self.compiled[0] != trial.trial_id:
            self.compiled = None
            keras.backend.clear_session()  # frees the previous trial's models
        with training.distribution_scope(train_config.distribution):
            model, stats, initial_epoch, prior = self._trial_model(
                trial, run_folder, seed, model_config, train_config)
            history, summary = training.fit_model(
                model, stats, train_config, self.config.data, self.splits, logdir=logdir,
                seed=seed, hparams={**self.space.hparams(trial.hyperparameters), "seed": seed},
                checkpoint_folder=run_folder, initial_epoch=initial_epoch,
                prior_history=prior,
            )
            # Timed in this process, on the device that trained it.
            summary["latency_1_ms"] = inference_latency_ms(model, self.splits.x_val, 1)
            summary["latency_batch_ms"] = inference_latency_ms(
                model, self.splits.x_val, self.config.data.batch_size)
        objective = self.config.search.objective
        if objective not in history.history:
            raise TrialFailure(f"search.objective={objective!r} is none of the training's "
                               f"metrics ({', '.join(history.history)})")
        summary.update(status="COMPLETED", seed=seed,
                       objective=float(np.nanmax(history.history[objective])))
        tensorboard_logging.write_scalars(logdir, {
            "hparams/latency_1_ms": summary["latency_1_ms"],
            "hparams/latency_batch_ms": summary["latency_batch_ms"],
            "hparams/params": summary["params"], "hparams/macs": summary["macs"]})
        model.save(os.path.join(run_folder, "model.keras"))
        training.write_json(os.path.join(run_folder, "summary.json"), summary)
        checkpoint.clear_checkpoint(run_folder)
        return summary

    def _trial_model(self, trial, folder, seed, model_config, train_config):
        """`(model, stats, initial_epoch, prior_history)` of a seed's run: from
        its last checkpoint after a kill, else built (from its parent's weights,
        same seed, when Hyperband continues a trial)."""
        resumed = checkpoint.load_checkpoint(folder)
        if resumed is not None:
            model, state = resumed
            self.compiled = None  # its optimizer holds the run's state, not the initial one
            with open(os.path.join(folder, "stats.json")) as f:
                stats = json.load(f)
            which = f" (seed {seed})" if self.config.search.repeats > 1 else ""
            print(f"Resuming trial {trial.trial_id} after epoch {state['epoch']}{which}",
                  flush=True)
            return model, stats, state["epoch"], state["history"]
        model, stats = training.prepare_model(
            model_config, train_config, self.config.data, self.splits, seed)
        limit = self.config.search.max_params
        if limit and stats["params"] > limit:
            raise TrialFailure(f"model has {stats['params']} parameters, over "
                               f"search.max_params={limit}")
        training.write_json(os.path.join(folder, "stats.json"), stats)
        extra = trial.hyperparameters.values
        if extra.get(HYPERBAND_PARENT) is not None:
            # The parent's weights only: its optimizer state belongs to its own schedule.
            parent = keras.saving.load_model(
                os.path.join(trial_dir(self.run_dir, extra[HYPERBAND_PARENT]),
                             f"seed_{seed}", "model.keras"),
                safe_mode=True)
            model.set_weights(parent.get_weights())
            return self._reuse_compiled(trial, model), stats, extra[HYPERBAND_INITIAL_EPOCH], None
        return self._reuse_compiled(trial, model), stats, 0, None

    def _reuse_compiled(self, trial, model):
        """The trial's compiled model from its previous seed, given `model`'s
        initial weights and its optimizer's initial state, or `model` itself.

        Compiling the training step of a new model (tracing it, on TensorFlow
        and JAX) takes longer than a few epochs of a small network: each
        configuration compiles once, however many seeds it trains.
        """
        if self.compiled is not None:
            _, compiled, optimizer_state = self.compiled
            compiled.set_weights(model.get_weights())
            for variable, value in zip(compiled.optimizer.variables, optimizer_state):
                variable.assign(value)
            return compiled
        model.optimizer.build(model.trainable_variables)
        self.compiled = (trial.trial_id, model, [
            keras.ops.convert_to_numpy(v) for v in model.optimizer.variables])
        return model

    def _announce(self, trial, values):
        """One line per trial: i of N, its hyperparameters and an ETA."""
        trials = getattr(self.oracle, "trials", None)  # a worker's oracle has no list
        of = "" if self.total_trials is None else f" of {self.total_trials}"
        if trials is None:
            print(f"Trial #{trial.trial_id}{of}: {_format_values(values)}", flush=True)
            return
        done = [t for t in trials.values()
                if t.status in ("COMPLETED", "FAILED") and t.trial_id != trial.trial_id]
        index = len(done) + 1
        eta = ""
        if self.finished_here and self.total_trials is not None:
            per_trial = (time.perf_counter() - self.started) / self.finished_here
            eta = f", ETA {_duration(per_trial * max(0, self.total_trials - index + 1))}"
        print(f"Trial {index}{of}: {_format_values(values)}{eta}", flush=True)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.finished_here += 1
        self.failed_in_a_row = (self.failed_in_a_row + 1
                                if trial.status == kt.engine.trial.TrialStatus.FAILED else 0)
        limit = self.config.search.max_consecutive_failures
        if limit and self._consecutive_failures() >= limit:
            raise SearchStopped(
                f"{limit} consecutive trials failed (search.max_consecutive_failures)")

    def _consecutive_failures(self):
        """Failed trials at the end of the search's history (this process's own
        count on a worker, whose oracle lives in the chief)."""
        order = getattr(self.oracle, "end_order", None)
        if order is None:
            return self.failed_in_a_row
        count = 0
        for trial_id in reversed(order):
            if self.oracle.trials[trial_id].status != kt.engine.trial.TrialStatus.FAILED:
                break
            count += 1
        return count


def _hyperband_values(values):
    return {k: v for k, v in values.items() if k.startswith("tuner/")}


def _trial_summary(runs):
    """A trial's figures from its seeds' runs: the cost of its network, and
    the means of what the seeds measured (the table's columns)."""
    first = runs[0]
    summary = {key: first[key] for key in ("params", "macs", "epochs", "replicas")}
    for key in ("best_val_accuracy", "latency_1_ms", "latency_batch_ms",
                "seconds_per_epoch", "images_per_second"):
        summary[key] = float(np.mean([run[key] for run in runs]))
    summary["runs"] = [{key: run[key] for key in RUN_COLUMNS} for run in runs]
    return summary


def _trial_record(folder, values):
    """The trial folder's summary when it was written for these `values`; a
    folder left by other values (keras-tuner gave the trial id anew after a
    kill) is emptied first."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "hyperparameters.json")
    if _read_json(path) != json.loads(json.dumps(values)):
        for name in os.listdir(folder):
            path_in = os.path.join(folder, name)
            shutil.rmtree(path_in) if os.path.isdir(path_in) else os.remove(path_in)
        training.write_json(path, values)
        return {}
    return _read_json(os.path.join(folder, "summary.json"))


def _discard_half_written_trials(project):
    """Removes the keras-tuner trial folders whose `trial.json` a kill cut short:
    keras-tuner would fail to reload them; their configurations run again."""
    for path in glob.glob(os.path.join(project, "trial_*", "trial.json")):
        try:
            with open(path) as f:
                json.load(f)
        except ValueError:
            print(f"Discarding {path}: half written when the search was killed", flush=True)
            shutil.rmtree(os.path.dirname(path))


def _duration(seconds):
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _format_values(values):
    return ", ".join(f"{k}={'none' if v is None else v}" for k, v in values.items())


def collect_results(tuner, run_dir):
    """One row per trial: its status, values, cost, the mean accuracy over its
    seeds with their standard deviation and 95% interval, and each seed's run."""
    rows = []
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    for trial in trials:
        folder = trial_dir(run_dir, trial.trial_id)
        stats = sorted(glob.glob(os.path.join(folder, "seed_*", "stats.json")))
        summary = {**(_read_json(stats[0]) if stats else {}),
                   **_read_json(os.path.join(folder, "summary.json"))}
        values = tuner.space.values(trial.hyperparameters)
        row = {"trial": trial.trial_id, "status": trial.status, **values}
        for key in RESULT_COLUMNS[2:]:
            row[key] = summary.get(key)
        row["runs"] = summary.get("runs", [])
        if row["runs"]:
            interval = accuracy_interval(row)
            row.update(sd=interval.sd if interval.n > 1 else None, ci95_low=interval.low,
                       ci95_high=interval.high, seeds=interval.n)
        row["reason"] = row["reason"] or ""
        if trial.status != "COMPLETED" and not row["reason"] and trial.message:
            row["reason"] = trial.message.strip().splitlines()[-1]
        rows.append(row)
    return rows


def missing_configurations(search, rows):
    """What a search that ended still owes: the grid's configurations with no
    finished or failed trial, or, for random and bayesian searches, how many of
    the requested trials are missing. Hyperband owes no fixed count.

    Args:
        search: the search config.
        rows: `collect_results`' rows.

    Returns:
        A list of descriptions, empty when nothing is missing.

    Example:

    >>> missing_configurations(SearchConfig(space={"se_ratio": [4, None]}),
    ...                        [{"status": "COMPLETED", "se_ratio": 4}])
    ['se_ratio=none']
    """
    if search.tuner == "hyperband":
        return []
    space = SearchSpace(search.space)
    keys = list(search.space)
    done = [tuple(row.get(k) for k in keys) for row in rows
            if row["status"] in ("COMPLETED", "FAILED")]
    grid = [space.decode(values) for values in space.configurations()]
    wanted = min(max_trials(search, space), len(grid))
    if search.tuner == "grid" and wanted == len(grid):
        return [_format_values(values) for values in grid
                if tuple(values.get(k) for k in keys) not in done]
    finished = len({json.dumps(values) for values in done})
    if finished >= wanted:
        return []
    return [f"{wanted - finished} of {wanted} requested trials"]


def _read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def run_search(config, splits, run_dir):
    """Runs (or resumes) the search and writes its reports; returns the rows and
    the report (results table, verdicts, frontier). Raises `SearchStopped`, with
    the report, when too many trials fail in a row."""
    if distributed_role() == "worker":
        watch = ChiefWatch(config.search.chief_timeout)
        watch.start()
        try:
            SETuner(config, splits, run_dir).search()
        finally:
            watch.stop()
        return [], f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trial left\n"
    tuner = SETuner(config, splits, run_dir)
    stopped = None
    try:
        tuner.search()
    except SearchStopped as error:
        stopped = error
    rows = collect_results(tuner, run_dir)
    keys = list(config.search.space)
    report = write_results(rows, run_dir, keys)
    if rows:
        # HParams columns: se_ratio "null" stands for the network without SE.
        tensorboard_logging.write_experiment(
            os.path.join(run_dir, "tb"),
            {**dict(zip(keys, (tuner.space.encoded[k][0] for k in keys))), "seed": config.seed},
            list(HPARAMS_METRICS),
        )
    completed = [r for r in rows if r["best_val_accuracy"] is not None and r["runs"]]
    if completed:
        best = max(completed, key=lambda r: r["best_val_accuracy"])
        # The best configuration's best seed.
        path, seed = best_run_model(run_dir, best)
        best_model = keras.saving.load_model(path, safe_mode=True)
        best_model.save(os.path.join(run_dir, "best_model.keras"))
        training.write_json(
            os.path.join(run_dir, "best_hyperparameters.json"),
            {k: best[k] for k in keys} | {"trial": best["trial"], "seed": seed,
                                          "best_val_accuracy": best["best_val_accuracy"]},
        )
        if "se_ratio" in keys:
            plot_ratio(rows, os.path.join(run_dir, "accuracy_vs_ratio.png"))
        plot_configurations(rows, keys, os.path.join(run_dir, "accuracy_by_configuration.png"))
        report += "\n" + write_frontier(rows, run_dir, keys)
        verdicts = verdict_lines(rows, keys)
        checkpoint.atomic_write_text(os.path.join(run_dir, "verdict.txt"),
                                     "\n".join(verdicts) + "\n")
        report += "\n" + "\n".join(verdicts) + "\n"
    if stopped is not None:
        raise SearchStopped(f"{report}\nsearch stopped: {stopped}")
    missing = missing_configurations(config.search, rows)
    if missing:
        raise SearchIncomplete(
            f"{report}\nsearch incomplete: no finished trial for {'; '.join(missing)}")
    return rows, report
