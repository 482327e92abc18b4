"""Model, optimizer and training loop of one run (or one search trial)."""

import contextlib
import math
import time

import keras
import numpy as np

import keras_se
from se_tune import fine_tuning, model_edits, model_source
from se_tune.checkpoint import EpochCheckpoint, ResumableEarlyStopping
from se_tune.data import EpochBatches, in_order
from se_tune.feeds import fit_feeds
from se_tune.errors import TrialFailure, UsageError, is_out_of_memory
from se_tune.objective import objective_direction
from se_tune.progress import ProgressLine
from se_tune.run_callbacks import RunCallbacks
from se_tune.schedules import LinearWarmup
from se_tune.tensorboard_logging import TensorBoardLogger

PRECISION_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "fp32": "float32"}


def gpu_available():
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision):
    """`auto` is bf16 on a GPU (the H100/A100 class has it), else fp32."""
    if precision == "auto":
        return "bf16" if gpu_available() else "fp32"
    return precision


def build_model(model_config, input_shape, num_classes, input_tensor=None):
    """Builds the model `model_config` names, returning logits (a keras_se
    builder from scratch on `input_tensor` when given; any other model, see
    `se_tune.model_source`, on its own input)."""
    if not model_source.is_builder_from_scratch(model_config):
        return model_source.build_foreign_model(model_config, input_shape, num_classes)
    info = keras_se.models.BUILDERS[model_config.name]
    size = min(input_shape[:2])
    if size < info.min_size:
        raise UsageError(
            f"{info.name} needs images of at least {info.min_size}x{info.min_size} "
            f"(data.image_size). Received: {input_shape[0]}x{input_shape[1]}"
        )
    try:
        return info.builder(
            input_tensor=input_tensor,
            input_shape=input_shape,
            classes=num_classes,
            classifier_activation=None,
            se_ratio=model_config.se_ratio,
            se_integration=model_config.se_integration,
            se_stages=model_config.se_stages,
            se_kwargs=dict(model_config.se_kwargs) or None,
            attention=model_config.attention,
            **model_source.builder_kwargs(model_config),
        )
    except (ValueError, TypeError) as error:
        raise UsageError(f"model: {str(error).splitlines()[0]}") from None


def make_optimizer(train, steps_per_epoch):
    total = max(1, train.epochs * steps_per_epoch)
    warmup = train.warmup_epochs * steps_per_epoch
    if train.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else train.learning_rate, max(1, total - warmup),
            warmup_target=train.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    else:
        lr = train.learning_rate
        if train.schedule == "step":
            epochs = train.step_epochs or [train.epochs // 2, train.epochs * 3 // 4]
            boundaries = [e * steps_per_epoch for e in sorted(set(epochs)) if e > 0]
            values = [train.learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
            lr = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
        if warmup:
            lr = LinearWarmup(lr, warmup, train.learning_rate)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=train.weight_decay)
    return keras.optimizers.SGD(
        lr, momentum=train.momentum, nesterov=True, weight_decay=train.weight_decay
    )


def compile_model(model, train, steps_per_epoch):
    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=train.label_smoothing
    )
    model.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=loss,
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=train.jit_compile,
        run_eagerly=train.run_eagerly,
    )
    return model


