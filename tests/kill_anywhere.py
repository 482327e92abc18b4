"""Kill a search at many moments, resume it each time, and compare its final
table with an uninterrupted run's.

Kills come at seeded random delays, and at moments derived from the run's own
progress: the harness watches the run folder and kills the search the moment
it sees the k-th change there, so that kills land inside keras-tuner's and the
app's writes. The CI test (tests/test_reliability.py) runs a few kills per
tuner; run it for as long as you like with:

    python tests/kill_anywhere.py --tuner grid --kills 200 --seed 1
"""

import argparse
import csv
import glob
import io
import os
import random
import signal
import subprocess
import sys
import time
import zipfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app_helpers import TINY, child_env  # noqa: E402

COMPARED = ("trial", "params", "macs", "best_val_accuracy", "sd", "ci95_low", "ci95_high",
            "seeds", "epochs", "status")
WATCHED = ("tuner", "trials")


def search_argv(run_dir, tuner, extra=()):
    """A tiny search of `tuner` over r = 4 and no SE (hyperband: three ratios), two
    seeds a configuration, compiled steps: as the default search runs, each
    configuration's second seed trains the model compiled for its first, so a kill
    can land in a seed whose resumed run compiles afresh."""
    space = '{"se_ratio": [4, 16, null]}' if tuner == "hyperband" else '{"se_ratio": [4, null]}'
    return ["search", *TINY, "--search.repeats", "2", "--run_dir", str(run_dir),
            "--train.epochs", "2",
            "--search.tuner", tuner, "--search.space", space, "--search.max_trials", "2",
            "--search.inspect", "false", *extra]


def table(run_dir):
    """The results table's compared columns (and the space's), one dict a row."""
    with open(os.path.join(run_dir, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in row.items() if k in COMPARED or k == "se_ratio"} for row in rows]


def seed_weights(run_dir):
    """Each seed's saved model, as {"trial_0/seed_0": {variable path: array}}.

    A resumed run that lost any state (batch-norm statistics, optimizer moments)
    ends with other weights, even where the 15 validation images' accuracy does
    not move. A `.keras` file is a zip archive whose `model.weights.h5` holds the
    variables."""
    weights = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "trials", "*", "seed_*", "model.keras"))):
        arrays = {}
        with zipfile.ZipFile(path) as archive, \
                h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
            f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                         if isinstance(item, h5py.Dataset) else None)
        weights[os.path.relpath(os.path.dirname(path), os.path.join(run_dir, "trials"))] = arrays
    return weights


def same_results(run_dir, other):
    """Whether two searches ended with the same table and, bit for bit, the same
    weights in every seed's model."""
    a, b = seed_weights(run_dir), seed_weights(other)
    return (table(run_dir) == table(other) and a.keys() == b.keys() and len(a) > 0
            and all(a[k].keys() == b[k].keys()
                    and all((a[k][n] == b[k][n]).all() for n in a[k]) for k in a))


def _snapshot(run_dir):
    state = {}
    for folder in WATCHED:
        for root, _, files in os.walk(os.path.join(run_dir, folder)):
            for name in files:
                try:
                    info = os.stat(os.path.join(root, name))
                except FileNotFoundError:
                    continue
                state[os.path.join(root, name)] = (info.st_mtime_ns, info.st_size)
    return state


def _start(argv):
    return subprocess.Popen([sys.executable, "-m", "se_tune", *argv], env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_watched(argv, run_dir, kill_at_change=None, kill_after=None):
    """Runs the search; kills it at the `kill_at_change`-th change seen in the run
    folder or after `kill_after` seconds. Returns (exit status, changes seen,
    seconds, stderr)."""
    proc = _start(argv)
    start = time.perf_counter()
    before, changes = _snapshot(run_dir), 0
    while proc.poll() is None:
        now = _snapshot(run_dir)
        if now != before:
            changes += 1
            before = now
            if kill_at_change is not None and changes >= kill_at_change:
                proc.send_signal(signal.SIGKILL)
                break
        if kill_after is not None and time.perf_counter() - start >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    _, err = proc.communicate()
    return proc.returncode, changes, time.perf_counter() - start, err


def kill_and_resume(run_dir, tuner, kills, seed, clean_changes, clean_seconds, log=print):
    """Kills a search `kills` times (alternately at a random change and at a random
    delay), then lets it finish; returns the last run's exit status and stderr,
    and how many kills landed (ended a run with SIGKILL).

    Each kill is drawn within what the search still has to do, so that it lands
    before the search ends: a run makes no more progress than the changes it made
    (or the seconds it ran) before its kill, so at least the uninterrupted run's
    total minus those of the killed runs is left. Half of that is the range,
    since the folder's polling can merge changes.
    """
    rng = random.Random(seed)
    argv = search_argv(run_dir, tuner)
    changes_left, seconds_left, landed = clean_changes, clean_seconds, 0
    for n in range(kills):
        if n % 2 == 0:
            at = rng.randint(1, max(1, changes_left // 2))
            code, changes, seconds, err = run_watched(argv, run_dir, kill_at_change=at)
            log(f"kill {n + 1}: at change {at}, after {seconds:.1f} s, exit {code}")
        else:
            delay = rng.uniform(0.5, max(0.5, seconds_left / 2))
            code, changes, seconds, err = run_watched(argv, run_dir, kill_after=delay)
            log(f"kill {n + 1}: after {delay:.1f} s, exit {code}")
        changes_left -= changes
        seconds_left -= seconds
        if code != -signal.SIGKILL:
            return code, err, landed
        landed += 1
    code, _, _, err = run_watched(argv, run_dir)
    return code, err, landed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default="grid",
                        choices=["grid", "random", "bayesian", "hyperband"])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default="kill_anywhere_runs")
    args = parser.parse_args(argv)
    clean_dir = os.path.join(args.dir, f"{args.tuner}_clean")
    code, changes, seconds, err = run_watched(search_argv(clean_dir, args.tuner, ["--fresh"]),
                                              clean_dir)
    if code != 0:
        raise SystemExit(f"the uninterrupted search failed: {err[-2000:]}")
    print(f"uninterrupted: {seconds:.1f} s, {changes} changes seen in the run folder")
    killed_dir = os.path.join(args.dir, f"{args.tuner}_killed_{args.seed}")
    code, err, landed = kill_and_resume(killed_dir, args.tuner, args.kills, args.seed, changes,
                                        seconds)
    same = code == 0 and landed == args.kills and same_results(killed_dir, clean_dir)
    print(f"{landed} of {args.kills} kills landed; resumed: exit {code}; table "
          f"and weights {'equal to' if same else 'DIFFERENT from'} the uninterrupted run's")
    if not same:
        print(err[-3000:])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
