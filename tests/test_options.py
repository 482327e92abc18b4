"""The option matrix: the app's training, data and search options, run on tiny
data, each checked for its effect on what the run trained and saved.

Not in it yet: `train.jit_compile`, `data.name cifar100` and `inspect.split`.
The fine-tuning search end to end is in test_fine_tuning.py."""

import csv
import json
import math
import os
import pickle

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner")

import keras_se  # noqa: E402
from app_helpers import CIFAR, DATA, EAGER, ONE_SEED, TINY  # noqa: E402
from se_tune import cli  # noqa: E402
from se_tune.data import DataConfig, load_data  # noqa: E402

LR = 0.1  # train.learning_rate's default
# TINY's training images per epoch, in batches of 16.
STEPS = math.ceil(len(load_data(DataConfig(name="synthetic", image_size=8, num_samples=96,
                                           num_classes=3), 0).x_train) / 16)


def _model(run):
    return keras.saving.load_model(run / "model.keras")


def _rate(run, step):
    # The optimizer's schedule as the model file saved it.
    schedule = _model(run).optimizer.get_config()["learning_rate"]
    if isinstance(schedule, dict):
        schedule = keras.saving.deserialize_keras_object(schedule)
        return float(keras.ops.convert_to_numpy(schedule(step)))
    return float(schedule)


def _check_cosine(run):
    assert _rate(run, 0) == 0.0                      # the warm-up starts at 0...
    assert _rate(run, STEPS) == pytest.approx(LR)    # ...reaches the rate after an epoch...
    assert _rate(run, 2 * STEPS) == pytest.approx(0.0, abs=1e-7)  # ...and cosine ends at 0


def _check_step(run):
    assert _rate(run, 0) == 0.0
    assert _rate(run, STEPS / 2) == pytest.approx(LR / 2)
    assert _rate(run, STEPS) == pytest.approx(LR)
    assert _rate(run, 2 * STEPS + 1) == pytest.approx(LR / 10)  # step_epochs [2]


def _check_constant(run):
    assert _rate(run, 0) == 0.0
    assert _rate(run, STEPS / 2) == pytest.approx(LR / 2)
    assert _rate(run, STEPS) == _rate(run, 3 * STEPS) == pytest.approx(LR)


def _check_sgd(run):
    optimizer = _model(run).optimizer
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.momentum == pytest.approx(0.8) and optimizer.nesterov
    assert optimizer.weight_decay == pytest.approx(1e-3)


def _check_adamw(run):
    optimizer = _model(run).optimizer
    assert type(optimizer).__name__ == "AdamW"
    assert optimizer.weight_decay == pytest.approx(0.05)


def _check_label_smoothing(run):
    assert _model(run).loss.get_config()["label_smoothing"] == pytest.approx(0.1)


def _precision_check(policy):
    def check(run):
        model = _model(run)
        assert model.get_layer("conv1_conv").dtype_policy.name == policy
        assert json.loads((run / "summary.json").read_text())["dtype_policy"] == policy
        # The SE gates stay in float32 (the layer's contract).
        gates = keras_se.utils.gate_values(model, np.zeros((2, 8, 8, 3), "float32"))
        assert all(g.dtype == np.float32 for g in gates.values())
    return check


def _check_augment(run):
    model = _model(run)
    assert [type(l).__name__ for l in model.get_layer("augmentation").layers] == [
        "RandomFlip", "RandomTranslation"]


def _image_folder(root, count=8):
    from PIL import Image

    for label, color in (("cat", 40), ("dog", 220)):
        os.makedirs(root / label)
        for i in range(count):
            Image.new("RGB", (12, 10), (color, i * 10, 0)).save(root / label / f"{i}.png")
    return ["--data.name", "folder", "--data.data_dir", str(root)]


def _split_image_folder(root):
    _image_folder(root / "val", count=3)
    return _image_folder(root / "train")[:-1] + [str(root)]


def _check_split_folder(run):
    _data_check((8, 8, 3), 2)(run)
    assert json.loads((run / "summary.json").read_text())["val_images"] == 6  # val/ as given


def _cifar10(root):
    rng = np.random.default_rng(0)
    os.makedirs(root)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, size=(6, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, size=6))}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    return ["--data.name", "cifar10", "--data.data_dir", str(root)]


def _check_limit_batches(run):
    assert int(_model(run).optimizer.iterations.numpy()) == 2 * 2 < 2 * STEPS  # 2 epochs


def _check_early_stopping(run):
    # Patience 1: the run stops at the first epoch after the first that did not beat
    # the best val_accuracy (Keras' rule), read from the run's TensorBoard scalars.
    # The learning rate is too small to improve it for 6 epochs in a row.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb")).Reload()
    values = [e.value for e in events.Scalars("epoch/val_accuracy")]
    best, stop = values[0], None
    for epoch, value in enumerate(values[1:], start=1):
        if value <= best:
            stop = epoch + 1
            break
        best = value
    summary = json.loads((run / "summary.json").read_text())
    assert stop is not None and summary["epochs"] == len(values) == stop < 6


