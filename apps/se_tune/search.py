"""`se-tune search`: runs (or resumes) the keras-tuner search and writes its
reports; the space, the tuner and the trials' results have modules of their own."""

import dataclasses
import os
import threading

import keras

from se_tune import tensorboard_logging
from se_tune.config import distributed_environment
from se_tune.distributed import ChiefWatch, distributed_role
from se_tune.errors import SearchIncomplete, SearchStopped
from se_tune.files import atomic_write_text, write_json
from se_tune.local_workers import LocalWorkers, free_port, worker_count
from se_tune.process import environment
from se_tune.results import (plot_configurations, plot_ratio, ranked, verdict_lines,
                              write_frontier, write_results)
from se_tune.trial_results import best_run_model, collect_results, missing_configurations
from se_tune.search_space import SearchSpace, max_trials
from se_tune.training import gpu_available
from se_tune.tuner import SETuner

# Each seed's run reports these to TensorBoard's HParams dashboard.
HPARAMS_METRICS = ("hparams/best_val_accuracy", "hparams/latency_1_ms",
                   "hparams/latency_batch_ms", "hparams/params", "hparams/macs")


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
    workers = 1
    if distributed_role() is None:
        trials = max_trials(config.search, SearchSpace(config.search.space))
        workers = worker_count(config.search, trials, gpu_available(),
                               config.train.distribution)
    if workers > 1:
        tuner, stopped = _search_in_local_workers(config, splits, run_dir, workers)
    else:
        tuner, stopped = SETuner(config, splits, run_dir), None
        try:
            tuner.search()
        except SearchStopped as error:
            stopped = error
    if stopped is None:
        tuner.add_seeds()
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
    objective = config.search.objective
    completed = [r for r in rows if r["best_val_accuracy"] is not None and r["runs"]]
    if completed:
        best = ranked(completed, objective)[0]
        # The best configuration's best seed.
        path, seed = best_run_model(run_dir, best, objective)
        best_model = keras.saving.load_model(path, safe_mode=True)
        best_model.save(os.path.join(run_dir, "best_model.keras"))
        write_json(
            os.path.join(run_dir, "best_hyperparameters.json"),
            {k: best[k] for k in keys} | {"trial": best["trial"], "seed": seed,
                                          "best_val_accuracy": best["best_val_accuracy"]},
        )
        if "se_ratio" in keys:
            plot_ratio(rows, os.path.join(run_dir, "accuracy_vs_ratio.png"))
        plot_configurations(rows, keys, os.path.join(run_dir, "accuracy_by_configuration.png"))
        report += "\n" + write_frontier(rows, run_dir, keys)
        verdicts = verdict_lines(rows, keys, objective)
        atomic_write_text(os.path.join(run_dir, "verdict.txt"), "\n".join(verdicts) + "\n")
        report += "\n" + "\n".join(verdicts) + "\n"
    if stopped is not None:
        raise SearchStopped(f"{report}\nsearch stopped: {stopped}")
    missing = missing_configurations(config.search, rows)
    if missing:
        raise SearchIncomplete(
            f"{report}\nsearch incomplete: no finished trial for {'; '.join(missing)}")
    return rows, report


def _search_in_local_workers(config, splits, run_dir, workers):
    """Runs the search with this process as the chief of `workers` local worker
    processes (`se_tune.local_workers`); returns the chief's tuner, whose oracle
    holds every trial, and the `SearchStopped` of a failed worker, or None."""
    port = free_port()
    chief = dataclasses.replace(config.search, role="chief", oracle_ip="127.0.0.1",
                                oracle_port=port)
    with environment(distributed_environment(chief)):
        tuner = SETuner(config, splits, run_dir)
        print(f"Trials train {workers} at a time, in {workers} worker processes "
              f"(search.workers={workers})", flush=True)
        # keras-tuner's chief serves its oracle until the last trial ends.
        threading.Thread(target=tuner.search, name="se-tune-oracle", daemon=True).start()
        local = LocalWorkers(os.path.join(run_dir, "config.yaml"), port, workers)
        local.start()
        try:
            local.wait()
        except SearchStopped as error:
            return tuner, error
        finally:
            local.stop()
    return tuner, None
