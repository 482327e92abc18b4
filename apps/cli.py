"""The `se-tune` command: fit, test and search, configured by YAML and flags."""

import os
import sys

# TensorFlow's C++ start-up logs would bury the CLI's one-line errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from apps.config import (  # noqa: E402
    DataConfig, InspectConfig, ModelConfig, SearchConfig, TrainConfig,
)
from apps.errors import UsageError  # noqa: E402

COMMANDS = {
    "fit": "train one model and save it with its logs",
    "test": "evaluate a saved .keras model on the test split",
    "search": "search SE hyperparameters with keras-tuner (default: the reduction ratio)",
    "inspect": "plot the mean SE gates per class at every SE layer of a saved model",
}


def make_parser():
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(
        prog="se-tune", exit_on_error=False,
        description="Experiments with Squeeze-and-Excitation networks (keras_se).",
    )
    subcommands = parser.add_subcommands(dest="command")
    for name, help_text in COMMANDS.items():
        sub = ArgumentParser(exit_on_error=False, description=help_text)
        sub.add_argument("--config", action=ActionConfigFile, help="a YAML config file")
        sub.add_argument("--seed", type=int, default=0, help="seed of data splits and weights")
        sub.add_argument("--run_dir", type=str, default=os.path.join("runs", name),
                         help="folder of the run's outputs")
        sub.add_class_arguments(DataConfig, "data")
        sub.add_class_arguments(ModelConfig, "model")
        sub.add_class_arguments(TrainConfig, "train")
        if name == "search":
            sub.add_class_arguments(SearchConfig, "search")
            sub.add_argument("--fresh", type=bool, default=False,
                             help="start over instead of resuming (same as search.fresh)")
        if name in ("test", "inspect"):
            sub.add_argument("--model_path", type=str, default=None,
                             help="the .keras model (default: RUN_DIR/model.keras)")
        if name in ("search", "inspect"):
            sub.add_class_arguments(InspectConfig, "inspect")
        subcommands.add_subcommand(name, sub, help=help_text)
    return parser


def _argv_with_bare_flags(argv):
    # `--fresh` alone means `--fresh true`.
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--fresh" and (i + 1 == len(argv) or argv[i + 1].startswith("--")):
            out.append("true")
    return out


def parse(argv):
    from jsonargparse import ArgumentError

    parser = make_parser()
    try:
        cfg = parser.parse_args(_argv_with_bare_flags(argv))
    except ArgumentError as error:
        raise UsageError(_one_line(error)) from None
    return parser, cfg


def _one_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else "invalid arguments"
    # jsonargparse explains nested failures on later lines; keep the most specific.
    for line in lines[1:]:
        if line.startswith("- ") or "Expected" in line or "Unrecognized" in line:
            text += " " + line.lstrip("- ")
            break
    return text


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, cfg = parse(argv)
        command = cfg.command
        if command is None:
            raise UsageError("a subcommand is required: " + ", ".join(COMMANDS))
        sub_cfg = cfg[command]
        from apps import runner  # imports Keras: after parsing, so --help is fast

        runner.run(command, sub_cfg, parser._subcommands_action._name_parser_map[command])
    except UsageError as error:
        print(f"se-tune: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
