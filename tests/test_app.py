"""se-tune: fit, test and search on tiny data, every data module, bad input."""

import csv
import json
import os
import pickle
import re
import subprocess
import sys
import time
import urllib.request

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner")

from app_helpers import (EAGER, ONE_PROCESS, ONE_SEED, TINY as TINY_RUN, free_port,  # noqa: E402
                         start_app)
from se_tune import cli  # noqa: E402

TINY = [*TINY_RUN, "--train.epochs", "1"]


def run(argv, capsys=None):
    code = cli.main(argv)
    return code


@pytest.mark.slow
def test_fit_then_test_with_config_file_and_override(tmp_path, capsys):
    config = tmp_path / "fit.yaml"
    # The digits (10 classes, 8x8): a few epochs take the model far above chance.
    config.write_text(
        "data:\n  name: digits\n  batch_size: 64\n"
        "model:\n  name: CifarSEResNet\n  se_ratio: 4\n  kwargs: {depth: 20}\n"
        "train:\n  epochs: 3\n  verbose: 0\n  optimizer: adamw\n  learning_rate: 0.01\n"
    )
    run_dir = tmp_path / "run"
    assert cli.main(["fit", "--config", str(config), "--model.se_ratio", "8",
                     "--run_dir", str(run_dir)]) == 0
    resolved = (run_dir / "config.yaml").read_text()
    assert "se_ratio: 8" in resolved and "optimizer: adamw" in resolved
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seed"] == 0 and "keras" in meta["versions"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["best_val_accuracy"] >= 0.6  # chance: 0.1
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(run_dir / "tb"))
    import keras
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.get_layer("conv2_block1_se").units is None
    assert model.get_layer("conv2_block1_se").ratio == 8
    capsys.readouterr()
    assert cli.main(["test", "--config", str(config), "--run_dir", str(run_dir)]) == 0
    assert "test: accuracy" in capsys.readouterr().out
    tested = json.loads((run_dir / "test.json").read_text())
    assert tested["test_accuracy"] >= 0.6 and tested["test_images"] == 359


@pytest.mark.slow
def test_fit_and_inspect_with_augmentation(tmp_path):
    import keras
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    assert cli.main(["fit", *TINY, *EAGER, "--data.augment", "true", "--train.epochs", "1",
                     "--run_dir", str(run_dir)]) == 0
    model = keras.saving.load_model(run_dir / "model.keras")
    assert isinstance(model.get_layer("augmentation"), keras.Sequential)
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"histograms": 0}).Reload()
    assert "gates/block1_se" in events.Tags()["histograms"]
    assert cli.main(["inspect", *TINY, "--model_path", str(run_dir / "model.keras")]) == 0
    assert (run_dir / "inspect" / "class_specificity.csv").exists()


@pytest.mark.slow
def test_gate_histograms_build_their_probe_once_per_run(tmp_path, monkeypatch):
    import keras_se

    built = []

    class CountedProbe(keras_se.utils.GateProbe):
        def __init__(self, model):
            built.append(model.name)
            super().__init__(model)

    monkeypatch.setattr(keras_se.utils, "GateProbe", CountedProbe)
    assert cli.main(["fit", *TINY, "--train.epochs", "3", "--run_dir", str(tmp_path)]) == 0
    assert len(built) == 1


@pytest.mark.slow
def test_test_and_validate_default_to_the_last_fit(tmp_path, monkeypatch, capsys):
    from se_tune.data import DataConfig, load_data

    monkeypatch.chdir(tmp_path)
    assert cli.main(["fit", *TINY, *EAGER]) == 0
    capsys.readouterr()
    model = keras.saving.load_model(tmp_path / "runs" / "fit" / "model.keras")
    splits = load_data(DataConfig(name="synthetic", image_size=8, num_samples=96,
                                  num_classes=3), 0)
    for verb, x, y, split in (("test", splits.x_test, splits.y_test, "test"),
                              ("validate", splits.x_val, splits.y_val, "val")):
        assert cli.main([verb]) == 0
        out = capsys.readouterr().out
        assert f"{verb}: model {os.path.join('runs', 'fit', 'model.keras')}" in out
        result = json.loads((tmp_path / "runs" / "fit" / f"{verb}.json").read_text())
        assert result[f"{split}_images"] == len(y)
        expected = float((model.predict(x, verbose=0).argmax(axis=1) == y).mean())
        assert result[f"{split}_accuracy"] == pytest.approx(expected)
    assert not (tmp_path / "runs" / "test").exists()


