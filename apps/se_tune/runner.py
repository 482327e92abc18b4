"""What each se-tune subcommand does, once its config is resolved."""

import os
import sys

import keras

from se_tune import data, files, training
from se_tune.errors import ChiefFailure, SearchIncomplete, SearchStopped, UsageError


# The data section's fields that decide which images are test images.
SPLIT_FIELDS = ("name", "data_dir", "image_size", "num_classes", "num_samples",
                "val_fraction", "test_fraction")


def run(command, cfg, parser, given=frozenset()):
    """Saves the resolved config and the run's metadata, loads the data and runs
    `command` ("fit", "test", "validate", "search", "inspect" or "export").

    `test`, `inspect` and `export` split the data as the run that trained their model
    did (its `config.yaml`), so that their test images are never training images.

    Args:
        command: the subcommand.
        cfg: its parsed config (a jsonargparse Namespace).
        parser: the subcommand's parser, which dumps and instantiates `cfg`.
        given: the keys the user set (`data.val_fraction`, `seed`...).
    """
    model = None
    if command == "export":
        # Bad input is refused before anything is written or loaded.
        from se_tune.export import load_exportable_model
        from se_tune.runtimes import check_format

        check_format(cfg.format, cfg.quantize)
        model = load_exportable_model(cfg.model_path)
    if command in ("fit", "search"):
        from se_tune.model_source import resolve_model_defaults

        space = cfg.search.space if command == "search" else {}
        resolve_model_defaults(cfg, given, space_keys=tuple(space))
    worker = False
    if command == "search":
        from se_tune.distributed import distributed_role, lock_name
        from se_tune.locking import refuse_if_locked
        from se_tune.run_config import check_resumed_config

        # A running search's folder is refused as busy before its config is
        # compared or overwritten; a refusal writes nothing, not even the lock's owner.
        refuse_if_locked(cfg.run_dir, lock_name())
        worker = distributed_role() == "worker"
        if not (cfg.fresh or cfg.search.fresh):
            check_resumed_config(cfg.run_dir, parser.dump(cfg, skip_check=True))
    os.makedirs(cfg.run_dir, exist_ok=True)
    saved_as = "config.yaml"
    run_folder = None
    if command in ("test", "validate", "inspect", "export", "predict"):
        saved_as = f"{command}_config.yaml"  # the training run's config.yaml stays
        run_folder = _training_run(cfg.model_path or os.path.join(cfg.run_dir, "model.keras"))
        if run_folder is not None and command != "predict":
            _use_the_run_s_split(cfg, run_folder, given)
    config = parser.instantiate_classes(cfg)
    if command == "search" and config.fresh:
        config.search.fresh = True
    if not worker:  # the run's config and metadata are its chief's
        # Atomic: a distributed search's worker reads the config a chief started
        # later is writing, and a kill mid-write must not leave a resume an empty one.
        files.atomic_write_text(os.path.join(cfg.run_dir, saved_as),
                                parser.dump(cfg, skip_check=True))
        files.write_json(os.path.join(cfg.run_dir, saved_as.replace("config.yaml", "run.json")),
                         files.run_metadata(cfg, config.seed))
    if command == "predict":
        return predict(config, run_folder)
    splits = data.load_data(config.data, config.seed)
    if command == "inspect":
        inspect(config, splits, run_folder)
    elif command == "export":
        export(config, splits, model)
    else:
        {"fit": fit, "test": test, "validate": validate, "search": search}[command](
            config, splits)


def predict(config, run_folder):
    """Writes RUN_DIR/predictions.csv: each input image's top classes, named as
    in the data of the run that trained the model."""
    from se_tune.predict import format_predictions, image_paths, top_classes, write_predictions

    paths = image_paths(config.inputs)
    path = config.model_path or os.path.join(config.run_dir, "model.keras")
    model = files.load_saved_model(path)
    print(f"predict: model {path}", flush=True)
    names = _class_names_of_run(run_folder, model.output_shape[-1])
    top_k = min(config.top_k, len(names))
    rows = top_classes(model, paths, names, top_k, config.data.batch_size)
    out = os.path.join(config.run_dir, "predictions.csv")
    write_predictions(rows, out)
    print(format_predictions(rows))
    print(f"predict: {len(rows)} images, top {top_k} classes each, in {out}")


def _class_names_of_run(run_folder, num_classes):
    """The class names of the data that trained the model; the class indices
    when its run folder or data cannot be found."""
    import yaml

    if run_folder is not None:
        with open(os.path.join(run_folder, "config.yaml")) as f:
            saved = (yaml.safe_load(f) or {}).get("data") or {}
        try:
            names = data.class_names(data.DataConfig(**saved), num_classes)
        except (UsageError, TypeError) as error:
            print(f"se-tune: warning: class names unknown, indices used: {error}",
                  file=sys.stderr, flush=True)
        else:
            if len(names) == num_classes:
                return names
    return tuple(str(i) for i in range(num_classes))


def export(config, splits, model):
    from se_tune.process import backend_logs_hidden
    from se_tune.export import export_and_report, format_report

    # The converters (tf2onnx, TFLite, OpenVINO) log to the terminal as they go.
    with backend_logs_hidden():
        report = export_and_report(
            model, splits, config.run_dir, config.format, config.quantize,
            config.fold_batch_norm, config.calibration_images, config.latency_runs,
            model_path=config.model_path)
    print(format_report(report))
    print(f"export: {report['file']} and export.json in {config.run_dir}")


