import keras
import numpy as np
import pytest

import keras_se
from keras_se import SqueezeExcite, models, retrofit
from keras_se.layers import ScaledResidual
from keras_se.utils import model_stats, se_layers


def _names(model):
    return sorted(layer.name for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer))


@pytest.mark.slow
def test_se_bn_inception_macs_match_the_paper():
    plain = model_stats(models.SEBNInception(se_ratio=None))["macs"]
    model = models.SEBNInception()
    se = model_stats(model)["macs"]
    # SE's own cost (0.003 G), block by block and exactly: its two FC layers,
    # the squeeze and the rescale over each module's output.
    expected = 0
    for layer in se_layers(model):
        _, height, width, channels = layer.input.shape
        expected += 2 * channels * (channels // 16) + 2 * height * width * channels
    assert se - plain == expected
    # The paper gives two decimals (2.03 G plain, 2.04 with SE).
    assert round(plain / 1e9, 2) == 2.03 and round(se / 1e9, 2) == 2.04, (plain, se)


@pytest.mark.slow
@pytest.mark.parametrize("fn,app", [
    (models.SEInceptionV3, keras.applications.InceptionV3),
    (models.SEInceptionResNetV2, keras.applications.InceptionResNetV2),
])
def test_plain_inception_matches_keras_applications(fn, app):
    shape = (75, 75, 3)
    ours, theirs = fn(se_ratio=None, input_shape=shape), app(weights=None, input_shape=shape)
    assert model_stats(ours) == model_stats(theirs)
    # Same layers in the same order (keras.applications' unnamed layers get
    # fresh automatic names in every model, so compare kinds and named layers).
    kinds = [type(layer).__name__.replace("CustomScaleLayer", "ScaledResidual")
             for layer in theirs.layers]
    assert [type(layer).__name__ for layer in ours.layers] == kinds
    assert {"mixed5", "mixed_6a", "conv_7b"} & set(_names(ours)) == \
        {"mixed5", "mixed_6a", "conv_7b"} & set(_names(theirs))
    assert not se_layers(ours)


@pytest.mark.slow
def test_se_inception_placement():
    model = models.SEInceptionV3(include_top=False, input_shape=(75, 75, 3))
    assert model.get_layer("mixed3_se").input is model.get_layer("mixed3").output
    model = models.SEInceptionResNetV2(include_top=False, input_shape=(75, 75, 3))
    scale = model.get_layer("block17_3")
    assert isinstance(scale, ScaledResidual)
    assert scale.input[1] is model.get_layer("block17_3_se").output
    model = models.SEBNInception(include_top=False, input_shape=(32, 32, 3), se_stages=[4])
    assert [layer.name for layer in se_layers(model)] == [
        f"inception_4{m}_se" for m in "abcde"]


@pytest.mark.parametrize("fn", [models.SEInceptionV3, models.SEBNInception])
def test_inception_rejects_other_integrations(fn):
    with pytest.raises(ValueError, match="se_integration='post'"):
        fn(se_integration="post", input_shape=(75, 75, 3))


def test_retrofit_of_plain_builder_is_the_se_builder():
    retro = retrofit(models.SEResNet50(se_ratio=None, input_shape=(32, 32, 3)))
    built = models.SEResNet50(input_shape=(32, 32, 3))
    assert _names(retro) == _names(built)
    assert retro.count_params() == built.count_params()
    for se in se_layers(built):
        twin = retro.get_layer(se.name)
        assert twin.channels == se.channels
        source = [l.name for l in built.layers if l.output is se.input]
        assert [l.name for l in retro.layers if l.output is twin.input] == source


# model, input shape, SE blocks auto-retrofit inserts
APPLICATIONS = [
    (keras.applications.ResNet50, (64, 64, 3), 16),
    (keras.applications.ResNet50V2, (64, 64, 3), 16),
    (keras.applications.InceptionV3, (75, 75, 3), 11),
    (keras.applications.InceptionResNetV2, (75, 75, 3), 40),
    (keras.applications.MobileNetV2, (64, 64, 3), 10),
]


@pytest.mark.slow
@pytest.mark.parametrize("app,shape,n_se", APPLICATIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_retrofit_keras_applications(app, shape, n_se):
    base = app(weights=None, input_shape=shape, classes=4, classifier_activation=None)
    model = retrofit(base, se_ratio=8, identity_init=True)
    assert len(se_layers(model)) == n_se
    # Every original weight is kept.
    for layer in base.layers:
        if not layer.weights:
            continue
        for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # Gates start at sigmoid(10): the output stays within 1e-3 (relative) of the original.
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")
    y0 = keras.ops.convert_to_numpy(base(x))
    y1 = keras.ops.convert_to_numpy(model(x))
    scale = np.abs(y0).max()
    assert np.abs(y1 - y0).max() <= 1e-3 * scale
    gates = keras_se.utils.gate_values(model, x)
    assert all(np.allclose(g, 0.99995, atol=2e-6) for g in gates.values())


@pytest.mark.slow
def test_retrofit_without_identity_init_changes_output_and_trains():
    base = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    model = retrofit(base)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    assert not np.allclose(keras.ops.convert_to_numpy(base(x)),
                           keras.ops.convert_to_numpy(model(x)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 2])))


