"""The keras-tuner side of a search: `SETuner`, which owns `run_trial`: it
trains each trial's seeds, resumes a killed trial from its last epoch,
continues Hyperband's trials from their parents, builds a configuration's
seed models first and reuses its compiled model across its seeds, and stops
after too many failures in a row (the oracles: `se_tune.oracles`)."""

import json
import os
import shutil
import time

import keras
import keras_tuner as kt
import numpy as np

import keras_se
from se_tune import checkpoint, fine_tuning, tensorboard_logging, training
from se_tune.distributed import ChiefConnection, distributed_role, worker_alive
from se_tune.errors import SearchStopped, TrialFailure
from se_tune.files import atomic_write_text, read_json, write_json
from se_tune.latency import inference_latency_ms
from se_tune.objective import best_value, objective_direction
from se_tune.oracles import make_oracle
from se_tune.search_space import SearchSpace, apply_hyperparameters, format_values, max_trials
from se_tune.trial_results import (discard_half_written_trials, trial_dir, trial_record,
                                   trial_summary)

# Values that Hyperband's oracle adds to a trial's hyperparameters.
HYPERBAND_EPOCHS, HYPERBAND_INITIAL_EPOCH, HYPERBAND_PARENT = (
    "tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")


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
        discard_half_written_trials(project)
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
        # (model, its GateProbe) for the gate histograms of the trial's seeds.
        self.gate_probe = None

    def save(self):
        # keras-tuner's own save writes in place: a kill could leave half a file.
        if distributed_role() != "worker":
            self.oracle.save()
        atomic_write_text(
            os.path.join(self.project_dir, f"{self.tuner_id}.json"), json.dumps(self.get_state()))

    def run_trial(self, trial, *args, **kwargs):
        values = self.space.values(trial.hyperparameters)
        model_config, train_config = apply_hyperparameters(
            values, self.config.model, self.config.train)
        extra = trial.hyperparameters.values
        if HYPERBAND_EPOCHS in extra:
            train_config.epochs = extra[HYPERBAND_EPOCHS]
        folder = trial_dir(self.run_dir, trial.trial_id)
        recorded = trial_record(folder, {**values, **_hyperband_values(extra)})
        if recorded.get("status") == "COMPLETED":
            # Finished before a kill that keras-tuner's files did not see.
            print(f"Trial {trial.trial_id} finished before; its results are kept", flush=True)
            return recorded["metrics"]
        if recorded.get("status") == "FAILED":
            raise kt.errors.FailedTrialError(recorded["reason"])
        self._announce(trial, values)
        try:
            runs = self._run_seeds(trial, folder, model_config, train_config)
        except TrialFailure as failure:
            write_json(
                os.path.join(folder, "summary.json"),
                {"status": "FAILED", "reason": str(failure), "hyperparameters": values},
            )
            print(f"Trial {trial.trial_id} failed: {failure}", flush=True)
            raise kt.errors.FailedTrialError(str(failure)) from None
        return self._write_summary(folder, runs, values)

    def _write_summary(self, folder, runs, values):
        summary = trial_summary(runs)
        summary["status"] = "COMPLETED"
        summary["hyperparameters"] = values
        objective = self.config.search.objective
        # keras-tuner's executions_per_trial: the objective is the mean over the seeds.
        summary["metrics"] = {objective: float(np.mean([run["objective"] for run in runs]))}
        write_json(os.path.join(folder, "summary.json"), summary)
        return summary["metrics"]

    def add_seeds(self):
        """Trains the seeds a larger `search.repeats` gave the trials finished
        before it (a resumed search): only the new seeds run, each as it would
        have in the first place, and each trial's summary takes them in."""
        for trial in sorted(self.oracle.trials.values(), key=lambda t: t.trial_id):
            folder = trial_dir(self.run_dir, trial.trial_id)
            summary = read_json(os.path.join(folder, "summary.json"))
            done = {run["seed"] for run in summary.get("runs", [])}
            if summary.get("status") != "COMPLETED" or set(self.seeds()) <= done:
                continue
            values = self.space.values(trial.hyperparameters)
            model_config, train_config = apply_hyperparameters(
                values, self.config.model, self.config.train)
            if HYPERBAND_EPOCHS in trial.hyperparameters.values:
                train_config.epochs = trial.hyperparameters.values[HYPERBAND_EPOCHS]
            new = [seed for seed in self.seeds() if seed not in done]
            print(f"Trial {trial.trial_id} ({format_values(values)}): seeds "
                  f"{', '.join(map(str, new))} added (search.repeats)", flush=True)
            try:
                runs = self._run_seeds(trial, folder, model_config, train_config)
            except TrialFailure as failure:
                print(f"Trial {trial.trial_id}: a new seed failed: {failure}", flush=True)
                continue
            self._write_summary(folder, runs, values)

    def seeds(self):
        """The seeds of each configuration's runs: the same for every
        configuration, so that their comparison is paired."""
        return [self.config.seed + k for k in range(self.config.search.repeats)]

    def _run_seeds(self, trial, folder, model_config, train_config):
        """Trains (or resumes, or reads back) each seed's run of a trial; returns
        their summaries.

        The models of the seeds still to train are all built first, one after
        the other: building one seeds Keras (`keras.utils.set_random_seed`),
        which under TensorFlow also clears the runtime's caches, after which the
        next epoch of a model already trained took about 2 s more (CifarSEResNet-20
        on the digits, 2 cores). Built before the first seed trains, they cost
        the trial that once, where its first epoch compiles anyway.
        """
        recorded = {seed: read_json(os.path.join(folder, f"seed_{seed}", "summary.json"))
                    for seed in self.seeds()}
        pending = [seed for seed, summary in recorded.items()
                   if summary.get("status") != "COMPLETED"]
        if pending and (self.compiled is None or self.compiled[0] != trial.trial_id):
            self.compiled = self.gate_probe = None
            keras.backend.clear_session()  # frees the previous trial's models
        with training.distribution_scope(train_config.distribution):
            built = {seed: training.prepare_model(model_config, train_config, self.config.data,
                                                  self.splits, seed)
                     for seed in pending}
            return [self._run_seed(trial, folder, seed, model_config, train_config,
                                   *built.pop(seed)) if seed in built else recorded[seed]
                    for seed in self.seeds()]

    def _run_seed(self, trial, folder, seed, model_config, train_config, model, stats):
        """Trains (or resumes) one seed's unfinished run of a trial, in
        `trials/trial_ID/seed_SEED/` and `tb/trial_ID/seed_SEED/`, from its
        built `model` and its `stats`."""
        run_folder = os.path.join(folder, f"seed_{seed}")
        os.makedirs(run_folder, exist_ok=True)
        if self.config.search.repeats > 1 and self.config.train.verbose != "progress":
            print(f"  seed {seed}", flush=True)
        logdir = os.path.join(self.run_dir, "tb", f"trial_{trial.trial_id}", f"seed_{seed}")
        # Inside the distribution scope of `_run_seeds`.
        model, stats, initial_epoch, prior = self._trial_model(
            trial, run_folder, seed, model_config, train_config, model, stats)
        history, summary = training.fit_model(
            model, stats, train_config, self.config.data, self.splits, logdir=logdir,
            seed=seed, hparams={**self.space.hparams(trial.hyperparameters), "seed": seed},
            checkpoint_folder=run_folder, initial_epoch=initial_epoch,
            prior_history=prior, objective=self.config.search.objective,
            label=f"  seed {seed}",
            warm_up=fine_tuning.warm_up_layers(model, model_config),
            gate_probe=self._gate_probe(model),
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
                       objective=best_value(history.history[objective],
                                            objective_direction(objective)))
        tensorboard_logging.write_scalars(logdir, {
            "hparams/latency_1_ms": summary["latency_1_ms"],
            "hparams/latency_batch_ms": summary["latency_batch_ms"],
            "hparams/params": summary["params"], "hparams/macs": summary["macs"]})
        model.save(os.path.join(run_folder, "model.keras"))
        write_json(os.path.join(run_folder, "summary.json"), summary)
        checkpoint.clear_checkpoint(run_folder)
        return summary

    def _trial_model(self, trial, folder, seed, model_config, train_config, model, stats):
        """`(model, stats, initial_epoch, prior_history)` of a seed's run from
        its built `model`, given its last checkpoint after a kill (or, when
        Hyperband continues a trial, its parent's weights, same seed)."""
        state = checkpoint.load_checkpoint(folder)
        if state is not None:
            model = self._reuse_compiled(trial, model)
            if state["epoch"] <= train_config.freeze_epochs:
                # A checkpoint of the warm-up holds the frozen model's optimizer
                # (which the whole model's, after the warm-up, starts anew).
                fine_tuning.set_frozen(model, True,
                                       fine_tuning.warm_up_layers(model, model_config))
                training.compile_model(model, train_config,
                                       training.steps_per_epoch(self.splits, self.config.data))
            checkpoint.restore(model, folder, state)
            which = f" (seed {seed})" if self.config.search.repeats > 1 else ""
            print(f"Resuming trial {trial.trial_id} after epoch {state['epoch']}{which}",
                  flush=True)
            return model, stats, state["epoch"], state["history"]
        limit = self.config.search.max_params
        if limit and stats["params"] > limit:
            raise TrialFailure(f"model has {stats['params']} parameters, over "
                               f"search.max_params={limit}")
        write_json(os.path.join(folder, "stats.json"), stats)
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
        if self.config.train.freeze_epochs:
            return model  # its warm-up compiles it again, frozen
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

    def _gate_probe(self, model):
        """The `GateProbe` of the trial's model, made once for all its seeds
        (its predict step compiles when first called), or None without SE."""
        if not keras_se.utils.se_layers(model):
            return None
        if self.gate_probe is None or self.gate_probe[0] is not model:
            self.gate_probe = (model, keras_se.utils.GateProbe(model))
        return self.gate_probe[1]

    def _announce(self, trial, values):
        """One line per trial: i of N, its hyperparameters and an ETA."""
        trials = getattr(self.oracle, "trials", None)  # a worker's oracle has no list
        of = "" if self.total_trials is None else f" of {self.total_trials}"
        if trials is None:
            print(f"Trial #{trial.trial_id}{of}: {format_values(values)}", flush=True)
            return
        done = [t for t in trials.values()
                if t.status in ("COMPLETED", "FAILED") and t.trial_id != trial.trial_id]
        index = len(done) + 1
        eta = ""
        if self.finished_here and self.total_trials is not None:
            per_trial = (time.perf_counter() - self.started) / self.finished_here
            eta = f", ETA {_duration(per_trial * max(0, self.total_trials - index + 1))}"
        print(f"Trial {index}{of}: {format_values(values)}{eta}", flush=True)

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


def _duration(seconds):
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
