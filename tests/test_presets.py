"""Presets without timm: save_preset and from_preset round trips, the metadata,
the builders' pretrained weights, and every bad input's one line.

The checkpoints timm itself writes are tested in test_presets_timm.py (the
torch environment)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

pytest.importorskip("safetensors")

import keras_se  # noqa: E402
from keras_se.convert.timm_architectures import build_timm_resnet  # noqa: E402
from keras_se.models import from_preset, preset_metadata, save_preset  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
LABELS = [f"class {i}" for i in range(7)]


def _randomize(model, seed=0):
    """Every weight and batch-norm statistic drawn at random (variances positive)."""
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(w) + 0.5 if "moving_variance" in v.path
                       else (w + rng.normal(scale=0.1, size=w.shape)).astype(w.dtype)
                       for v, w in zip(model.weights, model.get_weights())])
    return model


def _timm_model(seed=0):
    """A seresnet18 in timm's schema, made without timm: what from_timm or a timm
    preset gives, with random weights."""
    arguments = {"depth": 18, "groups": 1, "base_width": 64, "stride_in_1x1": False,
                 "resnet_d": False, "legacy": False, "attention": "se", "se_ratio": 16,
                 "se_kwargs": {"divisor": 8}}
    metadata = {"input_size": (224, 224), "crop_pct": 0.875, "interpolation": "bicubic",
                "label_names": LABELS,
                "source": {"architecture": "seresnet18", "model_args": {}}}
    return _randomize(build_timm_resnet(arguments, 7, metadata=metadata), seed)


def _same_outputs(a, b):
    x, y = a.predict(IMAGES, verbose=0), b.predict(IMAGES, verbose=0)
    assert np.abs(x - y).max() <= 1e-5 * np.abs(x).max(), np.abs(x - y).max()


@pytest.mark.parametrize("make,timm_schema", [
    (lambda: _randomize(keras_se.models.CifarSEResNet(depth=20, input_shape=(32, 32, 3))),
     False),
    (lambda: _randomize(keras_se.retrofit(keras.applications.MobileNetV2(
        alpha=0.35, weights=None, input_shape=(32, 32, 3), classes=4), identity_init=True)),
     False),
    (_timm_model, True),
], ids=["builder", "retrofitted", "converted"])
@pytest.mark.slow
def test_save_preset_then_from_preset_round_trips(make, timm_schema, tmp_path):
    model = make()
    save_preset(model, tmp_path / "preset")
    config = json.loads((tmp_path / "preset" / "config.json").read_text())
    # timm's schema where it describes the model, keras-se's otherwise.
    assert ("architecture" in config) == timm_schema
    _same_outputs(model, from_preset(str(tmp_path / "preset")))


def test_a_converted_model_is_written_under_timm_s_names(tmp_path):
    save_preset(_timm_model(), tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer1.0.se.fc1.weight"].shape == (8, 64, 1, 1)  # 64 / 16 -> 8 (divisor 8)
    assert state["fc.weight"].shape == (7, 512)
    assert state["layer1.0.bn1.num_batches_tracked"].dtype == np.int64
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["pretrained_cfg"]["input_size"] == [3, 224, 224]
    assert config["num_classes"] == 7 and config["num_features"] == 512


@pytest.mark.slow
def test_metadata_survives_keras_saving_and_presets(tmp_path):
    expected = {"input_size": (224, 224), "crop_pct": 0.875, "interpolation": "bicubic",
                "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                "normalizes": True, "label_names": LABELS}
    model = _timm_model()
    save_preset(model, tmp_path / "preset")
    loaded = from_preset(str(tmp_path / "preset"))
    assert preset_metadata(loaded) == expected
    loaded.save(tmp_path / "model.keras")
    assert preset_metadata(keras.saving.load_model(tmp_path / "model.keras")) == expected
    # A new head's classes are not the checkpoint's: its label names go.
    assert preset_metadata(from_preset(str(tmp_path / "preset"), classes=3))["label_names"] is None


@pytest.mark.slow
def test_a_new_head_keeps_every_body_weight(tmp_path):
    save_preset(_timm_model(), tmp_path)
    full = from_preset(str(tmp_path))
    five = from_preset(str(tmp_path), classes=5)
    assert five.output_shape == (None, 5)
    body = {v.path: keras.ops.convert_to_numpy(v) for v in full.weights
            if not v.path.startswith("predictions")}
    new = {v.path: keras.ops.convert_to_numpy(v) for v in five.weights
           if not v.path.startswith("predictions")}
    assert body.keys() == new.keys()
    assert all(np.array_equal(body[k], new[k]) for k in body)
    headless = from_preset(str(tmp_path), include_top=False, pooling="avg")
    assert headless.output_shape == (None, 512)


def _one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


def _broken_preset(tmp_path, change):
    save_preset(_timm_model(), tmp_path)
    change(tmp_path)
    with pytest.raises(ValueError) as error:
        from_preset(str(tmp_path))
    return _one_line(error)


def test_an_unknown_architecture_is_one_line(tmp_path):
    def rename(folder):
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "architecture": "vit_base"}))
    text = _broken_preset(tmp_path, rename)
    assert "architecture='vit_base'" in text and "seresnet50" in text


def test_a_truncated_weights_file_is_one_line(tmp_path):
    def truncate(folder):
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[:len(data) // 2])
    text = _broken_preset(tmp_path, truncate)
    assert "model.safetensors is not a readable safetensors file" in text


def test_a_missing_tensor_is_one_line(tmp_path):
    def drop(folder):
        state = load_file(folder / "model.safetensors")
        del state["layer3.1.se.fc2.bias"]
        save_file(state, folder / "model.safetensors")
    assert "no tensor 'layer3.1.se.fc2.bias'" in _broken_preset(tmp_path, drop)


def test_a_misshapen_tensor_is_one_line(tmp_path):
    def reshape(folder):
        state = load_file(folder / "model.safetensors")
        state["layer2.0.conv2.weight"] = state["layer2.0.conv2.weight"][:, :64]
        save_file(state, folder / "model.safetensors")
    text = _broken_preset(tmp_path, reshape)
    assert "'layer2.0.conv2.weight'" in text and "Received: shape=(128, 64, 3, 3)" in text


def test_a_folder_without_a_preset_is_one_line(tmp_path):
    with pytest.raises(ValueError) as error:
        from_preset(str(tmp_path))
    text = _one_line(error)
    assert "a folder holding config.json and model.safetensors" in text
    assert text.endswith(f"Received: preset={str(tmp_path)!r}")


def test_imagenet_without_a_checkpoint_names_the_closest():
    with pytest.raises(ValueError) as error:
        keras_se.models.SEResNet50(weights="imagenet", attention="eca", resnet_d=True)
    text = _one_line(error)
    assert "the closest: hf://timm/ecaresnet50d.miil_in1k (stride_in_1x1=False)." in text


def test_imagenet_exists_for_the_resnet_builders_only():
    with pytest.raises(ValueError) as error:
        keras_se.models.CifarSEResNet(weights="imagenet")
    assert "Received: weights='imagenet'" in _one_line(error)


@pytest.mark.slow
def test_explicit_arguments_that_contradict_the_checkpoint_are_named(tmp_path):
    save_preset(_timm_model(), tmp_path)
    # Defaults take the checkpoint's values (stride_in_1x1 is True by default).
    model = keras_se.models.SEResNet18(weights=str(tmp_path))
    assert model.output_shape == (None, 7)
    with pytest.raises(ValueError) as error:
        keras_se.models.SEResNet18(weights=str(tmp_path), se_ratio=8, se_integration="pre")
    text = _one_line(error)
    assert "se_ratio=8 against the checkpoint's 16" in text
    assert "se_integration='pre' against the checkpoint's 'standard'" in text
    with pytest.raises(ValueError) as error:
        keras_se.models.SEResNet50(weights=str(tmp_path))
    assert "depth=50 against the checkpoint's 18" in _one_line(error)


@pytest.mark.slow
def test_a_preset_missing_from_the_cache_offline_is_one_line(tmp_path):
    request = {"images": str(tmp_path / "x.npy"), "out": str(tmp_path), "cases": [
        {"name": "missing", "call": "from_preset", "preset": "hf://timm/seresnet50.ra2_in1k"}]}
    np.save(tmp_path / "x.npy", IMAGES)
    (tmp_path / "request.json").write_text(json.dumps(request))
    # The child blocks torch: it runs on TensorFlow, whatever this process's back end.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
           "KERAS_BACKEND": "tensorflow"}
    ran = subprocess.run([sys.executable, os.path.join(HERE, "preset_child.py"),
                          str(tmp_path / "request.json")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    text = json.loads(ran.stdout.splitlines()[-1])["missing"]["error"]
    assert "\n" not in text
    assert "hf://timm/seresnet50.ra2_in1k is not in the Hugging Face cache" in text
    assert str(tmp_path / "hf") in text
