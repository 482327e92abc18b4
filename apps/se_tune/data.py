"""Data modules: each gives seeded train/val/test splits.

`digits` (scikit-learn's bundled 8x8 digits, offline), `synthetic`,
`cifar10`/`cifar100` (keras.datasets, or `data_dir` with the extracted CIFAR
python batches) come as NumPy arrays; `folder` (one sub-folder per class of
image files, or `train/`, `val/` and `test/` folders of them) as
`se_tune.image_files.ImageFiles`, decoded batch by batch. Images are float32 in
[0, 1], channels last; labels int32.
"""

import dataclasses
import os
import pickle
import sys
from typing import Literal, Optional

import numpy as np

from se_tune.errors import UsageError
from se_tune.image_files import ImageFiles, read_folder

DATASETS = ("digits", "synthetic", "cifar10", "cifar100", "folder")
# keras.datasets.cifar10's label order.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


@dataclasses.dataclass
class DataConfig:
    """Where the images come from and how they are split and fed.

    Args:
        name: digits, synthetic, cifar10, cifar100 or folder.
        data_dir: the folder of cifar10/cifar100 python batches, or the image
            folder of `folder`.
        image_size: resize images to this size (0: the dataset's own; required
            for `folder`).
        num_classes: classes of `synthetic`.
        num_samples: images of `synthetic`.
        val_fraction: share of the images held out for validation.
        test_fraction: share held out for testing.
        batch_size: images per training step.
        augment: random flips and translations (Keras preprocessing layers).
    """

    name: Literal["digits", "synthetic", "cifar10", "cifar100", "folder"] = "digits"
    data_dir: Optional[str] = None
    image_size: int = 0
    num_classes: int = 10
    num_samples: int = 2048
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    batch_size: int = 64
    augment: bool = False


@dataclasses.dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])


class EpochBatches:
    """Batches in an order that depends only on (seed, epoch).

    A run resumed at epoch k sees the same batches as an uninterrupted one;
    `limit` keeps each epoch's first batches only. `se_tune.feeds.fit_feeds`
    hands them to `model.fit`.
    """

    def __init__(self, x, y, batch_size, seed, epoch=0, limit=None):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.limit = limit
        self.seed = seed
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        batches = -(-len(self.x) // self.batch_size)
        return min(batches, self.limit) if self.limit else batches

    def batch(self, index):
        idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return np.asarray(self.x[idx]), self.y[idx]

    def epoch_arrays(self, epoch):
        """`(x, y)` of epoch `epoch`: its batches one after the other, for
        `model.fit(x, y, batch_size, shuffle=False)`."""
        self.set_epoch(epoch)
        parts = [self.batch(index) for index in range(len(self))]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def in_order(x, y, batch_size):
    """`x` and `y` as Keras takes them for `validation_data`, `evaluate` or
    `predict` (`y` may be None): arrays as they are, image files as batches in
    order, each decoded on threads.

    Args:
        x: images (an array or `ImageFiles`).
        y: their labels, or None.
        batch_size: images per batch.

    Example:

    >>> model.predict(in_order(splits.x_test, None, 64))
    """
    if not isinstance(x, ImageFiles):
        return x if y is None else (x, y)
    import keras

    class _Batches(keras.utils.PyDataset):
        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, index):
            part = slice(index * batch_size, (index + 1) * batch_size)
            images = np.asarray(x[part])
            return (images,) if y is None else (images, y[part])

    return _Batches()


def class_names(config, num_classes):
    """The name of each class index of `config`'s data: an image folder's
    class folders, CIFAR-10's labels, else the indices as text.

    Args:
        config: a `DataConfig`.
        num_classes: the classes a model of these data tells apart.

    Example:

    >>> class_names(DataConfig(name="cifar10"), 10)[:2]
    ('airplane', 'automobile')
    """
    if config.name == "folder":
        from se_tune.image_files import folder_classes

        return tuple(folder_classes(config.data_dir))
    if config.name == "cifar10":
        return CIFAR10_CLASSES
    return tuple(str(i) for i in range(num_classes))


