"""What the se-tune tests share: a tiny run config, free ports, se-tune in a child
process, and faults injected into that child.

Run as a script, this file is the child: it patches se-tune's functions to fail
at the N-th pass through a point, then runs se-tune's `main`:

    python tests/app_helpers.py --faults train_batch:6,checkpoint_write:1 -- search ...

Points: `train_batch` (SIGKILL at the start of a training batch's end),
`checkpoint_write` (SIGKILL halfway through writing an epoch checkpoint's commit
file, after the model file is saved), `oracle_save` (SIGKILL as the keras-tuner
oracle's state is about to be saved: after a trial's own file, before the
oracle's) and `oom` (a simulated out-of-memory error while a model is built).
"""

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import threading

TESTS = os.path.dirname(os.path.abspath(__file__))
# Synthetic 8x8 images of 3 classes, 96 of them.
DATA = [
    "--data.name", "synthetic", "--data.image_size", "8", "--data.num_samples", "96",
    "--data.num_classes", "3", "--data.batch_size", "16", "--train.verbose", "0",
]
# The smallest CIFAR ResNet (depth 20), for tests of what the builders' networks
# bring to a run: their stages, their blocks' names.
CIFAR = [*DATA, "--model.kwargs", '{"depth": 20}']
# One residual unit (`residual_network` below) with SE (r = 4) before its
# addition, for tests of the app's own work: seeds, trials, checkpoints,
# resume, reports. SE goes in as into any model of the user's
# (`keras_se.retrofit`). It traces and steps in a fraction of the CIFAR
# ResNet's time, and the tests start se-tune more often than anything else.
TINY = [*DATA, "--model.name", "app_helpers:residual_network", "--model.se_ratio", "4"]
# A search trains each configuration once unless a test is about repeats.
ONE_SEED = ["--search.repeats", "1"]
# A search in this one process: monkeypatched code and injected faults reach
# its training, which local worker processes would run out of their reach.
ONE_PROCESS = ["--search.workers", "1"]
# Steps run uncompiled: a tiny run's few steps cost less than compiling them, and
# tests of what a search keeps or resumes do not depend on compilation.
EAGER = ["--train.run_eagerly", "true"]


def residual_network(input_shape=(8, 8, 3), classes=3):
    """A 3x3 convolution of 16 channels, one residual unit of two more and a
    classifier on the flattened features: the network of `TINY`. The synthetic
    classes are per-pixel patterns, which a global average pool would wash out."""
    import keras

    def conv_bn(x, name):
        x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
        return keras.layers.BatchNormalization(name=f"{name}_bn")(x)

    inputs = keras.Input(input_shape)
    x = keras.layers.Activation("relu", name="conv1_relu")(conv_bn(inputs, "conv1"))
    y = keras.layers.Activation("relu", name="block1_1_relu")(conv_bn(x, "block1_1"))
    x = keras.layers.Add(name="block1_add")([x, conv_bn(y, "block1_2")])
    x = keras.layers.Activation("relu", name="block1_out")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x),
                       name="residual_network")


def child_env(env=None):
    """`env` (default: this process's) with this folder on the child's import
    path, where `TINY`'s network comes from."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(argv, faults):
    if faults:
        return [sys.executable, os.path.abspath(__file__), "--faults", faults, "--", *argv]
    return [sys.executable, "-m", "se_tune", *argv]


def run_app(argv, faults=None, **kwargs):
    """Runs se-tune in a child process to its end; returns the CompletedProcess."""
    kwargs["env"] = child_env(kwargs.get("env"))
    return subprocess.run(_command(argv, faults), capture_output=True, text=True, **kwargs)


def start_app(argv, faults=None, **kwargs):
    """Starts se-tune in a child process, stdout and stderr merged into one pipe."""
    kwargs["env"] = child_env(kwargs.get("env"))
    return subprocess.Popen(_command(argv, faults), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def out_of_memory_on_build(monkeypatch):
    """Makes the test process's first model build raise MemoryError, as a device would."""
    _Faults("oom:1").install(monkeypatch.setattr)


class _DiesHalfwayThroughWrite:
    """A file whose first write stops halfway with SIGKILL."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, text):
        self.handle.write(text[: len(text) // 2])
        self.handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self.handle.__exit__(*exc_info)


class _Faults:
    """The child's plan: point -> the pass (1-based) at which it fails."""

    def __init__(self, spec):
        self.plan = {}
        for item in filter(None, spec.split(",")):
            point, _, count = item.partition(":")
            self.plan[point.strip()] = int(count or 1)
        self.counts = collections.Counter()
        self.lock = threading.Lock()  # batch callbacks run in Keras' callback threads

    def due(self, point):
        if point not in self.plan:
            return False
        with self.lock:
            self.counts[point] += 1
            return self.counts[point] == self.plan[point]

    def install(self, patch=setattr):
        """Patches the points of the plan (with `patch(owner, name, value)`)."""
        from se_tune import files, oracles, training

        on_batch_end = training.FailOnNaN.on_train_batch_end
        build = training.build_model

        def on_train_batch_end(callback, batch, logs=None):
            if self.due("train_batch"):
                os.kill(os.getpid(), signal.SIGKILL)
            return on_batch_end(callback, batch, logs)

        def checkpoint_open(path, mode="r", *args, **kwargs):
            # se_tune.files' own `open`: the writer of an epoch's commit file
            # dies halfway through its text, whichever file it writes it to.
            handle = open(path, mode, *args, **kwargs)
            if "w" in mode and os.path.basename(path).startswith("checkpoint.json") and \
                    self.due("checkpoint_write"):
                return _DiesHalfwayThroughWrite(handle)
            return handle

        oracle_save = oracles.ResumableOracle.save

        def save_or_die(oracle):
            if self.due("oracle_save"):
                os.kill(os.getpid(), signal.SIGKILL)
            return oracle_save(oracle)

        def build_model(*args, **kwargs):
            if self.due("oom"):
                raise MemoryError("simulated out of memory (RESOURCE_EXHAUSTED)")
            return build(*args, **kwargs)

        patches = {"train_batch": (training.FailOnNaN, "on_train_batch_end", on_train_batch_end),
                   "checkpoint_write": (files, "open", checkpoint_open),
                   "oracle_save": (oracles.ResumableOracle, "save", save_or_die),
                   "oom": (training, "build_model", build_model)}
        for point in self.plan:
            patch(*patches[point])


def _child(argv):
    parser = argparse.ArgumentParser(description="se-tune with injected faults")
    parser.add_argument("--faults", default="", help="POINT:N,... (see the module's doc)")
    parser.add_argument("app_argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    app_argv = args.app_argv[1:] if args.app_argv[:1] == ["--"] else args.app_argv
    _Faults(args.faults).install()
    from se_tune import cli

    return cli.main(app_argv)


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