def _training_run(model_path):
    """The run folder (fit or search) whose config.yaml trained `model_path`:
    the model's folder or one of its two parents (a search's trials/trial_N/)."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for _ in range(3):
        if os.path.isfile(os.path.join(folder, "config.yaml")):
            return folder
        folder = os.path.dirname(folder)
    return None


def _use_the_run_s_split(cfg, run_folder, given):
    """Takes the seed and data split of the run in `run_folder`; a split the
    user set otherwise is refused."""
    import yaml

    with open(os.path.join(run_folder, "config.yaml")) as f:
        saved = yaml.safe_load(f) or {}
    wanted = {f"data.{k}": saved.get("data", {}).get(k) for k in SPLIT_FIELDS}
    wanted["seed"] = saved.get("seed")
    for key, value in wanted.items():
        if key not in given or value is None:
            continue
        current = cfg[key]
        if current != value:
            raise UsageError(
                f"{key}={current!r} would split the data unlike the run that trained the "
                f"model ({key}={value!r} in {os.path.join(run_folder, 'config.yaml')}), so "
                f"test images could be training images; leave {key} out. Received: {current!r}")
    for key, value in wanted.items():
        if value is not None or key == "data.data_dir":
            cfg[key] = value
    print(f"Data split and seed of the run in {run_folder}", flush=True)


def fit(config, splits):
    model, history, summary = training.train_model(
        config.model, config.train, config.data, splits,
        logdir=os.path.join(config.run_dir, "tb"), seed=config.seed,
    )
    model.save(os.path.join(config.run_dir, "model.keras"))
    files.write_json(os.path.join(config.run_dir, "summary.json"), summary)
    print(
        f"fit: best val_accuracy {summary['best_val_accuracy']:.4f}, "
        f"{summary['images_per_second']:.0f} images/s, model saved to "
        f"{os.path.join(config.run_dir, 'model.keras')}"
    )


def test(config, splits):
    evaluate(config, splits.x_test, splits.y_test, "test")


def validate(config, splits):
    evaluate(config, splits.x_val, splits.y_val, "validate")


def evaluate(config, x, y, command):
    """Accuracy of the model on one split, printed and written to COMMAND.json."""
    path = config.model_path or os.path.join(config.run_dir, "model.keras")
    model = files.load_saved_model(path)
    print(f"{command}: model {path}", flush=True)
    expected = tuple(model.input_shape[1:])
    if expected != tuple(x.shape[1:]):
        raise UsageError(
            f"the model expects inputs of shape {expected}, the data has {tuple(x.shape[1:])}")
    logits = model.predict(data.in_order(x, None, config.data.batch_size),
                           batch_size=config.data.batch_size, verbose=0)
    accuracy = float((logits.argmax(axis=1) == y).mean())
    split = "val" if command == "validate" else "test"
    files.write_json(os.path.join(config.run_dir, f"{command}.json"),
                     {f"{split}_accuracy": accuracy, "model": path, f"{split}_images": len(y)})
    print(f"{command}: accuracy {accuracy:.4f} on {len(y)} {split} images")


def search(config, splits):
    from se_tune.locking import run_lock
    from se_tune.distributed import lock_name
    from se_tune.local_workers import is_local_worker
    from se_tune.search import run_search

    with run_lock(config.run_dir, lock_name()):
        try:
            rows, table = run_search(config, splits, config.run_dir)
        except (SearchStopped, SearchIncomplete) as ended:
            print(ended)
            raise SystemExit(1) from None
        except ChiefFailure as failure:
            print(f"se-tune: error: {failure}", file=sys.stderr)
            raise SystemExit(1) from None
        if is_local_worker():
            return  # its chief reports
        if config.search.inspect:
            # Outside any trial's distribution: the analysis runs on one device.
            table += _inspect_best_se_model(config, rows, splits)
    print(table)
    print(f"search: results, best model and TensorBoard logs in {config.run_dir}")


def _inspect_best_se_model(config, rows, splits):
    """Inspects the search's best model, or, when that one has no SE blocks
    (the no-SE baseline won), the best trial that has them."""
    import dataclasses

    import keras_se
    from se_tune.inspect_gates import format_table, inspect_model

    from se_tune.results import ranked
    from se_tune.trial_results import best_run_model

    objective = config.search.objective
    completed = ranked([r for r in rows if r["best_val_accuracy"] is not None and r["runs"]],
                       objective)
    for rank, row in enumerate(completed):
        path, _ = best_run_model(config.run_dir, row, objective)
        if not os.path.exists(path):
            continue
        if not keras_se.utils.se_layers(keras.saving.load_model(path, safe_mode=True)):
            continue
        note = ""
        if rank:
            note = (f"the best model has no SE blocks; gates of trial {row['trial']}, "
                    f"the best one with SE\n")
        options = dataclasses.replace(
            config.inspect,
            output_dir=config.inspect.output_dir or os.path.join(config.run_dir, "inspect"),
        )
        gate_rows, out = inspect_model(path, splits, options,
                                       tb_dir=os.path.join(config.run_dir, "tb", "inspect"))
        return "\n" + note + format_table(gate_rows) + f"gate figures in {out}\n"
    return ""


def inspect(config, splits, run_folder=None):
    from se_tune.inspect_gates import format_table, inspect_model

    path = config.model_path or os.path.join(config.run_dir, "model.keras")
    if os.path.isfile(path):  # else inspect_model names the bad path, alone
        print(f"inspect: model {path}", flush=True)
    # The gate images join the run's TensorBoard logs, where its scalars are.
    tb = os.path.join(run_folder, "tb", "inspect") if run_folder else None
    rows, out = inspect_model(path, splits, config.inspect, tb_dir=tb)
    print(format_table(rows))
    print(f"inspect: figures, class_specificity.csv and TensorBoard images in {out}")
