"""Pretrained models in one line: timm's checkpoints on the Hugging Face Hub
(or a folder in their layout), and keras-se's own saved presets.

A preset is a folder holding `config.json` and `model.safetensors`. timm
publishes its checkpoints so; `from_preset` reads them with `huggingface_hub`
and `safetensors` alone (nothing of PyTorch), builds the keras-se model the
config describes and copies the tensors in. `save_preset` writes a model back
in the same layout: timm's schema where it describes the model, else keras-se's.
"""

import collections.abc
import contextlib
import inspect
import json
import os

import keras
import numpy as np

from keras_se.convert.timm_architectures import (
    IMAGENET_MEAN, IMAGENET_STD, TIMM_ARCHITECTURES, build_timm_resnet,
    preset_builder_arguments)
from keras_se.convert.timm_weights import timm_state_dict
from keras_se.layers import ImageNormalization
from keras_se.layers.attention_types import timm_attention

HF_PREFIX = "hf://"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
KERAS_SE_SCHEMA = "keras_se"


def _hub_files(preset):
    """The cached (or downloaded) config and weights of an `hf://OWNER/NAME` preset."""
    repo_id = preset[len(HF_PREFIX):]
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"`preset` must be hf://OWNER/NAME. Received: preset={preset!r}")
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise ValueError("hf:// presets need huggingface_hub and safetensors: "
                         f"pip install 'keras-se[hub]'. Received: preset={preset!r}") from None
    try:
        return [huggingface_hub.hf_hub_download(repo_id, name)
                for name in (CONFIG_FILE, WEIGHTS_FILE)]
    except errors.LocalEntryNotFoundError:
        raise ValueError(
            f"{preset} is not in the Hugging Face cache ({huggingface_hub.constants.HF_HUB_CACHE})"
            " and the hub cannot be reached (HF_HUB_OFFLINE or no network): load it once "
            f"online, or give a local folder. Received: preset={preset!r}") from None
    except (errors.RepositoryNotFoundError, errors.EntryNotFoundError,
            errors.HfHubHTTPError) as error:
        raise ValueError(f"{preset} has no {CONFIG_FILE} and {WEIGHTS_FILE} on the Hugging "
                         f"Face Hub ({type(error).__name__}). Received: preset={preset!r}"
                         ) from None


def _preset_files(preset):
    if isinstance(preset, str) and preset.startswith(HF_PREFIX):
        return _hub_files(preset)
    files = [os.path.join(str(preset), name) for name in (CONFIG_FILE, WEIGHTS_FILE)]
    if not isinstance(preset, (str, os.PathLike)) or not all(map(os.path.isfile, files)):
        raise ValueError(f"`preset` must be hf://OWNER/NAME or a folder holding {CONFIG_FILE} "
                         f"and {WEIGHTS_FILE}. Received: preset={preset!r}")
    return files


def _read_config(path, preset):
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable JSON config ({type(error).__name__}). "
                         f"Received: preset={preset!r}") from None
    if not isinstance(config, dict) or not (
            "architecture" in config or KERAS_SE_SCHEMA in config):
        raise ValueError(f"{path} is neither timm's config (no 'architecture') nor keras-se's. "
                         f"Received: preset={preset!r}")
    return config


# safetensors' dtype names as NumPy dtypes (bfloat16 from ml_dtypes, which Keras uses).
_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16",
           "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
           "BOOL": "bool"}


