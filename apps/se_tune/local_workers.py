"""A search's trials trained by several processes of this machine at once
(`search.workers`).

A Python process that trains a small network uses about 1.2 of 2 CPU cores:
tracing each configuration's steps and Keras' per-step work run on one thread.
So a grid or random search on a CPU trains two trials at once by default,
through keras-tuner's own distributed search: the `se-tune search` process
becomes the chief (the oracle, on a free local port), and starts its workers,
each an `se-tune search --search.role worker` of the run's saved config. The
chief writes the reports once they have finished.

Each trial trains in one worker as it would in a process of the workers' thread
count (`thread_environment`), so its results do not depend on which worker
trains it, or when. Bayesian optimization and
Hyperband choose their next trials from the finished ones: with two at once,
what they try would depend on the workers' timing, so they, like a search on a
GPU (one device) or with `train.distribution`, keep one process by default.

A worker's standard input is a pipe from its chief: when the chief dies (a
kill, Ctrl-C), the pipe closes and the worker exits at once, as if killed with
it; the next `se-tune search` resumes every trial.
"""

import os
import socket
import subprocess
import sys
import threading

from se_tune.errors import SearchStopped

# Set in a local worker's environment: its chief is the parent at the other end of stdin.
LOCAL_WORKER = "SE_TUNE_LOCAL_WORKER"
# The tuners whose trials do not depend on which trials have finished.
ORDER_FREE_TUNERS = ("grid", "random")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def worker_count(search, trials, gpu, distribution):
    """How many processes train the search's trials: `search.workers`, or by
    default 2 on a CPU with at least 2 cores for a grid or random search of at
    least 2 trials in one process, else 1.

    Args:
        search: the search section.
        trials: the number of trials the search runs (None: not known).
        gpu: whether a GPU trains the models.
        distribution: `train.distribution`.

    Example:

    >>> worker_count(SearchConfig(), trials=6, gpu=False, distribution="none")
    2
    """
    if search.workers is not None:
        return search.workers
    if (search.role is not None or gpu or distribution != "none"
            or search.tuner not in ORDER_FREE_TUNERS or (trials is not None and trials < 2)):
        return 1
    return min(2, os.cpu_count() or 1)


def thread_environment(workers):
    """The variables that give each of `workers` training processes its share
    of the cores: `OMP_NUM_THREADS` (oneDNN, PyTorch) and TensorFlow's
    intra-op threads; those the user set stay theirs. Two processes with two
    threads each on 2 cores took 137 s where one thread each took 120 s
    (two halves of the default search at once).

    Their count decides the summation order of each step, so the chief and
    its workers, which may all train seeds, share it, and a resumed search
    keeps it by keeping `search.workers`.

    Args:
        workers: training processes.

    Example:

    >>> thread_environment(1)
    {}
    """
    if workers < 2:
        return {}
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return {key: threads for key in THREAD_VARIABLES if key not in os.environ}


def free_port():
    """A TCP port of 127.0.0.1 that no process listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalWorkers:
    """The worker processes of a search whose chief is this process.

    Args:
        config_path: the run's saved config (`RUN_DIR/config.yaml`), which each
            worker runs.
        port: the chief's port.
        count: how many workers.

    Example:

    >>> workers = LocalWorkers("runs/search/config.yaml", port=41234, count=2)
    >>> workers.start()
    >>> workers.wait()  # raises SearchStopped if a worker failed
    """

    def __init__(self, config_path, port, count):
        self.config_path = config_path
        self.port = port
        self.count = count
        self.processes = []

    def start(self):
        env = {**os.environ, LOCAL_WORKER: "1", "PYTHONPATH": os.pathsep.join(_import_path())}
        for index in range(1, self.count + 1):
            # A worker of a killed chief exits the moment its chief dies, so a
            # restarted chief's workers find their ids' locks free.
            argv = [sys.executable, "-m", "se_tune", "search", "--config", self.config_path,
                    "--search.role", "worker", "--search.oracle_ip", "127.0.0.1",
                    "--search.oracle_port", str(self.port),
                    "--search.tuner_id", f"local-{index}"]
            # Its own session: Ctrl-C reaches the chief alone, whose end ends the worker.
            self.processes.append(subprocess.Popen(argv, stdin=subprocess.PIPE, env=env,
                                                   start_new_session=True))

    def wait(self):
        """Waits for every worker to end; the first that fails stops the rest
        (their trials resume in the next search) and raises `SearchStopped`."""
        pending = list(self.processes)
        while pending:
            for process in list(pending):
                try:
                    code = process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    continue
                pending.remove(process)
                if code != 0:
                    self.stop()
                    raise SearchStopped(f"a worker process exited with status {code}")

    def stop(self):
        """Ends every worker still running, as a kill of the search would."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _import_path():
    """The folders this process imports from beyond its Python's own (where a
    `model.name` module may live), then the inherited PYTHONPATH: a worker
    builds what its chief would."""
    own = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    added = [path for path in sys.path if path and not path.startswith(own)]
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return list(dict.fromkeys(path for path in added + inherited if path))


def exit_with_the_chief():
    """In a local worker: exits the moment its chief's end closes standard
    input, whatever the worker is doing then (starting, training, writing).

    Example:

    >>> exit_with_the_chief()  # first thing in `se-tune`
    """
    if not is_local_worker():
        return

    def watch():
        # The raw descriptor: a daemon thread blocked in Python's buffered stdin
        # would stop the interpreter's own exit.
        while os.read(0, 1024):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="se-tune-chief-pipe", daemon=True).start()


def is_local_worker():
    """Whether this process is a worker that a local chief started."""
    return os.environ.get(LOCAL_WORKER) == "1"
