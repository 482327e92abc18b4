"""Model, optimizer and training loop of one run (or one search trial)."""

import dataclasses
import json
import math
import os
import platform
import sys
import time

import keras
import numpy as np

import keras_se
from apps.errors import UsageError
from apps.tensorboard_logging import TensorBoardLogger

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


def build_model(model_config, input_shape, num_classes):
    """Builds `model_config.name` from keras_se.models, returning logits."""
    builder = keras_se.models.BUILDERS.get(model_config.name)
    if builder is None:
        raise UsageError(
            f"model.name must be one of {', '.join(keras_se.models.BUILDERS)}. "
            f"Received: {model_config.name!r}"
        )
    try:
        return builder(
            input_shape=input_shape,
            classes=num_classes,
            classifier_activation=None,
            se_ratio=model_config.se_ratio,
            se_integration=model_config.se_integration,
            se_stages=model_config.se_stages,
            se_kwargs=dict(model_config.se_kwargs) or None,
            **model_config.kwargs,
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
    elif train.schedule == "step":
        epochs = train.step_epochs or [train.epochs // 2, train.epochs * 3 // 4]
        boundaries = [e * steps_per_epoch for e in sorted(set(epochs)) if e > 0]
        values = [train.learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    else:
        lr = train.learning_rate
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


def one_hot(labels, num_classes):
    return np.eye(num_classes, dtype="float32")[labels]


def set_precision(precision):
    policy = PRECISION_POLICIES[resolve_precision(precision)]
    keras.config.set_dtype_policy(policy)
    return policy


def prepare_model(model_config, train, data_config, splits, seed):
    """Builds and compiles a model under the run's precision; returns it and
    its cost (`model_stats` of the network without augmentation)."""
    keras.utils.set_random_seed(seed)
    set_precision(train.precision)
    try:
        model = build_model(model_config, splits.input_shape, splits.num_classes)
        stats = keras_se.utils.model_stats(model)
        if data_config.augment:
            inputs = keras.Input(splits.input_shape)
            model = keras.Model(
                inputs, model(augmentation(splits.input_shape)(inputs)), name=model.name
            )
    finally:
        keras.config.set_dtype_policy("float32")
    steps = math.ceil(len(splits.x_train) / data_config.batch_size)
    compile_model(model, train, steps)
    return model, stats


def fit_model(model, stats, train, data_config, splits, logdir, hparams=None,
              callbacks=()):
    """Fits a prepared model with TensorBoard logging; returns (history, summary)."""
    has_se = bool(keras_se.utils.se_layers(model))
    logger = TensorBoardLogger(
        logdir, len(splits.x_train),
        gate_images=splits.x_val[:64] if has_se else None, hparams=hparams,
    )
    start = time.perf_counter()
    history = model.fit(
        splits.x_train, one_hot(splits.y_train, splits.num_classes),
        validation_data=(splits.x_val, one_hot(splits.y_val, splits.num_classes)),
        batch_size=data_config.batch_size, epochs=train.epochs, shuffle=True,
        verbose=train.verbose, callbacks=[logger, *callbacks],
    )
    seconds = time.perf_counter() - start
    epochs = len(history.history.get("loss", []))
    val_acc = history.history.get("val_accuracy", [float("nan")])
    # The first epoch includes compilation: report the steady state.
    steady = logger.images_per_second[1:] or logger.images_per_second
    summary = {
        "params": stats["params"],
        "macs": stats["macs"],
        "best_val_accuracy": float(np.nanmax(val_acc)),
        "epochs": epochs,
        "seconds_per_epoch": seconds / max(1, epochs),
        "images_per_second": float(np.median(steady)) if steady else 0.0,
        "dtype_policy": model.dtype_policy.name if hasattr(model, "dtype_policy") else None,
    }
    return history, summary


def train_model(model_config, train, data_config, splits, logdir, seed, hparams=None):
    """Builds, compiles and fits one model; returns (model, history, summary)."""
    model, stats = prepare_model(model_config, train, data_config, splits, seed)
    history, summary = fit_model(model, stats, train, data_config, splits, logdir, hparams)
    summary["dtype_policy"] = PRECISION_POLICIES[resolve_precision(train.precision)]
    return model, history, summary


def run_metadata(config_dict, seed):
    """The seed and the versions, saved next to the logs."""
    import jsonargparse

    versions = {"python": sys.version.split()[0], "keras": keras.__version__,
                "keras_se": keras_se.__version__, "backend": keras.config.backend(),
                "jsonargparse": jsonargparse.__version__, "platform": platform.platform()}
    try:
        import keras_tuner

        versions["keras_tuner"] = keras_tuner.__version__
    except ImportError:
        pass
    return {"seed": seed, "versions": versions}


def write_json(path, data):
    """Writes JSON atomically: a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def _json_default(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