class _Tensors(collections.abc.Mapping):
    """A safetensors file's tensors by name, each read from the file when asked
    for, with a plain read: neither the whole checkpoint nor a memory map of it
    stays in memory beside the model (a ResNet-50 loads in about twice its
    file's size; `benchmarks/preset_memory.py`). `safetensors` has checked the
    file when it opened it; its header gives each tensor's dtype, shape and bytes.
    """

    def __init__(self, path):
        self._file = open(path, "rb")
        (length,) = np.frombuffer(self._file.read(8), "<u8")
        header = json.loads(self._file.read(int(length)))
        header.pop("__metadata__", None)
        self._start = 8 + int(length)
        self._header = header

    def __getitem__(self, name):
        entry = self._header[name]
        begin, end = entry["data_offsets"]
        self._file.seek(self._start + begin)
        if entry["dtype"] == "BF16":
            import ml_dtypes  # Keras' own dependency

            dtype = np.dtype(ml_dtypes.bfloat16)
        else:
            dtype = np.dtype(_DTYPES[entry["dtype"]])
        return np.frombuffer(self._file.read(end - begin), dtype.newbyteorder("<")).reshape(
            entry["shape"])

    def __contains__(self, name):
        return name in self._header

    def __iter__(self):
        return iter(self._header)

    def __len__(self):
        return len(self._header)

    def close(self):
        self._file.close()


@contextlib.contextmanager
def _read_weights(path, preset):
    try:
        from safetensors import safe_open
    except ImportError:
        raise ValueError("presets need safetensors: pip install 'keras-se[hub]'. "
                         f"Received: preset={preset!r}") from None
    try:
        with safe_open(path, framework="np") as handle:  # checks the header and sizes
            handle.keys()
        tensors = _Tensors(path)
    except Exception as error:  # safetensors' own error type, OSError...: all the file's
        raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt: "
                         f"{type(error).__name__}). Received: preset={preset!r}") from None
    try:
        yield tensors
    finally:
        tensors.close()


def preset_config(preset):
    """The `config.json` of a preset, without its weights.

    Args:
        preset: see `from_preset`.

    Returns:
        The config, a dict.

    Example:

    >>> preset_config("hf://timm/seresnet50.ra2_in1k")["architecture"]
    'seresnet50'
    """
    config_path, _ = _preset_files(preset)
    return _read_config(config_path, preset)


def from_preset(preset, include_top=True, classes=None, input_shape=None, pooling=None,
                include_preprocessing=True, classifier_activation=None, name=None):
    """A pretrained keras-se model from a preset.

    The model returns logits. It takes RGB images with values in [0, 255] and
    normalizes them itself (`include_preprocessing=False` leaves that out), and
    carries the checkpoint's input size, crop, mean, std and label names
    (`preset_metadata`).

    Args:
        preset: `hf://OWNER/NAME` (a Hugging Face Hub repository, fetched
            through `huggingface_hub` into its cache; `HF_HOME` and
            `HF_HUB_OFFLINE` apply), or a local folder holding `config.json`
            and `model.safetensors` in timm's layout or keras-se's
            (`save_preset`).
        include_top: whether the model ends with the classifier.
        classes: the classifier's outputs; other than the checkpoint's, a
            fresh head on the pretrained body (the start of fine-tuning).
        input_shape: the input shape, `(None, None, 3)` by default (any size).
        pooling: without the top: None (4D features), "avg" or "max".
        include_preprocessing: whether the model normalizes [0, 255] images.
        classifier_activation: the activation of `predictions`: None (logits,
            the default) or, as keras.applications, `"softmax"`.
        name: the model's name (default: the checkpoint's architecture).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: with one line naming the value, for an unknown or
            unsupported architecture, a preset missing from the cache while
            offline, a corrupt or truncated weights file, or a missing or
            misshapen tensor.

    Example:

    >>> model = keras_se.models.from_preset("hf://timm/seresnet50.ra2_in1k")
    >>> fine_tune = keras_se.models.from_preset("hf://timm/seresnet50.ra2_in1k", classes=5)
    """
    config_path, weights_path = _preset_files(preset)
    config = _read_config(config_path, preset)
    with _read_weights(weights_path, preset) as state:
        return _model(config, state, preset, include_top, classes, input_shape, pooling,
                      include_preprocessing, classifier_activation, name)


