"""timm's ResNet-family architecture names as keras-se builder arguments, and
the model built from them with a checkpoint's weights.

A timm checkpoint names its architecture (`seresnet50`) and the arguments it
was made with (`model_args`, `block_args={"attn_layer": ...}` included); its
tensors give the attention blocks' widths. A stride's place is in neither: the
table below holds what the tensors cannot tell. `tests/test_presets.py` checks
each entry against `from_timm`'s reading of timm's own module.
"""

import itertools
import re

import keras

from keras_se.convert.timm_weights import TIMM_ATTENTION_ATTRIBUTES, load_timm_weights
from keras_se.layers import ImageNormalization, eca_kernel_size, se_units
from keras_se.layers.attention_types import DEFAULT_ATTENTION, REGISTRY, timm_attention
from keras_se.models import resnet

#: timm's ImageNet normalization, for a module without a `pretrained_cfg`.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _entry(depth, attention=None, groups=1, base_width=64, stride_in_1x1=False,
           resnet_d=False, legacy=False):
    # A basic unit has no 1x1 convolution: its stride's place is the builders' default.
    basic = resnet.RESNET_LAYOUTS[depth][0] == "basic"
    return {"depth": depth, "groups": groups, "base_width": base_width,
            "stride_in_1x1": stride_in_1x1 or basic, "resnet_d": resnet_d, "legacy": legacy,
            "attention_module": attention}


#: timm architecture -> its structure and attention block (timm's module class;
#: None: none unless `model_args` names one). Widths come from the tensors.
TIMM_ARCHITECTURES = {
    **{f"seresnet{d}": _entry(d, "SEModule") for d in (18, 34, 50, 101, 152)},
    # The paper's Caffe layout: the downsampling bottleneck strides in its first 1x1.
    **{f"legacy_seresnet{d}": _entry(d, "SEModule", stride_in_1x1=True, legacy=True)
       for d in (18, 34, 50, 101, 152)},
    **{f"legacy_seresnext{d}_32x4d": _entry(d, "SEModule", 32, 4, legacy=True)
       for d in (26, 50, 101)},
    "seresnext26d_32x4d": _entry(26, "SEModule", 32, 4, resnet_d=True),
    "seresnext50_32x4d": _entry(50, "SEModule", 32, 4),
    "seresnext101_32x4d": _entry(101, "SEModule", 32, 4),
    "ecaresnet50d": _entry(50, "EcaModule", resnet_d=True),
    "ecaresnet101d": _entry(101, "EcaModule", resnet_d=True),
    **{f"resnet{d}": _entry(d) for d in (18, 34, 50, 101, 152)},
    "resnet50d": _entry(50, resnet_d=True),
}


#: The builder arguments a table entry fixes (its attention aside).
STRUCTURE = ("depth", "groups", "base_width", "stride_in_1x1", "resnet_d", "legacy")


def ratio_for(widths, divisor):
    """`(se_ratio, se_kwargs)` that give every block its width.

    Args:
        widths: `(stage, channels, units)` of each block.
        divisor: the width rounding to try first (timm's: 8, its legacy SENets': 1).

    Returns:
        One common ratio (and its `divisor`) when one fits, else a ratio per stage.

    Example:

    >>> ratio_for([(2, 256, 16), (3, 512, 32)], 8)
    (16, {'divisor': 8})
    """
    for ratio, div in itertools.product((16, 8, 4, 2, 32, 64, 1), (divisor, 8, 1)):
        if all(se_units(c, ratio, div) == u for _, c, u in widths):
            return ratio, {"divisor": div}
    per_stage = {}
    for stage, channels, units in widths:
        # channels / ratio = units + 0.5: the floor of divisor 1 gives units.
        ratio = channels / (units + 0.5)
        if per_stage.get(stage, ratio) != ratio:
            raise ValueError(
                f"keras_se needs one attention width per stage. Received: stage {stage} with "
                f"widths {sorted({u for s, _, u in widths if s == stage})}")
        per_stage[stage] = ratio
    return per_stage, {"divisor": 1}


def _block_widths(state, module, key):
    """`(stage, channels, units)` of each block's attention FC `key`."""
    pattern = re.compile(rf"layer(\d)\.\d+\.{module}\.{re.escape(key)}\.weight")
    return [(int(m.group(1)) + 1, value.shape[1], value.shape[0])
            for name, value in state.items() if (m := pattern.fullmatch(name))]


