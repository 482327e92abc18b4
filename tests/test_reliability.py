"""Crash-safe resume, failing trials, the search lock, distributed search and
multi-device training."""

import csv
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import keras
import pytest

pytest.importorskip("keras_tuner")

import kill_anywhere  # noqa: E402
from app_helpers import (EAGER, ONE_PROCESS, ONE_SEED, TINY, child_env, free_port,  # noqa: E402
                         out_of_memory_on_build, residual_network, run_app, start_app)
from se_tune import cli  # noqa: E402



def _search(run_dir, *extra):
    # No gate inspection after the search: these tests are about its results.
    return ["search", *TINY, *ONE_SEED, *ONE_PROCESS, "--run_dir", str(run_dir), *EAGER,
            "--search.inspect", "false", *extra]


def _rows(run_dir):
    return kill_anywhere.table(run_dir)


def _runs(run_dir):
    with open(run_dir / "runs.csv") as f:
        return [{k: row[k] for k in ("trial", "se_ratio", "seed", "best_val_accuracy", "epochs")}
                for row in csv.DictReader(f)]


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_results(tmp_path, capsys):
    # Each configuration on two seeds: a kill can land in either seed's run.
    space = ["--search.space", '{"se_ratio": [4, null]}', "--train.epochs", "2",
             "--search.repeats", "2"]
    # The uninterrupted run and the last resume in this process (the killed runs
    # need a process of their own): the back end is imported once for both.
    assert cli.main(_search(tmp_path / "clean", *space)) == 0

    run_dir = tmp_path / "killed"
    argv = _search(run_dir, *space)
    # 62 training images, 4 batches an epoch, 8 a run; each start counts its own.
    kills = ["train_batch:6",          # trial 0, seed 0, epoch 2
             "checkpoint_write:1",     # inside seed 0's epoch-2 checkpoint write
             "train_batch:10",         # seed 0 resumed after epoch 1; seed 1, epoch 2
             "train_batch:10"]         # seed 1 resumed after epoch 1; trial 1, seed 0, epoch 2
    for faults in kills:
        killed = run_app(argv, faults=faults)
        assert killed.returncode == -signal.SIGKILL, (faults, killed.stderr[-2000:])
    # The kill inside a checkpoint write left a model file the JSON never named.
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "Resuming trial 1 after epoch 1 (seed 0)" in capsys.readouterr().out
    assert kill_anywhere.same_results(run_dir, tmp_path / "clean")
    assert _runs(run_dir) == _runs(tmp_path / "clean")
    assert [(r["trial"], r["seed"]) for r in _runs(run_dir)] == [
        ("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert [r["status"] for r in _rows(run_dir)] == ["COMPLETED", "COMPLETED"]


@pytest.mark.slow
def test_second_search_in_the_same_folder_refuses(tmp_path, capsys):
    run_dir = tmp_path / "busy"
    proc = start_app(_search(run_dir, "--train.epochs", "50"))
    try:
        lock = run_dir / "search.lock"
        deadline = time.time() + 120
        while time.time() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.2)
        assert cli.main(_search(run_dir)) == 2
        err = capsys.readouterr().err
        assert "another search is running" in err and f"pid {proc.pid}" in err
    finally:
        proc.kill()
        proc.wait()


def _statuses(run_dir):
    with open(os.path.join(run_dir, "results.csv")) as f:
        return [(r["status"], r["reason"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_nan_trial_fails_and_the_search_goes_on(tmp_path):
    argv = _search(tmp_path, "--train.epochs", "2", "--train.optimizer", "sgd",
                   "--search.space", '{"learning_rate": [1e30, 0.05]}')
    assert cli.main(argv) == 0
    (s0, r0), (s1, _) = _statuses(tmp_path)
    assert s0 == "FAILED" and "loss became nan" in r0.lower()
    assert s1 == "COMPLETED"


@pytest.mark.slow
def test_out_of_memory_trial_fails_and_the_search_goes_on(tmp_path, monkeypatch):
    out_of_memory_on_build(monkeypatch)
    argv = _search(tmp_path, "--train.epochs", "1", "--search.space", '{"se_ratio": [4, 8]}')
    assert cli.main(argv) == 0
    (s0, r0), (s1, _) = _statuses(tmp_path)
    assert s0 == "FAILED" and "out of memory" in r0
    assert s1 == "COMPLETED"


@pytest.mark.slow
def test_oversize_trial_fails(tmp_path):
    plain = residual_network()  # TINY's network: r = 2 puts SE's weights on top
    argv = _search(tmp_path, "--train.epochs", "1", "--search.space", '{"se_ratio": [2, null]}',
                   "--search.max_params", str(plain.count_params()))
    assert cli.main(argv) == 0
    (s0, r0), (s1, _) = _statuses(tmp_path)
    assert s0 == "FAILED" and "search.max_params" in r0
    assert s1 == "COMPLETED"


@pytest.mark.slow
def test_consecutive_failure_limit_stops_the_search(tmp_path, monkeypatch, capsys):
    out_of_memory_on_build(monkeypatch)
    argv = _search(tmp_path, "--train.epochs", "1", "--search.space", '{"se_ratio": [4, 8]}',
                   "--search.max_consecutive_failures", "1")
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 1
    assert "search stopped" in capsys.readouterr().out
    assert [s for s, _ in _statuses(tmp_path)] == ["FAILED"]


def _wait_port(port, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError("the chief never listened")


TENSORFLOW_ONLY = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="distributed search is tested under TensorFlow (the back end plays no part)")
# The oracle's persistence is the back end's no more than distribution is: every
# tuner is killed anywhere under TensorFlow, grid and Hyperband under JAX too.
TENSORFLOW_ONLY_KILLS = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="keras-tuner's state is the same under every back end: tested under TensorFlow")


def _distributed(run_dir, port, role, tuner_id=None):
    argv = _search(run_dir, "--train.epochs", "2", "--search.space",
                   '{"se_ratio": [4, 16, 32, null]}', "--search.role", role,
                   "--search.oracle_port", str(port))
    return argv + (["--search.tuner_id", tuner_id] if tuner_id else [])


def _trial_starts(outputs):
    return sorted(m.group(1) for out in outputs
                  for m in re.finditer(r"^Trial #(\d+)", out, re.M))


@pytest.mark.slow
@TENSORFLOW_ONLY
def test_chief_and_two_workers_run_each_trial_once(tmp_path):
    port = free_port()
    chief = start_app(_distributed(tmp_path, port, "chief"))
    try:
        _wait_port(port)
        workers = [start_app(_distributed(tmp_path, port, "worker", f"w{i}")) for i in (1, 2)]
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        out = chief.communicate(timeout=300)[0]
        assert chief.returncode == 0, out[-3000:]
    finally:
        chief.kill()
    assert _trial_starts(outputs) == [str(i) for i in range(4)]
    statuses = [s for s, _ in _statuses(tmp_path)]
    assert statuses == ["COMPLETED"] * 4


@pytest.mark.slow
@TENSORFLOW_ONLY
def test_killed_worker_restarts_and_nothing_is_lost(tmp_path):
    port = free_port()
    chief = start_app(_distributed(tmp_path, port, "chief"))
    try:
        _wait_port(port)
        # Batch 7 is in the second epoch of its first trial, after a checkpoint.
        doomed = start_app(_distributed(tmp_path, port, "worker", "w1"), faults="train_batch:7")
        other = start_app(_distributed(tmp_path, port, "worker", "w2"))
        doomed.communicate(timeout=600)
        assert doomed.returncode == -signal.SIGKILL
        # Under another id (the default one is the PID): the dead worker's trial
        # goes to whichever worker asks next, instead of waiting for "w1" for ever.
        again = start_app(_distributed(tmp_path, port, "worker", "w3"))
        outputs = [again.communicate(timeout=600)[0], other.communicate(timeout=600)[0]]
        assert [again.returncode, other.returncode] == [0, 0], outputs
        out = chief.communicate(timeout=300)[0]
        assert chief.returncode == 0, out[-3000:]
    finally:
        chief.kill()
    assert re.search(r"^Resuming trial \d+ after epoch 1$", "".join(outputs), re.M)
    statuses = [s for s, _ in _statuses(tmp_path)]
    assert statuses == ["COMPLETED"] * 4


# The chief's fourth oracle save is the first trial's end: the chief, its server
# up, saved once, then gave the two workers a trial each.
CHIEF_DIES_AT_FIRST_TRIAL_END = "oracle_save:4"


def _stop(processes):
    for process in processes:
        process.kill()
        process.communicate()


@pytest.mark.slow
@TENSORFLOW_ONLY
def test_killed_chief_restarts_and_no_trial_is_lost_or_run_twice(tmp_path):
    port = free_port()
    # The workers start first: they wait for a chief slow to come.
    workers = [start_app(_distributed(tmp_path, port, "worker", f"w{i}")) for i in (1, 2)]
    chief = start_app(_distributed(tmp_path, port, "chief"), faults=CHIEF_DIES_AT_FIRST_TRIAL_END)
    try:
        killed = chief.communicate(timeout=600)[0]
        assert chief.returncode == -signal.SIGKILL, killed[-3000:]
        chief = start_app(_distributed(tmp_path, port, "chief"))
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        if [w.returncode for w in workers] != [0, 0]:
            chief.kill()
            pytest.fail("\n".join([*outputs, "the restarted chief:", chief.communicate()[0]]))
        out = chief.communicate(timeout=300)[0]
        assert chief.returncode == 0, out[-3000:]
    finally:
        _stop([*workers, chief])
    assert all(f"Waiting for the chief at 127.0.0.1:{port}" in o for o in outputs), outputs
    # The trial that ended as the chief died, and the one still training, ran once.
    assert _trial_starts(outputs) == [str(i) for i in range(4)]
    assert [s for s, _ in _statuses(tmp_path)] == ["COMPLETED"] * 4
    assert "| COMPLETED |" in out and out.count("| COMPLETED |") == 4


@pytest.mark.slow
@TENSORFLOW_ONLY
def test_workers_exit_with_one_line_when_the_chief_is_gone(tmp_path):
    port = free_port()
    chief = start_app(_distributed(tmp_path, port, "chief"), faults=CHIEF_DIES_AT_FIRST_TRIAL_END)
    workers = [start_app(_distributed(tmp_path, port, "worker", f"w{i}") +
                         ["--search.chief_timeout", "20"]) for i in (1, 2)]
    try:
        chief.communicate(timeout=600)
        assert chief.returncode == -signal.SIGKILL
        outputs = [w.communicate(timeout=300)[0] for w in workers]
    finally:
        _stop([*workers, chief])
    assert [w.returncode for w in workers] == [1, 1], outputs
    for out in outputs:
        assert "Traceback" not in out
        assert out.strip().splitlines()[-1] == (
            f"se-tune: error: the chief at 127.0.0.1:{port} stopped answering "
            "(search.chief_timeout=20); this worker stops, and a worker started later "
            "resumes its trial")
    # Nothing is lost: a chief and one worker started later finish the search.
    chief = start_app(_distributed(tmp_path, port, "chief"))
    worker = start_app(_distributed(tmp_path, port, "worker", "w3"))
    try:
        out = worker.communicate(timeout=600)[0]
        assert worker.returncode == 0, out[-3000:]
        chief.communicate(timeout=300)
        assert chief.returncode == 0
    finally:
        _stop([worker, chief])
    assert [s for s, _ in _statuses(tmp_path)] == ["COMPLETED"] * 4


@pytest.mark.slow
@TENSORFLOW_ONLY
def test_worker_without_a_chief_gives_up_after_chief_timeout(tmp_path):
    port = free_port()
    result = run_app(_distributed(tmp_path, port, "worker", "w1") +
                     ["--search.chief_timeout", "3"], timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.fullmatch(
        rf"se-tune: error: the chief at 127\.0\.0\.1:{port} did not answer in the \d+ s "
        r"since this worker started \(search.chief_timeout=3\); this worker stops, and a "
        r"worker started later resumes its trial", result.stderr.strip().splitlines()[-1]), result.stderr


def _chief_tuner(run_dir, alive):
    """A keras-tuner tuner whose oracle a test drives as the chief's workers would."""
    import keras_tuner as kt
    from se_tune import oracles
    from se_tune.search_space import SearchSpace

    class NoTraining(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            raise AssertionError("no trial runs here")

    oracle = oracles.GridOracle(
        SearchSpace({"se_ratio": [2, 4, 8, 16]}).configurations(), worker_alive=lambda tuner_id: tuner_id in alive,
        state_path=os.path.join(run_dir, "tuner", "oracle.json"),
        objective=kt.Objective("val_accuracy", "max"), max_trials=4)
    return NoTraining(oracle=oracle, directory=str(run_dir), project_name="tuner")


@pytest.mark.slow
def test_a_dead_workers_trial_goes_to_the_next_worker(tmp_path):
    alive = {"w1", "w2"}
    oracle = _chief_tuner(tmp_path, alive).oracle
    first, second = oracle.create_trial("w1"), oracle.create_trial("w2")
    alive.discard("w1")
    assert oracle.create_trial("w3").trial_id == first.trial_id
    assert oracle.create_trial("w2").trial_id == second.trial_id
    assert "w1" not in oracle.tuner_ids  # the chief does not wait for it to leave


@pytest.mark.slow
def test_a_restarted_chief_leaves_live_workers_their_trials(tmp_path):
    alive = {"w1", "w2"}
    tuner = _chief_tuner(tmp_path, alive)
    first, second = tuner.oracle.create_trial("w1"), tuner.oracle.create_trial("w2")
    tuner.save()
    alive.discard("w1")
    oracle = _chief_tuner(tmp_path, alive).oracle  # reloads the saved state
    assert dict(oracle.get_state()["ongoing_trials"]) == {"w2": second.trial_id}
    assert oracle.create_trial("w3").trial_id == first.trial_id
    assert oracle.create_trial("w2").trial_id == second.trial_id


@pytest.mark.slow
@pytest.mark.parametrize("trial_file", ["kept", "lost"])
def test_a_restarted_chief_ends_a_trial_it_lost_track_of(tmp_path, trial_file):
    import shutil

    alive = {"w1", "w2"}
    tuner = _chief_tuner(tmp_path, alive)
    tuner.oracle.create_trial("w1")
    # keras-tuner saves the state before its display notes the trial's start.
    second = tuner.oracle.create_trial("w2")
    if trial_file == "lost":
        shutil.rmtree(tmp_path / "tuner" / f"trial_{second.trial_id}")
    alive.discard("w2")  # w2 looks gone as the chief restarts...
    oracle = _chief_tuner(tmp_path, alive).oracle
    alive.add("w2")  # ...yet it finishes its trial
    second.status = "COMPLETED"
    second.metrics.register("val_accuracy", "max")
    second.metrics.update("val_accuracy", 0.5)
    oracle.end_trial(second)
    assert oracle.end_order == [second.trial_id]
    assert oracle.trials[second.trial_id].status == "COMPLETED"


def test_a_trial_ends_once_however_often_its_end_is_sent(tmp_path):
    oracle = _chief_tuner(tmp_path, {"w1"}).oracle
    trial = oracle.create_trial("w1")
    trial.status = "COMPLETED"
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    oracle.end_trial(trial)
    oracle.end_trial(trial)  # the chief's answer was lost: the worker sends it again
    assert oracle.end_order == [trial.trial_id]


MULTI_DEVICE = {
    "tensorflow": ("mirrored", textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    """), {}),
    "jax": ("data_parallel", "", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}),
}


@pytest.mark.skipif(keras.config.backend() not in MULTI_DEVICE,
                    reason="multi-device training is TensorFlow's and JAX's (tested there)")
@pytest.mark.slow
def test_multi_device_training_on_two_virtual_cpus(tmp_path):
    kind, setup, env_extra = MULTI_DEVICE[keras.config.backend()]
    code = setup + textwrap.dedent(f"""
        import sys
        from se_tune import cli
        sys.exit(cli.main({_search(tmp_path, "--train.epochs", "1",
                                   "--search.space", '{"se_ratio": [4]}',
                                   "--train.distribution", kind)!r}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=child_env({**os.environ, **env_extra}))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "trials" / "trial_0" / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["status"] == "COMPLETED"


def _write_many(path):
    from se_tune import files

    for i in range(200):
        files.write_json(path, {"writer": os.getpid(), "i": i})


@pytest.mark.slow
def test_processes_writing_one_file_at_once_do_not_collide(tmp_path):
    # The chief and the workers of a search all write run.json and config files.
    import multiprocessing

    path = str(tmp_path / "run.json")
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(path,)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    assert json.loads((tmp_path / "run.json").read_text())["i"] == 199
    assert os.listdir(tmp_path) == ["run.json"]


def test_missing_configurations_of_each_tuner():
    from se_tune.config import SearchConfig
    from se_tune.trial_results import missing_configurations

    space = {"se_ratio": [4, None], "gate": ["sigmoid", "hard_sigmoid"]}
    rows = [{"status": "COMPLETED", "se_ratio": 4, "gate": "sigmoid"},
            {"status": "FAILED", "se_ratio": None, "gate": "sigmoid"},
            {"status": "RUNNING", "se_ratio": 4, "gate": "hard_sigmoid"}]
    grid = SearchConfig(space=space)
    assert missing_configurations(grid, rows) == [
        "se_ratio=4, gate=hard_sigmoid", "se_ratio=none, gate=hard_sigmoid"]
    assert missing_configurations(SearchConfig(space=space, max_trials=2), rows) == []
    assert missing_configurations(SearchConfig(space=space, max_trials=3), rows) == [
        "1 of 3 requested trials"]
    # Random and bayesian owe min(max_trials, grid size) distinct configurations.
    assert missing_configurations(SearchConfig(tuner="random", space=space), rows) == [
        "2 of 4 requested trials"]
    assert missing_configurations(SearchConfig(tuner="hyperband", space=space), rows) == []
    lists = SearchConfig(space={"se_stages": [[2, 3], [4]]})
    assert missing_configurations(lists, [{"status": "COMPLETED", "se_stages": [4]}]) == [
        "se_stages=[2, 3]"]


@pytest.mark.slow
def test_a_search_with_a_configuration_missing_does_not_succeed(tmp_path, monkeypatch, capsys):
    from se_tune import search

    collect = search.collect_results
    # keras-tuner's state lost a trial (as after a kill at the wrong moment).
    monkeypatch.setattr(search, "collect_results", lambda *a: collect(*a)[:1])
    argv = _search(tmp_path, "--train.epochs", "1", "--search.space", '{"se_ratio": [4, null]}')
    with pytest.raises(SystemExit) as ended:
        cli.main(argv)
    assert ended.value.code == 1
    assert "search incomplete: no finished trial for se_ratio=none" in capsys.readouterr().out


@pytest.mark.slow
def test_two_searches_give_one_table(tmp_path):
    # The kill tests' search (compiled steps, two seeds a configuration, the second
    # trained on the model compiled for the first), run twice from nothing.
    runs = [run_app(kill_anywhere.search_argv(tmp_path / name, "grid"))
            for name in ("first", "second")]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert kill_anywhere.same_results(tmp_path / "first", tmp_path / "second")
    assert _runs(tmp_path / "first") == _runs(tmp_path / "second")
    assert len(_runs(tmp_path / "first")) == 4  # 2 configurations x 2 seeds


@pytest.mark.slow
@pytest.mark.parametrize("tuner,seed", [
    ("grid", 1), pytest.param("random", 2, marks=TENSORFLOW_ONLY_KILLS),
    pytest.param("bayesian", 3, marks=TENSORFLOW_ONLY_KILLS), ("hyperband", 4)])
def test_a_search_killed_anywhere_resumes_to_the_same_table(tuner, seed, tmp_path):
    clean = tmp_path / "clean"
    code, changes, seconds, err = kill_anywhere.run_watched(
        kill_anywhere.search_argv(clean, tuner), clean)
    assert code == 0, err[-2000:]
    killed = tmp_path / "killed"
    code, err, landed = kill_anywhere.kill_and_resume(killed, tuner, 4, seed, changes, seconds,
                                                      log=lambda line: None)
    assert code == 0, err[-2000:]
    assert landed == 4  # every planned kill ended a run with SIGKILL
    assert kill_anywhere.same_results(killed, clean)


@pytest.mark.slow
@TENSORFLOW_ONLY_KILLS
# The oracle's saves: 3 a trial (created, updated, ended). Hyperband over two
# 2-epoch trials: the 4th save is the second trial's creation.
@pytest.mark.parametrize("tuner,epochs,kills,trials", [
    ("grid", "1", (4, 3, 2, 5), 3), ("hyperband", "2", (4,), 2)])
def test_kills_between_keras_tuner_writes_lose_no_trial(tmp_path, tuner, epochs, kills, trials):
    # keras-tuner writes a trial's file, then the oracle's: a kill in between left
    # that trial RUNNING for ever and its configuration missing from a search that
    # then said it succeeded; retried instead, it ran outside Hyperband's brackets,
    # which then drew one trial more than an uninterrupted search.
    space = ["--search.space", '{"se_ratio": [4, 8, null]}', "--train.epochs", epochs,
             "--search.tuner", tuner, "--search.max_trials", "3"]
    assert cli.main(_search(tmp_path / "clean", *space)) == 0
    argv = _search(tmp_path / "killed", *space)
    for n in kills:  # each planned kill must land: the run ends with SIGKILL
        killed = run_app(argv, faults=f"oracle_save:{n}")
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr[-2000:])
    assert cli.main(argv) == 0
    assert kill_anywhere.same_results(tmp_path / "killed", tmp_path / "clean")
    assert [r["status"] for r in _rows(tmp_path / "killed")] == ["COMPLETED"] * trials


def _local_search(run_dir):
    # Two local workers, as a grid search on a CPU of 2 cores gets by default.
    return ["search", *TINY, *ONE_SEED, *EAGER, "--run_dir", str(run_dir), "--train.epochs",
            "2", "--search.inspect", "false", "--search.workers", "2",
            "--search.space", '{"se_ratio": [4, 16, 32, null]}']


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _workers_alive(run_dir):
    from se_tune.locking import is_locked

    return [is_locked(run_dir, f"worker-local-{i}") for i in (1, 2)]


@pytest.fixture(scope="module")
def local_clean(tmp_path_factory):
    """An uninterrupted search of four trials in two local workers: (run folder, stdout)."""
    run_dir = tmp_path_factory.mktemp("local") / "clean"
    run = run_app(_local_search(run_dir))
    assert run.returncode == 0, run.stderr[-3000:]
    return run_dir, run.stdout


@pytest.mark.slow
def test_local_workers_train_each_trial_once_and_leave_with_the_search(local_clean):
    run_dir, out = local_clean
    assert "Trials train 2 at a time, in 2 worker processes (search.workers=2)" in out
    assert _trial_starts([out]) == ["0", "1", "2", "3"]
    assert [s for s, _ in _statuses(run_dir)] == ["COMPLETED"] * 4
    # The chief reports once; its workers print no report of their own.
    assert out.count("search: results, best model and TensorBoard logs") == 1
    assert _workers_alive(run_dir) == [False, False]


@pytest.mark.slow
def test_a_killed_search_ends_its_workers_and_resumes_to_the_same_table(local_clean, tmp_path):
    run_dir = tmp_path / "killed"
    search = start_app(_local_search(run_dir))
    try:
        # Killed once both workers train and a trial has checkpointed an epoch.
        _wait_for(lambda: glob.glob(str(run_dir / "trials" / "*" / "seed_0" / "checkpoint.json"))
                  and all(_workers_alive(run_dir)), 300, "no checkpoint with both workers up")
    finally:
        search.kill()
        search.wait()  # not its output: a worker that outlived it would hold the pipe
        search.stdout.close()
    _wait_for(lambda: not any(_workers_alive(run_dir)), 5, "a worker outlived its chief")
    resumed = run_app(_local_search(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming trial" in resumed.stdout
    assert kill_anywhere.same_results(run_dir, local_clean[0])


@pytest.mark.slow
def test_a_killed_worker_stops_the_search_which_resumes_to_the_same_table(local_clean,
                                                                           tmp_path):
    run_dir = tmp_path / "killed"
    search = start_app(_local_search(run_dir))
    try:
        _wait_for(lambda: glob.glob(str(run_dir / "trials" / "*" / "seed_0" / "checkpoint.json"))
                  and all(_workers_alive(run_dir)), 300, "no checkpoint with both workers up")
        with open(run_dir / "worker-local-1.lock") as f:
            os.kill(int(f.read().split()[1]), signal.SIGKILL)
        out = search.communicate(timeout=120)[0]
    finally:
        search.kill()
    assert search.returncode == 1, out[-3000:]
    assert "search stopped: a worker process exited with status -9" in out
    assert not any(_workers_alive(run_dir))
    resumed = run_app(_local_search(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert kill_anywhere.same_results(run_dir, local_clean[0])


@pytest.mark.slow
def test_seeds_added_to_a_local_search_equal_its_workers_seeds(tmp_path):
    # The chief trains the added seeds itself, with its workers' thread count: a
    # search on other threads sums each step in another order.
    def search(run_dir, repeats):
        return run_app(["search", *TINY, *EAGER, "--run_dir", str(run_dir), "--train.epochs",
                        "1", "--search.inspect", "false", "--search.workers", "2",
                        "--search.space", '{"se_ratio": [4, null]}',
                        "--search.repeats", str(repeats)])

    assert search(tmp_path / "two", 2).returncode == 0
    assert search(tmp_path / "added", 1).returncode == 0
    added = search(tmp_path / "added", 2)
    assert added.returncode == 0, added.stderr[-3000:]
    assert "seeds 1 added (search.repeats)" in added.stdout
    assert kill_anywhere.same_results(tmp_path / "added", tmp_path / "two")
