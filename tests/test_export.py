"""keras_se's models through Keras' `model.export`, each file run in its runtime.

The runtimes come with the `export` extra, which the tox envs install; a test
skips only where a runtime's package is missing.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_se
from keras_se import models
from se_tune import runtimes

# Exports and their runtimes are the slow tier.
pytestmark = pytest.mark.slow

BACKEND = keras.backend.backend()
# The formats Keras exports from this back end (LiteRT: TensorFlow only).
FORMATS = [name for name, spec in runtimes.FORMATS.items() if BACKEND in spec.backends]
# keras-se exports (and se-tune export takes) what Keras exports from TensorFlow and JAX.
APP_BACKENDS = pytest.mark.skipif(not FORMATS, reason="export is tested from TensorFlow and "
                                  f"JAX; this is {BACKEND}")


def _require(format):
    for package in runtimes.FORMATS[format].packages[BACKEND]:
        pytest.importorskip(package)


def randomize(model, seed=0):
    """Every weight and batch-norm statistic of `model` drawn at random, so that
    no block starts at an identity (zero-init gammas, zero biases)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith(("moving_variance", "gamma")):
            value = rng.uniform(0.5, 1.5, size=shape)
        elif variable.path.endswith(("kernel", "depthwise_kernel")):
            fan_in = max(1, int(np.prod(shape[:-1])))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        else:  # biases, betas, moving means
            value = rng.normal(0.0, 0.2, size=shape)
        variable.assign(value.astype("float32"))
    return model


def se_resnet():
    return randomize(models.CifarSEResNet(depth=20, input_shape=(16, 16, 3), classes=10,
                                          classifier_activation=None))


def retrofitted_mobilenet():
    base = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                          classes=10, classifier_activation=None)
    return randomize(keras_se.retrofit(base, se_ratio=4), seed=1)


def folded_se_resnet():
    return keras_se.fold_batch_norm(se_resnet())


MODELS = {"se_resnet": se_resnet, "retrofitted_mobilenet_v2": retrofitted_mobilenet,
          "folded_se_resnet": folded_se_resnet}


def export_and_compare(model, format, directory, batch=3):
    """Exports `model`, runs the file in its runtime on a random batch and
    asserts the Keras model's outputs; returns the file's path."""
    x = np.random.default_rng(2).uniform(size=(batch, *model.input_shape[1:])).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    path = runtimes.export_path(str(directory), format)
    runtimes.export_model(model, path, format)
    got = runtimes.load_runtime(path, format)(x)
    assert got.shape == expected.shape
    # Logits of O(1) to O(10): a wrong or missing gate moves them by far more.
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
    return path


@APP_BACKENDS
@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("name", list(MODELS))
def test_every_kind_of_model_exports_and_runs_in_its_runtime(name, format, tmp_path):
    _require(format)
    model = MODELS[name]()
    assert keras_se.utils.se_layers(model), "the model under test has no SE block"
    export_and_compare(model, format, tmp_path)


@pytest.mark.timm
def test_a_converted_timm_model_exports_and_runs_in_each_runtime(tmp_path):
    # torch and TensorFlow do not share a process: convert here (KERAS_BACKEND=torch),
    # export under TensorFlow in a child process.
    if BACKEND != "torch":
        pytest.skip("from_timm runs under the torch back end (the tox env 'jax-torch')")
    timm = pytest.importorskip("timm")
    import torch

    from keras_se.convert import from_timm

    module = timm.create_model("seresnet18", pretrained=False, num_classes=10)
    torch.manual_seed(0)
    with torch.no_grad():  # timm zero-inits the last BN of each branch: draw every state
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point:
                if name.endswith("running_var") or name.endswith("bn2.weight"):
                    tensor.uniform_(0.5, 1.5)
                else:
                    tensor.normal_(0.0, 0.1)
    module.eval()
    model = from_timm(module, input_shape=(32, 32, 3), include_preprocessing=False)
    x = np.random.default_rng(3).uniform(size=(2, 32, 32, 3)).astype("float32")
    with torch.no_grad():
        reference = module(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), reference,
                               rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "converted.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "reference.npy", reference)
    code = f"""
import json, sys
import numpy as np, keras
import keras_se  # registers the layers for loading
from se_tune import runtimes
model = keras.saving.load_model({str(tmp_path / "converted.keras")!r}, safe_mode=True)
x = np.load({str(tmp_path / "x.npy")!r})
reference = np.load({str(tmp_path / "reference.npy")!r})
done = {{}}
for format in runtimes.FORMATS:
    try:
        runtimes.check_format(format)
    except Exception as missing:
        done[format] = "missing: " + str(missing)
        continue
    path = runtimes.export_path({str(tmp_path)!r}, format)
    runtimes.export_model(model, path, format)
    done[format] = float(np.abs(runtimes.load_runtime(path, format)(x) - reference).max())
print(json.dumps(done))
"""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(differences) == set(runtimes.FORMATS)
    scale = float(np.abs(reference).max())
    missing = [d for d in differences.values() if isinstance(d, str)]
    for format, difference in differences.items():
        if not isinstance(difference, str):
            assert difference <= 1e-4 * max(1.0, scale), (format, difference)
    if missing:
        pytest.skip("; ".join(missing))


