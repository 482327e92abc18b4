"""One search per run folder: an OS file lock, released even on SIGKILL."""

import contextlib
import fcntl
import os
import time

from se_tune.errors import UsageError

# A chief tests a worker's lock by taking it for an instant (`is_locked`): a
# worker that starts in that instant tries again rather than refuse.
ATTEMPTS, PAUSE = 5, 0.1


@contextlib.contextmanager
def run_lock(run_dir, name="search"):
    """Holds RUN_DIR/NAME.lock while the block runs, or fails within half a second.

    The kernel drops the lock when the process dies, however it dies, so a
    killed search never leaves its folder locked.

    Args:
        run_dir: the run folder.
        name: the lock's name (`search`, or `worker-ID` for a distributed worker).

    Example:

    >>> with run_lock("runs/search"):
    ...     pass
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, f"{name}.lock")
    with open(path, "a+") as handle:
        if not _try_lock(handle, ATTEMPTS):
            _refuse(handle, run_dir, name)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refuse_if_locked(run_dir, name="search"):
    """Refuses, as `run_lock` does, while a live process holds RUN_DIR/NAME.lock,
    without taking the lock or writing anything.

    Args:
        run_dir: the run folder.
        name: the lock's name.

    Example:

    >>> refuse_if_locked("runs/search")  # returns: no search runs there
    """
    path = os.path.join(run_dir, f"{name}.lock")
    if not os.path.exists(path):
        return
    with open(path) as handle:
        if not _try_lock(handle, ATTEMPTS):
            _refuse(handle, run_dir, name)
        fcntl.flock(handle, fcntl.LOCK_UN)


def _refuse(handle, run_dir, name):
    handle.seek(0)
    owner = handle.read().strip() or "another process"
    raise UsageError(
        f"another {name} is running in {run_dir} ({owner}); wait for it to end "
        "or use another run_dir"
    ) from None


def is_locked(run_dir, name):
    """Whether a live process holds RUN_DIR/NAME.lock (see `run_lock`).

    Args:
        run_dir: the run folder.
        name: the lock's name.

    Example:

    >>> is_locked("runs/search", "worker-w1")
    False
    """
    path = os.path.join(run_dir, f"{name}.lock")
    try:
        handle = open(path)
    except FileNotFoundError:
        return False
    with handle:
        if not _try_lock(handle, 1):
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _try_lock(handle, attempts):
    for attempt in range(attempts):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(PAUSE)
    return False
