"""CPU latency: one 224x224 image through SE-ResNet-50 and ResNet-50, keras_se against timm.

keras_se runs on the TensorFlow backend with XLA (`--backend jax` runs it under jax.jit
instead); timm runs in PyTorch eager mode, both in float32 and inference mode, each in its own
process, contestants alternating over `--rounds` rounds (the best median of each is kept).

    python benchmarks/cpu_latency.py                    # table + benchmarks/results/cpu_latency.json
    python benchmarks/cpu_latency.py --repeats 20 --rounds 1 --image_size 64   # a quick check
    python benchmarks/cpu_latency.py --batch_size 8 --output benchmarks/results/cpu_latency_batch8.json
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

MODELS = {"SE-ResNet-50": ("SEResNet50", 16, "seresnet50"), "ResNet-50": ("SEResNet50", None, "resnet50")}


def keras_latency(args):
    os.environ.setdefault("KERAS_BACKEND", args.backend)
    import keras
    import numpy as np

    import keras_se

    model = keras_se.models.SEResNet50(
        weights=None, input_shape=(args.image_size, args.image_size, 3), se_ratio=args.se_ratio
    )
    x = np.random.default_rng(0).normal(size=(args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        predict = tf.function(lambda t: model(t, training=False), jit_compile=True)
        x = tf.constant(x)

        def step():
            predict(x).numpy()

    elif backend == "jax":
        import jax

        variables = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )

        @jax.jit
        def predict(variables, t):
            return model.stateless_call(*variables, t, training=False)[0]

        x = jax.device_put(x)

        def step():
            predict(variables, x).block_until_ready()

    else:
        import torch

        model.eval()
        x = torch.from_numpy(x)

        def step():
            with torch.inference_mode():
                model(x, training=False)

    seconds = common.median_seconds(step, args.warmup, args.repeats)
    return {"latency_ms": 1000 * seconds, "backend": backend, "keras": keras.__version__}


def timm_latency(args):
    import timm
    import torch

    model = timm.create_model(args.timm_name, pretrained=False).eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size).to(memory_format=torch.channels_last)

    def step():
        with torch.inference_mode():
            model(x)

    seconds = common.median_seconds(step, args.warmup, args.repeats)
    return {"latency_ms": 1000 * seconds, "torch": torch.__version__, "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=1, help="images per call")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no_timm", action="store_true", help="skip the timm contestants")
    children = {"keras": keras_latency, "timm": timm_latency}
    common.add_child_arguments(parser, "cpu_latency", children)
    parser.add_argument("--se_ratio", type=common.ratio, help=argparse.SUPPRESS)
    parser.add_argument("--timm_name", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if common.serve_child(args, children):
        return

    common_args = ["--image_size", str(args.image_size), "--batch_size", str(args.batch_size),
                   "--warmup", str(args.warmup),
                   "--repeats", str(args.repeats)]
    best = {}
    for _ in range(args.rounds):
        for label, (_, ratio, timm_name) in MODELS.items():
            runs = [("keras_se", ["--child", "keras", "--se_ratio", str(ratio).lower()],
                     {"KERAS_BACKEND": args.backend})]
            if not args.no_timm:
                runs.append(("timm eager", ["--child", "timm", "--timm_name", timm_name], {}))
            for stack, extra, env in runs:
                result = common.run_child(__file__, common_args + extra, env)
                key = (stack, label)
                if "error" in result:
                    best.setdefault(key, result)
                elif "latency_ms" not in best.get(key, {}) or result["latency_ms"] < best[key]["latency_ms"]:
                    best[key] = result

    stacks = sorted({stack for stack, _ in best}, reverse=True)
    rows = []
    for stack in stacks:
        plain = best.get((stack, "ResNet-50"), {}).get("latency_ms")
        se = best.get((stack, "SE-ResNet-50"), {}).get("latency_ms")
        name = f"keras_se ({args.backend}{', XLA' if args.backend == 'tensorflow' else ''})" if stack == "keras_se" else stack
        rows.append([name, plain, se, f"x{se / plain:.3f}" if plain and se else None])
    size = f"{args.image_size}x{args.image_size}"
    images = f"One {size} image" if args.batch_size == 1 else f"A batch of {args.batch_size} {size} images"
    print(f"\n{images}, float32, median latency (ms), "
          f"best of {args.rounds} round(s) of {args.repeats}:")
    common.print_table(["stack", "ResNet-50", "SE-ResNet-50", "SE overhead"], rows)
    errors = {f"{s} {m}": r["error"] for (s, m), r in best.items() if "error" in r}
    for key, error in errors.items():
        print(f"{key}: failed: {error}")
    common.write_json(args.output, {
        "benchmark": "cpu_latency", "machine": common.machine(), "args": common.settings(args),
        "results": [{"stack": s, "model": m, **r} for (s, m), r in sorted(best.items())],
    })


if __name__ == "__main__":
    main()
