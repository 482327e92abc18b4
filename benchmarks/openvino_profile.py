"""Where SE's time goes in OpenVINO: per-node performance counters of keras_se's and timm's
SE-ResNet-50 and ResNet-50, one 224x224 image, float32 on the CPU.

keras_se's models go through Keras' `model.export(format="openvino")` (TensorFlow backend,
the app's `se-tune export`), timm's through `torch.onnx.export`, as in
`runtime_latency.py`. One process compiles the four models with `PERF_COUNT` on and
reads each infer request's profiling info, calling the four in turn, (OpenVINO's per-node counters: the node as
compiled, after OpenVINO's fusions, its type, the kernel that ran it and its time) over
`--repeats` calls; each node keeps its median. Printed: per model, the total of the
counters and the nodes executed; per stack, the time of each node type that SE-ResNet-50 adds over ResNet-50; and the nodes of one SE
block (the last stage's first) side by side, with their kernels and times.

    python benchmarks/openvino_profile.py          # table + results/openvino_profile.json
    python benchmarks/openvino_profile.py --keras_kwargs '{"stride_in_1x1": false}' \
        --output benchmarks/results/openvino_profile_stride_in_3x3.json

Needs the `export` and `convert` extras; each stack exports in its own process.
"""

import argparse
import collections
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import runtime_latency  # noqa: E402
from runtime_latency import MODELS, export_timm  # noqa: E402

STACKS = {"keras": ".xml", "timm": ".onnx"}
# The SE block profiled node by node: the last stage's first (2048 channels).
KERAS_BLOCK, TIMM_BLOCK = "conv5_block1_se", "layer4.0/se/"


def _path(args, stack, label):
    return runtime_latency.model_path(args, stack, label, STACKS[stack])


def export_keras(args):
    """Writes keras_se's two models as OpenVINO IR, as `runtime_latency.py` does."""
    return runtime_latency.export_keras(args, {"openvino": STACKS["keras"]})


def profile(args):
    """Per-node median times (ms) of the four models, compiled with PERF_COUNT."""
    import numpy as np
    import openvino

    core = openvino.Core()
    requests, images = {}, {}
    for stack in STACKS:
        shape = ((1, 3, args.image_size, args.image_size) if stack == "timm"
                 else (1, args.image_size, args.image_size, 3))
        for label in MODELS:
            compiled = core.compile_model(_path(args, stack, label), "CPU", {
                "PERF_COUNT": True, "INFERENCE_PRECISION_HINT": "f32",
                "PERFORMANCE_HINT": "LATENCY"})
            requests[f"{stack} {label}"] = compiled.create_infer_request()
            images[f"{stack} {label}"] = np.random.default_rng(1).normal(
                size=shape).astype("float32")
    times = {key: collections.defaultdict(list) for key in requests}
    kinds = {key: {} for key in requests}
    # The four models in turn, call by call, so that the machine's load moves them alike.
    for call in range(args.warmup + args.repeats):
        for key, request in requests.items():
            request.infer({0: images[key]})
            if call < args.warmup:
                continue
            for node in request.profiling_info:
                if node.status == node.Status.EXECUTED:
                    times[key][node.node_name].append(node.real_time.total_seconds() * 1e3)
                    kinds[key][node.node_name] = (node.node_type, node.exec_type)
    results = {key: [{"name": name, "type": kinds[key][name][0], "kernel": kinds[key][name][1],
                      "ms": statistics.median(ms)} for name, ms in times[key].items()]
               for key in requests}
    return {"openvino": openvino.__version__, "nodes": results}


def se_block(nodes, block):
    """The nodes of one SE block in execution order: from the squeeze (the mean)
    to the rescale. OpenVINO names some of them after the converter's transposes
    rather than the layer, so the block runs from the last mean before its first
    named node to the first multiply after its last."""
    named = [i for i, n in enumerate(nodes) if block in n["name"]]
    first, last = named[0], named[-1]
    while first > 0 and nodes[first]["type"] != "ReduceMean":
        first -= 1
    while last + 1 < len(nodes) and nodes[last]["type"] not in ("Multiply", "Subgraph"):
        last += 1
    return nodes[first:last + 1]


def _by_type(nodes):
    totals = collections.Counter()
    for node in nodes:
        totals[node["type"]] += node["ms"]
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--keras_kwargs", default="{}", type=common.json_object,
                        help='more arguments of keras_se\'s builder, as JSON: '
                             '\'{"stride_in_1x1": false}\' strides in the 3x3 as timm does')
    parser.add_argument("--work_dir", help=argparse.SUPPRESS)
    children = {"export_keras": export_keras, "export_timm": export_timm, "profile": profile}
    common.add_child_arguments(parser, "openvino_profile", children)
    args = parser.parse_args()
    if common.serve_child(args, children):
        return

    with tempfile.TemporaryDirectory() as work_dir:
        base = ["--image_size", str(args.image_size), "--work_dir", work_dir]
        for name in ("export_keras", "export_timm"):
            result = common.run_child(__file__, base + ["--keras_kwargs", args.keras_kwargs,
                                                        "--child", name])
            if "error" in result:
                raise SystemExit(f"{name} failed: {result['error']}")
        result = common.run_child(__file__, base + [
            "--warmup", str(args.warmup), "--repeats", str(args.repeats), "--child", "profile"])
        if "error" in result:
            raise SystemExit(f"profile failed: {result['error']}")
    nodes = result["nodes"]

    info = common.machine()
    print(f"OpenVINO {result['openvino']}, f32, one {args.image_size}x{args.image_size} image, "
          f"median per-node time of {args.repeats} calls; CPU: {info.get('cpu')}, "
          f"{info['cpus']} cores\n")
    rows = []
    for stack in STACKS:
        plain, se = (nodes[f"{stack} {label}"] for label in MODELS)
        plain_ms, se_ms = (sum(n["ms"] for n in part) for part in (plain, se))
        rows.append([stack, plain_ms, se_ms, f"x{se_ms / plain_ms:.3f}", len(plain), len(se)])
    print("Sum of the node counters (ms), and nodes executed:")
    common.print_table(["stack", "ResNet-50", "SE-ResNet-50", "SE overhead", "nodes",
                        "nodes with SE"], rows)
    print("\nWhat SE-ResNet-50 adds over ResNet-50, by node type (ms):")
    added = {stack: _by_type(nodes[f"{stack} SE-ResNet-50"]) - _by_type(
        nodes[f"{stack} ResNet-50"]) for stack in STACKS}
    kinds = sorted(set(added["keras"]) | set(added["timm"]),
                   key=lambda k: -(added["keras"][k] + added["timm"][k]))
    common.print_table(["node type", "keras_se", "timm"],
                       [[k, added["keras"][k], added["timm"][k]] for k in kinds])

    print(f"\nOne SE block, node by node (keras_se {KERAS_BLOCK}, timm {TIMM_BLOCK}):")
    for stack, block in (("keras", KERAS_BLOCK), ("timm", TIMM_BLOCK)):
        rows = [[n["name"][-60:], n["type"], n["kernel"], n["ms"]]
                for n in se_block(nodes[f"{stack} SE-ResNet-50"], block)]
        print(f"\n{stack}: {len(rows)} nodes, {sum(r[3] for r in rows):.3f} ms")
        common.print_table(["node", "type", "kernel", "ms"], rows)
    common.write_json(args.output, {
        "benchmark": "openvino_profile", "machine": info, "args": common.settings(args),
        "openvino": result["openvino"], "nodes": nodes})


if __name__ == "__main__":
    main()
