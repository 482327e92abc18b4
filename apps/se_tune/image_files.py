"""The `folder` data source: image files decoded when a batch asks for them.

Memory does not grow with the number of images: a split holds file paths, and
each batch that Keras' `PyDataset` asks for decodes and resizes its images on
threads (Pillow releases the GIL while it decodes), so nothing here needs
TensorFlow. Files that cannot be opened as images are left out when the folder
is read (each is decoded once, in parallel) and named in one warning line.
"""

import concurrent.futures
import os

import numpy as np

from se_tune.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPLIT_FOLDERS = ("train", "val", "test")
# Threads that decode a batch's images; a run's order does not depend on them.
DECODE_THREADS = min(8, os.cpu_count() or 1)


class ImageFiles:
    """A stack of image files that indexes like a float32 NumPy array, lazily.

    `len`, `shape` and `dtype` are those of the decoded stack. A slice or an
    index array gives another `ImageFiles` (nothing is decoded); `np.asarray`
    decodes them: RGB (or grey), resized to `size` x `size`, scaled to [0, 1].

    Args:
        paths: the image files.
        size: the side, in pixels, that each image is resized to.
        channels: 3 (RGB) or 1 (grey).

    Example:

    >>> images = ImageFiles(["cat/1.jpg", "dog/2.png"], size=64)
    >>> np.asarray(images[:1]).shape
    (1, 64, 64, 3)
    """

    dtype = np.dtype("float32")
    ndim = 4

    def __init__(self, paths, size, channels=3):
        self.paths = np.asarray(paths, dtype=object).reshape(-1)
        self.size = size
        self.channels = channels

    def __len__(self):
        return len(self.paths)

    @property
    def shape(self):
        return (len(self.paths), self.size, self.size, self.channels)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return decode_image(self.paths[index], self.size, self.channels)
        return ImageFiles(self.paths[index], self.size, self.channels)

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, "float32")
        with concurrent.futures.ThreadPoolExecutor(DECODE_THREADS) as pool:
            for i, image in enumerate(pool.map(self.__getitem__, range(len(self)))):
                out[i] = image
        return out if dtype is None else out.astype(dtype)


def decode_image(path, size, channels=3):
    """One image file as float32 RGB (or grey) in [0, 1], resized to `size` x `size`.

    Args:
        path: the image file.
        size: the side of the result, in pixels.
        channels: 3 (RGB) or 1 (grey, Pillow's ITU-R 601 luma).

    Example:

    >>> decode_image("cat/1.jpg", 64).shape
    (64, 64, 3)
    """
    from PIL import Image

    try:
        with _open(path, size) as im:
            im = im.convert("RGB" if channels == 3 else "L").resize((size, size), Image.BILINEAR)
            return np.asarray(im, "float32").reshape(size, size, channels) / 255.0
    except (OSError, ValueError, SyntaxError) as error:
        # Opened when the folder was read, unreadable now: stop with its name.
        raise UsageError(f"data.data_dir has an image that cannot be decoded: {path} "
                         f"({error})") from None


def read_folder(root, size):
    """The images of a class-folder tree, and where it is split already.

    `root` holds one sub-folder per class, or `train/` and `val/` (and
    optionally `test/`) sub-folders that each hold the class sub-folders.

    Args:
        root: the image folder.
        size: the side that images are resized to.

    Returns:
        `(splits, class_names, skipped)`: `splits` maps "all", or "train",
        "val" and "test" (when the folder is split), to `(ImageFiles, labels)`;
        `skipped` lists the files that are not readable images.

    Example:

    >>> splits, classes, skipped = read_folder("photos", size=224)
    """
    _check_folder(root)
    given = [name for name in SPLIT_FOLDERS if os.path.isdir(os.path.join(root, name))]
    if given and not {"train", "val"} <= set(given):
        raise UsageError("data.data_dir split into sub-folders needs both train/ and val/ "
                         f"(found {', '.join(given)}/). Received: data_dir={root!r}")
    parts = {name: os.path.join(root, name) for name in given} or {"all": root}
    classes = folder_classes(root)
    splits, skipped = {}, []
    for name, folder in parts.items():
        found = [d for d in _subfolders(folder) if d not in classes]
        if found:
            raise UsageError(f"data.data_dir's {name}/ has classes that train/ lacks: "
                             f"{', '.join(found)}. Received: data_dir={root!r}")
        paths, labels = [], []
        for label, cls in enumerate(classes):
            class_dir = os.path.join(folder, cls)
            for fname in sorted(os.listdir(class_dir)) if os.path.isdir(class_dir) else ():
                path = os.path.join(class_dir, fname)
                if fname.lower().endswith(IMAGE_SUFFIXES):
                    paths.append(path)
                    labels.append(label)
        with concurrent.futures.ThreadPoolExecutor(DECODE_THREADS) as pool:
            readable = np.fromiter(pool.map(lambda p: _readable(p, size), paths), bool,
                                   len(paths))
        skipped += [p for p, ok in zip(paths, readable) if not ok]
        splits[name] = (ImageFiles(np.asarray(paths, object)[readable], size),
                        np.asarray(labels, "int32")[readable])
    return splits, classes, skipped


def _check_folder(root):
    if root is None or not os.path.isdir(root):
        raise UsageError(
            f"data.data_dir must be a folder of class sub-folders. Received: data_dir={root!r}")


def _subfolders(folder):
    return sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))


def folder_classes(root):
    """The class names of an image folder: the sub-folders of `root`, or of
    `root/train` when it is split (see `read_folder`), sorted.

    Args:
        root: the image folder.

    Example:

    >>> folder_classes("photos")
    ['cat', 'dog']
    """
    _check_folder(root)
    split = os.path.isdir(os.path.join(root, "train"))
    folder = os.path.join(root, "train") if split else root
    classes = _subfolders(folder)
    has_images = any(name.lower().endswith(IMAGE_SUFFIXES)
                     for cls in classes for name in os.listdir(os.path.join(folder, cls)))
    if len(classes) < 2 or not has_images:
        raise UsageError(
            "data.data_dir needs at least two class sub-folders with images "
            f"({', '.join(IMAGE_SUFFIXES)}). Received: data_dir={root!r}")
    return classes


def _readable(path, size):
    """Whether the file decodes whole. Checked for every file when the folder is
    read, so that a broken file never stops a run halfway; JPEGs decode at the
    reduced scale of `_open` (a fraction of a full decode)."""
    try:
        with _open(path, size) as im:
            im.load()
        return True
    except Exception:  # Pillow raises many types for a broken file
        return False


def _open(path, size):
    from PIL import Image

    im = Image.open(path)
    # JPEGs decode straight to the smallest scale (1/2, 1/4, 1/8) still >= size.
    im.draft("RGB", (size, size))
    return im
