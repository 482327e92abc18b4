"""CPU latency: one 224x224 image through SE-ResNet-50 and ResNet-50, keras_se against timm.

keras_se runs on the TensorFlow backend with XLA (`--backend jax` runs it under jax.jit
instead); timm runs in PyTorch eager mode, both in float32 and inference mode. Each stack runs in
its own process and times its two models call by call in turn, so that the SE overhead (the ratio
of the two, the median over pairs of neighbouring calls) is measured under the same load; the
stacks alternate over `--rounds` rounds and each keeps its fastest round.

    python benchmarks/cpu_latency.py                    # table + benchmarks/results/cpu_latency.json
    python benchmarks/cpu_latency.py --repeats 20 --rounds 1 --image_size 64   # a quick check
    python benchmarks/cpu_latency.py --batch_size 8 --output benchmarks/results/cpu_latency_batch8.json
    python benchmarks/cpu_latency.py --fold_batch_norm --output benchmarks/results/cpu_latency_folded.json
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

# label: (keras_se se_ratio, timm name); the plain model comes first, as the reference.
MODELS = {"ResNet-50": (None, "resnet50"), "SE-ResNet-50": (16, "seresnet50")}


def keras_step(model, x, backend):
    """A call of `model` on `x` that blocks until the result is ready."""
    if backend == "tensorflow":
        import tensorflow as tf

        predict = tf.function(lambda t: model(t, training=False), jit_compile=True)
        x = tf.constant(x)
        return lambda: predict(x).numpy()
    if backend == "jax":
        import jax

        variables = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )

        @jax.jit
        def jitted(variables, t):
            return model.stateless_call(*variables, t, training=False)[0]

        x = jax.device_put(x)
        return lambda: jitted(variables, x).block_until_ready()
    import torch

    model.eval()
    x = torch.from_numpy(x)

    def step():
        with torch.inference_mode():
            model(x, training=False)

    return step


def timed_pair(steps, args):
    """Latency (ms) of each model and the SE overhead, from calls timed in turn."""
    plain, se = common.interleaved_times(steps, args.warmup, args.repeats)
    return {
        "ResNet-50": 1000 * statistics.median(plain),
        "SE-ResNet-50": 1000 * statistics.median(se),
        "overhead": common.paired_ratio(se, plain),
    }


def keras_latency(args):
    os.environ.setdefault("KERAS_BACKEND", args.backend)
    import keras
    import numpy as np

    import keras_se

    size = (args.image_size, args.image_size, 3)
    x = np.random.default_rng(0).normal(size=(args.batch_size, *size)).astype("float32")
    backend = keras.backend.backend()
    steps = []
    for ratio, _ in MODELS.values():
        model = keras_se.models.SEResNet50(weights=None, input_shape=size, se_ratio=ratio)
        if args.fold_batch_norm:
            model = keras_se.fold_batch_norm(model)
        steps.append(keras_step(model, x, backend))
    return {**timed_pair(steps, args), "backend": backend, "keras": keras.__version__}


def timm_latency(args):
    import timm
    import torch

    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size).to(memory_format=torch.channels_last)
    steps = []
    for _, name in MODELS.values():
        model = timm.create_model(name, pretrained=False).eval().to(memory_format=torch.channels_last)

        def step(model=model):
            with torch.inference_mode():
                model(x)

        steps.append(step)
    return {**timed_pair(steps, args), "timm": timm.__version__, "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=1, help="images per call")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100, help="calls of each model per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no_timm", action="store_true", help="skip the timm contestants")
    parser.add_argument("--fold_batch_norm", action="store_true",
                        help="time keras_se models with keras_se.fold_batch_norm applied")
    children = {"keras": keras_latency, "timm": timm_latency}
    common.add_child_arguments(parser, "cpu_latency", children)
    args = parser.parse_args()

    if common.serve_child(args, children):
        return

    timing = ["--image_size", str(args.image_size), "--batch_size", str(args.batch_size),
              "--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    keras_args = timing + ["--child", "keras"] + (["--fold_batch_norm"] if args.fold_batch_norm else [])
    stacks = [("keras_se", keras_args, {"KERAS_BACKEND": args.backend})]
    if not args.no_timm:
        stacks.append(("timm eager", timing + ["--child", "timm"], {}))
    best = common.fastest_of_rounds(
        __file__, stacks, args.rounds, lambda r: r["ResNet-50"] + r["SE-ResNet-50"])

    rows = []
    for stack, _, _ in stacks:
        result = best[stack]
        if "error" in result:
            print(f"{stack}: failed: {result['error']}")
            continue
        name = stack
        if stack == "keras_se":
            name = f"keras_se ({args.backend}{', XLA' if args.backend == 'tensorflow' else ''}" + (
                ", batch norm folded)" if args.fold_batch_norm else ")")
        rows.append([name, result["ResNet-50"], result["SE-ResNet-50"], f"x{result['overhead']:.3f}"])
    size = f"{args.image_size}x{args.image_size}"
    images = f"One {size} image" if args.batch_size == 1 else f"A batch of {args.batch_size} {size} images"
    print(f"\n{images}, float32, median latency (ms) of {args.repeats} calls per model timed in "
          f"turn, fastest of {args.rounds} round(s); SE overhead: median ratio of neighbouring calls:")
    common.print_table(["stack", "ResNet-50", "SE-ResNet-50", "SE overhead"], rows)
    common.write_json(args.output, {
        "benchmark": "cpu_latency", "machine": common.machine(), "args": common.settings(args),
        "results": [{"stack": stack, **result} for stack, result in best.items()],
    })


if __name__ == "__main__":
    main()