# se-tune export


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    """A tiny SE model fitted by se-tune, in its run folder."""
    pytest.importorskip("keras_tuner")
    from app_helpers import TINY
    from se_tune import cli

    run_dir = tmp_path_factory.mktemp("fit")
    assert cli.main(["fit", *TINY, "--train.epochs", "1", "--run_dir", str(run_dir)]) == 0
    return run_dir


@APP_BACKENDS
@pytest.mark.parametrize("format", FORMATS)
def test_export_command_writes_the_file_and_its_report(format, fitted_run, tmp_path, capsys):
    from se_tune import cli

    _require(format)
    out = tmp_path / "export"
    argv = ["export", "--model_path", str(fitted_run / "model.keras"), "--format", format,
            "--latency_runs", "5", "--run_dir", str(out)]
    assert cli.main(argv) == 0
    report = json.loads((out / "export.json").read_text())
    assert os.path.exists(runtimes.export_path(str(out), format)) and report["format"] == format
    # The run's own split: 96 images, 20% of them test images.
    assert report["test_images"] == 19
    assert report["max_abs_difference"] < 1e-4 and report["same_class_fraction"] == 1.0
    assert report["runtime_test_accuracy"] == report["keras_test_accuracy"]
    assert report["keras_latency_ms"] > 0 and report["runtime_latency_ms"] > 0
    printed = capsys.readouterr().out
    assert "batch-1 latency (ms)" in printed and str(out / "export.json") not in printed
    assert (out / "export_config.yaml").exists()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Keras exports LiteRT from TensorFlow")
def test_int8_litert_loses_at_most_one_point_of_test_accuracy_on_digits(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter
    from se_tune import cli

    # The default run: a CIFAR SE-ResNet-20 on the digits (359 test images).
    fit_dir, out = tmp_path / "fit", tmp_path / "export"
    assert cli.main(["fit", "--train.verbose", "0", "--run_dir", str(fit_dir)]) == 0
    assert cli.main(["export", "--model_path", str(fit_dir / "model.keras"), "--format",
                     "litert", "--quantize", "int8", "--latency_runs", "5",
                     "--run_dir", str(out)]) == 0
    report = json.loads((out / "export.json").read_text())
    assert report["test_images"] == 359
    assert report["keras_test_accuracy"] >= 0.9  # a trained model, not chance (0.1)
    assert report["keras_test_accuracy"] - report["runtime_test_accuracy"] <= 0.01
    # Full integer: every tensor is int8 (or int32 biases) but the float input and
    # output that the converter's first and last ops quantize and dequantize.
    interpreter = Interpreter(model_path=report["file"])
    ends = {interpreter.get_input_details()[0]["index"],
            interpreter.get_output_details()[0]["index"]}
    tensors = interpreter.get_tensor_details()
    floats = {d["index"] for d in tensors if d["dtype"] == np.float32}
    assert floats == ends
    assert sum(d["dtype"] == np.int8 for d in tensors) > 100


@APP_BACKENDS
@pytest.mark.parametrize("args,message", [
    (["--model_path", "MISSING"], "model_path must be a saved .keras model. Received: '/"),
    (["--model_path", "PLAIN"], "model_path must be a model with SE blocks (or ESE, ECA, "
     "CBAM, Gather-Excite); this one has none. Received: '/"),
    (["--format", "onnx", "--quantize", "int8"],
     "quantize='int8' applies to format='litert' only. Received: quantize='int8' with "
     "format='onnx'"),
    (["--format", "coreml"], 'Parser key "format": Expected a typing.Literal['
     "'tf_saved_model', 'onnx', 'openvino', 'litert']. Got value: coreml"),
    (["--format", "onnx", "NO_RUNTIME"], "format='onnx' needs the Python package 'onnxruntime', "
     "which is not installed (pip install \"keras-se[export]\"). Received: format='onnx'"),
])
def test_export_bad_input_is_one_line_and_exit_2(args, message, fitted_run, tmp_path,
                                                  monkeypatch, capsys):
    from se_tune import cli

    plain = tmp_path / "plain.keras"
    if "PLAIN" in args:
        models.CifarSEResNet(depth=20, input_shape=(8, 8, 3), classes=3,
                             se_ratio=None).save(plain)
    if "NO_RUNTIME" in args:
        args = [a for a in args if a != "NO_RUNTIME"]
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what a missing package raises
    replace = {"MISSING": str(tmp_path / "none.keras"), "PLAIN": str(plain)}
    args = [replace.get(a, a) for a in args]
    if "--model_path" not in args:
        args += ["--model_path", str(fitted_run / "model.keras")]
    assert cli.main(["export", *args, "--run_dir", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("se-tune: error:") and message in err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()  # refused before anything is written
