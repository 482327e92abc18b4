"""The image-folder pipeline: peak memory against the number of images, and its
speed beside the training step's, for 224x224 JPEGs.

The script writes a class folder of JPEGs (640x480, 10 classes), then runs, each
in a fresh process:

- `se-tune fit --data.name folder --data.image_size 224 --train.epochs 1
  --train.limit_batches 20` on 2,000 and on 8,000 of the images, recording the
  process's peak resident memory (Linux's VmHWM). The target: the second within
  15% of the first, as a split holds file paths, not pixels;
- the pipeline alone: training batches (decode, resize, scale) per second, as
  `model.fit` asks for them;
- the training step alone: `train_on_batch` of the app's default model at 224x224
  on batches already in memory.

    python benchmarks/folder_pipeline.py        # table + results/folder_pipeline.json
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

CLASSES = 10


def write_images(root, count):
    """`count` JPEGs of smooth random colour fields, spread over the classes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = os.path.join(root, f"class_{i % CLASSES}")
        os.makedirs(folder, exist_ok=True)
        small = rng.integers(0, 256, size=(15, 20, 3), dtype=np.uint8)
        Image.fromarray(small).resize((640, 480), Image.BILINEAR).save(
            os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def subset(root, target, count):
    """A folder of symbolic links to the first `count` images of `root`."""
    for cls in sorted(os.listdir(root)):
        os.makedirs(os.path.join(target, cls))
        names = sorted(os.listdir(os.path.join(root, cls)))[:count // CLASSES]
        for name in names:
            os.symlink(os.path.join(root, cls, name), os.path.join(target, cls, name))


def fit(args):
    from se_tune import cli

    with tempfile.TemporaryDirectory() as run_dir:
        status = cli.main(["fit", "--data.name", "folder", "--data.data_dir", args.folder,
                           "--data.image_size", "224", "--data.batch_size",
                           str(args.batch_size), "--train.epochs", "1",
                           "--train.limit_batches", "20", "--train.verbose", "0",
                           "--run_dir", run_dir])
    if status:
        raise SystemExit(status)
    return {"peak_rss": common.proc_status("VmHWM")}


def pipeline(args):
    import numpy as np

    from se_tune.data import DataConfig, EpochBatches, load_data

    splits = load_data(DataConfig(name="folder", data_dir=args.folder, image_size=224), seed=0)
    batches = EpochBatches(splits.x_train, splits.y_train, args.batch_size, seed=0)
    batches.batch(0)  # Pillow's first-use set-up
    start = time.perf_counter()
    n = min(len(batches), 30)
    for index in range(1, n + 1):
        batches.batch(index)
    images_per_second = n * args.batch_size / (time.perf_counter() - start)
    import keras

    import keras_se

    model = keras_se.models.CifarSEResNet(depth=20, input_shape=(224, 224, 3),
                                          classes=CLASSES)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batches.batch(0)

    def step():
        model.train_on_batch(x, y)

    times = common.interleaved_times([step], warmup=2, repeats=10)[0]
    return {"pipeline_images_per_second": images_per_second,
            "train_images_per_second": args.batch_size / float(np.median(times)),
            "backend": keras.backend.backend()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="the folder of 8,000 JPEGs (default: written anew)")
    parser.add_argument("--batch_size", type=int, default=32)
    children = {"fit": fit, "pipeline": pipeline}
    common.add_child_arguments(parser, "folder_pipeline", children)
    args = parser.parse_args()
    if common.serve_child(args, children):
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or os.path.join(tmp, "images_8000")
        if not args.folder:
            write_images(folder, 8000)
        small = os.path.join(tmp, "images_2000")
        subset(folder, small, 2000)
        batch = ["--batch_size", str(args.batch_size)]
        runs = {count: common.run_child(__file__, ["--child", "fit", "--folder", path, *batch])
                for count, path in ((2000, small), (8000, folder))}
        speed = common.run_child(__file__, ["--child", "pipeline", "--folder", folder, *batch])
    failed = [r["error"] for r in (*runs.values(), speed) if "error" in r]
    if failed:
        raise SystemExit(f"failed: {failed[0]}")
    mib = 1024 * 1024
    growth = runs[8000]["peak_rss"] / runs[2000]["peak_rss"] - 1
    common.print_table(
        ["images", "peak RSS of the fit (MiB)"],
        [[count, r["peak_rss"] / mib] for count, r in runs.items()])
    print(f"\npeak RSS, 8,000 against 2,000 images: {growth:+.1%} (target: within 15%)")
    print(f"pipeline: {speed['pipeline_images_per_second']:,.0f} images/s; training step "
          f"({speed['backend']}): {speed['train_images_per_second']:,.0f} images/s")
    common.write_json(args.output, {
        "machine": common.machine(), "settings": common.settings(args),
        "peak_rss": {str(k): r["peak_rss"] for k, r in runs.items()},
        "growth": growth, **speed})


if __name__ == "__main__":
    main()
