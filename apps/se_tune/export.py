"""`se-tune export`: a saved model in a deployment format, checked in its runtime."""

import os
import time

import keras
import numpy as np

import keras_se
from se_tune import runtimes
from se_tune.errors import UsageError
from se_tune.latency import inference_latency_ms, median_call_ms
from se_tune.files import load_saved_model, write_json


def load_exportable_model(model_path):
    """The saved model at `model_path`, which must have SE (or successor) blocks.

    Args:
        model_path: a saved `.keras` model.

    Raises:
        UsageError: naming `model_path`, when the file is missing, is not a
            Keras model, or has no SE blocks.

    Example:

    >>> model = load_exportable_model("runs/search/best_model.keras")
    """
    model = load_saved_model(model_path)
    if not keras_se.utils.se_layers(model):
        raise UsageError("model_path must be a model with SE blocks (or ESE, ECA, CBAM, "
                         f"Gather-Excite); this one has none. Received: {model_path!r}")
    return model


def export_and_report(model, splits, run_dir, format, quantize=None, fold_batch_norm=False,
                      calibration_images=256, latency_runs=50, model_path=None):
    """Exports `model` and measures the exported file in its runtime against
    the Keras model, in the same process: agreement of the outputs on the
    test split, test accuracy, and batch-1 latency.

    Args:
        model: a Keras model (see `load_exportable_model`).
        splits: the data (`se_tune.data.Splits`) the model was trained on.
        run_dir: where the exported file and `export.json` go.
        format: tf_saved_model, onnx, openvino or litert.
        quantize: "int8" for LiteRT full-integer quantization, calibrated on
            the first `calibration_images` training images; None for float32.
        fold_batch_norm: fold each batch norm into its convolution first
            (`keras_se.fold_batch_norm`).
        calibration_images: training images the int8 converter calibrates on.
        latency_runs: timed batch-1 calls in each runtime; the median is kept.
        model_path: the model's file, named in the report.

    Returns:
        The report (a dict), also written to `run_dir/export.json`.

    Example:

    >>> model = load_exportable_model("runs/search/best_model.keras")
    >>> report = export_and_report(model, splits, "runs/export", "onnx")
    >>> report["max_abs_difference"] < 1e-4
    True
    """
    expected = tuple(model.input_shape[1:])
    if expected != splits.input_shape:
        raise UsageError(f"the model expects inputs of shape {expected}, the data has "
                         f"{splits.input_shape}. Received: model_path={model_path!r}")
    exported_model = keras_se.fold_batch_norm(model) if fold_batch_norm else model
    path = runtimes.export_path(run_dir, format)
    started = time.perf_counter()
    runtimes.export_model(exported_model, path, format, quantize,
                          representative_images=np.asarray(splits.x_train[:calibration_images]))
    export_seconds = time.perf_counter() - started
    predict = runtimes.load_runtime(path, format)

    batch = 64
    x_test = np.asarray(splits.x_test)  # decodes image files
    keras_out = model.predict(x_test, batch_size=batch, verbose=0)
    runtime_out = np.concatenate([predict(x_test[i:i + batch])
                                  for i in range(0, len(x_test), batch)])
    keras_classes, runtime_classes = keras_out.argmax(axis=1), runtime_out.argmax(axis=1)
    image = np.ascontiguousarray(x_test[:1], dtype="float32")
    report = {
        "model": model_path,
        "format": format,
        "quantize": quantize,
        "fold_batch_norm": fold_batch_norm,
        "file": path,
        "export_seconds": round(export_seconds, 2),
        "test_images": len(splits.y_test),
        "max_abs_difference": float(np.abs(runtime_out - keras_out).max()),
        "same_class_fraction": float((keras_classes == runtime_classes).mean()),
        "keras_test_accuracy": float((keras_classes == splits.y_test).mean()),
        "runtime_test_accuracy": float((runtime_classes == splits.y_test).mean()),
        "keras_latency_ms": inference_latency_ms(model, x_test, 1, runs=latency_runs),
        "runtime_latency_ms": median_call_ms(lambda: predict(image), runs=latency_runs),
        "backend": keras.backend.backend(),
    }
    write_json(os.path.join(run_dir, "export.json"), report)
    return report


def format_report(report):
    """The report as the lines `se-tune export` prints.

    Example:

    >>> print(format_report(report))
    """
    name = report["format"] + (" int8" if report["quantize"] else "")
    rows = [
        ("", "keras", name),
        ("test accuracy", f"{report['keras_test_accuracy']:.4f}",
         f"{report['runtime_test_accuracy']:.4f}"),
        ("batch-1 latency (ms)", f"{report['keras_latency_ms']:.3f}",
         f"{report['runtime_latency_ms']:.3f}"),
    ]
    lines = [f"{a:<22}{b:>10}{c:>18}" for a, b, c in rows]
    lines.append(f"outputs: max |difference| {report['max_abs_difference']:.3g}, same class on "
                 f"{100 * report['same_class_fraction']:.1f}% of {report['test_images']} "
                 "test images")
    return "\n".join(lines)
