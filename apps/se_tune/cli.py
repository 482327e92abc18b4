"""The `se-tune` command: fit, test, search and inspect, configured by YAML and flags."""

import os
import sys

from se_tune.config import (
    DataConfig, InspectConfig, ModelConfig, SearchConfig, TrainConfig, distributed_environment,
)
from se_tune.errors import UsageError
from se_tune.local_workers import exit_with_the_chief
from se_tune.process import backend_logs_hidden, backend_warnings_hidden, environment

COMMANDS = {
    "fit": "train one model and save it with its logs",
    "test": "evaluate a saved .keras model on the test split of its run",
    "validate": "evaluate a saved .keras model on the validation split of its run",
    "search": "search SE hyperparameters with keras-tuner (default: the reduction ratio)",
    "inspect": "plot the mean SE gates per class at every SE layer of a saved model",
    "predict": "write a saved model's top classes for image files and folders to "
               "predictions.csv",
    "export": "export a saved model (tf_saved_model, onnx, openvino, litert) and check it in "
              "its runtime",
}

SECTIONS = ("data", "model", "train", "search", "inspect")
# The verbs that read a fitted model: by default the last fit's, in its folder.
RUN_DIRS = {"test": "fit", "validate": "fit", "inspect": "fit", "predict": "fit"}


def make_parser():
    """The `se-tune` parser and its subcommands' parsers by name.

    Returns:
        `(parser, subparsers)`, `subparsers` mapping "fit", "test", "search" and
        "inspect" to their `jsonargparse.ArgumentParser`.

    Example:

    >>> parser, subparsers = make_parser()
    >>> cfg = parser.parse_args(["fit", "--train.epochs", "2"])
    """
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(
        prog="se-tune", exit_on_error=False,
        description="Experiments with Squeeze-and-Excitation networks (keras_se).",
    )
    subcommands = parser.add_subcommands(dest="command")
    subparsers = {}
    for name, help_text in COMMANDS.items():
        sub = ArgumentParser(exit_on_error=False, description=help_text)
        sub.add_argument("--config", action=ActionConfigFile, help="a YAML config file")
        sub.add_argument("--seed", type=int, default=0, help="seed of data splits and weights")
        sub.add_argument("--run_dir", type=str,
                         default=os.path.join("runs", RUN_DIRS.get(name, name)),
                         help="folder of the run's outputs" + (
                             " (default: the last fit's, beside its model)"
                             if name in RUN_DIRS else ""))
        sub.add_class_arguments(DataConfig, "data")
        sub.add_class_arguments(ModelConfig, "model")
        sub.add_class_arguments(TrainConfig, "train")
        if name == "search":
            sub.add_class_arguments(SearchConfig, "search")
            sub.add_argument("--fresh", type=bool, nargs="?", const=True, default=False,
                             help="start over instead of resuming (same as search.fresh)")
        if name in RUN_DIRS:
            sub.add_argument("--model_path", type=str, default=None,
                             help="the .keras model (default: RUN_DIR/model.keras, the last "
                                  "fit's model)")
        if name == "export":
            _add_export_arguments(sub)
        if name == "predict":
            _add_predict_arguments(sub)
        if name in ("search", "inspect"):
            sub.add_class_arguments(InspectConfig, "inspect")
        subcommands.add_subcommand(name, sub, help=help_text)
        subparsers[name] = sub
    return parser, subparsers


def _add_export_arguments(sub):
    from typing import Literal, Optional

    from jsonargparse.typing import PositiveInt

    sub.add_argument("--model_path", type=str, default=os.path.join("runs", "search",
                                                                  "best_model.keras"),
                     help="the .keras model (default: the best model of `se-tune search`)")
    sub.add_argument("--format", type=Literal["tf_saved_model", "onnx", "openvino", "litert"],
                     default="tf_saved_model", help="the export format")
    sub.add_argument("--quantize", type=Optional[Literal["int8"]], default=None,
                     help="int8: LiteRT full-integer post-training quantization")
    sub.add_argument("--fold_batch_norm", type=bool, default=False,
                     help="fold each batch norm into its convolution before exporting")
    sub.add_argument("--calibration_images", type=PositiveInt, default=256,
                     help="training images the int8 converter calibrates on")
    sub.add_argument("--latency_runs", type=PositiveInt, default=50,
                     help="timed batch-1 calls in each runtime (the median is reported)")


