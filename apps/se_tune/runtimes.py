"""Exported models in the runtimes that serve them.

Keras writes each format (`model.export`); this module runs the written file in
its own runtime: TensorFlow for a SavedModel, ONNX Runtime, OpenVINO and LiteRT.
The runtimes come with the `export` extra (`pip install "keras-se[export]"`).
"""

import dataclasses
import importlib
import os

import keras
import numpy as np

from se_tune.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Format:
    """One export format.

    Args:
        suffix: the exported file's suffix ("" for a SavedModel's folder).
        packages: for each Keras back end that exports the format, the Python
            packages its export and its runtime need there (all in the
            `export` extra).
    """

    suffix: str
    packages: dict

    @property
    def backends(self):
        return tuple(self.packages)


FORMATS = {
    "tf_saved_model": Format("", {"tensorflow": ("tensorflow",), "jax": ("tensorflow",)}),
    "onnx": Format(".onnx", {"tensorflow": ("tf2onnx", "onnxruntime"),
                             "jax": ("jax2onnx", "onnxruntime")}),
    # From JAX, Keras writes OpenVINO through jax2tf, whose XlaCallModule op
    # OpenVINO does not convert (Keras 3.15, JAX 0.10, OpenVINO 2026.4).
    "openvino": Format(".xml", {"tensorflow": ("openvino",)}),
    "litert": Format(".tflite", {"tensorflow": ("ai_edge_litert",)}),
}


def check_format(format, quantize=None):
    """Refuses, with one line naming the value, a format this installation
    cannot export or run.

    Args:
        format: one of `FORMATS`.
        quantize: None, or "int8" (LiteRT only).

    Raises:
        UsageError: the format is unknown, its back end is not the current
            one, its packages are missing, or it cannot be quantized.

    Example:

    >>> check_format("onnx")
    """
    if format not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}. Received: {format!r}")
    spec = FORMATS[format]
    backend = keras.backend.backend()
    if backend not in spec.backends:
        raise UsageError(
            f"format={format!r} is exported by Keras from the {' or '.join(spec.backends)} "
            f"back end (KERAS_BACKEND); this one is {backend}. Received: format={format!r}")
    for package in spec.packages[backend]:
        try:
            importlib.import_module(package)
        except ImportError:
            raise UsageError(
                f"format={format!r} needs the Python package {package!r}, which is not "
                'installed (pip install "keras-se[export]"). Received: '
                f"format={format!r}") from None
    if quantize is not None and (quantize != "int8" or format != "litert"):
        raise UsageError(f"quantize='int8' applies to format='litert' only. Received: "
                         f"quantize={quantize!r} with format={format!r}")


def export_path(directory, format, name="model"):
    """Where `format` is written in `directory`: `model.onnx`, `model.xml`
    (with its `model.bin`), `model.tflite`, or the folder `model_tf_saved_model`.

    Example:

    >>> export_path("runs/export", "onnx")
    'runs/export/model.onnx'
    """
    suffix = FORMATS[format].suffix or "_tf_saved_model"
    return os.path.join(directory, name + suffix)


def export_model(model, path, format, quantize=None, representative_images=None):
    """Exports `model` with Keras' `model.export`.

    Args:
        model: a built Keras model in float32.
        path: the file (or SavedModel folder) to write; see `export_path`.
        format: tf_saved_model, onnx, openvino or litert.
        quantize: "int8" for LiteRT full-integer post-training quantization:
            every operation in int8, float inputs and outputs.
        representative_images: the images (N, H, W, C) from which the int8
            converter calibrates each tensor's range.

    Example:

    >>> export_model(model, "model.tflite", "litert", "int8", splits.x_train[:256])
    """
    check_format(format, quantize)
    options = {}
    if quantize == "int8":
        import tensorflow as tf  # the converter's own enums; LiteRT exports from TF only

        def representative_dataset():
            for image in representative_images:
                yield [image[None].astype("float32")]

        options = {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": representative_dataset,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        }
    shape = tuple(model.input_shape[1:])
    if None not in shape:
        # Keras exports only a model that has been called (a loaded one has not).
        model(np.zeros((1, *shape), "float32"))
    model.export(path, format=format, verbose=False, **options)


def load_runtime(path, format):
    """A function that runs the exported file at `path` in its runtime.

    OpenVINO runs in float32 (on CPUs with bf16 or AMX its default is bf16),
    so that its outputs are comparable with the Keras model's.

    Args:
        path: what `export_model` wrote.
        format: tf_saved_model, onnx, openvino or litert.

    Returns:
        A function from a float32 batch (a NumPy array, any batch size) to
        the model's output for it (a NumPy array).

    Example:

    >>> predict = load_runtime("runs/export/model.onnx", "onnx")
    >>> predict(splits.x_test[:1]).shape
    (1, 10)
    """
    check_format(format)
    return {"tf_saved_model": _saved_model, "onnx": _onnx_runtime,
            "openvino": _openvino, "litert": _litert}[format](path)


def _saved_model(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # owns the variables: keep it alive with the function
    return lambda x: np.asarray(loaded.serve(tf.constant(x, "float32")))


def _onnx_runtime(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.asarray(x, "float32")})[0]


def _openvino(path):
    import openvino

    compiled = openvino.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda x: np.asarray(compiled(np.asarray(x, "float32"))[0])


def _litert(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=path)
    try:
        interpreter.allocate_tensors()
    except RuntimeError:
        # XNNPACK refuses to prepare some int8 models (seen with a calibration
        # on very few images); LiteRT's built-in kernels run them.
        interpreter = Interpreter(
            model_path=path,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    shape = [None]

    def predict(x):
        x = np.asarray(x, "float32")
        if shape[0] != x.shape:  # the file's batch is 1; other sizes resize it
            interpreter.resize_tensor_input(source, x.shape)
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return predict
