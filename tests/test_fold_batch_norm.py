import keras
import numpy as np
import pytest

import keras_se
from keras_se import fold_batch_norm, models
from harness import predict_compiled


def _randomize_batch_norms(model, seed=0):
    """Moving statistics and affine weights away from their initial values,
    so that a wrong fold shows in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for weight in layer.weights:
                n = weight.shape[0]
                if "variance" in weight.path:
                    values.append(rng.uniform(0.5, 2.0, n))
                elif "gamma" in weight.path:
                    values.append(rng.uniform(0.5, 1.5, n))
                else:
                    values.append(rng.normal(0.0, 0.3, n))
            layer.set_weights(values)


def _batch_norms(model):
    return [layer.name for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)]


def _assert_same_function(model, folded, shape, compiled=False):
    x = np.random.default_rng(1).normal(size=(2, *shape)).astype("float32")
    if compiled:
        expected = keras.tree.flatten(predict_compiled(model, x))
        got = keras.tree.flatten(predict_compiled(folded, x))
    else:
        expected = keras.tree.flatten(model(x, training=False))
        got = keras.tree.flatten(folded(x, training=False))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build,shape", [
    (lambda: models.CifarSEResNet(depth=20, input_shape=(16, 16, 3)), (16, 16, 3)),
    (lambda: models.SEResNeXt50(weights=None, input_shape=(32, 32, 3), classes=10), (32, 32, 3)),
    (lambda: keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3), classes=10),
     (32, 32, 3)),
], ids=["cifar_se_resnet20", "se_resnext50_grouped", "mobilenet_depthwise"])
def test_folded_model_computes_the_same_without_batch_norms(build, shape):
    model = build()
    _randomize_batch_norms(model)
    folded = fold_batch_norm(model)
    assert _batch_norms(model) and not _batch_norms(folded)
    assert folded.name == model.name
    # Same layers otherwise, SE blocks included, with one bias more per folded convolution.
    kept = [layer.name for layer in model.layers if layer.name not in _batch_norms(model)]
    assert [layer.name for layer in folded.layers] == kept
    _assert_same_function(model, folded, shape)


def test_only_foldable_batch_norms_are_folded():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="plain_conv")(inputs)
    a = keras.layers.BatchNormalization(name="folded_bn")(a)
    b = keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="relu_conv")(a)
    b = keras.layers.BatchNormalization(name="after_activation_bn")(b)
    c = keras.layers.Conv2D(4, 1, use_bias=False, name="shared_conv")(b)
    d = keras.layers.BatchNormalization(name="shared_input_bn")(c)
    d = keras.layers.Add()([c, d])
    e = keras.layers.BatchNormalization(name="after_add_bn")(d)
    f = keras.layers.Conv2D(4, 1, name="row_conv")(e)
    f = keras.layers.BatchNormalization(axis=1, name="wrong_axis_bn")(f)
    g = keras.layers.Conv1D(6, 3, padding="same", name="conv1d")(keras.layers.Reshape((64, 4))(f))
    g = keras.layers.BatchNormalization(name="conv1d_bn")(g)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise")(
        keras.layers.Reshape((8, 8, 6))(keras.layers.Flatten()(g)[:, :384]))
    h = keras.layers.BatchNormalization(name="depthwise_bn")(h)
    # A convolution called twice: folding would change its other call too.
    twice = keras.layers.Conv2D(12, 1, name="twice_conv")
    k = keras.layers.BatchNormalization(name="shared_conv_bn")(twice(h))
    k = twice(keras.layers.Conv2D(12, 1, name="before_twice")(k))
    model = keras.Model(inputs, [g, h, k])
    _randomize_batch_norms(model)

    folded = fold_batch_norm(model, name="folded")

    assert sorted(_batch_norms(folded)) == sorted(
        ["after_activation_bn", "shared_input_bn", "after_add_bn", "wrong_axis_bn",
         "shared_conv_bn"])
    assert folded.name == "folded"
    assert all(folded.get_layer(name).use_bias for name in ("plain_conv", "conv1d", "depthwise"))
    assert not folded.get_layer("shared_conv").use_bias
    _assert_same_function(model, folded, (8, 8, 3))


def test_sequential_channels_first_and_no_bias_batch_norm():
    model = keras.Sequential([
        keras.Input((3, 6, 6)),
        keras.layers.Conv2D(5, 3, data_format="channels_first", use_bias=True),
        keras.layers.BatchNormalization(axis=1, center=False, scale=False),
        keras.layers.Flatten(),
    ])
    _randomize_batch_norms(model)
    folded = fold_batch_norm(model)
    assert not _batch_norms(folded)
    _assert_same_function(model, folded, (3, 6, 6), compiled=True)


def test_folded_model_saves_and_loads(tmp_path):
    model = models.CifarSEResNet(depth=20, input_shape=(8, 8, 3))
    _randomize_batch_norms(model)
    folded = fold_batch_norm(model)
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    _assert_same_function(model, keras.models.load_model(path), (8, 8, 3))


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Received: model=Net"):
        keras_se.fold_batch_norm(Net())
