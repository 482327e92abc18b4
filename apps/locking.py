"""One search per run folder: an OS file lock, released even on SIGKILL."""

import fcntl
import os

from apps.errors import UsageError

_held = []


def acquire(run_dir, name="search"):
    """Takes RUN_DIR/NAME.lock for the life of this process, or fails at once."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, f"{name}.lock")
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise UsageError(
            f"another {name} is running in {run_dir} ({owner}); wait for it to end "
            "or use another run_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    _held.append(handle)
    return handle


def release_all():
    while _held:
        handle = _held.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