def _add_predict_arguments(sub):
    from jsonargparse.typing import PositiveInt

    sub.add_argument("--inputs", type=str, nargs="+", required=True,
                     help="image files and folders (searched recursively)")
    sub.add_argument("--top_k", type=PositiveInt, default=5,
                     help="classes listed per image, best first")


def parse(argv):
    """`(subparsers, cfg, given)` of a command line, `given` being the
    subcommand's keys set on the command line or in a `--config` file (dotted,
    like `data.val_fraction`); bad input raises `UsageError`."""
    from jsonargparse import ArgumentError

    parser, subparsers = make_parser()
    try:
        cfg = parser.parse_args(argv)
        explicit = parser.parse_args(argv, defaults=False)
    except ArgumentError as error:
        raise UsageError(_one_line(error)) from None
    command = explicit.get("command")
    section = explicit.get(command) if command else None
    given = set(_dotted(section.as_dict())) if section else set()
    return subparsers, cfg, given


def _dotted(tree):
    """`section.field` for each field of each config section, `key` for the rest."""
    for key, value in tree.items():
        if isinstance(value, dict) and key in SECTIONS:
            yield from (f"{key}.{field}" for field in value)
        else:
            yield key


def _one_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else "invalid arguments"
    # jsonargparse explains nested failures on later lines; keep the most specific.
    for line in lines[1:]:
        if line.startswith(("- ", "Not of type")) or "Expected" in line or "Unrecognized" in line:
            text += " " + line.lstrip("- ")
            break
    # An Optional field's message names the value only on its last line.
    given = [line for line in lines if line.startswith("Given value:")]
    value = given[0][len("Given value:"):].strip() if given else None
    # Named unless the message ends with it ("v>0" holds a 0 that is not the value).
    if value is not None and not text.endswith(f": {value}"):
        text += f". Received: {value}"
    return text


def main(argv=None):
    """Runs `se-tune` on `argv` (default: `sys.argv[1:]`); returns the exit status.

    Args:
        argv: the command line, without the program name.

    Example:

    >>> main(["fit", "--train.epochs", "1"])
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    exit_with_the_chief()
    try:
        subparsers, cfg, given = parse(argv)
        command = cfg.command
        if command is None:
            raise UsageError("a subcommand is required: " + ", ".join(COMMANDS))
        sub_cfg = cfg[command]
        # TensorFlow's C++ start-up logs would bury the CLI's one-line errors;
        # keras-tuner reads a distributed search's roles from its variables.
        updates = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        if command == "search":
            updates.update(distributed_environment(sub_cfg.search))
        with environment(updates), backend_warnings_hidden():
            with backend_logs_hidden():
                from se_tune import runner  # imports Keras: after parsing, so --help is fast

            with environment(_thread_environment(command, sub_cfg)):
                runner.run(command, sub_cfg, subparsers[command], given)
    except UsageError as error:
        print(f"se-tune: error: {error}", file=sys.stderr)
        return 2
    return 0


def _thread_environment(command, cfg):
    """The thread counts of a search that may train in local workers, set
    before the back end starts its thread pools (a GPU, found later, trains
    in one process: the cap leaves it as it is)."""
    if command != "search" or cfg.search.role is not None:
        return {}
    from se_tune.local_workers import thread_environment, worker_count
    from se_tune.search_space import SearchSpace, max_trials

    trials = max_trials(cfg.search, SearchSpace(cfg.search.space))
    return thread_environment(worker_count(cfg.search, trials, False, cfg.train.distribution))


if __name__ == "__main__":
    sys.exit(main())
