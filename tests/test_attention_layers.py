"""SE's successors (ESE, ECA, CBAM, Gather-Excite) and the attention registry,
under every backend. Their equivalence with timm's modules is in
test_convert_timm.py (the torch env)."""

import keras
import numpy as np
import pytest

import keras_se
from harness import run_layer_test
from keras_se.layers import (
    CBAM, EffectiveSqueezeExcite, EfficientChannelAttention, GatherExcite, SqueezeExcite,
    eca_kernel_size, get_attention)

CONTRACT = [
    (EffectiveSqueezeExcite, {}, (2, 6, 6, 16), False),
    (EffectiveSqueezeExcite, {"squeeze": "avgmax", "data_format": "channels_first"},
     (2, 16, 5, 5), False),
    (EfficientChannelAttention, {}, (2, 6, 6, 32), False),
    (EfficientChannelAttention, {"kernel_size": 7}, (2, 9, 32), False),
    (EfficientChannelAttention, {"data_format": "channels_first"}, (2, 16, 3, 3, 3), False),
    (CBAM, {"ratio": 4}, (2, 6, 6, 16), True),
    (CBAM, {"units": 3, "data_format": "channels_first", "use_bias": True}, (2, 16, 5, 5),
     False),
    (CBAM, {"ratio": 2, "spatial_kernel_size": 3}, (2, 9, 8), False),
    (CBAM, {"ratio": 2, "spatial_kernel_size": 3}, (2, 3, 4, 3, 8), False),
    (GatherExcite, {"use_mlp": True, "ratio": 4}, (2, 6, 6, 16), True),
    (GatherExcite, {"extent": 2, "extra_params": True, "use_mlp": True, "ratio": 4},
     (2, 7, 6, 16), False),
    (GatherExcite, {"extent": 2, "extra_params": True, "data_format": "channels_first"},
     (2, 16, 6, 6), False),
    (GatherExcite, {"extent": 2, "use_mlp": True, "ratio": 4}, (2, 5, 3, 4, 8), False),
]


@pytest.mark.parametrize("cls,kwargs,shape,fresh", CONTRACT,
                         ids=lambda v: getattr(v, "__name__", None))
def test_layer_contract(cls, kwargs, shape, fresh, tmp_path):
    # A fresh process loads CBAM and GE, whose sublayers are built in build();
    # test_every_attention_type_in_a_resnet_d loads every type in safe mode.
    run_layer_test(cls, kwargs, shape, shape, tmp_path, fresh_process=fresh)


@pytest.mark.parametrize("kwargs,shape", [
    ({}, (2, 6, 6, 16)),
    ({"extent": 2}, (2, 7, 5, 16)),
    ({"extent": 4, "data_format": "channels_first"}, (2, 16, 9, 9)),
])
def test_parameter_free_gather_excite(kwargs, shape, tmp_path):
    run_layer_test(GatherExcite, kwargs, shape, shape, tmp_path, fresh_process=False,
                   parameter_free=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_eca_matches_a_numpy_reference():
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 64)).astype("float32")
    layer = EfficientChannelAttention()
    layer.build(x.shape)
    kernel = np.array([0.5, -1.0, 2.0], "float32")  # k = 3 for 64 channels
    layer.set_weights([kernel])
    z = np.pad(x.mean(axis=(1, 2)), [(0, 0), (1, 1)])
    # Cross-correlation: channel c sees c-1, c, c+1 (zero beyond the ends).
    mixed = 0.5 * z[:, :-2] - 1.0 * z[:, 1:-1] + 2.0 * z[:, 2:]
    expected = x * _sigmoid(mixed)[:, None, None, :]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected,
                               rtol=1e-5, atol=1e-6)


def test_gather_excite_matches_a_numpy_reference():
    # Extent 2 on a 5 x 4 map: 3 x 3 windows at stride 2 averaging only the
    # real elements, then each position takes its window's gate (nearest).
    x = np.random.default_rng(0).normal(size=(1, 5, 4, 3)).astype("float32")
    gathered = np.zeros((1, 3, 2, 3), "float32")
    for i in range(3):
        for j in range(2):
            rows = slice(max(0, 2 * i - 1), 2 * i + 2)
            cols = slice(max(0, 2 * j - 1), 2 * j + 2)
            gathered[0, i, j] = x[0, rows, cols].mean(axis=(0, 1))
    rows = [0, 0, 1, 1, 2]  # floor(r * 3 / 5)
    cols = [0, 0, 1, 1]  # floor(c * 2 / 4)
    expected = x * _sigmoid(gathered[:, rows][:, :, cols])
    got = keras.ops.convert_to_numpy(GatherExcite(extent=2)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_ese_and_cbam_channel_gates_match_a_numpy_reference():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype("float32")
    rng = np.random.default_rng(1)
    ese = EffectiveSqueezeExcite()
    ese.build(x.shape)
    w, b = rng.normal(size=(8, 8)).astype("float32"), rng.normal(size=8).astype("float32")
    ese.set_weights([w, b])
    hard_sigmoid = np.clip((x.mean(axis=(1, 2)) @ w + b + 3.0) / 6.0, 0.0, 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ese.compute_gates(x)), hard_sigmoid,
                               rtol=1e-5, atol=1e-6)
    cbam = CBAM(units=2)
    cbam.build(x.shape)
    w1, w2 = rng.normal(size=(8, 2)).astype("float32"), rng.normal(size=(2, 8)).astype("float32")
    cbam.fc1_kernel.assign(w1)
    cbam.fc2_kernel.assign(w2)

    def mlp(z):
        return np.maximum(z @ w1, 0) @ w2

    expected = _sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(cbam.compute_gates(x)), expected,
                               rtol=1e-5, atol=1e-6)


