"""A resumed search's config cannot silently differ from the one its results
came from: a change that alters results is refused, more space values run only
the new configurations."""

import csv
import hashlib
import os
import re

import pytest

pytest.importorskip("keras_tuner")

import kill_anywhere  # noqa: E402
from app_helpers import EAGER, ONE_PROCESS, ONE_SEED, TINY  # noqa: E402
from se_tune import cli  # noqa: E402

pytestmark = pytest.mark.slow
SPACE = ["--search.space", '{"se_ratio": [4, null]}']


def _search(run_dir, *extra):
    return ["search", *TINY, *ONE_SEED, *ONE_PROCESS, *EAGER, "--run_dir", str(run_dir),
            "--train.epochs", "1", "--search.inspect", "false", *SPACE, *extra]


def _run(argv, capsys):
    """se-tune in this process (no second import of the back end): (exit status,
    stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _hashes(run_dir):
    found = {}
    for root, _, names in os.walk(run_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, run_dir)] = hashlib.sha256(f.read()).hexdigest()
    return found


def _rows(run_dir):
    with open(os.path.join(run_dir, "results.csv")) as f:
        return [{k: row[k] for k in ("trial", "se_ratio", "params", "best_val_accuracy",
                                     "status")} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "search"
    assert cli.main(_search(run_dir, "--search.repeats", "2")) == 0
    return run_dir


@pytest.mark.parametrize("change,key", [
    (["--train.epochs", "3"], "train.epochs=3 (the run has 1)"),
    (["--data.name", "digits"], "data.name=digits (the run has synthetic)"),
    (["--model.se_ratio", "8"], "model.se_ratio=8.0 (the run has 4.0)"),
    (["--search.repeats", "1"], "search.repeats=1 (the run has 2)"),
    (["--search.space", '{"se_ratio": [4]}'], 'search.space={"se_ratio": [4]}'),
])
def test_a_change_that_alters_results_is_refused_and_nothing_is_written(finished, change, key,
                                                                         capsys):
    before = _hashes(finished)
    code, out, err = _run(_search(finished, "--search.repeats", "2", *change), capsys)
    assert code == 2, out[-2000:] + err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"se-tune: error: {finished} holds a search run under another "
                               "config: ")
    assert key in lines[0]
    assert lines[0].count("(the run has") == 1  # only the changed key is named
    assert _hashes(finished) == before


def test_allowed_changes_resume_and_keep_the_results(finished):
    before, trained = _rows(finished), _hashes(finished / "trials")
    assert cli.main(_search(finished, "--search.repeats", "2", "--search.max_trials", "2",
                            "--train.verbose", "1", "--inspect.images_per_class", "5")) == 0
    assert _rows(finished) == before
    # Kept, not trained again: retraining would give the same rows.
    assert _hashes(finished / "trials") == trained


@pytest.mark.slow
def test_one_more_space_value_runs_only_that_configuration(tmp_path, capsys):
    run_dir = tmp_path / "search"
    assert cli.main(_search(run_dir)) == 0
    before, trained = _rows(run_dir), _hashes(run_dir / "trials")
    code, out, err = _run(_search(run_dir, "--search.space", '{"se_ratio": [4, null, 8]}'),
                          capsys)
    assert code == 0, out[-2000:] + err[-2000:]
    rows = _rows(run_dir)
    assert rows[:2] == before
    assert [(r["se_ratio"], r["status"]) for r in rows[2:]] == [("8", "COMPLETED")]
    after = _hashes(run_dir / "trials")
    assert {k: v for k, v in after.items() if k in trained} == trained  # nothing retrained
    assert re.findall(r"^Trial \d+ of \d+: .*$", out, re.M) == [
        "Trial 3 of 3: se_ratio=8"], out


def _runs(run_dir):
    with open(os.path.join(run_dir, "runs.csv")) as f:
        return [{k: row[k] for k in ("trial", "se_ratio", "seed", "best_val_accuracy", "epochs")}
                for row in csv.DictReader(f)]


def test_more_repeats_run_only_the_new_seeds(finished, tmp_path, capsys):
    run_dir = tmp_path / "search"
    assert cli.main(_search(run_dir)) == 0
    trained = _hashes(run_dir / "trials")
    code, out, err = _run(_search(run_dir, "--search.repeats", "2"), capsys)
    assert code == 0, out[-2000:] + err[-2000:]
    assert re.findall(r"^Trial \d+ .*added.*$", out, re.M) == [
        "Trial 0 (se_ratio=4): seeds 1 added (search.repeats)",
        "Trial 1 (se_ratio=none): seeds 1 added (search.repeats)"], out
    seed_0 = {k: v for k, v in trained.items() if "seed_0" in k}
    assert {k: v for k, v in _hashes(run_dir / "trials").items() if k in seed_0} == seed_0
    # The same runs as a search with two seeds from the start: the same
    # accuracies and, bit for bit, the same weights (the accuracies of 15
    # validation images can hide a seed trained on another configuration).
    assert _runs(run_dir) == _runs(finished)
    assert kill_anywhere.same_results(run_dir, finished)
    assert [r["seeds"] for r in csv.DictReader(open(run_dir / "results.csv"))] == ["2", "2"]


def test_early_stopping_resumed_stops_where_an_uninterrupted_run_stops():
    import types

    from se_tune.checkpoint import ResumableEarlyStopping

    values = [0.5, 0.6, 0.55, 0.58, 0.7]  # val_accuracy per epoch; patience 2 stops at epoch 3

    def stopped_at(stopper, epochs):
        stopper.set_model(types.SimpleNamespace(stop_training=False))
        stopper.on_train_begin()
        for epoch in epochs:
            stopper.on_epoch_end(epoch, {stopper.monitor: values[epoch]})
            if stopper.model.stop_training:
                return epoch
        return None

    assert stopped_at(ResumableEarlyStopping("val_accuracy", "max", 2), range(5)) == 3
    for kill in (1, 2, 3):  # resumed after `kill` epochs
        resumed = ResumableEarlyStopping("val_accuracy", "max", 2, prior=values[:kill])
        assert not resumed.stopped_before()
        assert stopped_at(resumed, range(kill, 5)) == 3
    # Killed after the epoch that stopped it: no further epoch.
    assert ResumableEarlyStopping("val_accuracy", "max", 2, prior=values[:4]).stopped_before()
    # The direction: as a loss, the same values improve only at epoch 0.
    assert stopped_at(ResumableEarlyStopping("val_loss", "min", 2), range(5)) == 2


def test_the_config_is_replaced_whole_never_rewritten_in_place(tmp_path, monkeypatch):
    # A worker of a distributed search reads config.yaml while a chief started
    # after a crash writes it, and a kill can land mid-write: a file truncated
    # and then written let a worker read an empty config, and refuse the run as
    # one "under another config" where every key "the run has null".
    from se_tune import files

    replaced = []
    write = files.atomic_write_text
    monkeypatch.setattr(files, "atomic_write_text",
                        lambda path, text: (replaced.append(os.path.basename(path)),
                                            write(path, text)))
    assert cli.main(_search(tmp_path / "search")) == 0
    assert "config.yaml" in replaced