@pytest.mark.slow
def test_test_and_inspect_split_the_data_as_the_training_run_did(tmp_path, capsys):
    from se_tune.data import DataConfig, load_data

    run_dir = tmp_path / "run"
    split = ["--data.val_fraction", "0.3", "--data.test_fraction", "0.3", "--seed", "5"]
    assert cli.main(["fit", *TINY, *EAGER, *split, "--run_dir", str(run_dir)]) == 0
    trained = (run_dir / "config.yaml").read_text()
    # No data flags at all: the run's split, not the defaults' (0.2, 0.2, seed 0).
    assert cli.main(["test", "--run_dir", str(run_dir)]) == 0
    expected = load_data(DataConfig(name="synthetic", image_size=8, num_samples=96,
                                    num_classes=3, val_fraction=0.3, test_fraction=0.3), 5)
    result = json.loads((run_dir / "test.json").read_text())
    assert result["test_images"] == len(expected.y_test) != len(
        load_data(DataConfig(name="synthetic", image_size=8, num_samples=96, num_classes=3),
                  0).y_test)
    assert (run_dir / "config.yaml").read_text() == trained
    assert cli.main(["inspect", "--run_dir", str(run_dir), *split[4:],
                     "--inspect.images_per_class", "2"]) == 0
    capsys.readouterr()
    # A flag that would re-split the data is refused.
    for flag, value in (("--data.val_fraction", "0.2"), ("--seed", "1")):
        assert cli.main(["test", "--run_dir", str(run_dir), flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"{flag[2:]}={float(value) if 'data' in flag else int(value)!r} would split" in err


@pytest.mark.slow
def test_batches_follow_the_seeded_epoch_order(tmp_path, monkeypatch):
    """Each epoch trains on the batches of its (seed, epoch) order, whatever the Python
    random state: a resumed run sees the same batches as an uninterrupted one."""
    import random

    from se_tune import data

    seen = []
    batch = data.EpochBatches.batch

    def spy(self, index):
        seen.append((self.epoch, index))
        return batch(self, index)

    monkeypatch.setattr(data.EpochBatches, "batch", spy)
    random.seed(1234)  # Keras' own shuffling would draw from this state
    argv = ["fit", *TINY, "--train.epochs", "3", "--run_dir", str(tmp_path)]
    assert cli.main(argv) == 0
    steps = 62 // 16 + 1  # 62 training images in batches of 16
    # Before the first epoch Keras may read a batch or two to learn the shapes.
    assert seen[-3 * steps:] == [(e, i) for e in range(3) for i in range(steps)]


def test_print_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["search", "--model.se_ratio", "4", "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "se_ratio: 4" in out and "tuner: grid" in out


def _search_args(run_dir, extra=()):
    return ["search", *TINY, *ONE_SEED, "--run_dir", str(run_dir),
            "--search.space", '{"se_ratio": [4, null]}', *extra]


def _read_rows(run_dir):
    with open(run_dir / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("values", [
    [0, 1], [0.0, 0.9], [False, True], [4, None], [0, None], [[1, 2], None],
    ["sigmoid", "hard_sigmoid"],
])
def test_search_space_values_survive_keras_tuner(values):
    import keras_tuner as kt

    from se_tune.search_space import SearchSpace

    space = SearchSpace({"key": values})
    for value, choice in zip(values, space.encoded["key"]):
        hp = space.hyperparameters()
        hp.values["key"] = choice
        saved = kt.HyperParameters.from_config(json.loads(json.dumps(hp.get_config())))
        saved.values = json.loads(json.dumps(hp.values))  # as a trial's file holds them
        back = space.values(saved)["key"]
        assert back == value and type(back) is type(value)


@pytest.mark.slow
def test_a_conditional_key_is_searched_only_where_its_condition_holds():
    from se_tune.search_space import SearchSpace

    space = SearchSpace({"optimizer": ["sgd", "adamw"],
                         "momentum": {"values": [0.0, 0.9], "when": {"optimizer": ["sgd"]}}})
    grid = space.configurations()
    assert grid == [{"optimizer": "sgd", "momentum": 0.0}, {"optimizer": "sgd", "momentum": 0.9},
                    {"optimizer": "adamw"}]
    for values in grid:
        hp = space.hyperparameters()
        hp.values = dict(values)
        assert space.values(hp) == values  # adamw: momentum inactive, left out


@pytest.mark.parametrize("spec,message", [
    ({"values": [1, 2]}, "must be a list of values or"),
    ({"values": [1, 2], "when": {"later": ["x"]}}, "must be an earlier, unconditional key"),
    ({"values": [1, 2], "when": {"optimizer": ["rmsprop"]}}, "Received: ['rmsprop']"),
])
def test_bad_conditional_keys_are_refused(spec, message):
    from se_tune.errors import UsageError
    from se_tune.search_space import SearchSpace

    with pytest.raises(UsageError, match=re.escape(message)):
        SearchSpace({"optimizer": ["sgd", "adamw"], "momentum": spec, "later": ["x"]})


@pytest.mark.slow
def test_a_search_over_zero_and_one_trains_both(tmp_path):
    run_dir = tmp_path / "search"
    argv = ["search", *TINY, *ONE_SEED, *EAGER, "--run_dir", str(run_dir), "--train.epochs", "2",
            "--search.space", '{"warmup_epochs": [0, 1]}', "--search.inspect", "false"]
    assert cli.main(argv) == 0
    rows = _read_rows(run_dir)
    assert [(r["warmup_epochs"], r["status"]) for r in rows] == [("0", "COMPLETED"),
                                                                  ("1", "COMPLETED")]
    summary = json.loads((run_dir / "trials" / "trial_0" / "summary.json").read_text())
    assert summary["hyperparameters"] == {"warmup_epochs": 0}
    # A finished trial has no reason to give.
    assert [r["reason"] for r in rows] == ["", ""]
    table = (run_dir / "results.md").read_text().splitlines()
    assert [line.endswith("|  | COMPLETED |") for line in table[2:]] == [True, True]


@pytest.mark.slow
def test_search_outputs_and_resume(tmp_path, capsys):
    run_dir = tmp_path / "search"
    # One trial after the other (local workers would train both at once).
    argv = _search_args(run_dir, ["--train.epochs", "3", *ONE_PROCESS])
    # A search killed during its second trial...
    proc = start_app(argv)
    first = run_dir / "trials" / "trial_0" / "seed_0" / "model.keras"
    deadline = time.time() + 300
    while not (run_dir / "tuner" / "trial_1").exists() and time.time() < deadline:
        assert proc.poll() is None, "the search ended before it could be killed"
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert first.exists()
    stamp = first.stat().st_mtime_ns
    # ...resumes with the same command: the finished trial is kept, not rerun.
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Trial 2 of 2: se_ratio=none" in out
    assert "Trial 1 of 2" not in out
    assert first.stat().st_mtime_ns == stamp
    rows = _read_rows(run_dir)
    assert [r["se_ratio"] for r in rows] == ["4", "none"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert int(rows[0]["params"]) > int(rows[1]["params"])
    assert "| trial | se_ratio | params |" in (run_dir / "results.md").read_text()
    best = json.loads((run_dir / "best_hyperparameters.json").read_text())
    # The best configuration is results.csv's highest mean accuracy (the first on a tie).
    top = max(rows, key=lambda r: float(r["best_val_accuracy"]))
    assert best["se_ratio"] == (None if top["se_ratio"] == "none" else int(top["se_ratio"]))
    assert best["best_val_accuracy"] == pytest.approx(float(top["best_val_accuracy"]))
    assert (run_dir / "best_model.keras").stat().st_size > 0
    from PIL import Image
    with Image.open(run_dir / "accuracy_vs_ratio.png") as im:
        assert im.size[0] > 100
    # --fresh starts over.
    assert cli.main(_search_args(run_dir, ["--search.max_trials", "1", "--fresh",
                                           *ONE_PROCESS])) == 0
    assert first.stat().st_mtime_ns != stamp
    assert len(_read_rows(run_dir)) == 1


def _post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_tensorboard_serves_hparams_and_scalars(tmp_path):
    # SE against its successors and no attention block.
    run_dir = tmp_path / "search"
    attention = '{"attention": ["se", "eca", "cbam", null]}'
    # One batch an epoch: what TensorBoard shows does not depend on how many.
    assert cli.main(["search", *TINY, *EAGER, "--run_dir", str(run_dir), "--search.space",
                     attention, "--train.epochs", "2", "--search.repeats", "2",
                     "--train.limit_batches", "1", "--search.inspect", "false"]) == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(run_dir / "tb"),
         "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        groups = None
        # TensorBoard loads runs in the background, slowly on a loaded machine.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                experiment = _post(base + "/data/plugin/hparams/experiment",
                                   {"experimentName": ""})
                groups = _post(base + "/data/plugin/hparams/session_groups", {
                    "experimentName": "", "startIndex": 0, "sliceSize": 100,
                    "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN"],
                    "colParams": [],
                })
                if len(groups.get("sessionGroups", [])) == 8:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert groups is not None, "tensorboard did not answer"
        assert [h["name"] for h in experiment["hparamInfos"]] == ["attention", "seed"]
        assert [m["name"]["tag"] for m in experiment["metricInfos"]] == [
            "hparams/best_val_accuracy", "hparams/latency_1_ms", "hparams/latency_batch_ms",
            "hparams/params", "hparams/macs"]
        sessions = {g["name"]: g for g in groups["sessionGroups"]}
        # Every seed's run of every trial is a session of its own.
        assert set(sessions) == {f"trial_{t}/seed_{s}" for t in range(4) for s in (0, 1)}
        hparams = sorted((g["hparams"]["attention"], g["hparams"]["seed"])
                         for g in sessions.values())
        # null: no attention block.
        assert hparams == [(a, s) for a in ("cbam", "eca", "null", "se") for s in (0, 1)]
        rows = {(r["trial"], r["seed"]): r for r in csv.DictReader(open(run_dir / "runs.csv"))}
        for name, group in sessions.items():
            metrics = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
            assert set(metrics) == {"hparams/best_val_accuracy", "hparams/latency_1_ms",
                                    "hparams/latency_batch_ms", "hparams/params", "hparams/macs"}
            trial, seed = name[len("trial_"):].split("/seed_")
            row = rows[(trial, seed)]
            assert metrics["hparams/latency_1_ms"] == pytest.approx(float(row["latency_1_ms"]))
            assert metrics["hparams/latency_1_ms"] > 0
            assert metrics["hparams/params"] == float(
                _read_rows(run_dir)[int(trial)]["params"])
        with urllib.request.urlopen(
            base + "/data/plugin/scalars/scalars?run=trial_0/seed_1&tag=epoch/loss", timeout=10
        ) as response:
            series = json.loads(response.read())
        assert [point[1] for point in series] == [1, 2]
        with urllib.request.urlopen(base + "/data/plugin/histograms/tags", timeout=10) as r:
            tags = json.loads(r.read())
        assert "gates/block1_se" in tags["trial_0/seed_0"]
        assert "gates/block1_eca" in tags["trial_1/seed_0"]
    finally:
        server.terminate()
        server.wait(10)
    # The table, the verdicts and the plots name the four.
    table = (run_dir / "results.md").read_text()
    for name in ("se", "eca", "cbam", "none"):
        assert f"| {name} |" in table
    verdicts = (run_dir / "verdict.txt").read_text().splitlines()
    assert [v.split(":")[0] for v in verdicts[:3]] == ["se", "eca", "cbam"]
    assert all(" points over no attention (95% CI " in v for v in verdicts[:3])
    assert "| no attention |" in (run_dir / "pareto.md").read_text()
    for plot in ("accuracy_by_configuration.png", "accuracy_vs_latency.png"):
        assert (run_dir / plot).stat().st_size > 10000


def _write_cifar10(folder, n=6):
    rng = np.random.default_rng(0)
    os.makedirs(folder)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, size=(n, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, size=n))}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f)


