"""What a search's trials left on disk: each trial's record and summary,
the results table's rows, and what a finished search still owes."""

import glob
import json
import os
import shutil

import numpy as np

from se_tune.files import read_json, write_json
from se_tune.results import RESULT_COLUMNS, RUN_COLUMNS, accuracy_interval, ranked
from se_tune.search_space import SearchSpace, format_values, max_trials


def trial_dir(run_dir, trial_id):
    return os.path.join(run_dir, "trials", f"trial_{trial_id}")


def best_run_model(run_dir, row, objective="val_accuracy"):
    """The model file of a trial's best seed by `objective` (a `collect_results`
    row), and that seed."""
    run = ranked([{"runs": [r], "run": r} for r in row["runs"]], objective)[0]["run"]
    return os.path.join(trial_dir(run_dir, row["trial"]), f"seed_{run['seed']}",
                        "model.keras"), run["seed"]


def trial_summary(runs):
    """A trial's figures from its seeds' runs: the cost of its network, and
    the means of what the seeds measured (the table's columns)."""
    first = runs[0]
    summary = {key: first[key] for key in ("params", "macs", "epochs", "replicas", "val_images")
               if key in first}
    for key in ("best_val_accuracy", "latency_1_ms", "latency_batch_ms",
                "seconds_per_epoch", "images_per_second"):
        summary[key] = float(np.mean([run[key] for run in runs]))
    summary["runs"] = [{key: run[key] for key in RUN_COLUMNS} for run in runs]
    return summary


def trial_record(folder, values):
    """The trial folder's summary when it was written for these `values`; a
    folder left by other values (keras-tuner gave the trial id anew after a
    kill) is emptied first."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "hyperparameters.json")
    if read_json(path) != json.loads(json.dumps(values)):
        for name in os.listdir(folder):
            path_in = os.path.join(folder, name)
            shutil.rmtree(path_in) if os.path.isdir(path_in) else os.remove(path_in)
        write_json(path, values)
        return {}
    return read_json(os.path.join(folder, "summary.json"))


def collect_results(tuner, run_dir):
    """One row per trial: its status, values, cost, the mean accuracy over its
    seeds with their standard deviation and 95% interval, and each seed's run."""
    rows = []
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    for trial in trials:
        folder = trial_dir(run_dir, trial.trial_id)
        stats = sorted(glob.glob(os.path.join(folder, "seed_*", "stats.json")))
        summary = {**(read_json(stats[0]) if stats else {}),
                   **read_json(os.path.join(folder, "summary.json"))}
        values = tuner.space.values(trial.hyperparameters)
        row = {"trial": trial.trial_id, "status": trial.status, **values}
        for key in RESULT_COLUMNS[2:]:
            row[key] = summary.get(key)
        row["runs"] = summary.get("runs", [])
        row["val_images"] = summary.get("val_images")
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
        return [format_values(values) for values in grid
                if tuple(values.get(k) for k in keys) not in done]
    finished = len({json.dumps(values) for values in done})
    if finished >= wanted:
        return []
    return [f"{wanted - finished} of {wanted} requested trials"]


def discard_half_written_trials(project):
    """Removes the keras-tuner trial folders whose `trial.json` a kill cut short:
    keras-tuner would fail to reload them; their configurations run again."""
    for path in glob.glob(os.path.join(project, "trial_*", "trial.json")):
        try:
            with open(path) as f:
                json.load(f)
        except ValueError:
            print(f"Discarding {path}: half written when the search was killed", flush=True)
            shutil.rmtree(os.path.dirname(path))
