"""keras-tuner's distributed search (one chief, many workers) made to survive
the chief's death.

keras-tuner's workers call the chief through gRPC with `wait_for_ready` and a
one-hour deadline: a worker whose chief died hangs (keras-tuner #645), a call in
flight when it dies ends the worker with a traceback, and a chief slower to
start than the deadline fails every worker (#990). Here a worker waits for its
chief as long as `search.chief_timeout` allows (at its start and whenever the
chief stops answering), retries the calls that found no chief, and exits with
one line once that time has passed. The chief, for its part, tells which
workers are alive from their run-folder locks (`se_tune.locking`): a restarted
chief leaves a live worker its trial, and a dead worker's trial goes to another.
"""

import os
import socket
import sys
import threading
import time

import grpc
import keras_tuner as kt

from se_tune.errors import ChiefFailure
from se_tune.locking import is_locked

# The chief's server refuses connections while it is down or restarting.
RETRIED_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
IDLE = kt.engine.trial.TrialStatus.IDLE
# Seconds a worker waits before it asks again for a trial the oracle did not have.
IDLE_WAIT = 1.0


def distributed_role():
    """`chief`, `worker`, or None for a search in one process, from keras-tuner's
    KERASTUNER_* variables (the CLI sets them from `search.role` at its start).

    Example:

    >>> distributed_role() is None  # no KERASTUNER_ORACLE_IP
    True
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if os.environ.get("KERASTUNER_TUNER_ID") == "chief" else "worker"


def worker_lock_name(tuner_id):
    """The run-folder lock a worker holds while it lives.

    Args:
        tuner_id: the worker's keras-tuner id.

    Example:

    >>> worker_lock_name("w1")
    'worker-w1'
    """
    return f"worker-{tuner_id}"


def lock_name():
    """The run-folder lock this process takes: one search, or one per worker.

    Example:

    >>> lock_name()  # one process, or the chief
    'search'
    """
    if distributed_role() == "worker":
        return worker_lock_name(os.environ["KERASTUNER_TUNER_ID"])
    return "search"


def worker_alive(run_dir):
    """A test of whether the worker of a keras-tuner id still runs, for the
    chief's oracle: a live worker holds its lock in the shared run folder.

    Args:
        run_dir: the run folder.

    Example:

    >>> alive = worker_alive("runs/search")
    >>> alive("w1")
    False
    """
    return lambda tuner_id: is_locked(run_dir, worker_lock_name(tuner_id))


def chief_address():
    return os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])


def _chief_listens(address):
    with socket.socket() as probe:
        probe.settimeout(2.0)
        return probe.connect_ex(address) == 0


class ChiefWatch(threading.Thread):
    """A worker's watch on its chief: once the chief has not been listening for
    `timeout` seconds (at the worker's start, or after it stopped), the worker
    prints one line and exits with status 1.

    Exiting from this thread ends the process as a kill would, which a search
    survives at any moment: the worker's trial stays in the run folder and
    resumes from its last epoch in the next worker.

    Args:
        timeout: seconds without a chief before the worker gives up (0: never).
        interval: seconds between two probes of the chief's port.

    Example:

    >>> watch = ChiefWatch(timeout=600)
    >>> watch.start()
    >>> ...  # the worker's search
    >>> watch.stop()
    """

    def __init__(self, timeout, interval=1.0):
        super().__init__(name="se-tune-chief-watch", daemon=True)
        self.address = chief_address()
        self.timeout = timeout
        self.interval = interval
        self.stopped = threading.Event()

    def run(self):
        last_seen = started = time.monotonic()
        seen = waiting = False
        while True:
            now = time.monotonic()
            if _chief_listens(self.address):
                last_seen, seen, waiting = now, True, False
            elif not waiting:
                waiting = True
                limit = f"up to {self.timeout} s" if self.timeout else "with no limit"
                print(f"Waiting for the chief at {_format(self.address)} ({limit}, "
                      "search.chief_timeout)", flush=True)
            elif self.timeout and now - last_seen > self.timeout:
                self._give_up(seen, now - started)
            if self.stopped.wait(self.interval):
                return

    def _give_up(self, seen, waited):
        what = ("stopped answering" if seen else
                f"did not answer in the {round(waited)} s since this worker started")
        sys.stdout.flush()
        print(f"se-tune: error: the chief at {_format(self.address)} {what} "
              f"(search.chief_timeout={self.timeout}); this worker stops, and a worker "
              "started later resumes its trial", file=sys.stderr, flush=True)
        os._exit(1)

    def stop(self):
        self.stopped.set()


class ChiefConnection:
    """A worker's keras-tuner oracle client whose calls outlive the chief's
    restarts: a call that found no chief is sent again until the chief answers
    (the `ChiefWatch` bounds the wait). Every call is safe to repeat: the
    oracles of `se_tune.oracles` give a worker back its trial and end a trial
    once.

    Args:
        client: keras-tuner's oracle client (a worker tuner's `oracle`).

    Example:

    >>> tuner.oracle = ChiefConnection(tuner.oracle)
    """

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            while True:
                try:
                    result = attribute(*args, **kwargs)
                except grpc.RpcError as error:
                    code = error.code() if hasattr(error, "code") else None
                    if code not in RETRIED_CODES:
                        raise ChiefFailure(
                            f"the chief failed on {name}: {error.details()}") from None
                    time.sleep(1.0)
                    continue
                if name == "create_trial" and result.status == IDLE:
                    # keras-tuner asks again at once while the oracle has no trial to
                    # give (the last ones still train): a loop that would take a core
                    # from the workers still training.
                    time.sleep(IDLE_WAIT)
                return result

        return call


def _format(address):
    return f"{address[0]}:{address[1]}"
