"""Helpers shared by the benchmark scripts: timing, tables and JSON output."""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def interleaved_times(fns, warmup, repeats):
    """Per-call wall times of several callables timed in turn, one call each per pass.

    Timing contestants call by call in one process exposes them to the same moments of a
    shared machine's load, so the ratio of two of them holds still where separate runs
    drift by tens of percent. The order rotates each pass so that no contestant always runs
    after the same one. Returns one list of `repeats` times (seconds) per callable.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for n in range(repeats):
        for k in range(len(fns)):
            i = (n + k) % len(fns)
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return times


def paired_ratio(times, reference):
    """Median over passes of `times[n] / reference[n]` (both from `interleaved_times`)."""
    return statistics.median(t / r for t, r in zip(times, reference))


def run_child(script, args, env=None):
    """Runs `script args` in a fresh interpreter; returns the JSON line it prints last.

    Each contestant runs in its own process so that TensorFlow, JAX and PyTorch never share
    thread pools or device memory, and one contestant's failure does not end the run.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, script, *args], env=full_env, capture_output=True, text=True
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit status {proc.returncode}"}
    return json.loads(lines[-1])


def fastest_of_rounds(script, runs, rounds, key):
    """Runs each `(label, args, env)` of `runs` in turn, `rounds` times; keeps each label's best.

    `key(result)` orders a label's results (the smallest is kept); a failed run is kept only
    while its label has no result.
    """
    best = {}
    for _ in range(rounds):
        for label, args, env in runs:
            result = run_child(script, args, env)
            if "error" in result:
                best.setdefault(label, result)
            elif label not in best or "error" in best[label] or key(result) < key(best[label]):
                best[label] = result
    return best


def proc_status(field):
    """A field of Linux's /proc/self/status in bytes (`VmRSS`, `VmHWM`: the peak
    resident memory)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def machine():
    """A short description of the machine the figures come from."""
    info = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    try:
        gpu = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
        if gpu.returncode == 0 and gpu.stdout.strip():
            info["gpu"] = gpu.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def print_table(headers, rows):
    """Prints a Markdown table (rows are lists of values)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")


def _fmt(value):
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:.3f}"
    return "-" if value is None else str(value)


def write_json(path, payload):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"figures written to {path}")


def add_child_arguments(parser, name, children):
    """`--output` (default results/NAME.json) and the hidden `--child` of a benchmark."""
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.json")
    parser.add_argument("--output", default=default, help="where the JSON figures go")
    parser.add_argument("--child", choices=sorted(children), help=argparse.SUPPRESS)


def serve_child(args, children):
    """In a contestant's process: runs `children[args.child]` and prints its JSON result."""
    if not args.child:
        return False
    print(json.dumps(children[args.child](args)))
    return True


def ratio(text):
    """`--se_ratio` values: an integer or `none`."""
    return None if text == "none" else int(text)


def json_object(text):
    """A command-line JSON object (kept as text for the contestants' command lines), or
    argparse's one-line error naming the value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object. Received: {text!r}")
    return text


def settings(args):
    """The command-line settings worth recording next to the figures."""
    return {k: v for k, v in vars(args).items()
            if k not in ("output", "child") and v is not None}