# ECA-Net's rule, by hand: k = odd number nearest (log2(C) + 1) / 2, at least 3.
@pytest.mark.parametrize("channels,k", [(16, 3), (64, 3), (128, 5), (256, 5), (512, 5),
                                        (1024, 5), (2048, 7)])
def test_eca_kernel_size_follows_eca_net(channels, k):
    assert eca_kernel_size(channels) == k
    layer = EfficientChannelAttention()
    layer.build((None, 4, 4, channels))
    assert layer.kernel.shape == (k,)


@pytest.mark.parametrize("layer", [
    EffectiveSqueezeExcite(dtype="mixed_float16"), EfficientChannelAttention(dtype="mixed_float16"),
    CBAM(ratio=4, dtype="mixed_float16"), GatherExcite(extent=2, dtype="mixed_float16"),
    GatherExcite(use_mlp=True, dtype="mixed_bfloat16")], ids=lambda layer: layer.name)
def test_gates_are_float32_under_mixed_precision(layer):
    x = keras.ops.cast(np.random.default_rng(0).normal(size=(2, 6, 6, 16)), "float16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == layer.compute_dtype
    gates = [layer.compute_gates(x)]
    if isinstance(layer, CBAM):
        gates.append(layer.spatial_gates(x))
    for g in gates:
        assert keras.backend.standardize_dtype(g.dtype) == "float32"


@pytest.mark.parametrize("cls,kwargs,argument", [
    (EffectiveSqueezeExcite, {"squeeze": "max"}, "squeeze='max'"),
    (EffectiveSqueezeExcite, {"gate": "nope"}, "gate='nope'"),
    (EfficientChannelAttention, {"kernel_size": 4}, "kernel_size=4"),
    (EfficientChannelAttention, {"gamma": 0}, "gamma=0"),
    (EfficientChannelAttention, {"data_format": "NHWC"}, "data_format='NHWC'"),
    (CBAM, {"ratio": 0}, "ratio=0"),
    (CBAM, {"units": 1.5}, "units=1.5"),
    (CBAM, {"spatial_kernel_size": 6}, "spatial_kernel_size=6"),
    (CBAM, {"activation": "nope"}, "activation='nope'"),
    (GatherExcite, {"extent": 3}, "extent=3"),
    (GatherExcite, {"extent": 6, "extra_params": True}, "extent=6"),
    (GatherExcite, {"extra_params": True}, "extent=0"),
    (GatherExcite, {"divisor": 0}, "divisor=0"),
])
def test_bad_arguments(cls, kwargs, argument):
    with pytest.raises(ValueError, match="Received: " + argument):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [EffectiveSqueezeExcite, EfficientChannelAttention, CBAM,
                                 GatherExcite])
def test_rank_and_channels_are_checked(cls):
    with pytest.raises(ValueError, match=r"rank >= 3.*Received: input_shape=\(4, 16\)"):
        cls().build((4, 16))
    with pytest.raises(ValueError, match="must be known.*Received: input_shape"):
        cls().build((None, 8, 8, None))


def test_get_attention():
    expected = {"se": SqueezeExcite, "ese": EffectiveSqueezeExcite,
                "eca": EfficientChannelAttention, "cbam": CBAM, "ge": GatherExcite}
    for name, cls in expected.items():
        layer = get_attention(name, name=f"x_{name}")
        assert type(layer) is cls and layer.name == f"x_{name}"
        assert keras.saving.get_registered_object(f"keras_se>{cls.__name__}") is cls
    assert get_attention("cbam", ratio=4).ratio == 4
    assert get_attention(None) is None
    made = get_attention(lambda **kwargs: SqueezeExcite(ratio=2, **kwargs), name="mine")
    assert made.ratio == 2 and made.name == "mine"
    with pytest.raises(ValueError, match="Received: attention='sk'"):
        get_attention("sk")
    assert keras_se.layers.ATTENTION_TYPES == expected


@pytest.mark.parametrize("attention,se_kwargs,probed", [
    ("ese", None, True), ("eca", None, True), ("cbam", None, True), ("ge", None, True),
    ("ge", {"extent": 2}, False),
])
def test_gate_probe_reads_every_per_channel_gate(attention, se_kwargs, probed):
    model = keras_se.models.CifarSEResNet(depth=20, input_shape=(8, 8, 3), classes=3,
                                          attention=attention, se_kwargs=se_kwargs)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    if not probed:
        # A local extent gates each position: there is no gate per channel.
        with pytest.raises(ValueError, match="no layer with per-channel gates"):
            keras_se.utils.GateProbe(model)
        return
    gates = keras_se.utils.gate_values(model, x)
    assert list(gates) == [f"conv{s}_block{b}_{attention}" for s in (2, 3, 4) for b in (1, 2, 3)]
    for name, values in gates.items():
        layer = model.get_layer(name)
        features = keras.Model(model.inputs, layer.input)(x)
        np.testing.assert_allclose(values, keras.ops.convert_to_numpy(
            layer.compute_gates(features)), rtol=1e-5, atol=1e-6)
        assert values.shape == (4, layer.channels)
