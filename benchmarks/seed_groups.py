"""Training images/s of the default search's configuration with its seeds one at a time
and K seeds together in one compiled training step.

"Together" is K independent copies of the model in one Keras model: each copy has its
own initial weights (seed + k), its own batch order, its own loss and its own optimizer
slots, and one `fit` step trains all K. One at a time (K = 1) is the search's own path.
The K = 1, 3, 5 models are timed in turn in one process, one epoch of the default
search's data each, for several alternating rounds; each K keeps its fastest epoch.
Images/s counts every copy's images (K x the epoch's images).

    python benchmarks/seed_groups.py                   # K = 1, 3, 5; 4 rounds
    python benchmarks/seed_groups.py --groups 1 2 4 --rounds 6
    KERAS_BACKEND=jax python benchmarks/seed_groups.py
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def grouped_model(k, model_config, train, data_config, splits, seed):
    """K copies of the search's model side by side, compiled as one: copy i is
    built under seed + i and trains on its own input with its own loss."""
    import keras

    from se_tune import training

    inputs, outputs = [], []
    for i in range(k):
        copy, _ = training.prepare_model(model_config, train, data_config, splits, seed + i)
        # Each copy sits in its own wrapper so that the copies' fixed layer names
        # do not collide in the outer model.
        wrapper = keras.Sequential([copy], name=f"seed_{seed + i}")
        x = keras.Input(splits.input_shape, name=f"images_{i}")
        inputs.append(x)
        outputs.append(wrapper(x))
    model = keras.Model(inputs, outputs, name=f"seeds_{k}")
    # The search's optimizer and loss, one loss per copy (their sum is minimised:
    # each copy's gradient is its own loss's).
    model.compile(
        optimizer=training.make_optimizer(train, training.steps_per_epoch(splits, data_config)),
        loss=[keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=train.label_smoothing)] * k,
        jit_compile=train.jit_compile,
    )
    return model


def positive(text):
    """A count of at least 1, or argparse's one-line error naming the value."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1. Received: {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=positive, nargs="+", default=[1, 3, 5])
    parser.add_argument("--rounds", type=positive, default=4)
    parser.add_argument("--jit_compile", choices=["auto", "true", "false"], default="auto",
                        help="train.jit_compile (default: the search's own, auto)")
    parser.add_argument("--output", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", "seed_groups.json"))
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from se_tune import data, training
    from se_tune.config import ModelConfig, TrainConfig

    data_config = data.DataConfig()
    splits = data.load_data(data_config, seed=0)
    model_config = ModelConfig()
    train = TrainConfig(jit_compile={"auto": "auto", "true": True, "false": False}[
        args.jit_compile])
    y = training.one_hot(splits.y_train, splits.num_classes)
    epochs = []
    for k in args.groups:
        model = grouped_model(k, model_config, train, data_config, splits, seed=0)
        orders = [np.random.default_rng(i).permutation(len(y)) for i in range(k)]
        xs = [splits.x_train[o] for o in orders]
        ys = [y[o] for o in orders]

        def epoch(model=model, xs=xs, ys=ys):
            model.fit(xs, ys, batch_size=data_config.batch_size, epochs=1, shuffle=False,
                      verbose=0)

        epochs.append(epoch)
    # First epoch of each: tracing and compilation, timed apart.
    compile_s = common.interleaved_times(epochs, warmup=0, repeats=1)
    times = common.interleaved_times(epochs, warmup=0, repeats=args.rounds)
    images = len(y)
    rows = []
    for k, first, seconds in zip(args.groups, compile_s, times):
        best = min(seconds)
        rows.append({
            "seeds_together": k,
            "images_per_second": k * images / best,
            "per_seed_step_ms": 1000 * best / (k * training.steps_per_epoch(splits, data_config)),
            "first_epoch_s": first[0],
        })
    base = rows[0]["images_per_second"]
    for row in rows:
        row["speedup"] = row["images_per_second"] / base
    print(f"{model_config.name} {model_config.kwargs or ''}, {data_config.name}, batch "
          f"{data_config.batch_size}, backend {keras.config.backend()}, best epoch of "
          f"{args.rounds} alternating rounds:")
    columns = ["seeds_together", "images_per_second", "speedup", "per_seed_step_ms",
               "first_epoch_s"]
    common.print_table(columns, [[row[c] for c in columns] for row in rows])
    common.write_json(args.output, {
        "benchmark": "seed_groups", "machine": common.machine(), "args": common.settings(args),
        "backend": keras.config.backend(), "batch_size": data_config.batch_size,
        "train_images": images, "rows": rows})


if __name__ == "__main__":
    main()
