"""The app's training throughput against a bare `model.fit`, on the same model and data.

`se-tune fit` trains CifarSEResNet-56 on synthetic CIFAR-sized data (its own pipeline: seeded
epoch batches, callbacks, TensorBoard logging); the bare run builds the same model with the same
optimizer and loss and calls `model.fit` on device-resident arrays with no callbacks. Both report
training images/s (validation excluded), the median over epochs after the first (compilation).

    python benchmarks/app_throughput.py                        # the app's backend and precision defaults
    KERAS_BACKEND=jax python benchmarks/app_throughput.py --num_samples 20000 --batch_size 256
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def app_run(args):
    from se_tune import cli

    with tempfile.TemporaryDirectory() as run_dir:
        code = cli.main([
            "fit", "--run_dir", run_dir, "--data.name", "synthetic", "--data.image_size", "32",
            "--data.num_samples", str(args.num_samples), "--data.batch_size", str(args.batch_size),
            "--model.name", "CifarSEResNet", "--model.kwargs", json.dumps({"depth": args.depth}),
            "--train.epochs", str(args.epochs), "--train.verbose", "0",
        ])
        if code:
            raise SystemExit(f"se-tune fit failed with exit status {code}")
        with open(os.path.join(run_dir, "summary.json")) as f:
            summary = json.load(f)
    return {"images_per_second": summary["images_per_second"], "dtype_policy": summary["dtype_policy"]}


def bare_run(args):
    import keras

    from se_tune import data, training
    from se_tune.config import ModelConfig, TrainConfig

    config = data.DataConfig(name="synthetic", image_size=32, num_samples=args.num_samples,
                             batch_size=args.batch_size)
    splits = data.load_data(config, seed=0)
    # The app's own model, precision, optimizer, schedule and loss, so that only the
    # training loop differs.
    train = TrainConfig(epochs=args.epochs)
    model, _ = training.prepare_model(ModelConfig(kwargs={"depth": args.depth}), train, config,
                                      splits, seed=0)
    policy = training.PRECISION_POLICIES[training.resolve_precision(train.precision)]
    x = keras.ops.convert_to_tensor(splits.x_train)
    y = keras.ops.convert_to_tensor(training.one_hot(splits.y_train, splits.num_classes))

    class EpochTimer(keras.callbacks.Callback):
        seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = EpochTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[timer])
    steady = timer.seconds[1:] or timer.seconds
    return {"images_per_second": len(splits.x_train) / statistics.median(steady), "dtype_policy": policy}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=56)
    parser.add_argument("--num_samples", type=int, default=4000, help="synthetic images (60%% train)")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each (best kept)")
    children = {"app": app_run, "bare": bare_run}
    common.add_child_arguments(parser, "app_throughput", children)
    args = parser.parse_args()

    if common.serve_child(args, children):
        return

    shared = ["--depth", str(args.depth), "--num_samples", str(args.num_samples),
              "--batch_size", str(args.batch_size), "--epochs", str(args.epochs)]
    runs = [(name, shared + ["--child", name], {}) for name in ("bare", "app")]
    best = common.fastest_of_rounds(__file__, runs, args.rounds,
                                    key=lambda result: -result["images_per_second"])
    for name, result in best.items():
        print(f"{name}: {result}", flush=True)
        if "error" in result:
            raise SystemExit(f"{name} run failed: {result['error']}")
    import keras

    ratio = best["app"]["images_per_second"] / best["bare"]["images_per_second"]
    print(f"\nCifarSEResNet-{args.depth}, synthetic 32x32, batch {args.batch_size}, "
          f"backend {keras.backend.backend()}, {best['app']['dtype_policy']}, training images/s:")
    common.print_table(["run", "images/s"], [
        ["bare model.fit, device-resident arrays", best["bare"]["images_per_second"]],
        ["se-tune fit", best["app"]["images_per_second"]],
        ["se-tune fit / bare", f"{100 * ratio:.1f}%"],
    ])
    common.write_json(args.output, {
        "benchmark": "app_throughput", "machine": common.machine(), "args": common.settings(args),
        "backend": keras.backend.backend(), "results": best, "app_over_bare": ratio,
    })


if __name__ == "__main__":
    main()
