"""Fault injection for the app's own crash tests.

`SE_TUNE_FAULTS="checkpoint_write:2,train_batch:7"` makes the process kill
itself with SIGKILL the 2nd time it is inside a checkpoint write, or at the 7th
training batch; `oom:1` raises a simulated out-of-memory error at the first
trial build. Unset (always, outside tests), it does nothing.
"""

import collections
import os
import signal
import threading

_counts = collections.Counter()
_lock = threading.Lock()


def _plan():
    plan = {}
    for item in filter(None, os.environ.get("SE_TUNE_FAULTS", "").split(",")):
        point, _, count = item.partition(":")
        plan[point.strip()] = int(count or 1)
    return plan


def reset():
    """Counts start again (at the start of each command)."""
    _counts.clear()


def hit(point):
    """Marks one pass through `point`; acts when the plan says so."""
    plan = _plan()
    if point not in plan:
        return
    with _lock:  # batch callbacks may run in Keras' callback threads
        _counts[point] += 1
        count = _counts[point]
    if count != plan[point]:
        return
    if point == "oom":
        raise MemoryError("simulated out of memory (RESOURCE_EXHAUSTED)")
    os.kill(os.getpid(), signal.SIGKILL)
