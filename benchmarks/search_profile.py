"""Where a search's time goes: `se-tune search` (the default one unless told)
run under pyinstrument's sampling profiler in this process, its time split
into the parts a search is made of.

Each sample goes to the innermost part it is inside of (tracing inside a
training step counts as tracing, a checkpoint inside `fit` as a checkpoint).
The profiler slows Python by about a third: compare parts with each other, and
the whole with `time se-tune search`.

    pip install -e ".[apps,bench]"
    python benchmarks/search_profile.py                  # the default search, in a temporary folder
    python benchmarks/search_profile.py -- --train.epochs 2 --search.repeats 1
"""

import argparse
import json
import os
import sys
import tempfile

# (function name, end of its file's path) -> part; the innermost match wins.
PARTS = [
    (("<module>", ""), "start-up: imports"),
    (("fit", "backend/tensorflow/trainer.py"), "training steps (run)"),
    (("fit", "backend/jax/trainer.py"), "training steps (run)"),
    (("fit", "backend/torch/trainer.py"), "training steps (run)"),
    (("trace_function", "tracing_compilation.py"), "tracing the compiled steps"),
    (("evaluate", "trainer.py"), "validation and test (run)"),
    (("on_epoch_end", "se_tune/checkpoint.py"), "epoch checkpoints"),
    (("on_epoch_end", "se_tune/tensorboard_logging.py"), "TensorBoard: scalars, gate histograms"),
    (("inference_latency_ms", "se_tune/latency.py"), "latency timing"),
    (("_trial_model", "se_tune/tuner.py"), "building models"),
    (("clear_session", "global_state.py"), "building models"),
    (("save", "models/model.py"), "saving each run's model"),
    (("_inspect_best_se_model", "se_tune/runner.py"), "inspect (gate analysis)"),
    (("search", "keras_tuner/src/engine/base_tuner.py"), "keras-tuner and the app per trial"),
]
OTHER = "other (config, data, results, plots)"


def part_of(frame, current):
    for (function, path), part in PARTS:
        if frame.function == function and (frame.file_path or "").endswith(path):
            return part
    return current


def split(frame, current, totals):
    """Adds each frame's own time to the part it is innermost inside of."""
    current = part_of(frame, current)
    own = frame.time - sum(child.time for child in frame.children)
    totals[current] = totals.get(current, 0.0) + max(0.0, own)
    for child in frame.children:
        split(child, current, totals)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results/search_profile.json")
    parser.add_argument("--load", help="split a saved pyinstrument session instead "
                        "(`pyinstrument -r session -o FILE -m se_tune.cli search`)")
    parser.add_argument("search_args", nargs=argparse.REMAINDER,
                        help="after --: arguments of se-tune search")
    args = parser.parse_args()
    search_args = [a for a in args.search_args if a != "--"]
    from pyinstrument import Profiler
    from pyinstrument.session import Session

    output = os.path.abspath(args.output)
    if args.load:
        session = Session.load(args.load)
    else:
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)
            profiler = Profiler(interval=0.002)
            profiler.start()
            from se_tune import cli

            code = cli.main(["search", *search_args])
            session = profiler.stop()
        if code:
            sys.exit(code)
    totals = {}
    split(session.root_frame(), OTHER, totals)
    whole = sum(totals.values())
    command = " ".join(["se-tune search", *search_args])
    print(f"\n| part of `{command}` | seconds | share |")
    print("| --- | --- | --- |")
    for part, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {part} | {seconds:.1f} | {seconds / whole:.0%} |")
    print(f"| whole (profiled) | {whole:.1f} | |")
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump({"search_args": search_args, "seconds": totals}, f, indent=1)


if __name__ == "__main__":
    main()
