"""The registry of keras_se's network builders, with what each one expects."""

import dataclasses

#: Every builder by name, as registered by `register`.
BUILDERS = {}


@dataclasses.dataclass(frozen=True)
class BuilderInfo:
    """A registered builder and its defaults.

    Args:
        name: the builder's name, as `keras_se.models` exports it.
        builder: the function itself.
        family: the network family: "resnet", "resnext", "cifar_resnet" or
            "inception".
        default_size: the input size (square, 3 channels) the builder uses when
            `include_top=True` and no `input_shape` is given.
        min_size: the smallest input size it accepts.

    Example:

    >>> info = keras_se.models.get_builder("SEResNet50")
    >>> info.family, info.default_size
    ('resnet', 224)
    """

    name: str
    builder: object
    family: str
    default_size: int
    min_size: int

    def default_input_shape(self):
        """`(default_size, default_size, 3)`."""
        return (self.default_size, self.default_size, 3)


def register(family, default_size, min_size, *builders):
    """Registers builders under their functions' names.

    Args:
        family: the network family (see `BuilderInfo`).
        default_size: their default input size.
        min_size: their smallest input size.
        *builders: the builder functions.

    Example:

    >>> def MyResNet(**kwargs): ...
    >>> register("resnet", 224, 32, MyResNet)
    """
    for builder in builders:
        BUILDERS[builder.__name__] = BuilderInfo(
            builder.__name__, builder, family, default_size, min_size)


def get_builder(name):
    """The `BuilderInfo` of a registered builder.

    Args:
        name: a builder's name, for example "SEResNet50".

    Returns:
        Its `BuilderInfo`.

    Raises:
        ValueError: `name` is not a registered builder.

    Example:

    >>> model = keras_se.models.get_builder("CifarSEResNet").builder(depth=20)
    """
    if name not in BUILDERS:
        raise ValueError(
            f"`name` must be one of {', '.join(BUILDERS)}. Received: name={name!r}"
        )
    return BUILDERS[name]
