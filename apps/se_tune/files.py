"""The app's files: atomic writes, JSON, a run's metadata, and the models a
user names."""

import dataclasses
import json
import os
import platform
import sys

import keras
import numpy as np

import keras_se
from se_tune.errors import UsageError


def atomic_write_text(path, text):
    """Writes `text` to `path` so that a reader (or a resumed run) never sees half a file."""
    # The temporary name is private to this process: the chief and the workers
    # of a search write the same files at once.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path):
    """The JSON in `path`, or {} when there is no such file."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def run_metadata(config_dict, seed):
    """The seed and the versions, saved next to the logs."""
    import jsonargparse

    versions = {"python": sys.version.split()[0], "keras": keras.__version__,
                "keras_se": keras_se.__version__, "backend": keras.config.backend(),
                "jsonargparse": jsonargparse.__version__, "platform": platform.platform()}
    try:
        import keras_tuner

        versions["keras_tuner"] = keras_tuner.__version__
    except ImportError:
        pass
    return {"seed": seed, "versions": versions}


def write_json(path, data):
    """Writes JSON atomically: a reader never sees half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default))


def _json_default(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def load_saved_model(path):
    """The `.keras` model a user named with `model_path`.

    Args:
        path: the model file.

    Returns:
        The model, loaded in safe mode.

    Raises:
        UsageError: naming `model_path` and the path, when the file is missing
            or is not a Keras model.

    Example:

    >>> model = load_saved_model("runs/fit/model.keras")
    """
    if not os.path.isfile(path):
        raise UsageError(f"model_path must be a saved .keras model. Received: {path!r}")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # ValueError, zipfile.BadZipFile, OSError...: all the user's file
        raise UsageError(f"model_path must be a saved .keras model; Keras cannot load this "
                         f"file ({type(error).__name__}). Received: {path!r}") from None
