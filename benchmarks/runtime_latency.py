"""Batch-1 CPU latency of SE-ResNet-50 and ResNet-50 in the runtimes that serve them.

keras_se's models go through Keras' `model.export` (TensorFlow backend) to ONNX, OpenVINO and
LiteRT (float32, and int8 full-integer quantization calibrated on random images: latency only);
timm's go through `torch.onnx.export`, and the same ONNX files run in ONNX Runtime and OpenVINO.
keras_se with XLA and timm in PyTorch eager mode are timed as well. Every contestant (a stack in
a runtime and precision) runs in its own process and times its two models call by call in turn,
so that the SE overhead (median ratio of neighbouring calls) is measured under the same load; the
contestants alternate over `--rounds` rounds and each keeps its fastest round.

    python benchmarks/runtime_latency.py                     # table + results/runtime_latency.json
    python benchmarks/runtime_latency.py --image_size 64 --repeats 20 --rounds 1   # a quick check
    python benchmarks/runtime_latency.py --keras_kwargs '{"stride_in_1x1": false}'  # timm's layout

Needs the `export` and `convert` extras (runtimes; torch and timm), each stack in its own process.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from cpu_latency import MODELS, keras_step, timed_pair, timm_latency  # noqa: E402

KERAS_FORMATS = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite",
                 "litert_int8": "_int8.tflite"}


def model_path(args, stack, label, suffix):
    """Where a contestant's model file lies: `work_dir/STACK_LABEL.SUFFIX`."""
    return os.path.join(args.work_dir, f"{stack}_{label}{suffix}")


def export_keras(args, formats=KERAS_FORMATS):
    """Writes keras_se's two models in each of `formats` (name: file suffix; TensorFlow
    backend)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np

    import keras_se
    from se_tune.runtimes import export_model  # the app's export: the same int8 options

    size = (args.image_size, args.image_size, 3)
    calibration = np.random.default_rng(0).normal(size=(8, *size)).astype("float32")
    for label, (ratio, _) in MODELS.items():
        model = keras_se.models.SEResNet50(weights=None, input_shape=size, se_ratio=ratio,
                                           **json.loads(args.keras_kwargs))
        for name, suffix in formats.items():
            format, _, quantize = name.partition("_")
            export_model(model, model_path(args, "keras", label, suffix), format, quantize or None,
                         representative_images=calibration)
    return {"exported": list(formats)}


def export_timm(args):
    """Writes timm's two models as ONNX (the TorchScript exporter, opset 17)."""
    import timm
    import torch

    x = torch.randn(1, 3, args.image_size, args.image_size)
    for label, (_, name) in MODELS.items():
        model = timm.create_model(name, pretrained=False).eval()
        torch.onnx.export(model, (x,), model_path(args, "timm", label, ".onnx"), opset_version=17,
                          dynamo=False)
    return {"exported": ["onnx"], "timm": timm.__version__, "torch": torch.__version__}


def _runtime_step(path, runtime, precision, image):
    if runtime == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: image}
        return lambda: session.run(None, feed)
    if runtime == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(
            path, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        return lambda: request.infer({0: image})
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]

    def step():
        interpreter.set_tensor(index, image)
        interpreter.invoke()

    return step


def time_runtime(args):
    """One contestant: `--stack`'s two files in `--runtime` at `--precision`."""
    import numpy as np

    channels_first = args.stack == "timm"
    shape = (1, 3, args.image_size, args.image_size) if channels_first else (
        1, args.image_size, args.image_size, 3)
    image = np.random.default_rng(1).normal(size=shape).astype("float32")
    suffix = {"onnxruntime": ".onnx", "openvino": ".xml", "litert": ".tflite"}[args.runtime]
    if args.stack == "timm":
        suffix = ".onnx"  # OpenVINO reads timm's ONNX files
    label_suffix = "_int8" if args.precision == "int8" else ""
    steps = []
    for label in MODELS:
        path = model_path(args, args.stack, label, suffix)
        if args.runtime == "litert":
            path = model_path(args, args.stack, label, label_suffix + suffix)
        steps.append(_runtime_step(path, args.runtime, args.precision, image))
    return timed_pair(steps, args)