def _data_check(shape, classes):
    def check(run):
        model = _model(run)
        assert model.input_shape == (None, *shape) and model.output_shape == (None, classes)
    return check


def small_residual_net(input_shape, classes=3):
    """A network from outside keras_se, reached by dotted path: one residual
    addition (a place for retrofit's block) and a classifier."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="branch")(x)
    x = keras.layers.Add(name="block_add")([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x))


SMALL_NET = ["--model.name", "test_options:small_residual_net"]


def _weights_file(root, classes=3):
    os.makedirs(root)
    model = small_residual_net((8, 8, 3), classes)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    model.save_weights(root / "small.weights.h5")
    return model, root / "small.weights.h5"


def _pretrained_small_net(root):
    return [*SMALL_NET, "--model.weights", str(_weights_file(root)[1]),
            "--model.preprocessing", "none"]


def _kernel(model, name):
    return np.asarray(model.get_layer(name).get_weights()[0])


def _saved_config(run):
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["model"]


def _check_callable(run):
    model = _model(run)
    assert model.get_layer("branch") and model.output_shape == (None, 3)
    assert not keras_se.utils.se_layers(model)  # the defaults alone do not retrofit
    assert "preprocessing" not in [layer.name for layer in model.layers]  # from scratch: none
    assert _saved_config(run)["retrofit"] is False


def _check_retrofit(run):
    assert [(layer.name, layer.ratio) for layer in keras_se.utils.se_layers(_model(run))] == [
        ("block_se", 4)]
    assert _saved_config(run)["retrofit"] is True


def _check_weights(run):
    # A learning rate of 1e-12: the trained body is the file's.
    expected = small_residual_net((8, 8, 3), 3)
    expected.load_weights(run.parent / "data" / "small.weights.h5")
    np.testing.assert_allclose(_kernel(_model(run), "branch"), _kernel(expected, "branch"),
                               atol=1e-6)


def _check_caffe(run):
    layer = _model(run).get_layer("preprocessing")
    assert not layer.trainable
    # [0, 1] RGB to BGR in [0, 255], less Caffe's mean (B 103.939, G 116.779, R 123.68).
    out = keras.ops.convert_to_numpy(layer(np.array([[[[1.0, 0.5, 0.0]]]], "float32")))
    np.testing.assert_allclose(out[0, 0, 0], [-103.939, 127.5 - 116.779, 255 - 123.68],
                               atol=1e-3)


def _check_freeze(run):
    # One epoch, frozen: the body is the file's, the new head (2 classes) trained.
    model, expected = _model(run), small_residual_net((8, 8, 3), 3)
    expected.load_weights(run.parent / "data" / "small.weights.h5")
    assert np.array_equal(_kernel(model, "branch"), _kernel(expected, "branch"))
    assert model.output_shape == (None, 2)
    assert model.get_layer("predictions").trainable


def _preset(root):
    # A keras_se preset that normalizes [0, 255] images itself.
    model, _ = _weights_file(root)
    inputs = keras.Input((8, 8, 3))
    x = keras_se.layers.ImageNormalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(inputs)
    keras_se.models.save_preset(keras.Model(inputs, model(x)), root / "preset")
    return ["--model.name", str(root / "preset")]


def _check_preset(run):
    model = _model(run)
    # auto: raw, [0, 255] into the preset's own normalization.
    kernel, bias = model.get_layer("preprocessing").get_weights()
    np.testing.assert_allclose(kernel, 255 * np.eye(3), atol=1e-4)
    assert not bias.any()
    assert _saved_config(run)["preprocessing"] == "raw"


def _keras_file(root):
    model, _ = _weights_file(root)
    model.save(root / "mine.keras")
    return ["--model.name", str(root / "mine.keras")]


def _check_keras_file(run):
    # A learning rate of 1e-12: the trained model is the file's.
    expected = keras.saving.load_model(run.parent / "data" / "mine.keras")
    np.testing.assert_allclose(_kernel(_model(run), "branch"), _kernel(expected, "branch"),
                               atol=1e-6)
    assert [layer.name for layer in _model(run).layers][1:] == [
        layer.name for layer in expected.layers][1:]


FIT_OPTIONS = {
    "model_callable": (SMALL_NET, _check_callable),
    "model_retrofit": ([*SMALL_NET, "--model.se_ratio", "4"], _check_retrofit),
    "model_weights": (lambda root: [*_pretrained_small_net(root), "--train.optimizer", "adamw",
                                    "--train.learning_rate", "1e-12"], _check_weights),
    "model_preprocessing": ([*SMALL_NET, "--model.preprocessing", "caffe"], _check_caffe),
    "freeze_epochs": (lambda root: [*_pretrained_small_net(root), "--train.freeze_epochs", "1",
                                    *_image_folder(root / "images")], _check_freeze),
    "model_preset": (_preset, _check_preset),
    "model_file": (lambda root: [*_keras_file(root), "--model.preprocessing", "none",
                                 "--train.optimizer", "adamw", "--train.learning_rate", "1e-12"],
                   _check_keras_file),
    "cosine_warmup": (["--train.schedule", "cosine", "--train.warmup_epochs", "1",
                       "--train.epochs", "2"], _check_cosine),
    "step_warmup": (["--train.schedule", "step", "--train.step_epochs", "[2]",
                     "--train.warmup_epochs", "1", "--train.epochs", "3"], _check_step),
    "constant_warmup": (["--train.schedule", "constant", "--train.warmup_epochs", "1",
                         "--train.epochs", "2"], _check_constant),
    "sgd": (["--train.optimizer", "sgd", "--train.momentum", "0.8",
             "--train.weight_decay", "0.001"], _check_sgd),
    "adamw": (["--train.optimizer", "adamw", "--train.weight_decay", "0.05"], _check_adamw),
    "label_smoothing": (["--train.label_smoothing", "0.1"], _check_label_smoothing),
    "bf16": (["--train.precision", "bf16"], _precision_check("mixed_bfloat16")),
    "fp16": (["--train.precision", "fp16"], _precision_check("mixed_float16")),
    "augment": (["--data.augment", "true"], _check_augment),
    "limit_batches": (["--train.limit_batches", "2", "--train.epochs", "2"],
                      _check_limit_batches),
    "early_stopping": (["--train.early_stopping_patience", "1", "--train.epochs", "6",
                        "--train.learning_rate", "1e-12", "--train.optimizer", "adamw"],
                       _check_early_stopping),
    "folder": (_image_folder, _data_check((8, 8, 3), 2)),
    "folder_split": (_split_image_folder, _check_split_folder),
    "cifar10": (_cifar10, _data_check((8, 8, 3), 10)),  # resized to TINY's image_size
}


@pytest.mark.slow
@pytest.mark.parametrize("option", list(FIT_OPTIONS))
def test_fit_option_takes_effect(option, tmp_path):
    argv, check = FIT_OPTIONS[option]
    if callable(argv):  # a data module: its files first
        argv = argv(tmp_path / "data")
    run = tmp_path / "run"
    # An option that brings its own model starts from the data alone: TINY's
    # explicit SE ratio would retrofit it.
    base = DATA if "--model.name" in argv else TINY
    # Eager steps: an option's effect does not depend on compilation, and six
    # eager steps cost less than tracing them.
    assert cli.main(["fit", *base, *EAGER, "--train.epochs", "1", *argv,
                     "--run_dir", str(run)]) == 0
    check(run)


# The gate is searched only for the network with SE (a conditional key).
SPACE = ('{"se_ratio": [4, null], '
         '"gate": {"values": ["sigmoid", "hard_sigmoid"], "when": {"se_ratio": [4]}}}')
TUNERS = {
    "grid": ([], 3),
    "random": (["--search.max_trials", "3"], 3),
    "bayesian": (["--search.max_trials", "3"], 3),
    "hyperband": (["--train.epochs", "2"], None),
}


@pytest.mark.slow
@pytest.mark.parametrize("tuner", list(TUNERS))
def test_every_tuner_trains_what_its_trials_say(tuner, tmp_path):
    extra, count = TUNERS[tuner]
    argv = ["search", *TINY, *ONE_SEED, *EAGER, "--train.epochs", "1", "--search.tuner", tuner,
            "--search.space", SPACE, "--search.inspect", "false", *extra,
            "--run_dir", str(tmp_path)]
    assert cli.main(argv) == 0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["status"] == "COMPLETED" for r in rows)
    if count is not None:
        assert len(rows) == count
        assert len({(r["se_ratio"], r["gate"]) for r in rows}) == count  # no repeats
    for row in rows:
        model = keras.saving.load_model(tmp_path / "trials" / f"trial_{row['trial']}" /
                                        "seed_0" / "model.keras")
        layers = keras_se.utils.se_layers(model)
        if row["se_ratio"] == "none":
            assert layers == [] and row["gate"] == "none"  # the gate was not searched
        else:
            assert {(l.ratio, l.get_config()["gate"]) for l in layers} == {(4, row["gate"])}


@pytest.mark.slow
def test_a_search_over_stages_and_per_stage_ratios(tmp_path):
    # The paper's stage ablation: which stages carry SE, and each stage's own ratio.
    space = '{"se_ratio": [{"3": 4, "4": 16}, 8], "se_stages": [[4], null]}'
    argv = ["search", *CIFAR, *ONE_SEED, *EAGER, "--train.epochs", "1", "--search.space", space,
            "--search.inspect", "false", "--run_dir", str(tmp_path)]
    assert cli.main(argv) == 0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    expected = {  # (se_ratio, se_stages) -> the ratio of each stage's SE layers
        ('{"3": 4, "4": 16}', "[4]"): {"conv4": 16},
        ('{"3": 4, "4": 16}', "none"): {"conv3": 4, "conv4": 16},
        ("8", "[4]"): {"conv4": 8},
        ("8", "none"): {"conv2": 8, "conv3": 8, "conv4": 8},
    }
    assert {(r["se_ratio"], r["se_stages"]) for r in rows} == set(expected)
    for row in rows:
        assert row["status"] == "COMPLETED"
        model = keras.saving.load_model(tmp_path / "trials" / f"trial_{row['trial']}" /
                                        "seed_0" / "model.keras")
        ratios = {layer.name[:5]: layer.ratio for layer in keras_se.utils.se_layers(model)}
        assert ratios == expected[(row["se_ratio"], row["se_stages"])]
    verdicts = (tmp_path / "verdict.txt").read_text()
    # The verdict names results.csv's highest mean accuracy (the first on a tie).
    top = max(rows, key=lambda r: float(r["best_val_accuracy"]))
    assert f"best by mean: r={top['se_ratio']}, se_stages={top['se_stages']} (" in verdicts


@pytest.mark.slow
def test_val_loss_as_the_objective_picks_the_lowest(tmp_path):
    argv = ["search", *TINY, *ONE_SEED, *EAGER, "--train.epochs", "2",
            "--search.objective", "val_loss",
            "--search.space", '{"se_ratio": [4, 16, null]}', "--search.inspect", "false",
            "--run_dir", str(tmp_path)]
    assert cli.main(argv) == 0
    with open(tmp_path / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    lowest = min(runs, key=lambda r: float(r["objective"]))
    assert max(float(r["objective"]) for r in runs) > float(lowest["objective"])
    best = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert best["trial"] == lowest["trial"]
    label = "no SE" if lowest["se_ratio"] == "none" else f"r={lowest['se_ratio']}"
    assert f"best by mean val_loss: {label} (" in (tmp_path / "verdict.txt").read_text()


def test_print_config_round_trips_through_config(tmp_path, capsys):
    argv = ["search", "--model.se_ratio", "4", "--search.tuner", "random",
            "--train.schedule", "step", "--train.step_epochs", "[3, 6]",
            "--search.space", SPACE]
    with pytest.raises(SystemExit):
        cli.main([*argv, "--print_config"])
    printed = capsys.readouterr().out
    (tmp_path / "search.yaml").write_text(printed)
    with pytest.raises(SystemExit):
        cli.main(["search", "--config", str(tmp_path / "search.yaml"), "--print_config"])
    assert capsys.readouterr().out == printed
    assert "tuner: random" in printed and "- 6" in printed


@pytest.mark.slow
def test_predict_names_the_classes_of_the_fit_s_folder(tmp_path, capsys):
    data = _image_folder(tmp_path / "data")
    run = tmp_path / "run"
    assert cli.main(["fit", *TINY, "--train.epochs", "1", *data, "--run_dir", str(run)]) == 0
    argv = ["predict", "--run_dir", str(run), "--inputs", str(tmp_path / "data" / "dog"),
            "--top_k", "2"]
    assert cli.main(argv) == 0
    with open(run / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [str(tmp_path / "data" / "dog" / f"{i}.png")
                                         for i in range(8)]
    for row in rows:
        assert {row["class_1"], row["class_2"]} == {"cat", "dog"}
        assert float(row["probability_1"]) + float(row["probability_2"]) == pytest.approx(
            1.0, abs=2e-6)


@pytest.mark.slow
def test_validate_evaluates_the_fit_s_validation_split(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["fit", *TINY, "--train.epochs", "1", "--run_dir", str(run)]) == 0
    assert cli.main(["validate", "--run_dir", str(run)]) == 0
    splits = load_data(DataConfig(name="synthetic", image_size=8, num_samples=96,
                                  num_classes=3), 0)
    logits = _model(run).predict(splits.x_val, verbose=0)
    report = json.loads((run / "validate.json").read_text())
    assert report["val_images"] == len(splits.y_val)
    assert report["val_accuracy"] == pytest.approx(float((logits.argmax(1) == splits.y_val).mean()))
    assert f"validate: model {run / 'model.keras'}" in capsys.readouterr().out
