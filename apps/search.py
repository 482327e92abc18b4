"""The keras-tuner search of SE hyperparameters, with its reports."""

import copy
import csv
import dataclasses
import io
import json
import math
import os
import time

import keras
import keras_tuner as kt

from apps import checkpoint, faults, locking, tensorboard_logging, training
from apps.config import ModelConfig, TrainConfig
from apps.errors import TrialFailure, UsageError

SE_LAYER_ARGS = ("squeeze", "gate", "activation", "divisor", "min_units", "use_bias")
RESULT_COLUMNS = ("trial", "status", "params", "macs", "best_val_accuracy", "epochs",
                  "seconds_per_epoch", "images_per_second", "reason")


def _encode_values(key, values):
    """keras-tuner Choices hold numbers, strings or bools: encode the rest."""
    if not isinstance(values, list) or not values:
        raise UsageError(f"search.space.{key} must be a non-empty list. Received: {values!r}")
    plain = [v for v in values if v is not None]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in plain):
        # null (no SE) becomes 0, never a valid ratio or rate.
        return [0 if v is None else v for v in values]
    if all(isinstance(v, (str, bool)) for v in values):
        return list(values)
    return [json.dumps(v) for v in values]


def _decode_value(value, encoded_values):
    if isinstance(value, str) and all(isinstance(v, str) for v in encoded_values) and \
            any(v.startswith(("[", "{", "null")) for v in encoded_values):
        return json.loads(value)
    if value == 0 and not isinstance(value, bool):
        return None
    return value


def apply_hyperparameters(values, model_config, train_config):
    """New configs with the trial's hyperparameter values applied."""
    model = copy.deepcopy(model_config)
    train = copy.deepcopy(train_config)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
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


class SEHyperModel(kt.HyperModel):
    """Builds and trains a keras_se model for each trial's hyperparameters."""

    def __init__(self, model_config, train_config, data_config, splits, search_config,
                 run_dir, seed):
        super().__init__(name="se_hypermodel")
        space = search_config.space
        self.search_config = search_config
        self.resume = None
        self.model_config = model_config
        self.train_config = train_config
        self.data_config = data_config
        self.splits = splits
        self.space = {k: _encode_values(k, v) for k, v in space.items()}
        self.run_dir = run_dir
        self.seed = seed
        self.trial_id = None
        apply_hyperparameters({k: None for k in space}, model_config, train_config)

    def values(self, hp):
        return {k: _decode_value(hp.get(k), self.space[k]) for k in self.space}

    def configs(self, hp):
        values = {}
        for key, choices in self.space.items():
            values[key] = _decode_value(hp.Choice(key, choices, ordered=False), choices)
        return values, *apply_hyperparameters(values, self.model_config, self.train_config)

    def trial_dir(self):
        return os.path.join(self.run_dir, "trials", f"trial_{self.trial_id}")

    def build(self, hp):
        _, model_config, train_config = self.configs(hp)
        if self.trial_id is None:
            # keras-tuner builds once before any trial to learn the space.
            return None
        os.makedirs(self.trial_dir(), exist_ok=True)
        training.set_distribution(train_config.distribution)
        self.resume = checkpoint.load_checkpoint(self.trial_dir())
        if self.resume is not None:
            model, state = self.resume
            with open(os.path.join(self.trial_dir(), "stats.json")) as f:
                self.stats = json.load(f)
            print(f"Resuming trial {self.trial_id} after epoch {state['epoch']}", flush=True)
            return model
        try:
            faults.hit("oom")
            model, self.stats = training.prepare_model(
                model_config, train_config, self.data_config, self.splits, self.seed
            )
        except Exception as error:  # noqa: BLE001 - classified, then re-raised
            if training.is_out_of_memory(error):
                self._fail(f"out of memory while building: {error}")
            raise
        limit = self.search_config.max_params
        if limit and self.stats["params"] > limit:
            self._fail(f"model has {self.stats['params']} parameters, over "
                       f"search.max_params={limit}")
        training.write_json(os.path.join(self.trial_dir(), "stats.json"), self.stats)
        return model

    def _fail(self, reason, values=None):
        training.write_json(
            os.path.join(self.trial_dir(), "summary.json"),
            {"status": "FAILED", "reason": reason, "hyperparameters": values},
        )
        print(f"Trial {self.trial_id} failed: {reason}", flush=True)
        raise kt.errors.FailedTrialError(reason)

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        values, _, train_config = self.configs(hp)
        if "epochs" in kwargs:  # Hyperband sets the epochs of each bracket
            train_config.epochs = kwargs["epochs"]
        initial_epoch, prior = 0, None
        if self.resume is not None:
            initial_epoch, prior = self.resume[1]["epoch"], self.resume[1]["history"]
        try:
            history, summary = training.fit_model(
                model, self.stats, train_config, self.data_config, self.splits,
                logdir=os.path.join(self.run_dir, "tb", f"trial_{self.trial_id}"),
                seed=self.seed, hparams={k: hp.get(k) for k in self.space},
                callbacks=list(callbacks), checkpoint_folder=self.trial_dir(),
                initial_epoch=initial_epoch, prior_history=prior,
            )
        except TrialFailure as failure:
            self._fail(str(failure), values)
        summary["status"] = "COMPLETED"
        summary["hyperparameters"] = values
        model.save(os.path.join(self.trial_dir(), "model.keras"))
        training.write_json(os.path.join(self.trial_dir(), "summary.json"), summary)
        checkpoint.clear_checkpoint(self.trial_dir())
        return history