def test_retrofit_where_callable_and_kwargs():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="a")(inputs)
    x = keras.layers.Conv2D(16, 3, name="b")(x)
    base = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model = retrofit(base, se_ratio=4, where=lambda layer: isinstance(layer, keras.layers.Conv2D),
                     se_kwargs={"squeeze": "max"})
    assert [se.name for se in se_layers(model)] == ["a_se", "b_se"]
    assert model.get_layer("b").input is model.get_layer("a_se").output
    assert model.get_layer("b_se").squeeze == "max"
    assert model.get_layer("b_se").bottleneck_units(16) == 4


def test_retrofit_errors():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3)

        def call(self, x):
            return self.conv(x)

    sub = Subclassed()
    sub(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="subclassed.*Received: model=Subclassed"):
        retrofit(sub)
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="no place to insert SE"):
        retrofit(plain)
    with pytest.raises(ValueError, match="no place to insert SE"):
        retrofit(plain, where=lambda layer: False)
    with pytest.raises(ValueError, match="Received: where='everywhere'"):
        retrofit(plain, where="everywhere")


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid", "tanh", "relu"])
def test_identity_init_starts_every_gate_near_one(gate):
    base = models.CifarSEResNet(depth=20, se_ratio=None, input_shape=(8, 8, 3), classes=3)
    model = retrofit(base, se_ratio=4, identity_init=True, se_kwargs={"gate": gate})
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    gates = keras_se.utils.gate_values(model, x)
    assert len(gates) == 9
    for values in gates.values():
        np.testing.assert_allclose(values, 0.99995, atol=2e-6)
    y0, y1 = (keras.ops.convert_to_numpy(m(x)) for m in (base, model))
    assert np.abs(y1 - y0).max() <= 1e-3 * np.abs(y0).max()


def test_identity_init_refuses_what_cannot_start_near_one():
    base = models.CifarSEResNet(depth=20, se_ratio=None, input_shape=(8, 8, 3), classes=3)
    with pytest.raises(ValueError, match="without biases.*use_bias.: False"):
        retrofit(base, identity_init=True, se_kwargs={"use_bias": False})
    with pytest.raises(ValueError, match="rises through 0.99995.*Received: gate=<function"):
        retrofit(base, identity_init=True, se_kwargs={"gate": lambda s: 0.5 * keras.ops.sigmoid(s)})


def test_retrofitted_model_saves_and_loads(tmp_path):
    base = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=3)
    model = retrofit(base)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.ones((1, 32, 32, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    assert isinstance(again.get_layer("block_16_project_BN"), keras.layers.BatchNormalization)
    assert sum(isinstance(l, SqueezeExcite) for l in again.layers) == 10


def test_scaled_residual_layer():
    layer = ScaledResidual(0.5)
    out = layer([np.ones((1, 3), "float32"), np.full((1, 3), 4.0, "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), 3.0)
    assert ScaledResidual.from_config(layer.get_config()).scale == 0.5
    with pytest.raises(ValueError, match="Received: scale='big'"):
        ScaledResidual("big")


def test_retrofit_takes_a_sequential_model():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.Conv2D(8, 3, padding="same"),
    ])
    new = keras_se.retrofit(model, se_ratio=4, where=lambda layer: isinstance(
        layer, keras.layers.Conv2D))
    assert len(keras_se.utils.se_layers(new)) == 2
    assert new(np.zeros((1, 8, 8, 3), "float32")).shape == (1, 8, 8, 8)


@pytest.mark.parametrize("attention,layer_type", [
    ("se", "SqueezeExcite"), ("ese", "EffectiveSqueezeExcite"),
    ("eca", "EfficientChannelAttention"), ("cbam", "CBAM"), ("ge", "GatherExcite")])
def test_retrofit_with_each_attention_type(attention, layer_type):
    base = models.CifarSEResNet(depth=20, se_ratio=None, input_shape=(8, 8, 3), classes=3)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    y0 = keras.ops.convert_to_numpy(base(x))
    if attention in ("se", "ese"):
        # SE and ESE can start as (almost) the identity: each gate at 0.99995.
        model = retrofit(base, se_ratio=4, attention=attention, identity_init=True)
        for values in keras_se.utils.gate_values(model, x).values():
            np.testing.assert_allclose(values, 0.99995, atol=2e-6)
        y1 = keras.ops.convert_to_numpy(model(x))
        assert np.abs(y1 - y0).max() <= 1e-3 * np.abs(y0).max()
    else:
        with pytest.raises(ValueError, match=f"Received: attention='{attention}'"):
            retrofit(base, attention=attention, identity_init=True)
        model = retrofit(base, se_ratio=4, attention=attention)
        assert not np.allclose(keras.ops.convert_to_numpy(model(x)), y0, rtol=1e-2)
    assert model.name == f"{base.name}_{attention}"
    assert [layer.name for layer in model.layers if type(layer).__name__ == layer_type] == [
        f"conv{s}_block{b}_{attention}" for s in (2, 3, 4) for b in (1, 2, 3)]
    with pytest.raises(ValueError, match="Received: attention=None"):
        retrofit(base, attention=None)
