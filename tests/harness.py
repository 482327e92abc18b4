"""A shared contract test for Keras layers, run under every backend.

In the spirit of keras-hub's `run_layer_test`: output shape, config round
trip, `.keras` save and load in a fresh process, one training step that changes
every trainable weight, and mixed precision.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    tmp_path,
    fresh_process=True,
    mixed_precision=True,
    parameter_free=False,
):
    """Checks the Keras layer contract for `layer_cls(**init_kwargs)`
    (`parameter_free`: the layer has no weights, and a training step through
    it must still work)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=input_shape).astype("float32")

    # Output shape, eager and symbolic, and compute_output_shape.
    layer = layer_cls(**init_kwargs)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == tuple(expected_output_shape)
    assert tuple(layer.compute_output_shape(input_shape)) == tuple(
        expected_output_shape
    )
    sym = keras.Input(batch_shape=(None,) + tuple(input_shape[1:]))
    assert tuple(layer(sym).shape[1:]) == tuple(expected_output_shape[1:])

    # Config round trip: the clone computes the same function.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    clone.build(input_shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x)), y, rtol=1e-6, atol=1e-6
    )
    # Serialization through Keras' registry, with no custom_objects.
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is layer_cls

    # One training step changes every trainable weight of the layer.
    inputs = keras.Input(shape=input_shape[1:])
    target_layer = layer_cls(**init_kwargs)
    h = target_layer(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [_np_var(v).copy() for v in target_layer.trainable_weights]
    if parameter_free:
        assert not target_layer.weights
    else:
        assert before, "the layer has no trainable weights"
    model.train_on_batch(x, rng.normal(size=(input_shape[0], 3)).astype("float32"))
    after = [_np_var(v) for v in target_layer.trainable_weights]
    for var, b, a in zip(target_layer.trainable_weights, before, after):
        assert not np.allclose(a, b), f"{var.path} did not change in training"

    # .keras save, then load in a fresh process with no custom_objects.
    if fresh_process:
        path = tmp_path / "model.keras"
        model.save(path)
        np.save(tmp_path / "x.npy", x)
        expected = keras.ops.convert_to_numpy(model(x))
        got = load_and_predict_in_fresh_process(path, tmp_path / "x.npy")
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)

    # Mixed precision: output in the compute dtype, close to float32.
    if mixed_precision:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            mixed = layer_cls(**init_kwargs, dtype=policy)
            mixed.build(input_shape)
            mixed.set_weights(layer.get_weights())
            out = mixed(x)
            assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
            out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
            assert np.all(np.isfinite(out))
            tol = 2e-2 if policy == "mixed_bfloat16" else 5e-3
            np.testing.assert_allclose(out, y, rtol=tol, atol=tol)


def _np_var(variable):
    return keras.ops.convert_to_numpy(variable.value)


def load_and_predict_in_fresh_process(model_path, input_path):
    """Loads a `.keras` file in a new Python (safe mode) and returns its output."""
    code = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import keras
        import keras_se  # registers the layers
        model = keras.saving.load_model({str(model_path)!r}, safe_mode=True)
        x = np.load({str(input_path)!r})
        y = keras.ops.convert_to_numpy(model(x))
        np.save({str(input_path)!r} + ".out.npy", y)
        """
    )
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return np.load(str(input_path) + ".out.npy")


def predict_compiled(model, x):
    """`model`'s inference output for `x`, through XLA under TensorFlow (whose
    CPU kernels take no channels_first convolution otherwise); JAX always
    compiles, torch runs eagerly."""
    model.compile(jit_compile=keras.backend.backend() != "torch")
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model.predict_on_batch(x))
