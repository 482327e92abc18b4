"""The app's configuration: one dataclass a section, resolved by jsonargparse."""

import dataclasses
import os
from typing import Any, Literal, Optional, Union

from jsonargparse.typing import (
    ClosedUnitInterval, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt)

from se_tune.attention_registry import ATTENTION_NAMES, DEFAULT_ATTENTION
from se_tune.data import DataConfig

# The input scales of `model.preprocessing` (see `se_tune.model_source`).
PREPROCESSING = ("auto", "none", "raw", "tf", "torch", "caffe")

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "SearchConfig", "InspectConfig",
           "distributed_environment"]


@dataclasses.dataclass
class ModelConfig:
    """Which model to train, where its weights come from, and its arguments.

    Args:
        name: a builder of `keras_se.models` (SEResNet50, CifarSEResNet, ...);
            a dotted path to any callable that returns a Keras model
            (`keras.applications.MobileNetV2`, `my_package.nets:build`), called
            with `input_shape`, `classes` and `kwargs`; a `.keras` file; or a
            keras_se preset (`hf://OWNER/NAME`, or a folder holding
            `config.json` and `model.safetensors`). A callable with a `weights`
            argument gets `weights=None` (from scratch) unless `kwargs` or
            `model.weights` says otherwise. Such a model gets a new
            head for the data's classes when its last Dense has other outputs,
            and its final softmax is left out (the loss takes logits).
        se_ratio: the SE reduction ratio; a dict of stage -> ratio for a ratio
            per stage; null for the network without SE.
        se_integration: standard, pre, post, identity or 3x3.
        se_stages: the stages that get SE (null: all).
        se_kwargs: further SqueezeExcite arguments (squeeze, gate, divisor...),
            or of the attention layer `attention` picks.
        attention: the attention block: se (Squeeze-and-Excitation), ese,
            eca, cbam, ge (Gather-Excite), or null for none.
        kwargs: further builder arguments (for example depth for CifarSEResNet,
            or `{"alpha": 0.35, "weights": "imagenet"}` for MobileNetV2);
            null: the app's defaults for the model (depth 20 for CifarSEResNet,
            the builder's own for the others).
        weights: pretrained weights: a `.weights.h5` file of the model as
            `name` and `kwargs` build it (its head may have other classes), or
            for keras_se builders `imagenet` or a preset.
        preprocessing: the input scale the model's weights expect; the app's
            images are RGB in [0, 1], and a frozen layer in the model maps
            them: none ([0, 1] as they are), raw ([0, 255]: keras_se's
            pretrained models normalize inside), tf ([-1, 1]), torch (ImageNet
            mean and std), caffe (BGR, ImageNet mean subtracted). auto: none
            for keras_se builders from scratch, raw for keras_se's pretrained
            ones, the module's own `preprocess_input` for a callable such as
            keras.applications' (MobileNetV2: tf, ResNet50: caffe); a
            pretrained model whose scale it cannot tell is refused.
        retrofit: whether a model that is not a keras_se builder, and has no
            attention blocks, gets them (`keras_se.retrofit`, starting from the
            identity). null: yes when se_ratio, attention, se_kwargs or a
            SqueezeExcite argument is set explicitly (flag, config file or
            search space); the defaults alone never retrofit. Saved resolved.
    """

    name: str = "CifarSEResNet"
    se_ratio: Optional[Union[float, dict[int, float]]] = 16
    se_integration: str = "standard"
    se_stages: Optional[list[int]] = None
    se_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    attention: Optional[Literal[ATTENTION_NAMES]] = DEFAULT_ATTENTION
    kwargs: Optional[dict[str, Any]] = None
    weights: Optional[str] = None
    preprocessing: Literal[PREPROCESSING] = "auto"
    retrofit: Optional[bool] = None


@dataclasses.dataclass
class TrainConfig:
    """How a model is trained.

    Args:
        epochs: epochs per run or trial.
        optimizer: sgd (with momentum) or adamw.
        learning_rate: the initial learning rate.
        momentum: SGD momentum.
        weight_decay: decoupled weight decay.
        schedule: cosine, step (x0.1 at each of `step_epochs`; the paper's) or
            constant.
        step_epochs: epochs of the step schedule (default: half and three
            quarters of the run).
        warmup_epochs: linear warm-up epochs.
        label_smoothing: label smoothing of the cross-entropy.
        precision: auto (bf16 on a GPU that has it, else fp32), bf16, fp16, fp32.
        jit_compile: true, false or auto (Keras' choice).
        run_eagerly: run each step eagerly, uncompiled (Keras' `compile`
            argument): for debugging, and for tiny runs whose compilation
            would cost more than their steps.
        verbose: progress (one line per run, a fit or a trial's seed: on a
            terminal it updates in place at each epoch, in a log it is
            printed when the run ends), 0 silent, 1 Keras' progress bars,
            2 Keras' line an epoch (for logs).
        distribution: none, mirrored (TensorFlow's MirroredStrategy over all
            local devices) or data_parallel (Keras' JAX DataParallel over all
            devices); set up inside each trial.
        early_stopping_patience: stop a run after this many epochs in which
            the search's objective (`search.objective`; for `fit`,
            val_accuracy) did not improve (Keras' EarlyStopping, resumed
            exactly after a kill); null: never.
        freeze_epochs: train only the new head (and the attention blocks
            retrofit added) for this many epochs, the rest frozen (batch norm
            in inference mode), then everything: the warm-up of fine-tuning.
        limit_batches: train and validate on each epoch's first N batches
            only: a dry run of any config in seconds (Lightning's
            `limit_train_batches` and `limit_val_batches`); null: all.
    """

    epochs: PositiveInt = 8
    optimizer: Literal["sgd", "adamw"] = "sgd"
    learning_rate: PositiveFloat = 0.1
    momentum: ClosedUnitInterval = 0.9
    weight_decay: NonNegativeFloat = 1e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    step_epochs: Optional[list[PositiveInt]] = None
    warmup_epochs: NonNegativeInt = 0
    label_smoothing: ClosedUnitInterval = 0.0
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    jit_compile: Union[bool, Literal["auto"]] = "auto"
    run_eagerly: bool = False
    verbose: Literal["progress", 0, 1, 2] = "progress"
    distribution: Literal["none", "mirrored", "data_parallel"] = "none"
    early_stopping_patience: Optional[PositiveInt] = None
    freeze_epochs: NonNegativeInt = 0
    limit_batches: Optional[PositiveInt] = None