def _model(config, state, preset, include_top, classes, input_shape, pooling,
           include_preprocessing, classifier_activation, name):
    if KERAS_SE_SCHEMA in config:
        if (include_preprocessing is not True or input_shape is not None
                or classifier_activation is not None):
            raise ValueError(
                "A keras-se preset is the saved model itself: it takes `include_top`, "
                f"`classes` and `pooling` only. Received: input_shape={input_shape!r}, "
                f"include_preprocessing={include_preprocessing!r}, "
                f"classifier_activation={classifier_activation!r}")
        return _keras_se_model(config, state, include_top, classes, pooling, preset)
    model_args = dict(config.get("model_args") or {})
    cfg = config.get("pretrained_cfg") or {}
    num_classes = int(config.get("num_classes", cfg.get("num_classes", 1000)))
    arguments = preset_builder_arguments(config["architecture"], model_args, state)
    fresh_head = classes is not None and classes != num_classes
    labels = None if fresh_head else (cfg.get("label_names") or config.get("label_names"))
    size = cfg.get("input_size")
    metadata = {
        "input_size": tuple(size[1:]) if size else None,
        "crop_pct": cfg.get("crop_pct"), "interpolation": cfg.get("interpolation"),
        "label_names": labels,
        "source": {"architecture": config["architecture"], "model_args": model_args}}
    return build_timm_resnet(
        arguments, num_classes, state, input_shape=input_shape or (None, None, 3),
        include_top=include_top, classes=classes, pooling=pooling,
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)), std=tuple(cfg.get("std", IMAGENET_STD)),
        include_preprocessing=include_preprocessing, metadata=metadata,
        classifier_activation=classifier_activation,
        name=name or config["architecture"].replace(".", "_"))


def preset_metadata(model):
    """What a model made from a preset (or converted from timm) expects and
    returns: its input size, crop fraction, interpolation, normalization and
    label names. Saved with the model: `keras.saving.load_model` keeps them.

    Args:
        model: a `keras.Model` with an `ImageNormalization` layer.

    Returns:
        A dict with `input_size` (height, width, or None), `crop_pct`,
        `interpolation`, `mean`, `std` (for images scaled to [0, 1]),
        `normalizes` (whether the model applies them) and `label_names`
        (None when the preset has none).

    Example:

    >>> keras_se.models.preset_metadata(model)["input_size"]
    (224, 224)
    """
    layer = next((l for l in model.layers if isinstance(l, ImageNormalization)), None)
    if layer is None:
        raise ValueError("preset_metadata needs a model from a preset or from_timm (an "
                         f"ImageNormalization layer). Received: model={model.name!r}")
    return {"input_size": layer.input_size, "crop_pct": layer.crop_pct,
            "interpolation": layer.interpolation, "mean": tuple(layer.mean),
            "std": tuple(layer.std), "normalizes": layer.normalize,
            "label_names": layer.label_names}


def _timm_source(model):
    """timm's architecture and model_args when timm's schema describes `model`, else None."""
    layer = next((l for l in model.layers if isinstance(l, ImageNormalization)), None)
    source = getattr(layer, "source", None) or {}
    if source.get("architecture") not in TIMM_ARCHITECTURES or "predictions" not in {
            l.name for l in model.layers}:
        return None, layer
    return source, layer