class _ReportingMixin:
    """One line per trial (i of N, its hyperparameters, ETA), and the trial id."""

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.hypermodel.trial_id = trial.trial_id
        trials = getattr(self.oracle, "trials", None)  # workers see no list
        done = [t for t in (trials or {}).values()
                if t.status in ("COMPLETED", "FAILED") and t.trial_id != trial.trial_id]
        index = len(done) + 1 if trials is not None else f"#{trial.trial_id}"
        total = self._total_trials
        elapsed = time.perf_counter() - self._started
        eta = ""
        if self._finished_here and isinstance(index, int):
            per_trial = elapsed / self._finished_here
            eta = f", ETA {_duration(per_trial * max(0, total - index + 1))}"
        values = self.hypermodel.values(trial.hyperparameters)
        print(f"Trial {index} of {total}: {_format_values(values)}{eta}", flush=True)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self._finished_here += 1


def _duration(seconds):
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _format_values(values):
    return ", ".join(f"{k}={'none' if v is None else v}" for k, v in values.items())


TUNERS = {
    "grid": kt.GridSearch,
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
}


def make_tuner(search, hypermodel, run_dir, seed, epochs):
    grid_size = math.prod(len(v) for v in hypermodel.space.values())
    max_trials = search.max_trials or (grid_size if search.tuner == "grid" else 10)
    base = TUNERS[search.tuner]
    cls = type(f"SE{base.__name__}", (_ReportingMixin, base), {})
    kwargs = dict(
        hypermodel=hypermodel,
        objective=kt.Objective(search.objective, "max"),
        directory=run_dir, project_name="tuner", overwrite=search.fresh, seed=seed,
    )
    if search.tuner == "hyperband":
        kwargs["max_epochs"] = epochs
    else:
        kwargs["max_trials"] = max_trials
    kwargs["max_consecutive_failed_trials"] = search.max_consecutive_failures
    tuner = cls(**kwargs)
    if search.tuner != "hyperband":
        # A reloaded oracle keeps its old limit: the config's value wins, so a
        # resumed search can also be extended.
        tuner.oracle.max_trials = max_trials
    tuner._total_trials = min(max_trials, grid_size) if search.tuner == "grid" else max_trials
    tuner._started = time.perf_counter()
    tuner._finished_here = 0
    return tuner


def collect_results(tuner, run_dir):
    rows = []
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    for trial in trials:
        folder = os.path.join(run_dir, "trials", f"trial_{trial.trial_id}")
        summary = _read_json(os.path.join(folder, "summary.json"))
        summary = {**_read_json(os.path.join(folder, "stats.json")), **summary}
        values = tuner.hypermodel.values(trial.hyperparameters)
        row = {"trial": trial.trial_id, "status": trial.status, **values}
        for key in RESULT_COLUMNS[2:]:
            row[key] = summary.get(key)
        if trial.status != "COMPLETED" and not row["reason"] and trial.message:
            row["reason"] = trial.message.strip().splitlines()[-1]
        rows.append(row)
    return rows


