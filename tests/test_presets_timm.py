"""Presets against timm (the torch environment): checkpoints written by timm's
own Hub writer load without torch, under TensorFlow and JAX, to timm's outputs;
the hf:// path runs offline on a real Hugging Face cache; the architecture
table agrees with from_timm; a converted model's preset loads in timm."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytest.importorskip("safetensors")

from timm.models._hub import save_for_hf  # noqa: E402

from keras_se.convert import from_timm  # noqa: E402
from keras_se.convert.timm import timm_builder_arguments  # noqa: E402
from keras_se.convert.timm_architectures import (  # noqa: E402
    TIMM_ARCHITECTURES, preset_builder_arguments)
from keras_se.models import from_preset, save_preset  # noqa: E402

pytestmark = pytest.mark.timm
HERE = os.path.dirname(os.path.abspath(__file__))
# name -> (timm architecture, model_args)
CHECKPOINTS = {
    "seresnet50": ("seresnet50", {}),
    "seresnext26d_32x4d": ("seresnext26d_32x4d", {}),
    "ecaresnet50d": ("ecaresnet50d", {}),
    "legacy_seresnet18": ("legacy_seresnet18", {}),
    "resnet50d": ("resnet50d", {}),
    "resnet50_cbam": ("resnet50", {"block_args": {"attn_layer": "cbam"}}),
    "legacy_seresnet50": ("legacy_seresnet50", {}),
}
IMAGES = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")


def _random_timm(architecture, model_args, seed):
    """timm's model with every weight and batch-norm statistic drawn at random
    (timm zero-initializes the last BN of each residual branch)."""
    model = timm.create_model(architecture, pretrained=False, **model_args).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                noise = torch.randn(value.shape, generator=gen)
                value.copy_(noise.abs() * 0.5 + 0.5 if name.endswith("running_var")
                            else noise * 0.1 + (0.5 if name.endswith("bn3.weight") else 0.0))
    return model


def _timm_outputs(model, images):
    cfg = model.pretrained_cfg
    x = (images / 255.0 - np.array(cfg["mean"])) / np.array(cfg["std"])
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(0, 3, 1, 2).astype("float32"))).numpy()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Each checkpoint saved by timm's Hub writer, with timm's outputs beside it."""
    root = tmp_path_factory.mktemp("checkpoints")
    for seed, (name, (architecture, model_args)) in enumerate(CHECKPOINTS.items()):
        model = _random_timm(architecture, model_args, seed)
        save_for_hf(model, root / name, model_args=model_args or None, safe_serialization=True)
        np.save(root / name / "timm_outputs.npy", _timm_outputs(model, IMAGES))
    np.save(root / "images.npy", IMAGES)
    return root


def _run_child(tmp_path, cases, images, backend="tensorflow", env=None):
    """Runs tests/preset_child.py (torch and timm blocked) on `cases`."""
    request = {"images": str(images), "out": str(tmp_path), "cases": cases}
    (tmp_path / "request.json").write_text(json.dumps(request))
    env = {**os.environ, "KERAS_BACKEND": backend, **(env or {})}
    ran = subprocess.run([sys.executable, os.path.join(HERE, "preset_child.py"),
                          str(tmp_path / "request.json")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.splitlines()[-1])


def _assert_close(keras_outputs, timm_outputs):
    scale = np.abs(timm_outputs).max()
    assert np.abs(keras_outputs - timm_outputs).max() <= 1e-4 * scale, (
        np.abs(keras_outputs - timm_outputs).max(), scale)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_timm_checkpoints_load_without_torch_to_timm_s_outputs(backend, checkpoints, tmp_path):
    if backend == "jax":
        pytest.importorskip("jax")
    cases = [{"name": name, "call": "from_preset", "preset": str(checkpoints / name)}
             for name in CHECKPOINTS]
    report = _run_child(tmp_path, cases, checkpoints / "images.npy", backend)
    assert report.pop("torch_imported") is False
    for name in CHECKPOINTS:
        assert "error" not in report[name], report[name]
        _assert_close(np.load(tmp_path / f"{name}.npy"),
                      np.load(checkpoints / name / "timm_outputs.npy"))


def _hub_cache(root, repo_id, folder):
    """Lays `folder`'s files out as huggingface_hub caches a repository: blobs
    named by their hash, a snapshot of links to them, refs/main naming it."""
    repo = root / "hub" / f"models--{repo_id.replace('/', '--')}"
    revision = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / revision).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name in ("config.json", "model.safetensors"):
        data = (folder / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, repo / "snapshots" / revision),
                   repo / "snapshots" / revision / name)


