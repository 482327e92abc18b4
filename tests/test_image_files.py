"""The `folder` data source: files decoded batch by batch, split folders, broken
files, and the same batches as decoded arrays, without TensorFlow too."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras_tuner")

from se_tune.data import DataConfig, EpochBatches, load_data  # noqa: E402
from se_tune.image_files import ImageFiles  # noqa: E402

CLASSES = ("cat", "dog", "owl")


def _images(folder, count, offset=0):
    """`count` distinct JPEGs per class; each image's red channel encodes its
    split offset and index, its green channel its class."""
    for label, cls in enumerate(CLASSES):
        os.makedirs(folder / cls, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (20, 14), (offset + 8 * i, 80 * label, 30)).save(
                folder / cls / f"{i}.jpg", quality=95)


def _config(root, **kwargs):
    return DataConfig(name="folder", data_dir=str(root), image_size=8, **kwargs)


@pytest.mark.parametrize("with_test", [True, False])
def test_train_val_and_test_folders_are_the_splits(tmp_path, with_test):
    _images(tmp_path / "train", 10)
    _images(tmp_path / "val", 3, offset=100)
    if with_test:
        _images(tmp_path / "test", 2, offset=200)
    splits = load_data(_config(tmp_path, test_fraction=0.2), seed=0)
    assert isinstance(splits.x_train, ImageFiles) and splits.input_shape == (8, 8, 3)
    assert splits.num_classes == 3
    assert sorted(splits.x_val.paths) == sorted(
        str(tmp_path / "val" / c / f"{i}.jpg") for c in CLASSES for i in range(3))
    red = lambda x: np.round(np.asarray(x)[:, 4, 4, 0] * 255)  # noqa: E731
    assert (red(splits.x_val) >= 90).all()
    np.testing.assert_array_equal(np.asarray(splits.x_val)[:, 4, 4, 1] * 255 // 70,
                                  splits.y_val)
    if with_test:
        assert len(splits.x_test) == 6 and (red(splits.x_test) >= 190).all()
        assert len(splits.x_train) == 30
    else:  # a seeded fifth of train/, disjoint from the training images
        assert len(splits.x_test) == 6 and len(splits.x_train) == 24
        assert not set(splits.x_test.paths) & set(splits.x_train.paths)
        again = load_data(_config(tmp_path, test_fraction=0.2), seed=0)
        assert list(again.x_test.paths) == list(splits.x_test.paths)
    assert (red(splits.x_train) < 90).all()


def test_a_split_folder_needs_train_and_val(tmp_path):
    from se_tune.errors import UsageError

    _images(tmp_path / "train", 2)
    with pytest.raises(UsageError, match=r"needs both train/ and val/ \(found train/\)"):
        load_data(_config(tmp_path), seed=0)


def test_unreadable_files_are_left_out_and_named_in_one_warning_line(tmp_path, capsys):
    _images(tmp_path, 6)
    whole = (tmp_path / "cat" / "0.jpg").read_bytes()
    (tmp_path / "cat" / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "dog" / "notes.png").write_text("not an image")
    splits = load_data(_config(tmp_path, test_fraction=0.0, val_fraction=0.25), seed=0)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("se-tune: warning: left out 2 unreadable")
    assert str(tmp_path / "cat" / "cut.jpg") in lines[0]
    assert str(tmp_path / "dog" / "notes.png") in lines[0]
    kept = [*splits.x_train.paths, *splits.x_val.paths]
    assert len(kept) == 18 and not {p for p in kept if "cut" in p or "notes" in p}


# The same training run on files (decoded batch by batch in a PyDataset, one
# `fit` call) and on their decoded array (one `fit` call an epoch, see
# `fit_feeds`): equal weights after three epochs mean equal batches, in the
# same (seed, epoch) order.
SAME_TRAINING = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    from se_tune.data import DataConfig, EpochBatches, in_order, load_data
    from se_tune.feeds import fit_feeds
    from se_tune.image_files import ImageFiles

    splits = load_data(DataConfig(name="folder", data_dir=sys.argv[1], image_size=8,
                                  batch_size=4), seed=3)

    def trained(x):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        calls = list(fit_feeds(EpochBatches(x, splits.y_train, 4, seed=3), 0, 3))
        for start, stop, inputs, callbacks in calls:
            model.fit(**inputs, shuffle=False, initial_epoch=start, epochs=stop, verbose=0,
                      callbacks=callbacks)
        print("fit calls:", len(calls))
        # Batches of 4 for both (Keras' default for an array is 32): XLA rounds
        # a product of 4 rows and one of 23 apart.
        size = {} if isinstance(x, ImageFiles) else {"batch_size": 4}
        return model.get_weights(), model.predict(in_order(x, None, 4), verbose=0, **size)

    files, arrays = trained(splits.x_train), trained(np.asarray(splits.x_train))
    for a, b in zip(files[0], arrays[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(files[1], arrays[1])
    print("tensorflow imported:", "tensorflow" in sys.modules)
""")

BLOCK_TENSORFLOW = textwrap.dedent("""
    import sys

    class NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "tensorflow":
                raise ImportError("tensorflow is blocked in this process")

    sys.meta_path.insert(0, NoTensorFlow())
""")


def _same_training(root, backend, prelude=""):
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", prelude + SAME_TRAINING, str(root)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_files_train_as_their_decoded_array_does(tmp_path):
    import keras

    _images(tmp_path, 12)
    done = _same_training(tmp_path, keras.backend.backend())
    assert done.returncode == 0, done.stderr[-2000:]
    # One call for the files, one an epoch for the array.
    assert done.stdout.count("fit calls:") == 2
    assert "fit calls: 1" in done.stdout and "fit calls: 3" in done.stdout


def test_files_train_under_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    _images(tmp_path, 12)
    done = _same_training(tmp_path, "jax", prelude=BLOCK_TENSORFLOW)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tensorflow imported: False" in done.stdout


def test_epoch_batches_decode_only_their_own_images(tmp_path):
    _images(tmp_path, 4)
    files = ImageFiles(sorted(str(p) for p in tmp_path.glob("*/*.jpg")), 8)
    batches = EpochBatches(files, np.arange(12), batch_size=5, seed=1)
    x, y = batches.batch(1)
    np.testing.assert_array_equal(x, np.asarray(files)[y])
    assert x.shape == (5, 8, 8, 3) and x.dtype == np.float32