def save_preset(model, folder):
    """Writes `model` as a preset folder: `config.json` and `model.safetensors`.

    A model that timm's schema describes (one from a timm preset or
    `from_timm`, with its classifier) is written in timm's layout, which timm
    and `from_preset` both load, and `huggingface_hub` can publish as it is.
    Any other model (a builder's, a retrofitted `keras.applications` network)
    is written in keras-se's: `config.json` holds
    `{"keras_se": {"format": 1, "model": <the Keras model config>}}` and the
    safetensors file each weight under its Keras path.

    Args:
        model: a `keras.Model`.
        folder: where to write (created if missing).

    Returns:
        The folder.

    Example:

    >>> keras_se.models.save_preset(model, "my_se_resnet")
    >>> same = keras_se.models.from_preset("my_se_resnet")
    """
    from safetensors.numpy import save_file

    os.makedirs(folder, exist_ok=True)
    source, layer = _timm_source(model)
    if source is not None:
        legacy = source["architecture"].startswith("legacy_")
        state = timm_state_dict(model, legacy)
        head = state["last_linear.weight" if legacy else "fc.weight"]
        classes, features = head.shape
        cfg = {"input_size": [3, *(layer.input_size or (224, 224))], "mean": list(layer.mean),
               "std": list(layer.std), "num_classes": int(classes)}
        cfg.update({k: v for k, v in (("crop_pct", layer.crop_pct),
                                      ("interpolation", layer.interpolation),
                                      ("label_names", layer.label_names)) if v is not None})
        config = {"architecture": source["architecture"], "num_classes": int(classes),
                  "num_features": int(features), "global_pool": "avg",
                  "model_args": {**source.get("model_args", {}), "num_classes": int(classes)},
                  "pretrained_cfg": cfg}
    else:
        state = {}
        for variable in model.weights:
            if variable.path in state:
                raise ValueError("save_preset needs a unique path for each weight. Received: "
                                 f"{variable.path!r} twice in model {model.name!r}")
            state[variable.path] = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        config = {KERAS_SE_SCHEMA: {"format": 1,
                                    "model": keras.saving.serialize_keras_object(model)}}
    save_file(state, os.path.join(folder, WEIGHTS_FILE))
    with open(os.path.join(folder, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2)
    return folder


def _keras_se_model(config, state, include_top, classes, pooling, preset):
    model = keras.saving.deserialize_keras_object(config[KERAS_SE_SCHEMA]["model"],
                                                  safe_mode=True)
    for variable in model.weights:
        value = state.get(variable.path)
        if value is None:
            raise ValueError(f"The checkpoint has no tensor {variable.path!r}. "
                             f"Received: preset={preset!r}")
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"The checkpoint's tensor {variable.path!r} has the wrong shape: expected "
                f"{tuple(variable.shape)}. Received: shape={tuple(value.shape)}")
        variable.assign(value)
    names = {layer.name for layer in model.layers}
    if include_top and (classes is None or classes == model.output_shape[-1]):
        return model
    if "predictions" not in names or "avg_pool" not in names:
        raise ValueError("include_top=False and a new `classes` need a model that ends in "
                         f"`avg_pool` and `predictions`. Received: preset={preset!r}")
    features = model.get_layer("avg_pool").input
    if include_top:
        activation = model.get_layer("predictions").activation
        head = keras.layers.Dense(classes, activation=activation, name="predictions")
        outputs = head(model.get_layer("avg_pool").output)
    elif pooling == "avg":
        outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    elif pooling == "max":
        outputs = keras.layers.GlobalMaxPooling2D(name="max_pool")(features)
    else:
        outputs = features
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=model.name)


#: The timm ImageNet checkpoints that `weights="imagenet"` loads, with their
#: published top-1 accuracy at 224x224 (timm's results-imagenet.csv). A
#: builder's arguments pick the one whose architecture they describe.
IMAGENET_PRESETS = {
    "hf://timm/legacy_seresnet50.in1k": 77.65,
    "hf://timm/seresnet50.ra2_in1k": 80.26,
    "hf://timm/ecaresnet50d.miil_in1k": 80.63,
    "hf://timm/resnet50.a1_in1k": 80.38,
    "hf://timm/seresnext50_32x4d.racm_in1k": 81.27,
}
_STRUCTURE = ("depth", "groups", "stride_in_1x1", "resnet_d", "attention")


def _structure(architecture):
    entry = TIMM_ARCHITECTURES[architecture]
    return {**{k: entry[k] for k in _STRUCTURE[:-1]},
            "attention": timm_attention(entry["attention_module"])}


