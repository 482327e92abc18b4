"""GPU throughput: SE-ResNet-50 and ResNet-50 training and inference, keras_se against timm.

keras_se runs on the JAX backend under the `mixed_bfloat16` policy with a jitted training step
(forward, backward and an SGD-with-momentum update, buffers donated); timm runs in PyTorch with
bf16 autocast and channels_last, eager and under torch.compile. Synthetic data resident on the
device, each contestant in its own process.

    python benchmarks/gpu_throughput.py          # 224x224, batch 256: table + results/gpu_throughput.json
    python benchmarks/gpu_throughput.py --image_size 32 --batch_size 4 --steps 3 --warmup 1  # CPU check
"""

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

MODELS = {"ResNet-50": (None, "resnet50"), "SE-ResNet-50": (16, "seresnet50")}
STACKS = ["keras_se", "timm eager", "timm compiled"]


def keras_throughput(args):
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    import numpy as np

    import keras_se

    keras.config.set_dtype_policy("mixed_bfloat16" if args.precision == "bf16" else "float32")
    model = keras_se.models.SEResNet50(
        weights=None, input_shape=(args.image_size, args.image_size, 3), se_ratio=args.se_ratio
    )
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.normal(size=(args.batch_size, args.image_size, args.image_size, 3)).astype("float32"))
    y = jax.device_put(rng.integers(0, 1000, size=(args.batch_size,)))
    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def compute_loss(trainable, non_trainable, x, y):
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, y_pred), non_trainable

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def train_step(trainable, non_trainable, opt_vars, x, y):
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return trainable, non_trainable, opt_vars, loss

    @jax.jit
    def predict(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    state = [
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    ]

    def train():
        nonlocal state
        loss = None
        for _ in range(args.steps):
            *state, loss = train_step(*state, x, y)
        loss.block_until_ready()

    def infer():
        out = None
        for _ in range(args.steps):
            out = predict(state[0], state[1], x)
        out.block_until_ready()

    return _measure(args, train, infer, {"backend": "jax", "keras": keras.__version__,
                                         "device": str(jax.devices()[0])})


def timm_throughput(args):
    import timm
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    model = timm.create_model(args.timm_name, pretrained=False).to(device)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    forward = torch.compile(model) if args.compiled else model
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def train():
        model.train()
        for _ in range(args.steps):
            with torch.autocast(device_type=device, dtype=dtype, enabled=args.precision == "bf16"):
                loss = loss_fn(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync()

    def infer():
        model.eval()
        with torch.inference_mode(), torch.autocast(device_type=device, dtype=dtype,
                                                    enabled=args.precision == "bf16"):
            for _ in range(args.steps):
                forward(x)
        sync()

    return _measure(args, train, infer, {"torch": torch.__version__, "timm": timm.__version__,
                                         "device": device})


def _measure(args, train, infer, info):
    result = dict(info)
    for mode, fn in (("train", train), ("infer", infer)):
        for _ in range(args.warmup):
            fn()
        start = time.perf_counter()
        fn()
        result[f"{mode}_images_per_s"] = args.batch_size * args.steps / (time.perf_counter() - start)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes of --steps steps")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated subset of " + ", ".join(STACKS))
    children = {"keras": keras_throughput, "timm": timm_throughput}
    common.add_child_arguments(parser, "gpu_throughput", children)
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--se_ratio", type=common.ratio, help=argparse.SUPPRESS)
    parser.add_argument("--timm_name", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if common.serve_child(args, children):
        return

    stacks = [s.strip() for s in args.stacks.split(",")]
    unknown = sorted(set(stacks) - set(STACKS))
    if unknown:
        parser.error(f"unknown --stacks {unknown}; choose from {STACKS}")
    shared = ["--image_size", str(args.image_size), "--batch_size", str(args.batch_size),
              "--steps", str(args.steps), "--warmup", str(args.warmup), "--precision", args.precision]
    results = {}
    for stack in stacks:
        for label, (ratio, timm_name) in MODELS.items():
            if stack == "keras_se":
                extra = ["--child", "keras", "--se_ratio", str(ratio).lower()]
            else:
                extra = ["--child", "timm", "--timm_name", timm_name]
                extra += ["--compiled"] if stack == "timm compiled" else []
            results[(stack, label)] = common.run_child(__file__, shared + extra)
            print(f"{stack:14s} {label:13s} {results[(stack, label)]}", flush=True)

    print(f"\n{args.image_size}x{args.image_size}, batch {args.batch_size}, {args.precision}, "
          "synthetic data, images/s:")
    rows = []
    for stack in stacks:
        for mode in ("train", "infer"):
            plain = results[(stack, "ResNet-50")].get(f"{mode}_images_per_s")
            se = results[(stack, "SE-ResNet-50")].get(f"{mode}_images_per_s")
            rows.append([stack, mode, plain, se, f"x{plain / se:.3f}" if plain and se else None])
    common.print_table(["stack", "step", "ResNet-50", "SE-ResNet-50", "SE overhead"], rows)
    for (stack, label), r in results.items():
        if "error" in r:
            print(f"{stack} {label}: failed: {r['error']}")
    common.write_json(args.output, {
        "benchmark": "gpu_throughput", "machine": common.machine(), "args": common.settings(args),
        "results": [{"stack": s, "model": m, **r} for (s, m), r in results.items()],
    })


if __name__ == "__main__":
    main()