def time_keras_xla(args):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np

    import keras_se

    size = (args.image_size, args.image_size, 3)
    x = np.random.default_rng(1).normal(size=(1, *size)).astype("float32")
    steps = [keras_step(keras_se.models.SEResNet50(weights=None, input_shape=size,
                                                   se_ratio=ratio,
                                                   **json.loads(args.keras_kwargs)),
                        x, "tensorflow")
             for ratio, _ in MODELS.values()]
    return timed_pair(steps, args)


def _has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _instruction_sets():
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split())
    except (OSError, StopIteration):
        return []
    return [name for name in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                              "amx_int8") if name in flags]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50, help="calls of each model per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keras_kwargs", default="{}", type=common.json_object,
                        help='more arguments of keras_se\'s builder, as JSON: '
                             '\'{"stride_in_1x1": false}\' strides in the 3x3 as timm does')
    parser.add_argument("--work_dir", help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.set_defaults(batch_size=1)  # cpu_latency's timm contestant reads it
    children = {"export_keras": export_keras, "export_timm": export_timm,
                "runtime": time_runtime, "keras_xla": time_keras_xla,
                "timm_eager": timm_latency}
    common.add_child_arguments(parser, "runtime_latency", children)
    args = parser.parse_args()
    if common.serve_child(args, children):
        return

    with tempfile.TemporaryDirectory() as work_dir:
        base = ["--image_size", str(args.image_size), "--work_dir", work_dir,
                "--keras_kwargs", args.keras_kwargs]
        exports = {name: common.run_child(__file__, base + ["--child", name])
                   for name in ("export_keras", "export_timm")}
        for name, result in exports.items():
            if "error" in result:
                print(f"{name}: failed: {result['error']}")
        timing = base + ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]

        def contestant(stack, runtime, precision):
            return (f"{stack} | {runtime} | {precision}",
                    timing + ["--child", "runtime", "--stack", stack, "--runtime", runtime,
                              "--precision", precision], {})

        precisions = ["f32", "bf16"] if _has_bf16() else ["f32"]
        contestants = [("keras | TensorFlow XLA | f32", timing + ["--child", "keras_xla"], {}),
                       ("timm | PyTorch eager | f32", timing + ["--child", "timm_eager"], {})]
        if "error" not in exports["export_keras"]:
            contestants += [contestant("keras", "onnxruntime", "f32")]
            contestants += [contestant("keras", "openvino", p) for p in precisions]
            contestants += [contestant("keras", "litert", "f32"),
                            contestant("keras", "litert", "int8")]
        if "error" not in exports["export_timm"]:
            contestants += [contestant("timm", "onnxruntime", "f32")]
            contestants += [contestant("timm", "openvino", p) for p in precisions]
        best = common.fastest_of_rounds(
            __file__, contestants, args.rounds, lambda r: r["ResNet-50"] + r["SE-ResNet-50"])

    rows = []
    for label, _, _ in contestants:
        result = best[label]
        if "error" in result:
            print(f"{label}: failed: {result['error']}")
            continue
        rows.append([*label.split(" | "), result["ResNet-50"], result["SE-ResNet-50"],
                     f"x{result['overhead']:.3f}"])
    info = common.machine()
    info["instruction_sets"] = _instruction_sets()
    print(f"\nOne {args.image_size}x{args.image_size} image, median latency (ms) of {args.repeats} "
          f"calls per model timed in turn, fastest of {args.rounds} round(s); CPU: "
          f"{info.get('cpu')}, {info['cpus']} cores, {' '.join(info['instruction_sets'])}")
    common.print_table(["stack", "runtime", "precision", "ResNet-50", "SE-ResNet-50",
                        "SE overhead"], rows)
    common.write_json(args.output, {
        "benchmark": "runtime_latency", "machine": info, "args": common.settings(args),
        "exports": exports,
        "results": [{"contestant": label, **best[label]} for label, _, _ in contestants],
    })


if __name__ == "__main__":
    main()
