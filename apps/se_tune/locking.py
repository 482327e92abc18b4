"""One search per run folder: an OS file lock, released even on SIGKILL."""

import contextlib
import fcntl
import os

from se_tune.errors import UsageError


@contextlib.contextmanager
def run_lock(run_dir, name="search"):
    """Holds RUN_DIR/NAME.lock while the block runs, or fails at once.

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
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise UsageError(
                f"another {name} is running in {run_dir} ({owner}); wait for it to end "
                "or use another run_dir"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
