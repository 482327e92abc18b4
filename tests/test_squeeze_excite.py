import keras
import numpy as np
import pytest

import keras_se
from keras_se import SqueezeExcite

from harness import run_layer_test


def numpy_se(x, weights, data_format, squeeze, act=None, gate=None):
    """An independent NumPy SE block: squeeze, excite, scale."""
    w1, b1, w2, b2 = weights
    act = act or (lambda v: np.maximum(v, 0.0))
    gate = gate or (lambda v: 1.0 / (1.0 + np.exp(-v)))
    x64 = x.astype(np.float64)
    if data_format == "channels_first":
        x64 = np.moveaxis(x64, 1, -1)
    flat = x64.reshape(x64.shape[0], -1, x64.shape[-1])
    if squeeze == "avg":
        z = flat.mean(axis=1)
    elif squeeze == "max":
        z = flat.max(axis=1)
    else:
        z = (flat.mean(axis=1) + flat.max(axis=1)) / 2
    s = gate(act(z @ w1 + b1) @ w2 + b2)
    s = s.reshape((s.shape[0],) + (1,) * (x64.ndim - 2) + (s.shape[1],))
    out = x64 * s
    if data_format == "channels_first":
        out = np.moveaxis(out, -1, 1)
    return out


SHAPES = {
    "1d": (2, 7, 12),
    "2d": (2, 5, 6, 12),
    "3d": (2, 3, 4, 5, 12),
}


@pytest.mark.parametrize("squeeze", ["avg", "max", "avgmax"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dims", ["1d", "2d", "3d"])
def test_matches_numpy_reference(dims, data_format, squeeze):
    shape = SHAPES[dims]
    if data_format == "channels_first":
        shape = (shape[0], shape[-1]) + shape[1:-1]
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype("float32")
    layer = SqueezeExcite(
        ratio=4, squeeze=squeeze, data_format=data_format,
        bias_initializer="random_normal",
    )
    y = keras.ops.convert_to_numpy(layer(x))
    ref = numpy_se(x, [keras.ops.convert_to_numpy(w) for w in layer.weights],
                   data_format, squeeze)
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({"ratio": 4}, (2, 6, 6, 16)),
        ({"units": 3, "squeeze": "avgmax", "data_format": "channels_first",
          "bias_initializer": "ones"}, (2, 16, 4, 4)),
        ({"ratio": 2, "squeeze": "max", "gate": "hard_sigmoid"}, (2, 9, 8)),
        ({"ratio": 8, "divisor": 4, "activation": "gelu"}, (2, 3, 3, 3, 16)),
    ],
)
def test_layer_contract(kwargs, shape, tmp_path):
    # The fresh-process .keras check is slow: run it for one case only.
    run_layer_test(
        SqueezeExcite, kwargs, shape, shape, tmp_path,
        fresh_process=kwargs.get("ratio") == 4,
    )


def test_default_data_format_follows_keras_config():
    keras.config.set_image_data_format("channels_first")
    layer = SqueezeExcite()
    assert layer.data_format == "channels_first"
    layer.build((1, 32, 4, 4))
    assert layer.channels == 32


@pytest.mark.parametrize(
    "channels,kwargs,expected",
    [
        (256, {}, 16),                          # paper: C / 16
        (64, {"ratio": 16}, 4),
        (100, {"ratio": 16}, 6),                # floor when divisor == 1
        (8, {"ratio": 16}, 1),                  # at least one unit
        (8, {"ratio": 16, "min_units": 3}, 3),
        (64, {"divisor": 8}, 8),                # timm: make_divisible(4, 8) = 8
        (256, {"divisor": 8}, 16),
        (200, {"divisor": 8}, 16),              # 12.5 rounds to 16
        (180, {"divisor": 8}, 8),               # 11.25 rounds to 8 (round_limit 0)
        (2048, {"ratio": 16, "divisor": 8}, 128),
    ],
)
def test_bottleneck_width(channels, kwargs, expected):
    layer = SqueezeExcite(**kwargs)
    layer.build((1, 4, 4, channels))
    assert tuple(layer.reduce_kernel.shape) == (channels, expected)
    assert layer.bottleneck_units(channels) == expected


def test_units_overrides_ratio():
    layer = SqueezeExcite(ratio=2, units=5)
    layer.build((1, 4, 4, 64))
    assert tuple(layer.expand_kernel.shape) == (5, 64)


def test_no_bias():
    layer = SqueezeExcite(ratio=4, use_bias=False)
    layer.build((1, 4, 4, 16))
    assert len(layer.weights) == 2


