"""se-tune predict: the top classes of a saved model for files and folders."""

import csv
import os

import keras
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras_tuner")

from se_tune import cli  # noqa: E402

CLASSES = ("cat", "dog", "owl")


def _colour_model(path):
    """Logits 10 x (mean red, mean green, mean blue): a red image is a cat."""
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers.Identity(10.0),
                                bias_initializer="zeros")(pooled)
    keras.Model(inputs, logits).save(path)


def _run(tmp_path):
    """A training run's folder, as fit leaves it, on an image folder of CLASSES."""
    data = tmp_path / "data"
    for cls in CLASSES:
        os.makedirs(data / cls)
        Image.new("RGB", (8, 8), (9, 9, 9)).save(data / cls / "0.png")
    run = tmp_path / "run"
    os.makedirs(run)
    (run / "config.yaml").write_text(f"data:\n  name: folder\n  data_dir: {data}\n")
    _colour_model(run / "model.keras")
    return run


def _softmax(logits):
    e = np.exp(np.asarray(logits) - max(logits))
    return e / e.sum()


def test_predict_writes_each_image_s_top_classes_with_the_run_s_names(tmp_path, capsys):
    run = _run(tmp_path)
    new = tmp_path / "new"
    os.makedirs(new / "sub")
    # Pure colours after resizing to 8x8: red (1, 0, 0), blue, and a mix.
    Image.new("RGB", (20, 12), (255, 0, 0)).save(new / "a_red.png")
    Image.new("RGB", (16, 16), (0, 0, 255)).save(new / "sub" / "b_blue.png")
    Image.new("RGB", (8, 8), (0, 153, 102)).save(tmp_path / "mix.png")
    argv = ["predict", "--run_dir", str(run), "--inputs", str(new), str(tmp_path / "mix.png"),
            "--top_k", "2"]
    assert cli.main(argv) == 0
    with open(run / "predictions.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "class_1", "probability_1", "class_2", "probability_2"]
    assert [r[0] for r in rows[1:]] == [str(new / "a_red.png"), str(new / "sub" / "b_blue.png"),
                                        str(tmp_path / "mix.png")]
    assert [(r[1], r[3]) for r in rows[1:]] == [("cat", "dog"), ("owl", "cat"), ("dog", "owl")]
    expected = [_softmax([10, 0, 0]), _softmax([0, 0, 10]), _softmax([0, 6, 4])]
    for row, p in zip(rows[1:], expected):
        top = sorted(p, reverse=True)[:2]
        np.testing.assert_allclose([float(row[2]), float(row[4])], top, atol=2e-3)
    out = capsys.readouterr().out
    assert f"predict: model {run / 'model.keras'}" in out
    assert "a_red.png" in out and "predict: 3 images, top 2 classes each" in out


def test_predict_defaults_to_the_last_fit_and_names_indices_without_its_data(tmp_path,
                                                                             monkeypatch):
    run = _run(tmp_path)
    fit = tmp_path / "runs" / "fit"
    os.makedirs(fit.parent)
    os.rename(run, fit)
    (fit / "config.yaml").write_text("data:\n  name: synthetic\n  num_classes: 3\n")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(tmp_path / "green.png")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "--inputs", "green.png"]) == 0
    with open(fit / "predictions.csv") as f:
        row = list(csv.reader(f))[1]
    assert row[0] == "green.png" and row[1:11:2] == ["1", "0", "2"]


@pytest.mark.parametrize("inputs,message", [
    (["NO_SUCH.png"], "inputs must be image files or folders. Received: 'NO_SUCH.png'"),
    (["EMPTY"], "inputs hold no image files"),
])
def test_bad_inputs_are_one_line(tmp_path, capsys, inputs, message):
    run = _run(tmp_path)
    os.makedirs(tmp_path / "EMPTY")
    paths = [str(tmp_path / p) if p == "EMPTY" else p for p in inputs]
    assert cli.main(["predict", "--run_dir", str(run), "--inputs", *paths]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
