"""Where SE's time goes: one 224x224 image through SE-ResNet-50 on a CPU, with parts of the SE block taken out.

Each variant is SEResNet50 on the TensorFlow backend with XLA, float32, batch 1. The variants are
timed call by call in turn in one process, so that their ratios to `no SE` (the median over pairs
of neighbouring calls) are measured under the same load; the fastest of `--rounds` rounds is kept.

- `full`: the SE block as shipped (r = 16);
- `no squeeze`: the gates come from one pixel instead of the spatial mean, so the pass that reads
  the whole feature map is gone (FC layers and scale kept);
- `no FC`: the gates are sigmoid(mean), so the two FC layers are gone (squeeze and scale kept);
- `no SE`: SEResNet50(se_ratio=None).

    python benchmarks/se_cost.py                      # table + benchmarks/results/se_cost.json
    python benchmarks/se_cost.py --repeats 20 --rounds 1 --image_size 64   # a quick check
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

VARIANTS = ["full", "no squeeze", "no FC", "no SE"]


def _gates_without(part):
    """The SE block's gate computation with one part taken out (a profiling device)."""
    from keras import ops

    def without_squeeze(self, inputs):
        z = inputs[:, 0, 0, :]
        h = self.activation(ops.matmul(z, self.reduce_kernel.value) + self.reduce_bias.value)
        return self.gate(ops.matmul(h, self.expand_kernel.value) + self.expand_bias.value)

    def without_fc(self, inputs):
        return self.gate(ops.mean(inputs, axis=(1, 2)))

    return {"no squeeze": without_squeeze, "no FC": without_fc}.get(part)


def model_latency(args):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf

    import keras_se
    from keras_se.layers.squeeze_excite import SqueezeExcite

    x = tf.constant(np.random.default_rng(0).normal(
        size=(1, args.image_size, args.image_size, 3)).astype("float32"))
    shipped = SqueezeExcite._gates
    steps = []
    for variant in VARIANTS:
        model = keras_se.models.SEResNet50(
            weights=None, input_shape=(args.image_size, args.image_size, 3),
            se_ratio=None if variant == "no SE" else 16,
        )
        predict = tf.function(lambda t, model=model: model(t, training=False), jit_compile=True)
        # The graph is traced on the first call: patch the block for that call only.
        SqueezeExcite._gates = _gates_without(variant) or shipped
        try:
            predict(x).numpy()
        finally:
            SqueezeExcite._gates = shipped
        steps.append(lambda predict=predict: predict(x).numpy())
    times = common.interleaved_times(steps, args.warmup, args.repeats)
    plain = times[VARIANTS.index("no SE")]
    return {variant: {"latency_ms": 1000 * statistics.median(t),
                      "against_no_se": common.paired_ratio(t, plain)}
            for variant, t in zip(VARIANTS, times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    children = {"model": model_latency}
    common.add_child_arguments(parser, "se_cost", children)
    args = parser.parse_args()

    if common.serve_child(args, children):
        return

    timing = ["--image_size", str(args.image_size), "--warmup", str(args.warmup),
              "--repeats", str(args.repeats)]
    best = common.fastest_of_rounds(__file__, [("model", timing + ["--child", "model"], {})],
                                    args.rounds, lambda r: r["no SE"]["latency_ms"])
    models = best["model"]
    if "error" in models:
        sys.exit(f"failed: {models['error']}")
    plain = models["no SE"]["latency_ms"]

    def cost(variant):  # ms of SE-ResNet-50's time that the variant leaves out
        return (models["full"]["against_no_se"] - models[variant]["against_no_se"]) * plain

    shows = {
        "full": f"SE costs {cost('no SE'):.2f} ms",
        "no squeeze": f"the squeeze costs {cost('no squeeze'):.2f} ms",
        "no FC": f"the FC layers cost {cost('no FC'):.2f} ms",
        "no SE": "",
    }
    rows = [[v, models[v]["latency_ms"], f"x{models[v]['against_no_se']:.3f}", shows[v]] for v in VARIANTS]
    print(f"\nSE-ResNet-50, one {args.image_size}x{args.image_size} image, TensorFlow + XLA, "
          f"float32, median latency (ms) of {args.repeats} calls per variant timed in turn, "
          f"fastest of {args.rounds} round(s); against no SE: median ratio of neighbouring calls:")
    common.print_table(["variant", "ms", "against no SE", "what it shows"], rows)
    common.write_json(args.output, {
        "benchmark": "se_cost", "machine": common.machine(), "args": common.settings(args),
        "results": models,
    })


if __name__ == "__main__":
    main()
