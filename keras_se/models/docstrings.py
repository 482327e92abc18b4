"""One documentation template for every builder, as keras.applications keeps one.

A builder's docstring is its own summary, then the arguments of its signature
described here once, then its example.
"""

import inspect
import textwrap

_ARGS = {
    "depth": "the network's depth.",
    "include_top": "whether the model ends with `avg_pool` and the `predictions` layer.",
    "weights": "None, or the path of a weights file to load.",
    "input_tensor": "optional Keras tensor to use as the model's input.",
    "input_shape": "optional shape tuple; `({size}, {size}, 3)` by default with "
                   "`include_top`, else `(None, None, 3)`; at least {min_size}x{min_size}.",
    "pooling": "with `include_top=False`: None (a 4D feature map), `\"avg\"` or `\"max\"`.",
    "classes": "number of classes of the classifier.",
    "classifier_activation": "activation of `predictions`; None for logits.",
    "se_ratio": "the reduction ratio r of every attention block that takes one (16 in "
                "the paper; section 6.1 and Table 10 compare 2 to 32); a dict such as "
                "`{{3: 8, 4: 16}}` gives each stage its own ratio and leaves the other "
                "stages without a block (the paper's stage ablation); None builds "
                "{plain} itself.",
    "se_integration": "where a block sits in a residual unit: `\"standard\"` (on the "
                      "branch, before the addition), `\"pre\"`, `\"post\"`, `\"identity\"` "
                      "or `\"3x3\"`, the placements of the paper's section 6.5 (Table 14).",
    "se_stages": "the stages ({stages}) that get a block, as in section 6.4 (Table 13); "
                 "None for all.",
    "se_kwargs": "further arguments of the attention layer, for example "
                 "`{{\"squeeze\": \"max\", \"gate\": \"hard_sigmoid\"}}` for `SqueezeExcite`.",
    "stride_in_1x1": "whether a downsampling bottleneck strides in its first 1x1 "
                     "convolution (True: the original ResNet, keras.applications and "
                     "timm's legacy SENets) or in its 3x3 convolution (False: "
                     "torchvision, timm and ResNeXt).",
    "attention": "the attention block: a type of `keras_se.layers.ATTENTION_TYPES` "
                 "(`\"se\"`, the default, `\"ese\"`, `\"eca\"`, `\"cbam\"`, `\"ge\"`; see "
                 "`keras_se.layers.get_attention`), a callable that makes a layer, or None.",
    "resnet_d": "ResNet-D (He et al., Bag of Tricks, 2019): a deep stem of three 3x3 "
                "convolutions (32, 32, 64 channels) and average pooling before each "
                "downsampling shortcut's 1x1 convolution (timm's `...d` models).",
    "name": "the model's name; by default `{default_name}`, without the attention "
            "prefix when there is no block.",
}

#: `weights` of the builders that have pretrained checkpoints (ResNets, ResNeXts).
PRETRAINED_WEIGHTS = (
    "None; the path of a weights file; `\"imagenet\"`, the timm ImageNet checkpoint "
    "whose architecture the other arguments describe (`keras_se.models.IMAGENET_PRESETS`; "
    "with the defaults, stride in the 1x1 convolution: the paper's weights, timm's "
    "`legacy_seresnet50.in1k` for SE-ResNet-50); or any preset of "
    "`keras_se.models.from_preset` (`hf://OWNER/NAME`, a folder). Arguments left at "
    "their defaults take the checkpoint's values; one given that contradicts it raises a "
    "`ValueError`. The model then returns `classifier_activation`'s output of the "
    "checkpoint's head, or a fresh head for other `classes`.")

_TEMPLATE = """{summary}

Args:
{args}

Returns:
    A `keras.Model`.

Example:

>>> {example}
"""


def document(builder, summary, example, overrides=None, **facts):
    """Sets `builder.__doc__` from the template.

    Args:
        builder: the builder function; its signature gives the arguments.
        summary: what the builder builds: its first line and paragraph.
        example: one line of code that calls it.
        overrides: argument -> description, for the arguments this builder
            treats its own way.
        **facts: the values the descriptions name (`size`, `min_size`,
            `stages`, `plain`, `default_name`).

    Returns:
        The builder.

    Example:

    >>> document(SEResNet50, "Instantiates SE-ResNet-50.", "SEResNet50()", size=224,
    ...          min_size=32, stages="2 to 5", plain="ResNet-50", default_name="se_resnet50")
    """
    descriptions = {**_ARGS, **(overrides or {})}
    lines = []
    for argument in inspect.signature(builder).parameters:
        text = descriptions[argument].format(**facts)
        lines.append(textwrap.fill(f"{argument}: {text}", width=80, initial_indent="    ",
                                   subsequent_indent="        "))
    builder.__doc__ = _TEMPLATE.format(summary=summary.strip(), args="\n".join(lines),
                                       example=example)
    return builder
