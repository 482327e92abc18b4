"""Fine-tuning end to end, offline: a pretrained MobileNetV2 (alpha 0.35) from a
weights file, or from a keras_se preset folder, searched over SE ratios on a
train/ + val/ image folder with a frozen warm-up, killed and resumed, then used
by `se-tune predict`."""

import csv
import os
import signal

import keras
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras_tuner")

import keras_se  # noqa: E402
import kill_anywhere  # noqa: E402
from app_helpers import EAGER, ONE_PROCESS, run_app  # noqa: E402

CLASSES = ("blue", "green", "red")
COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}


def _image(rng, colour):
    return Image.fromarray(np.clip(rng.normal(colour, 60, (40, 40, 3)), 0, 255).astype("uint8"))


def _photos(folder):
    """300 noisy colour images: 80 a class in train/, 20 in val/; 3 new ones."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 80), ("val", 20)):
        for name, colour in COLOURS.items():
            os.makedirs(folder / split / name)
            for i in range(count):
                _image(rng, colour).save(folder / split / name / f"{i}.jpg")
    os.makedirs(folder.parent / "new")
    for name, colour in COLOURS.items():
        _image(rng, colour).save(folder.parent / "new" / f"a_{name}.jpg")


def _pretrained(folder):
    """A MobileNetV2 (alpha 0.35) for the 3 classes, trained a little on the
    training images at its own scale ([-1, 1]): weights and batch-norm
    statistics as a pretrained checkpoint has them."""
    x, y = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((folder / "train" / name).iterdir()):
            x.append(np.asarray(Image.open(path).convert("RGB").resize((32, 32)), "float32"))
            y.append(label)
    x = keras.applications.mobilenet_v2.preprocess_input(np.stack(x))
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3),
                                           classes=len(CLASSES))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.5  # statistics that settle within a few steps
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(x, np.array(y), epochs=4, batch_size=32, verbose=0)
    return model


def _preset(model, folder):
    """The pretrained network as a keras_se preset that takes [0, 255] RGB and
    normalizes it itself (to MobileNetV2's [-1, 1])."""
    inputs = keras.Input((32, 32, 3))
    scaled = keras_se.layers.ImageNormalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(inputs)
    flat = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_tensor=scaled,
                                          classes=len(CLASSES))
    for layer in model.layers:
        if layer.weights:
            flat.get_layer(layer.name).set_weights(layer.get_weights())
    return keras_se.models.save_preset(flat, folder)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("fine_tuning")
    _photos(root / "photos")
    model = _pretrained(root / "photos")
    model.save_weights(root / "mobilenet.weights.h5")
    _preset(model, root / "preset")
    return root


def _search(sources, run_dir, source):
    model = (["--model.name", "keras.applications.MobileNetV2", "--model.kwargs",
              '{"alpha": 0.35}', "--model.weights", str(sources / "mobilenet.weights.h5")]
             if source == "weights" else ["--model.name", str(sources / "preset")])
    return ["search", "--run_dir", str(run_dir), "--data.name", "folder", "--data.data_dir",
            str(sources / "photos"), "--data.image_size", "32", *model,
            "--search.space", '{"se_ratio": [8, null]}', "--train.freeze_epochs", "1",
            "--train.epochs", "2", "--train.learning_rate", "0.001", "--search.repeats", "1",
            "--search.inspect", "false", "--train.verbose", "0", *EAGER, *ONE_PROCESS]


@pytest.mark.slow
@pytest.mark.parametrize("source,kills", [
    # 240 training images, 4 batches an epoch: batch 6 is trial 0's epoch 2
    # (after the warm-up); then, counted from the resumed epoch 2, batch 7 is
    # trial 1's warm-up epoch.
    ("weights", ("train_batch:6", "train_batch:7")),
    ("preset", ("train_batch:6",)),
])
def test_a_fine_tuning_search_killed_and_resumed_equals_an_uninterrupted_one(
        sources, tmp_path, source, kills):
    clean = run_app(_search(sources, tmp_path / "clean", source))
    assert clean.returncode == 0, clean.stderr[-2000:]
    # No warning of Keras' (a graph container weights files do not hold) or of the back end's.
    assert "warning" not in (clean.stdout + clean.stderr).lower(), clean.stdout + clean.stderr
    rows = kill_anywhere.table(tmp_path / "clean")
    assert [row["se_ratio"] for row in rows] == ["8", "none"]
    assert [row["status"] for row in rows] == ["COMPLETED"] * 2
    # A retrofitted configuration has SE blocks' parameters on top of the plain one.
    assert int(rows[0]["params"]) > int(rows[1]["params"])
    run_dir = tmp_path / "killed"
    argv = _search(sources, run_dir, source)
    for faults in kills:
        killed = run_app(argv, faults=faults)
        assert killed.returncode == -signal.SIGKILL, (faults, killed.stderr[-2000:])
    resumed = run_app(argv)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming trial 0 after epoch 1" in resumed.stdout + killed.stdout
    assert kill_anywhere.table(run_dir) == rows

    predict = run_app(["predict", "--model_path", str(run_dir / "best_model.keras"),
                       "--run_dir", str(tmp_path / "predict"), "--inputs",
                       str(sources / "new")])
    assert predict.returncode == 0, predict.stderr[-2000:]
    with open(tmp_path / "predict" / "predictions.csv") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["file", "class_1", "probability_1", "class_2", "probability_2",
                        "class_3", "probability_3"]
    assert [os.path.basename(line[0]) for line in lines[1:]] == [
        "a_blue.jpg", "a_green.jpg", "a_red.jpg"]
    for line in lines[1:]:
        assert sorted(line[1::2]) == list(CLASSES)
