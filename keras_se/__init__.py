"""keras_se: Squeeze-and-Excitation blocks and networks for Keras 3."""

# models before convert: a model preset builds from convert's timm tables.
from keras_se import layers, models, convert, utils  # noqa: I001
from keras_se.fold_batch_norm import fold_batch_norm
from keras_se.retrofit import retrofit
from keras_se.layers import SqueezeExcite
from keras_se.version import __version__

__all__ = [
    "SqueezeExcite", "retrofit", "fold_batch_norm", "convert", "layers", "models", "utils",
    "__version__",
]
