"""keras_se's attention registry, read without importing Keras.

`keras_se.layers.attention_types` is plain data, but importing it through its
package would load Keras and its back end, which `se-tune --help` and the
command line's checks do not need. The file is run on its own here, so the
app's choices still come from the library's one registry.
"""

import importlib.util
import os


def _load_registry():
    package = importlib.util.find_spec("keras_se")
    path = os.path.join(package.submodule_search_locations[0], "layers", "attention_types.py")
    spec = importlib.util.spec_from_file_location("se_tune._keras_se_attention_types", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_registry = _load_registry()

#: The attention types (`keras_se.layers.ATTENTION_TYPES`' keys), in order.
ATTENTION_NAMES = _registry.ATTENTION_NAMES
#: The type of a model whose config names none.
DEFAULT_ATTENTION = _registry.DEFAULT_ATTENTION