def test_hf_presets_load_offline_from_a_real_cache(checkpoints, tmp_path):
    hf_home = tmp_path / "hf"
    _hub_cache(hf_home, "timm/seresnet50.ra2_in1k", checkpoints / "seresnet50")
    # SEResNet50(weights="imagenet") with its defaults (stride in the 1x1
    # convolution) is the paper's layout: timm's legacy_seresnet50.in1k.
    _hub_cache(hf_home, "timm/legacy_seresnet50.in1k", checkpoints / "legacy_seresnet50")
    cases = [
        {"name": "hf", "call": "from_preset", "preset": "hf://timm/seresnet50.ra2_in1k"},
        {"name": "imagenet", "call": "SEResNet50", "preset": "imagenet",
         "kwargs": {"classifier_activation": None}},
        {"name": "five", "call": "SEResNet50", "preset": "imagenet", "kwargs": {"classes": 5}},
        {"name": "missing", "call": "from_preset", "preset": "hf://timm/seresnet101.a1h_in1k"},
    ]
    report = _run_child(tmp_path, cases, checkpoints / "images.npy",
                        env={"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"})
    assert report["torch_imported"] is False
    _assert_close(np.load(tmp_path / "hf.npy"),
                  np.load(checkpoints / "seresnet50" / "timm_outputs.npy"))
    _assert_close(np.load(tmp_path / "imagenet.npy"),
                  np.load(checkpoints / "legacy_seresnet50" / "timm_outputs.npy"))
    # A 5-way head on every body weight of the preset.
    assert np.load(tmp_path / "five.npy").shape == (2, 5)
    body = {k: v for k, v in report["imagenet"]["weights"].items()
            if not k.startswith("predictions")}
    assert {k: v for k, v in report["five"]["weights"].items()
            if not k.startswith("predictions")} == body
    assert report["five"]["weights"]["predictions/kernel"] != \
        report["imagenet"]["weights"]["predictions/kernel"]
    error = report["missing"]["error"]
    assert "\n" not in error
    assert "hf://timm/seresnet101.a1h_in1k is not in the Hugging Face cache" in error


# timm's ResNet class with other blocks, as a timm checkpoint's model_args give them.
MODEL_ARGS = {"resnet50_ese": ("resnet50", {"block_args": {"attn_layer": "ese"}}),
              "resnet50_cbam": ("resnet50", {"block_args": {"attn_layer": "cbam"}})}


@pytest.mark.parametrize("name", [*TIMM_ARCHITECTURES, *MODEL_ARGS])
def test_the_architecture_table_agrees_with_from_timm(name):
    architecture, model_args = MODEL_ARGS.get(name, (name, {}))
    module = timm.create_model(architecture, pretrained=False, **model_args)
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    assert preset_builder_arguments(architecture, model_args, state) == \
        timm_builder_arguments(module)


def test_a_converted_model_s_preset_loads_in_timm(tmp_path):
    module = _random_timm("seresnext26d_32x4d", {}, 11)
    model = from_timm(module)
    save_preset(model, tmp_path)
    again = timm.create_model("seresnext26d_32x4d", pretrained=True,
                              pretrained_cfg_overlay={"file": str(tmp_path / "model.safetensors")})
    expected = _timm_outputs(module, IMAGES)
    _assert_close(_timm_outputs(again.eval(), IMAGES), expected)
    _assert_close(np.asarray(from_preset(str(tmp_path)).predict(IMAGES, verbose=0)), expected)