def imagenet_preset(depth, groups, stride_in_1x1, resnet_d, attention):
    """The `IMAGENET_PRESETS` entry whose architecture a builder's arguments
    describe (`attention` None: no attention block).

    Raises:
        ValueError: naming the closest presets and what differs, when none matches.

    Example:

    >>> imagenet_preset(50, 1, False, False, "se")
    'hf://timm/seresnet50.ra2_in1k'
    """
    wanted = dict(zip(_STRUCTURE, (depth, groups, stride_in_1x1, resnet_d, attention)))
    differences = {}
    for preset in IMAGENET_PRESETS:
        found = _structure(preset[len(HF_PREFIX):].split("/")[1].split(".")[0])
        differences[preset] = [f"{k}={found[k]!r}" for k in _STRUCTURE if found[k] != wanted[k]]
        if not differences[preset]:
            return preset
    fewest = min(len(d) for d in differences.values())
    closest = "; ".join(f"{p} ({', '.join(d)})" for p, d in differences.items()
                        if len(d) == fewest)
    raise ValueError(
        f"No ImageNet checkpoint has this architecture; the closest: {closest}. Received: "
        + ", ".join(f"{k}={v!r}" for k, v in wanted.items()))


def pretrained_builder_model(builder, arguments):
    """A builder's model with pretrained weights (`weights="imagenet"` or a preset).

    The builder's defaults take the checkpoint's values; an argument given
    explicitly that contradicts the checkpoint raises a ValueError naming each
    difference.

    Args:
        builder: the builder function (its signature's defaults).
        arguments: the builder's arguments, with `depth` and `groups`.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = pretrained_builder_model(SEResNet50, {..., "weights": "imagenet"})
    """
    defaults = {k: p.default for k, p in inspect.signature(builder).parameters.items()}
    given = {k: v for k, v in arguments.items() if k in defaults and v != defaults[k]}
    if arguments["input_tensor"] is not None:
        raise ValueError("A pretrained model makes its own input: `input_tensor` must be None "
                         "with `weights='imagenet'` or a preset. Received: input_tensor=...")
    weights = arguments["weights"]
    attention = None if arguments["se_ratio"] is None else arguments["attention"]
    if weights == "imagenet":
        weights = imagenet_preset(arguments["depth"], arguments["groups"],
                                  arguments["stride_in_1x1"], arguments["resnet_d"], attention)
    config = preset_config(weights)
    # The default `classes` is the checkpoint's; another value is a new head.
    classes = given.get("classes")
    if KERAS_SE_SCHEMA in config:
        return from_preset(weights, include_top=arguments["include_top"], classes=classes,
                           pooling=arguments["pooling"])
    model = from_preset(
        weights, include_top=arguments["include_top"], classes=classes,
        input_shape=arguments["input_shape"], pooling=arguments["pooling"],
        classifier_activation=arguments["classifier_activation"],
        name=arguments["name"] or builder.__name__.lower())
    found = _model_arguments(model, config)
    differences = [f"{k}={given[k]!r} against the checkpoint's {found[k]!r}"
                   for k in given if k in found and given[k] != found[k]]
    for key in ("depth", "groups"):
        if arguments[key] != found[key]:
            differences.append(f"{key}={arguments[key]!r} against the checkpoint's {found[key]!r}")
    if differences:
        raise ValueError(f"{builder.__name__}'s arguments contradict {weights}: "
                         f"{'; '.join(differences)}. Received: weights={arguments['weights']!r}")
    return model


def _model_arguments(model, config):
    """The builder arguments of a timm checkpoint's model (see `preset_builder_arguments`)."""
    from keras_se.utils import se_layers  # keras_se.utils counts models: imported after them

    found = _structure(config["architecture"])
    attn_layer = ((config.get("model_args") or {}).get("block_args") or {}).get("attn_layer")
    blocks = se_layers(model)
    found.update(attention=attn_layer or found["attention"], se_integration="standard",
                 se_stages=None)
    if blocks and hasattr(blocks[0], "ratio"):
        found["se_ratio"] = blocks[0].ratio
    return found