def augmentation(input_shape):
    """Random flips and translations as Keras layers (they run on the device)."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
        ],
        name="augmentation",
    )


def distribution_scope(kind):
    """A context in which models are built and trained on several devices.

    Args:
        kind: `none`, `data_parallel` (Keras' JAX `DataParallel` over all
            devices) or `mirrored` (TensorFlow's `MirroredStrategy` over all
            local devices).

    Returns:
        A context manager; the previous distribution is back when it exits.

    Example:

    >>> with distribution_scope("none"):
    ...     model = build_model(ModelConfig(), (32, 32, 3), 10)
    """
    backend = keras.config.backend()
    if kind == "none":
        return contextlib.nullcontext()
    if kind == "data_parallel":
        if backend != "jax":
            raise UsageError(
                "train.distribution=data_parallel needs the JAX backend. "
                f"Received: backend {backend!r}"
            )
        return keras.distribution.DataParallel().scope()
    if backend != "tensorflow":
        raise UsageError(
            "train.distribution=mirrored needs the TensorFlow backend. "
            f"Received: backend {backend!r}"
        )
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices]).scope()


def replicas(model):
    """How many devices train the model in parallel."""
    if keras.config.backend() == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        return getattr(strategy, "num_replicas_in_sync", 1)
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    return len(distribution.device_mesh.devices.reshape(-1))


def one_hot(labels, num_classes):
    return np.eye(num_classes, dtype="float32")[labels]


def set_precision(precision):
    policy = PRECISION_POLICIES[resolve_precision(precision)]
    keras.config.set_dtype_policy(policy)
    return policy


def prepare_model(model_config, train, data_config, splits, seed):
    """Builds and compiles a model under the run's precision; returns it and
    its cost (`model_stats` of the network without augmentation).

    Call it inside `distribution_scope(train.distribution)`. Running out of
    memory raises `TrialFailure`.
    """
    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    set_precision(train.precision)
    try:
        model = build_model(model_config, splits.input_shape, splits.num_classes)
        stats = keras_se.utils.model_stats(model)
        # The network is built on the augmentation's output, not wrapped in
        # another model: its SE layers stay at the top level for gate analysis.
        if data_config.augment and model_source.is_builder_from_scratch(model_config):
            inputs = keras.Input(splits.input_shape)
            model = build_model(model_config, splits.input_shape, splits.num_classes,
                                input_tensor=augmentation(splits.input_shape)(inputs))
        elif data_config.augment:
            model = model_edits.with_front(model, [augmentation(splits.input_shape)])
    except Exception as error:  # noqa: BLE001 - classified, then re-raised
        if is_out_of_memory(error):
            raise TrialFailure(f"out of memory while building: {error}") from error
        raise
    finally:
        keras.config.set_dtype_policy(previous)
    compile_model(model, train, steps_per_epoch(splits, data_config))
    return model, stats


def steps_per_epoch(splits, data_config):
    return math.ceil(len(splits.x_train) / data_config.batch_size)


class FailOnNaN(keras.callbacks.Callback):
    """Ends training with a TrialFailure when the loss turns NaN or infinite."""

    # Checked in Keras' callback thread, so that reading the loss does not
    # stall the device after every batch; the failure surfaces a batch later.
    async_safe = True

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise TrialFailure(f"loss became {float(loss)} at batch {batch + 1}")


def fit_model(model, stats, train, data_config, splits, logdir, seed, hparams=None,
              callbacks=(), checkpoint_folder=None, initial_epoch=0, prior_history=None,
              objective="val_accuracy", label="fit", warm_up=(), gate_probe=None):
    """Fits a prepared model with TensorBoard logging; returns (history, summary).

    Batches come in an order fixed by (seed, epoch); with `checkpoint_folder`,
    every epoch is checkpointed there, and `initial_epoch`/`prior_history`
    continue a checkpointed run exactly. `train.early_stopping_patience` watches
    `objective`; `train.limit_batches` cuts each epoch's training and
    validation batches. `label` names the run's progress line; `warm_up`
    names the layers `train.freeze_epochs` trains first; `gate_probe`, the
    model's `GateProbe` from an earlier run on it.
    """
    n_replicas = replicas(model)
    x_train, y_train, x_val, y_val = splits.x_train, splits.y_train, splits.x_val, splits.y_val
    if train.limit_batches:
        x_val, y_val = (a[:train.limit_batches * data_config.batch_size] for a in (x_val, y_val))
    if n_replicas > 1:
        # Every batch is split evenly across the devices.
        if data_config.batch_size % n_replicas:
            raise UsageError(
                f"data.batch_size must be a multiple of the {n_replicas} devices. "
                f"Received: {data_config.batch_size}"
            )
        x_train, y_train = _trim(x_train, y_train, n_replicas)
        x_val, y_val = _trim(x_val, y_val, n_replicas)
    has_se = bool(keras_se.utils.se_layers(model))
    logger = TensorBoardLogger(
        logdir, len(splits.x_train),
        gate_images=np.asarray(x_val[:64]) if has_se else None, hparams=hparams,
        gate_probe=gate_probe if has_se else None,
    )
    all_callbacks = [logger]
    saver = None
    if checkpoint_folder is not None:
        saver = EpochCheckpoint(checkpoint_folder, prior_history)
        all_callbacks.append(saver)
    batches = EpochBatches(
        x_train, one_hot(y_train, splits.num_classes),
        data_config.batch_size, seed, epoch=initial_epoch, limit=train.limit_batches,
    )
    last_epoch = train.epochs
    progress = [ProgressLine(label)] if train.verbose == "progress" else []
    if train.early_stopping_patience:
        stopper = ResumableEarlyStopping(
            objective, objective_direction(objective), train.early_stopping_patience,
            prior=(prior_history or {}).get(objective, []))
        all_callbacks.append(stopper)
        if stopper.stopped_before():
            last_epoch = initial_epoch
    start = time.perf_counter()
    run = RunCallbacks([*all_callbacks, *callbacks, *progress], last_epoch,
                       verbose=0 if progress else train.verbose)
    run.set_model(model)
    nan_check = FailOnNaN()  # outside `run`: Keras checks it in its callback thread
    phases = fine_tuning.training_phases(train.freeze_epochs, initial_epoch, last_epoch)
    history, merged = keras.callbacks.History(), {}
    for first, end, frozen in phases:
        if train.freeze_epochs and fine_tuning.set_frozen(model, frozen, warm_up):
            compile_model(model, train, steps_per_epoch(splits, data_config))
            # The schedule goes on where the warm-up left it.
            model.optimizer.iterations.assign(first * len(batches))
        for call_start, call_end, inputs, feed_callbacks in fit_feeds(batches, first, end):
            try:
                history = model.fit(
                    **inputs, shuffle=False,
                    validation_data=in_order(x_val, one_hot(y_val, splits.num_classes),
                                             data_config.batch_size),
                    initial_epoch=call_start, epochs=call_end, verbose=0,
                    callbacks=[*feed_callbacks, nan_check, run],
                )
            except Exception as error:  # noqa: BLE001 - classified, then re-raised
                if is_out_of_memory(error):
                    raise TrialFailure(f"out of memory: {error}".splitlines()[0]) from error
                raise
            for key, values in history.history.items():
                merged.setdefault(key, []).extend(values)
            if model.stop_training:
                break
        if model.stop_training:
            break
    run.end({key: values[-1] for key, values in merged.items()})
    history.history = merged
    seconds = time.perf_counter() - start
    ran = len(history.history.get("loss", []))  # epochs of this call, not of a resume
    full = saver.history if saver is not None else history.history
    history.history = {k: list(v) for k, v in full.items()}
    epochs = len(history.history.get("loss", []))
    val_acc = history.history.get("val_accuracy", [float("nan")])
    # The first epoch includes compilation: report the steady state.
    steady = logger.images_per_second[1:] or logger.images_per_second
    summary = {
        "params": stats["params"],
        "macs": stats["macs"],
        "best_val_accuracy": float(np.nanmax(val_acc)),
        "val_images": len(x_val),
        "epochs": epochs,
        "seconds_per_epoch": seconds / max(1, ran),
        "images_per_second": float(np.median(steady)) if steady else 0.0,
        "replicas": n_replicas,
    }
    return history, summary


def _trim(x, y, multiple):
    n = len(x) - len(x) % multiple
    return x[:n], y[:n]


def train_model(model_config, train, data_config, splits, logdir, seed, hparams=None):
    """Builds, compiles and fits one model; returns (model, history, summary)."""
    with distribution_scope(train.distribution):
        model, stats = prepare_model(model_config, train, data_config, splits, seed)
        history, summary = fit_model(
            model, stats, train, data_config, splits, logdir, seed, hparams,
            warm_up=fine_tuning.warm_up_layers(model, model_config))
    summary["dtype_policy"] = PRECISION_POLICIES[resolve_precision(train.precision)]
    return model, history, summary