def preset_builder_arguments(architecture, model_args, state):
    """The builder arguments of a timm checkpoint (see `timm_builder_arguments`
    in `keras_se.convert.timm`, which reads them from a module instead).

    Args:
        architecture: timm's architecture name (`config.json`'s).
        model_args: `config.json`'s `model_args` (or {}).
        state: the checkpoint's tensors, by timm's names.

    Returns:
        A dict: `depth`, `groups`, `base_width`, `stride_in_1x1`, `resnet_d`,
        `legacy`, `attention`, `se_ratio`, `se_kwargs`.

    Raises:
        ValueError: naming the architecture or attention when keras-se has none.

    Example:

    >>> preset_builder_arguments("seresnet50", {}, state)["se_ratio"]
    16
    """
    if architecture not in TIMM_ARCHITECTURES:
        raise ValueError(
            f"keras_se converts timm's {', '.join(TIMM_ARCHITECTURES)}. "
            f"Received: architecture={architecture!r}")
    entry = dict(TIMM_ARCHITECTURES[architecture])
    attention = timm_attention(entry.pop("attention_module"))
    attn_layer = ((model_args or {}).get("block_args") or {}).get("attn_layer")
    if attn_layer is not None:
        if attn_layer not in REGISTRY:
            raise ValueError(f"keras_se converts timm's attn_layer {', '.join(REGISTRY)}. "
                             f"Received: attn_layer={attn_layer!r}")
        attention = attn_layer
    legacy = entry["legacy"]
    module = TIMM_ATTENTION_ATTRIBUTES[legacy]
    se_ratio, se_kwargs = None, None
    if attention is not None:
        layer = REGISTRY[attention].layer
        se_ratio, se_kwargs = 16, {}
        if layer == "SqueezeExcite":
            se_ratio, se_kwargs = ratio_for(_block_widths(state, module, "fc1"),
                                            1 if legacy else 8)
        elif layer == "CBAM":
            se_ratio, se_kwargs = ratio_for(_block_widths(state, module, "channel.fc1"), 1)
            kernel = next(v for k, v in state.items() if k.endswith("spatial.conv.conv.weight"))
            se_kwargs.update(
                use_bias=any(k.endswith("channel.fc1.bias") for k in state),
                spatial_kernel_size=int(kernel.shape[-1]))
        elif layer == "GatherExcite":
            gathers = {k for k in state if re.search(r"\.gather\.conv\d+\.weight$", k)}
            convs = len({k.split(".gather.")[1] for k in gathers})
            se_kwargs = {"extent": 2 ** convs if convs else 0, "extra_params": bool(convs),
                         "use_mlp": any(".mlp.fc1." in k for k in state)}
            if se_kwargs["use_mlp"]:
                se_ratio, extra = ratio_for(_block_widths(state, module, "mlp.fc1"), 1)
                se_kwargs.update(extra)
        elif layer == "EffectiveSqueezeExcite":
            se_kwargs = {"gate": "hard_sigmoid", "squeeze": "avg"}
        elif layer == "EfficientChannelAttention":
            se_kwargs = None
            for name, value in state.items():
                if name.endswith(f".{module}.conv.weight"):
                    block = name[:-len(f".{module}.conv.weight")]
                    channels = state.get(f"{block}.bn3.weight", state.get(f"{block}.bn2.weight"))
                    if value.shape[-1] != eca_kernel_size(channels.shape[0]):
                        raise ValueError(
                            "keras_se converts ECA with ECA-Net's kernel sizes. Received: "
                            f"{name} of size {value.shape[-1]} for {channels.shape[0]} channels")
    return {**entry, "attention": attention or DEFAULT_ATTENTION, "se_ratio": se_ratio,
            "se_kwargs": se_kwargs or None}


def build_timm_resnet(arguments, num_classes, state=None, input_shape=(None, None, 3),
                      include_top=True, classes=None, pooling=None, mean=IMAGENET_MEAN,
                      std=IMAGENET_STD, include_preprocessing=True, metadata=None,
                      classifier_activation=None, name=None):
    """The keras-se model of timm builder `arguments`, with `state`'s weights.

    Args:
        arguments: `timm_builder_arguments` or `preset_builder_arguments`.
        num_classes: the checkpoint's classes.
        state: timm's tensors by name, or None to leave the weights as built.
        input_shape: the model's input shape.
        include_top: whether the model ends with the classifier.
        classes: the classifier's outputs; other than `num_classes`, a fresh
            head on the checkpoint's body.
        pooling: without the top: None, "avg" or "max".
        mean: the checkpoint's normalization mean (images in [0, 1]).
        std: its standard deviation.
        include_preprocessing: whether the model normalizes [0, 255] images.
        metadata: further `ImageNormalization` arguments (input size, labels...).
        classifier_activation: `predictions`' activation (None: logits).
        name: the model's name.

    Returns:
        A `keras.Model`.

    Example:

    >>> model = build_timm_resnet(arguments, 1000, state)
    """
    classes = num_classes if classes is None else classes
    arguments = dict(arguments)
    legacy = arguments.pop("legacy")
    inputs = keras.Input(shape=input_shape)
    x = ImageNormalization(mean=mean, std=std, normalize=include_preprocessing,
                           name="normalization", **(metadata or {}))(inputs)
    model = resnet.build_resnet(
        input_tensor=x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        stem_pool_padding=((0, 1), (0, 1)) if legacy else 1, basic_branch_relu=legacy,
        name=name, **arguments)
    if state is not None:
        fresh_head = not include_top or classes != num_classes
        load_timm_weights(model, state, legacy, skip=("predictions",) if fresh_head else ())
    return model