@pytest.mark.parametrize("gate,fn", [
    ("tanh", np.tanh),
    ("relu", lambda v: np.maximum(v, 0.0)),
])
def test_gate_ablations(gate, fn):
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 8)).astype("float32")
    layer = SqueezeExcite(ratio=2, gate=gate, bias_initializer="ones")
    y = keras.ops.convert_to_numpy(layer(x))
    ref = numpy_se(x, [keras.ops.convert_to_numpy(w) for w in layer.weights],
                   "channels_last", "avg", gate=fn)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_callable_activation_and_initializers_and_regularizers():
    layer = SqueezeExcite(
        ratio=2,
        activation=keras.activations.silu,
        kernel_initializer="ones",
        bias_initializer=keras.initializers.Constant(0.5),
        kernel_regularizer=keras.regularizers.L2(0.1),
        bias_regularizer="l1",
    )
    x = np.ones((1, 2, 2, 4), "float32")
    layer(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.reduce_kernel), 1.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.expand_bias), 0.5)
    # One loss per regularized weight: two kernels, two biases.
    assert len(layer.losses) == 4
    clone = SqueezeExcite.from_config(layer.get_config())
    assert clone.activation is keras.activations.silu


def test_compute_gates():
    x = np.random.default_rng(3).normal(size=(3, 5, 5, 8)).astype("float32")
    layer = SqueezeExcite(ratio=2)
    gates = keras.ops.convert_to_numpy(layer.compute_gates(x))
    assert gates.shape == (3, 8)
    assert np.all((gates > 0) & (gates < 1))
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, x * gates[:, None, None, :], atol=1e-6)


def test_float16_input_keeps_the_excitation_in_float32():
    # Mean 60000 fits float16 (max 65504); the bottleneck's 4 x 60000 does not.
    x = keras.ops.full((1, 64, 64, 4), 60000.0, dtype="float16")
    layer = SqueezeExcite(ratio=2, dtype="mixed_float16")
    layer.build(x.shape)
    units = layer.reduce_kernel.shape[1]
    layer.set_weights([np.ones((4, units)), np.zeros(units),
                       np.full((units, 4), -1e-5), np.zeros(4)])
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    # float32 reference: relu(4 * 60000) = 240000 per unit, then -1e-5 each. A
    # float16 bottleneck overflows to inf and gates 0; float16's product is within 1%.
    gate = 1.0 / (1.0 + np.exp(units * 240000.0 * 1e-5))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y).astype("float32"),
                               np.full((1, 64, 64, 4), 60000.0 * gate), rtol=1e-2)


def test_gate_probe_follows_the_weights_and_matches_each_layer():
    model = keras_se.models.CifarSEResNet(depth=20, input_shape=(8, 8, 3), classes=3)
    probe = keras_se.utils.GateProbe(model)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype("float32")
    before = probe(x)
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(scale=0.05, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    after = probe(x)
    layers = keras_se.utils.se_layers(model)
    assert list(after) == [layer.name for layer in layers]
    for layer in layers:
        features = keras.Model(model.inputs, layer.input)(x)
        expected = keras.ops.convert_to_numpy(layer.compute_gates(features))
        np.testing.assert_allclose(after[layer.name], expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(before[layer.name], after[layer.name], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("images", [3, 70])  # one batch, and more than one
def test_gate_probe_of_a_model_with_one_se_layer(images):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = SqueezeExcite(ratio=4, name="conv_se")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    x = np.random.default_rng(0).normal(size=(images, 8, 8, 3)).astype("float32")
    gates = keras_se.utils.gate_values(model, x)
    layer = model.get_layer("conv_se")
    expected = layer.compute_gates(keras.Model(model.inputs, layer.input)(x))
    assert list(gates) == ["conv_se"] and gates["conv_se"].shape == (images, 8)
    np.testing.assert_allclose(gates["conv_se"], keras.ops.convert_to_numpy(expected),
                               rtol=1e-5, atol=1e-6)


def test_exported_names():
    assert keras_se.SqueezeExcite is keras_se.layers.SqueezeExcite
    assert keras.saving.get_registered_object("keras_se>SqueezeExcite") is SqueezeExcite


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"ratio": 0}, "ratio=0"),
        ({"ratio": -2}, "ratio=-2"),
        ({"ratio": "big"}, "ratio='big'"),
        ({"units": 0}, "units=0"),
        ({"units": 2.5}, "units=2.5"),
        ({"min_units": 0}, "min_units=0"),
        ({"divisor": 0}, "divisor=0"),
        ({"squeeze": "median"}, "squeeze='median'"),
        ({"activation": "no_such_act"}, "activation='no_such_act'"),
        ({"gate": "no_such_gate"}, "gate='no_such_gate'"),
        ({"data_format": "NHWC"}, "data_format='NHWC'"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match="Received: " + argument.replace("(", r"\(")):
        SqueezeExcite(**kwargs)


def test_rank_below_three_is_rejected():
    with pytest.raises(ValueError, match=r"rank >= 3.*Received: input_shape=\(4, 16\)"):
        SqueezeExcite().build((4, 16))


@pytest.mark.parametrize("data_format,shape", [
    ("channels_last", (None, 8, 8, None)),
    ("channels_first", (None, None, 8, 8)),
])
def test_unknown_channels_are_rejected(data_format, shape):
    with pytest.raises(ValueError, match="must be known.*Received: input_shape"):
        SqueezeExcite(data_format=data_format).build(shape)