def test_cifar_format_folder(tmp_path):
    from se_tune.data import DataConfig, load_data

    _write_cifar10(tmp_path / "cifar")
    splits = load_data(DataConfig(name="cifar10", data_dir=str(tmp_path / "cifar")), 0)
    assert splits.input_shape == (32, 32, 3)
    assert len(splits.x_train) + len(splits.x_val) == 30 and len(splits.x_test) == 6
    assert 0 <= splits.x_train.min() and splits.x_train.max() <= 1


def test_cifar_batch_with_code_is_refused(tmp_path, capsys):
    _write_cifar10(tmp_path / "cifar")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(tmp_path / "cifar" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    argv = ["fit", "--data.name", "cifar10", "--data.data_dir", str(tmp_path / "cifar"),
            "--run_dir", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    assert "refusing to unpickle" in capsys.readouterr().err
    assert not marker.exists()


def test_yaml_config_is_loaded_safely(tmp_path, capsys):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    assert cli.main(["fit", "--config", str(config), "--run_dir", str(tmp_path)]) == 2
    assert not marker.exists()
    assert capsys.readouterr().err.startswith("se-tune: error:")


@pytest.mark.slow
def test_image_folder_and_fit(tmp_path):
    from PIL import Image

    for label, color in (("cat", 40), ("dog", 220)):
        os.makedirs(tmp_path / "images" / label)
        for i in range(8):
            Image.new("RGB", (12, 10), (color, i * 10, 0)).save(
                tmp_path / "images" / label / f"{i}.png")
    argv = ["fit", "--data.name", "folder", "--data.data_dir", str(tmp_path / "images"),
            "--data.image_size", "8", "--data.batch_size", "4", "--train.epochs", "1",
            "--train.verbose", "0", *EAGER, "--run_dir", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs"] == 1


def test_digits_is_the_default_dataset():
    from se_tune.data import DataConfig, load_data

    splits = load_data(DataConfig(), 0)
    assert splits.input_shape == (8, 8, 1) and splits.num_classes == 10
    total = len(splits.x_train) + len(splits.x_val) + len(splits.x_test)
    assert total == 1797
    again = load_data(DataConfig(), 0)
    np.testing.assert_array_equal(splits.y_val, again.y_val)


@pytest.mark.parametrize("argv,message", [
    (["fit", "--config", "/no/such.yaml"], "/no/such.yaml"),
    (["fit", "--config", "BAD_YAML"], "parsing config"),
    (["fit", "--train.no_such_key", "1"], "no_such_key"),
    (["fit", "--train.optimizer", "adagrad"], "adagrad"),
    (["fit", "--model.name", "VGG16", *TINY[:10]], "VGG16"),
    (["fit", "--model.name", "SEResNet50", "--model.kwargs", "{}"], "data.image_size"),
    (["fit", "--data.name", "mnist"], "mnist"),
    (["fit", "--data.name", "cifar10", "--data.data_dir", "EMPTY_DIR"], "data_batch_1"),
    (["fit", "--data.name", "folder", "--data.data_dir", "EMPTY_DIR"], "data_dir"),
    (["search", *TINY, *ONE_SEED, "--search.space", '{"colour": [1, 2]}'], "colour"),
    (["search", "--search.chief_timeout", "-5"], "search.chief_timeout\": Not of type "
     "NonNegativeInt: -5"),
    (["search", "--search.repeats", "0"], "search.repeats\": Not of type PositiveInt: 0"),
    # An Optional field: the value is named after the restriction it breaks.
    (["search", "--search.workers", "0"],
     "search.workers\": Not of type PositiveInt: does not conform to restriction v>0. "
     "Received: 0"),
    (["search", *TINY, "--search.space", '{"se_ratio": [{"x": 4}, null]}'],
     'search.space.se_ratio: a dict maps stage numbers to ratios. Received: {"x": 4}'),
    (["search", *TINY, "--search.space", '{"attention": ["se", "sk"]}'],
     'search.space.attention: each value must be one of se, ese, eca, cbam, ge, null. '
     'Received: "sk"'),
    (["fit", "--model.attention", "sk"], "model.attention\": Expected a typing.Literal["
     "'se', 'ese', 'eca', 'cbam', 'ge']. Received: sk"),
    (["fit", "--train.epochs", "-1"], "train.epochs\": Not of type PositiveInt: -1"),
    (["fit", "--train.momentum", "1.5"], "train.momentum\": Not of type ClosedUnitInterval: 1.5"),
    (["inspect", "--model_path", "NOT_A_MODEL"], "Keras cannot load this file"),
    (["test", "--model_path", "NOT_A_MODEL"], "Keras cannot load this file"),
    ([], "command"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: [unclosed\n  se_ratio: : 3\n")
    (tmp_path / "empty").mkdir()
    argv = [str(bad_yaml) if a == "BAD_YAML" else a for a in argv]
    argv = [str(tmp_path / "empty") if a == "EMPTY_DIR" else a for a in argv]
    (tmp_path / "notes.keras").write_text("not a model\n")
    argv = [str(tmp_path / "notes.keras") if a == "NOT_A_MODEL" else a for a in argv]
    argv += ["--run_dir", str(tmp_path / "run")] if argv else []
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("se-tune: error:") and message in err


def _console_script(*argv, **env):
    """Runs the installed `se-tune` entry point with the user's environment, but
    no TF_CPP_MIN_LOG_LEVEL."""
    script = os.path.join(os.path.dirname(sys.executable), "se-tune")
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([script, *argv], capture_output=True, text=True,
                          env={**environ, **env})


def test_console_script_prints_one_line_and_exits_2():
    result = _console_script("fit", "--data.batch_size", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "se-tune: error: data.batch_size must be >= 1. Received: 0"]


@pytest.mark.skipif(keras.config.backend() != "tensorflow",
                    reason="TensorFlow's libraries are the ones that log as they load")
def test_back_end_start_up_logs_come_back_on_request():
    result = _console_script("fit", "--data.batch_size", "0", SE_TUNE_BACKEND_LOGS="1")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) > 1 and lines[-1].startswith("se-tune: error: data.batch_size")


@pytest.mark.parametrize("name,size,blocks", [
    ("CifarSEResNet", 8, 3),      # the app's depth 20: three blocks a stage
    ("SEResNet50", 32, 3),        # the builder's own layout: three blocks in conv2
    ("SEResNeXt50", 32, 3),
])
def test_model_kwargs_default_to_the_chosen_model_s_own(name, size, blocks):
    from se_tune import training
    from se_tune.config import ModelConfig

    model = training.build_model(ModelConfig(name=name), (size, size, 3), 3)
    names = {layer.name for layer in model.layers}
    assert f"conv2_block{blocks}_se" in names and f"conv2_block{blocks + 1}_se" not in names


def test_building_a_model_leaves_the_dtype_policy_as_it_was():
    import keras

    from se_tune import data, training
    from se_tune.config import ModelConfig, TrainConfig

    splits = data.load_data(data.DataConfig(name="synthetic", image_size=8, num_samples=96,
                                            num_classes=3), seed=0)
    keras.config.set_dtype_policy("mixed_bfloat16")
    model, _ = training.prepare_model(ModelConfig(kwargs={"depth": 20}),
                                      TrainConfig(precision="fp32"), data.DataConfig(), splits, 0)
    assert model.get_layer("conv1_conv").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "mixed_bfloat16"


def test_plots_leave_matplotlib_s_backend_alone(tmp_path):
    import matplotlib
    from PIL import Image

    from se_tune.results import plot_ratio

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        rows = [{"trial": str(t), "status": "COMPLETED", "se_ratio": r, "best_val_accuracy": a,
                 "runs": [{"seed": s, "best_val_accuracy": a + s / 100} for s in (0, 1)]}
                for t, (r, a) in enumerate([(4, 0.8), (None, 0.7)])]
        plot_ratio(rows, tmp_path / "plot.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    with Image.open(tmp_path / "plot.png") as im:
        assert im.format == "PNG" and im.size == (500, 320)


def test_run_lock_is_held_inside_its_block_only(tmp_path):
    from se_tune.errors import UsageError
    from se_tune.locking import run_lock

    with run_lock(tmp_path):
        with pytest.raises(UsageError, match=f"another search is running.*pid {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released: taken again at once
        pass


@pytest.mark.slow
def test_the_default_display_is_one_line_per_run(tmp_path, capsys):
    progress = ["--train.verbose", "progress"]
    assert cli.main(["fit", *TINY, *progress, "--train.epochs", "3",
                     "--run_dir", str(tmp_path / "fit")]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/3" not in out
    assert re.findall(r"^fit: epoch .*$", out, re.M) == [
        next(line for line in out.splitlines() if line.startswith("fit: epoch 3/3, loss "))]
    argv = ["search", *TINY, *progress, "--train.epochs", "2", "--search.repeats", "2",
            "--search.space", '{"se_ratio": [4]}', "--search.inspect", "false",
            "--run_dir", str(tmp_path / "search")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert re.findall(r"^  seed (\d): epoch 2/2, loss .*val_accuracy \d\.\d{4}$", out, re.M) == [
        "0", "1"]
    assert "Epoch 1/2" not in out and "epoch 1/2" not in out


def test_on_a_terminal_the_progress_line_updates_in_place():
    import io

    from se_tune.progress import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    line = ProgressLine("  seed 0", stream)
    line.set_params({"epochs": 2})
    for epoch, loss in enumerate((0.5, 0.25)):
        line.on_epoch_end(epoch, {"loss": loss, "val_accuracy": 0.75})
    line.on_train_end()
    assert stream.getvalue() == (
        "\r\033[K  seed 0: epoch 1/2, loss 0.5000, val_accuracy 0.7500"
        "\r\033[K  seed 0: epoch 2/2, loss 0.2500, val_accuracy 0.7500\n")


def test_tensorflow_s_python_warnings_are_hidden_during_a_command_only(capsys):
    # TensorFlow warns on its logger "tensorflow" (each retraced tf.function, as a
    # search compiles model after model); se-tune's output stays the app's.
    import logging

    from se_tune.process import backend_warnings_hidden

    logger = logging.getLogger("tensorflow")
    before = logger.level
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        with backend_warnings_hidden():
            logger.warning("5 out of the last 13 calls triggered tf.function retracing")
        assert logger.level == before
        logger.warning("after the command")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "retracing" not in err and "after the command" in err


def test_a_run_of_one_fit_call_an_epoch_looks_like_one_fit_to_its_callbacks():
    """`RunCallbacks` over one `fit` call an epoch: the callbacks see the run
    begin and end once and its whole length, and Keras' EarlyStopping stops
    it where one `fit` over all the epochs stops."""
    from se_tune.data import EpochBatches
    from se_tune.feeds import fit_feeds
    from se_tune.run_callbacks import RunCallbacks

    class Seen(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.hooks, self.epochs = [], set()

        def on_train_begin(self, logs=None):
            self.hooks.append("begin")

        def on_train_end(self, logs=None):
            self.hooks.append("end")

        def on_epoch_end(self, epoch, logs=None):
            self.hooks.append(epoch)
            self.epochs.add(self.params["epochs"])

    x = np.random.default_rng(0).random((16, 4), dtype="float32")
    y = np.zeros((16, 1), dtype="float32")

    def trained(one_call):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        # A learning rate of 0: the loss never improves after the first epoch.
        # min_delta: each epoch's batch order sums the same losses in another order,
        # which moves the mean in its last bits on some back ends.
        model.compile(keras.optimizers.SGD(0.0), "mse")
        seen, stop = Seen(), keras.callbacks.EarlyStopping("loss", patience=2, min_delta=1e-4)
        if one_call:
            model.fit(x, y, batch_size=4, epochs=8, shuffle=False, verbose=0,
                      callbacks=[stop, seen])
            return seen
        run = RunCallbacks([stop, seen], epochs=8)
        calls = 0
        for start, end, inputs, _ in fit_feeds(EpochBatches(x, y, 4, seed=0), 0, 8):
            model.fit(**inputs, shuffle=False, initial_epoch=start, epochs=end, verbose=0,
                      callbacks=[run])
            calls += 1
            if model.stop_training:
                break
        run.end()
        assert calls == 3
        return seen

    per_epoch, whole = trained(one_call=False), trained(one_call=True)
    assert per_epoch.hooks == whole.hooks == ["begin", 0, 1, 2, "end"]
    assert per_epoch.epochs == whole.epochs == {8}