def _read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_results(rows, run_dir, space_keys):
    columns = ["trial", *space_keys, *RESULT_COLUMNS[2:], "status"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "none" if row.get(c) is None else row.get(c) for c in columns})
    checkpoint.atomic_write_text(os.path.join(run_dir, "results.csv"), text.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    table = "\n".join(lines) + "\n"
    checkpoint.atomic_write_text(os.path.join(run_dir, "results.md"), table)
    return table


def _cell(value):
    if value is None:
        return "none"
    if isinstance(value, float):
        if value >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int) and value >= 1e5:
        return f"{value / 1e6:.3f}M"
    return str(value)


def plot_ratio(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("best_val_accuracy") is not None]
    with_se = sorted((r for r in done if r.get("se_ratio")), key=lambda r: r["se_ratio"])
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    if with_se:
        ax.plot([r["se_ratio"] for r in with_se],
                [r["best_val_accuracy"] for r in with_se], "o-", label="SE")
        ax.set_xscale("log", base=2)
    for r in done:
        if "se_ratio" in r and r["se_ratio"] is None:
            ax.axhline(r["best_val_accuracy"], color="gray", ls="--", label="no SE")
            break
    ax.set_xlabel("reduction ratio r")
    ax.set_ylabel("best validation accuracy")
    ax.set_title("SE reduction ratio search")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _distributed_role(search):
    """Sets keras-tuner's KERASTUNER_* variables from the config; returns the role."""
    if search.role is not None:
        tuner_id = "chief" if search.role == "chief" else (
            search.tuner_id or f"worker-{os.getpid()}")
        os.environ.update({
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": search.oracle_ip,
            "KERASTUNER_ORACLE_PORT": str(search.oracle_port),
        })
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if os.environ.get("KERASTUNER_TUNER_ID") == "chief" else "worker"


def run_search(config, splits, run_dir):
    """Runs (or resumes) the search and writes its reports; returns the rows."""
    role = _distributed_role(config.search)
    if role == "worker":
        locking.acquire(run_dir, f"worker-{os.environ['KERASTUNER_TUNER_ID']}")
    else:
        locking.acquire(run_dir, "search")
    hypermodel = SEHyperModel(
        config.model, config.train, config.data, splits, config.search, run_dir,
        config.seed,
    )
    tuner = make_tuner(config.search, hypermodel, run_dir, config.seed, config.train.epochs)
    stopped = None
    try:
        tuner.search(verbose=0)
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        stopped = str(error).splitlines()[0]
    if role == "worker":
        return [], f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trial left\n"
    rows = collect_results(tuner, run_dir)
    keys = list(config.search.space)
    table = write_results(rows, run_dir, keys)
    if rows:
        # HParams columns: se_ratio 0 stands for the network without SE.
        tensorboard_logging.write_experiment(
            os.path.join(run_dir, "tb"),
            dict(zip(keys, (hypermodel.space[k][0] for k in keys))),
            ["hparams/best_val_accuracy"],
        )
    completed = [r for r in rows if r["best_val_accuracy"] is not None]
    if completed:
        best = max(completed, key=lambda r: r["best_val_accuracy"])
        trial_dir = os.path.join(run_dir, "trials", f"trial_{best['trial']}")
        best_model = keras.saving.load_model(
            os.path.join(trial_dir, "model.keras"), safe_mode=True)
        best_model.save(os.path.join(run_dir, "best_model.keras"))
        training.write_json(
            os.path.join(run_dir, "best_hyperparameters.json"),
            {k: best[k] for k in keys} | {"trial": best["trial"],
                                          "best_val_accuracy": best["best_val_accuracy"]},
        )
        if "se_ratio" in keys:
            plot_ratio(rows, os.path.join(run_dir, "accuracy_vs_ratio.png"))
    if stopped:
        raise SearchStopped(f"{table}\nsearch stopped: {stopped}")
    return rows, table


class SearchStopped(Exception):
    """The search ended early (too many consecutive failed trials)."""