@dataclasses.dataclass
class SearchConfig:
    """The hyperparameter search.

    Args:
        tuner: grid, random, bayesian or hyperband (keras-tuner's tuners).
        space: hyperparameter -> list of values. Keys are ModelConfig fields
            (se_ratio, se_integration, se_stages...), SqueezeExcite arguments
            (squeeze, gate, activation, divisor) or TrainConfig fields
            (learning_rate, weight_decay, label_smoothing...). In se_ratio,
            null is the network without SE. A key searched only for some
            values of an earlier key takes `{"values": [...], "when":
            {"optimizer": ["sgd"]}}` (keras-tuner's conditional scope).
            Per-stage SE, as in the paper's stage ablation: `se_stages` takes
            lists of stages (`[[2], [3], [4], null]`), and a se_ratio value may
            be a dict of stage -> ratio (`{"3": 8, "4": 16}`; stages left out
            get no SE). SE against its successors: `{"attention": ["se", "eca",
            "cbam", null]}` (null: no attention block).
        repeats: seeds each configuration is trained with (seed, seed + 1,
            ...: initial weights and batch order; the data split stays). The
            results give each configuration's mean, standard deviation and 95%
            interval, and compare configurations over the same seeds.
        max_trials: trials to run (default: the grid's size, or 10).
        objective: the metric of the training's history that ranks the
            trials, with its direction (keras-tuner's rule): a loss is
            minimized (`val_loss`), any other metric maximized
            (`val_accuracy`). The best model, "best by mean", the runner-up
            comparison, each seed's best epoch and early stopping follow it.
        fresh: start over instead of resuming: removes the run folder's trials,
            keras-tuner state and TensorBoard logs.
        max_params: a trial whose model has more parameters fails (null: no limit).
        max_consecutive_failures: the search stops after this many failed
            trials in a row (0: never).
        workers: processes that train trials at once on this machine, this
            process being their keras-tuner chief (default: 2 for a grid or
            random search on a CPU with 2 cores or more, which one process
            leaves half idle; 1, one process, for Bayesian optimization and
            Hyperband, whose next trials depend on the finished ones, on a GPU
            and with train.distribution). Each worker holds its own model.
        role: null (one process, or its local workers), chief or worker: keras-tuner's distributed
            search over a shared run folder (the KERASTUNER_* variables work
            too).
        oracle_ip: the chief's address (127.0.0.1 unless told otherwise).
        oracle_port: the chief's port.
        tuner_id: this worker's name (default: tuner0 for the chief, worker-PID).
        chief_timeout: seconds a worker waits for a chief that does not answer,
            at the worker's start (a slow chief) or after the chief stopped
            (killed, or restarting), before it exits with status 1; 0 waits
            for ever.
        inspect: plot the best model's gates per class at the end (se-tune
            inspect; its options are the `inspect` section).
    """

    tuner: Literal["grid", "random", "bayesian", "hyperband"] = "grid"
    space: dict[str, Union[list[Any], dict[str, Any]]] = dataclasses.field(
        default_factory=lambda: {"se_ratio": [2, 4, 8, 16, 32, None]}
    )
    repeats: PositiveInt = 3
    max_trials: Optional[PositiveInt] = None
    objective: str = "val_accuracy"
    fresh: bool = False
    max_params: Optional[PositiveInt] = None
    max_consecutive_failures: NonNegativeInt = 3
    workers: Optional[PositiveInt] = None
    role: Optional[Literal["chief", "worker"]] = None
    oracle_ip: str = "127.0.0.1"
    oracle_port: int = 8000
    tuner_id: Optional[str] = None
    chief_timeout: NonNegativeInt = 600
    inspect: bool = True


@dataclasses.dataclass
class InspectConfig:
    """What `se-tune inspect` (and a search's final inspection) looks at.

    Args:
        images_per_class: images of each class whose gates are averaged.
        classes: the classes to plot (default: up to the first 5).
        split: the data split the images come from (test or val).
        output_dir: where figures, table and TensorBoard images go
            (default: an `inspect` folder next to the model).
    """

    images_per_class: int = 50
    classes: Optional[list[int]] = None
    split: Literal["test", "val"] = "test"
    output_dir: Optional[str] = None


def distributed_environment(search):
    """keras-tuner's KERASTUNER_* variables for `search.role`, or {} without one
    (a search may also be given the variables themselves).

    Args:
        search: the search section (`SearchConfig` or its parsed namespace).

    Example:

    >>> distributed_environment(SearchConfig(role="chief"))["KERASTUNER_TUNER_ID"]
    'chief'
    """
    if search.role is None:
        return {}
    tuner_id = "chief" if search.role == "chief" else (
        search.tuner_id or f"worker-{os.getpid()}")
    return {
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": search.oracle_ip,
        "KERASTUNER_ORACLE_PORT": str(search.oracle_port),
    }
