"""se-tune predict: a saved model's top classes for image files and folders."""

import csv
import os

import numpy as np

from se_tune.errors import UsageError
from se_tune.image_files import IMAGE_SUFFIXES, ImageFiles


def image_paths(inputs):
    """The image files named by `inputs`, each a file or a folder (searched
    recursively), in the order given, each folder's files sorted.

    Args:
        inputs: paths of image files and folders.

    Example:

    >>> image_paths(["new_photos", "cat.jpg"])
    ['new_photos/a.jpg', 'new_photos/b.png', 'cat.jpg']
    """
    found = []
    for path in inputs:
        if os.path.isdir(path):
            found += sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                            for name in names if name.lower().endswith(IMAGE_SUFFIXES))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise UsageError(f"inputs must be image files or folders. Received: {path!r}")
    if not found:
        raise UsageError(f"inputs hold no image files ({', '.join(IMAGE_SUFFIXES)}). "
                         f"Received: inputs={list(inputs)}")
    return found


def top_classes(model, paths, class_names, top_k, batch_size=64):
    """Each file's `top_k` classes and their probabilities, best first.

    The images are read as the app's data are: RGB (grey for a one-channel
    model), resized to the model's input size, scaled to [0, 1]. The model
    gives logits, as the app's models do; a softmax turns them into
    probabilities.

    Args:
        model: a Keras classifier of the app's kind.
        paths: the image files.
        class_names: the name of each class index.
        top_k: classes per file.
        batch_size: images per call.

    Returns:
        `[(path, [(class_name, probability), ...]), ...]`.

    Example:

    >>> top_classes(model, ["cat.jpg"], ["cat", "dog"], top_k=1)
    [('cat.jpg', [('cat', 0.93...)])]
    """
    _, height, width, channels = model.input_shape
    if height != width or channels not in (1, 3):
        raise UsageError("predict takes models of square RGB or grey images. Received: "
                         f"input shape {tuple(model.input_shape[1:])}")
    images = ImageFiles(paths, height, channels=channels)
    rows = []
    for start in range(0, len(paths), batch_size):
        logits = model.predict_on_batch(np.asarray(images[start:start + batch_size]))
        logits = np.asarray(logits, "float64")
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        for offset, row in enumerate(probabilities):
            best = np.argsort(-row, kind="stable")[:top_k]
            rows.append((paths[start + offset],
                         [(class_names[i], float(row[i])) for i in best]))
    return rows


def write_predictions(rows, path):
    """Writes `rows` (from `top_classes`) as CSV: `file`, then `class_1`,
    `probability_1`, ... for each of the top classes.

    Args:
        rows: `[(path, [(class_name, probability), ...]), ...]`.
        path: the CSV file.

    Example:

    >>> write_predictions(top_classes(model, files, names, 5), "runs/fit/predictions.csv")
    """
    k = max(len(classes) for _, classes in rows)
    header = ["file"] + [f"{kind}_{n}" for n in range(1, k + 1)
                         for kind in ("class", "probability")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for file, classes in rows:
            writer.writerow([file] + [v for name, p in classes for v in (name, f"{p:.6f}")])


def format_predictions(rows, shown=10):
    """A short table: each file's best class and its probability, the first
    `shown` files.

    Args:
        rows: from `top_classes`.
        shown: files listed; the rest are counted.

    Example:

    >>> print(format_predictions(rows))
    """
    width = max(len(f) for f, _ in rows[:shown])
    lines = [f"{'file':<{width}}  best class  probability"]
    for file, classes in rows[:shown]:
        name, p = classes[0]
        lines.append(f"{file:<{width}}  {name:<10}  {p:.4f}")
    if len(rows) > shown:
        lines.append(f"... and {len(rows) - shown} more")
    return "\n".join(lines)
