"""The command's process: environment variables set for its life, and the
back end's start-up logs kept out of the user's way."""

import contextlib
import logging
import os
import sys
import tempfile

from se_tune.errors import UsageError


@contextlib.contextmanager
def backend_logs_hidden():
    """Hides what the back end's C++ libraries print while they load.

    TensorFlow's libraries log their start-up (oneDNN, CUDA drivers, absl's
    warning) straight to file descriptor 2, whatever TF_CPP_MIN_LOG_LEVEL says,
    so the descriptor points to a temporary file meanwhile. That text is shown
    if loading fails (but for the user's own bad input), and always with
    SE_TUNE_BACKEND_LOGS=1.
    """
    if os.environ.get("SE_TUNE_BACKEND_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as hidden:
        os.dup2(hidden.fileno(), 2)
        try:
            yield
        except UsageError:
            raise  # the user's input is the cause: one line, without the logs
        except BaseException:
            os.dup2(stderr, 2)
            hidden.seek(0)
            sys.stderr.write(hidden.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(stderr, 2)
            os.close(stderr)


@contextlib.contextmanager
def environment(updates):
    """Sets environment variables for the command's life, then puts them back."""
    before = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def backend_warnings_hidden():
    """Keeps TensorFlow's Python warnings (a retraced `tf.function` each time a
    search compiles another model) out of the command's output, then puts its
    logger's level back."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