def load_data(config, seed):
    """Loads `config.name` and splits it with `seed`."""
    if not 0 < config.val_fraction < 1 or not 0 <= config.test_fraction < 1:
        raise UsageError(
            "data.val_fraction must be in (0, 1) and data.test_fraction in [0, 1). "
            f"Received: val_fraction={config.val_fraction}, "
            f"test_fraction={config.test_fraction}"
        )
    if config.batch_size < 1:
        raise UsageError(f"data.batch_size must be >= 1. Received: {config.batch_size}")
    loader = {
        "digits": _digits,
        "synthetic": _synthetic,
        "cifar10": lambda c, s: _cifar(c, 10),
        "cifar100": lambda c, s: _cifar(c, 100),
        "folder": _folder,
    }[config.name]
    loaded = loader(config, seed)
    if isinstance(loaded, Splits):
        return loaded
    x, y, x_test, y_test, num_classes = loaded
    if config.image_size and config.image_size != x.shape[1]:
        x = _resize(x, config.image_size)
        if x_test is not None:
            x_test = _resize(x_test, config.image_size)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    if x_test is None:
        n_test = int(round(len(x) * config.test_fraction))
        x_test, y_test, x, y = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
    n_val = max(1, int(round(len(x) * config.val_fraction)))
    return Splits(
        x[n_val:], y[n_val:], x[:n_val], y[:n_val], x_test, y_test, num_classes
    )


def _cut(x, y, fraction, seed):
    """A seeded share of (x, y) cut off: (x_rest, y_rest, x_cut, y_cut)."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n = int(round(len(x) * fraction))
    return x[n:], y[n:], x[:n], y[:n]


def _resize(x, size):
    import keras

    return keras.ops.convert_to_numpy(
        keras.ops.image.resize(x, (size, size), data_format="channels_last")
    ).astype("float32")


def _digits(config, seed):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    return x, digits.target.astype("int32"), None, None, 10


def _synthetic(config, seed):
    """Class-dependent patterns plus noise: learnable, any size and class count."""
    if config.num_classes < 2 or config.num_samples < 4 * config.num_classes:
        raise UsageError(
            "synthetic data needs data.num_classes >= 2 and data.num_samples >= "
            f"4 * num_classes. Received: num_classes={config.num_classes}, "
            f"num_samples={config.num_samples}"
        )
    size = config.image_size or 32
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(size=(config.num_classes, size, size, 3)).astype("float32")
    y = rng.integers(0, config.num_classes, size=config.num_samples).astype("int32")
    noise = rng.normal(scale=0.5, size=(config.num_samples, size, size, 3))
    x = np.clip(prototypes[y] + noise.astype("float32"), 0, 1)
    return x.astype("float32"), y, None, None, config.num_classes


def _cifar(config, classes):
    if config.data_dir is None:
        import keras

        dataset = keras.datasets.cifar10 if classes == 10 else keras.datasets.cifar100
        (x, y), (x_test, y_test) = dataset.load_data()
    else:
        x, y, x_test, y_test = _read_cifar_batches(config.data_dir, classes)
    to_float = lambda a: (np.asarray(a, "float32") / 255.0)  # noqa: E731
    return (to_float(x), np.asarray(y, "int32").reshape(-1),
            to_float(x_test), np.asarray(y_test, "int32").reshape(-1), classes)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, lists and dicts only: a CIFAR batch needs no more,
    and a file that asks for anything else (code) is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise UsageError(
            f"data.data_dir has a CIFAR batch that asks to load {module}.{name}; "
            "refusing to unpickle it"
        )


def _read_cifar_batches(data_dir, classes):
    """Reads the CIFAR "python version" files with a restricted unpickler."""
    if classes == 10:
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files, key = ["test_batch"], b"labels"
    else:
        train_files, test_files, key = ["train"], ["test"], b"fine_labels"
    missing = [f for f in train_files + test_files
               if not os.path.isfile(os.path.join(data_dir, f))]
    if missing:
        raise UsageError(
            f"data.data_dir has no CIFAR-{classes} python batches "
            f"(missing {', '.join(missing)}). Received: data_dir={data_dir!r}"
        )

    def read(names):
        xs, ys = [], []
        for fname in names:
            with open(os.path.join(data_dir, fname), "rb") as f:
                batch = _CifarUnpickler(f, encoding="bytes").load()
            xs.append(np.asarray(batch[b"data"], "uint8").reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[key]))
        return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)

    x, y = read(train_files)
    x_test, y_test = read(test_files)
    return x, y, x_test, y_test


def _folder(config, seed):
    """The image folder as files; with `train/` and `val/` folders, their split.
    Without `test/`, the test images are a seeded `test_fraction` of `train/`."""
    parts, classes, skipped = read_folder(config.data_dir, config.image_size or 64)
    if skipped:
        named = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5
                                         else "")
        print(f"se-tune: warning: left out {len(skipped)} unreadable image file(s) of "
              f"data.data_dir: {named}", file=sys.stderr, flush=True)
    if "all" in parts:
        x, y = parts["all"]
        return x, y, None, None, len(classes)
    x, y = parts["train"]
    if "test" in parts:
        x_test, y_test = parts["test"]
    else:
        x, y, x_test, y_test = _cut(x, y, config.test_fraction, seed)
    return Splits(x, y, *parts["val"], x_test, y_test, len(classes))
