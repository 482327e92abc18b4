"""se-tune inspect: per-class mean gates, figures, TensorBoard images, table."""

import csv

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner")

import keras_se  # noqa: E402
from se_tune import cli  # noqa: E402
from se_tune.data import DataConfig, load_data  # noqa: E402
from se_tune.config import InspectConfig, SearchConfig  # noqa: E402
from se_tune.inspect_gates import inspect_model  # noqa: E402

DATA = ["--data.name", "synthetic", "--data.image_size", "8", "--data.num_samples", "120",
        "--data.num_classes", "3"]


@pytest.fixture
def saved_model(tmp_path):
    model = keras_se.models.CifarSEResNet(
        depth=20, input_shape=(8, 8, 3), classes=3, se_ratio=4,
        se_kwargs={"bias_initializer": "random_normal"},
    )
    path = tmp_path / "model" / "model.keras"
    path.parent.mkdir()
    model.save(path)
    return model, path


def test_table_matches_a_direct_computation(saved_model, tmp_path):
    model, path = saved_model
    splits = load_data(DataConfig(name="synthetic", image_size=8, num_samples=120,
                                  num_classes=3), seed=0)
    config = InspectConfig(images_per_class=5, classes=[0, 1, 2])
    rows, out = inspect_model(str(path), splits, config)
    with open(f"{out}/class_specificity.csv") as f:
        table = {r["layer"]: float(r["class_specificity"]) for r in csv.DictReader(f)}
    assert set(table) == {layer.name for layer in keras_se.utils.se_layers(model)}
    for layer in keras_se.utils.se_layers(model):
        probe = keras.Model(model.input, layer.input)
        per_class = []
        for cls in (0, 1, 2):
            images = splits.x_test[splits.y_test == cls][:5]
            gates = keras.ops.convert_to_numpy(layer.compute_gates(probe(images)))
            per_class.append(gates.mean(axis=0))
        expected = np.std(np.stack(per_class), axis=0).mean()
        assert table[layer.name] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert any(v > 0 for v in table.values())


@pytest.mark.slow
def test_figures_and_tensorboard_images_are_readable(saved_model, tmp_path, capsys):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, path = saved_model
    assert cli.main(["inspect", "--model_path", str(path), *DATA,
                     "--inspect.images_per_class", "4", "--run_dir", str(tmp_path / "run")]) == 0
    assert "class specificity" in capsys.readouterr().out
    out = path.parent / "inspect"
    for name in ("conv2_block1_se", "conv4_block3_se", "gates_grid"):
        with Image.open(out / f"{name}.png") as im:
            im.load()
            assert im.size[0] > 200 and im.size[1] > 100
    events = EventAccumulator(str(out / "tb"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()["images"]
    assert "gates/conv3_block2_se" in tags and "gates/all_layers" in tags
    image = events.Images("gates/conv3_block2_se")[0]
    assert image.width > 200 and image.encoded_image_string[:4] == b"\x89PNG"


@pytest.mark.slow
def test_search_inspects_its_best_model(tmp_path):
    argv = ["search", *DATA, "--data.batch_size", "16", "--model.kwargs", '{"depth": 20}',
            "--train.epochs", "1", "--train.verbose", "0", "--run_dir", str(tmp_path),
            "--search.space", '{"se_ratio": [4]}', "--search.repeats", "1",
            "--inspect.images_per_class", "3"]
    assert cli.main(argv) == 0
    assert (tmp_path / "inspect" / "class_specificity.csv").exists()
    # Its gate images sit in the search's TensorBoard logs, next to the trials'.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb" / "inspect"), size_guidance={"images": 0})
    assert "gates/all_layers" in events.Reload().Tags()["images"]
    assert (tmp_path / "tb" / "trial_0").is_dir()
    assert (tmp_path / "inspect" / "gates_grid.png").exists()


def test_inspect_errors(tmp_path, capsys):
    assert cli.main(["inspect", "--model_path", str(tmp_path / "none.keras"), *DATA]) == 2
    assert "model_path" in capsys.readouterr().err
    plain = keras_se.models.CifarSEResNet(depth=20, input_shape=(8, 8, 3), classes=3,
                                          se_ratio=None)
    plain.save(tmp_path / "plain.keras")
    assert cli.main(["inspect", "--model_path", str(tmp_path / "plain.keras"), *DATA]) == 2
    assert "no layer with per-channel gates" in capsys.readouterr().err


@pytest.mark.slow
def test_search_inspects_the_best_se_trial_when_the_baseline_wins(tmp_path, capsys):
    import types

    from se_tune import runner

    for trial, ratio in (("0", None), ("1", 4)):
        model = keras_se.models.CifarSEResNet(depth=20, input_shape=(8, 8, 3), classes=3,
                                              se_ratio=ratio)
        folder = tmp_path / "trials" / f"trial_{trial}" / "seed_3"
        folder.mkdir(parents=True)
        model.save(folder / "model.keras")
    runs = [{"seed": 3, "best_val_accuracy": 0.9}]
    rows = [{"trial": "0", "best_val_accuracy": 0.9, "runs": runs},
            {"trial": "1", "best_val_accuracy": 0.5, "runs": runs},
            {"trial": "2", "best_val_accuracy": None, "runs": []}]
    config = types.SimpleNamespace(run_dir=str(tmp_path),
                                   inspect=InspectConfig(images_per_class=3),
                                   search=SearchConfig())
    splits = load_data(DataConfig(name="synthetic", image_size=8, num_samples=120,
                                  num_classes=3), seed=0)
    text = runner._inspect_best_se_model(config, rows, splits)
    assert "gates of trial 1, the best one with SE" in text
    assert (tmp_path / "inspect" / "gates_grid.png").exists()
