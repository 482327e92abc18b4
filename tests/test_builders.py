"""One table-driven contract test for every builder, and SE placement checks."""

import keras
import numpy as np
import pytest

import keras_se
from harness import predict_compiled
from keras_se import SqueezeExcite
from keras_se import models

# builder, extra kwargs, a small input shape, the number of SE blocks in it
BUILDERS = [
    (models.SEResNet18, {}, (32, 32, 3), 8),
    (models.SEResNet34, {}, (32, 32, 3), 16),
    (models.SEResNet50, {}, (32, 32, 3), 16),
    (models.SEResNeXt50, {}, (32, 32, 3), 16),
    (models.CifarSEResNet, {"depth": 20}, (16, 16, 3), 9),
    (models.SEInceptionV3, {}, (75, 75, 3), 11),
    (models.SEInceptionResNetV2, {}, (75, 75, 3), 40),
    (models.SEBNInception, {}, (32, 32, 3), 10),
]
# Deeper siblings: the same builder code with more blocks, so one build each
# checks what differs (their SE blocks and output), not the whole contract again.
DEEPER = [
    (models.SEResNet101, {}, (32, 32, 3), 33),
    (models.SEResNet152, {}, (32, 32, 3), 50),
    (models.SEResNeXt101, {}, (32, 32, 3), 33),
    (models.CifarSEResNet, {"depth": 164}, (16, 16, 3), 54),
]


def _ids(case):
    fn, kwargs, _, _ = case
    return fn.__name__ + "".join(f"-{v}" for v in kwargs.values())


def _se_layers(model):
    return [layer for layer in model.layers if isinstance(layer, SqueezeExcite)]


@pytest.mark.slow
@pytest.mark.parametrize("case", BUILDERS, ids=_ids)
def test_builder_contract(case, tmp_path):
    fn, kwargs, shape, n_se = case
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")

    # include_top with custom classes, logits, and a .keras round trip.
    model = fn(input_shape=shape, classes=7, classifier_activation=None, **kwargs)
    assert model.output.shape == (None, 7)
    assert len(_se_layers(model)) == n_se
    y = keras.ops.convert_to_numpy(model(x))
    assert not np.allclose(y.sum(axis=1), 1.0), "logits expected, not softmax"
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), y, rtol=1e-5, atol=1e-5
    )
    # The default classifier is a softmax.
    soft = fn(input_shape=shape, classes=3, **kwargs)
    probs = keras.ops.convert_to_numpy(soft(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    # include_top=False: pooling None (4D), avg and max (2D).
    features = fn(include_top=False, input_shape=shape, **kwargs)
    assert len(features.output.shape) == 4
    channels = features.output.shape[-1]
    for pooling in ("avg", "max"):
        pooled = fn(include_top=False, pooling=pooling, input_shape=shape, **kwargs)
        assert pooled.output.shape == (None, channels)
    # Any image size without the top; input_tensor is used as the input.
    anysize = fn(include_top=False, pooling="avg", **kwargs)
    assert anysize.input.shape[1:3] == (None, None)
    tensor = keras.Input(shape=shape)
    on_tensor = fn(input_tensor=tensor, include_top=False, **kwargs)
    assert on_tensor.inputs[0] is tensor


@pytest.mark.parametrize("case", DEEPER, ids=_ids)
def test_deeper_builders_have_their_se_blocks(case):
    fn, kwargs, shape, n_se = case
    model = fn(input_shape=shape, classes=7, **kwargs)
    assert len(_se_layers(model)) == n_se
    assert model.output.shape == (None, 7)


def test_se_ratio_none_builds_the_plain_network():
    plain = models.CifarSEResNet(depth=20, se_ratio=None)
    assert _se_layers(plain) == []
    se = models.CifarSEResNet(depth=20, se_ratio=4)
    assert len(_se_layers(se)) == 9
    assert se.count_params() > plain.count_params()


def test_fixed_hierarchical_names():
    model = models.SEResNet50(include_top=False, input_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    for name in ["conv1_conv", "conv2_block1_se", "conv3_block2_se",
                 "conv5_block3_se", "conv3_block1_0_conv", "conv4_block6_out"]:
        assert name in names


def test_se_stages_and_kwargs():
    model = models.SEResNet50(
        input_shape=(32, 32, 3), se_stages=[4], se_kwargs={"squeeze": "max", "gate": "hard_sigmoid"}
    )
    se = _se_layers(model)
    assert [layer.name.split("_")[0] for layer in se] == ["conv4"] * 6
    assert all(layer.squeeze == "max" for layer in se)


def test_a_ratio_per_stage():
    # The paper's stage ablation (section 6.4): each stage its own r, stage 2 none.
    model = models.CifarSEResNet(depth=20, input_shape=(16, 16, 3), se_ratio={3: 4, 4: 16})
    se = {layer.name: layer for layer in _se_layers(model)}
    assert sorted(se) == [f"conv{s}_block{b}_se" for s in (3, 4) for b in (1, 2, 3)]
    assert {se[n].ratio for n in se if n.startswith("conv3")} == {4}
    assert {se[n].ratio for n in se if n.startswith("conv4")} == {16}
    assert models.SEResNet18(input_shape=(32, 32, 3), se_ratio={5: 8},
                             se_stages=[4, 5]).get_layer("conv5_block2_se").ratio == 8
    # A dict with se_stages keeps the stages both name.
    kept = models.SEBNInception(input_shape=(64, 64, 3), se_ratio={3: 8, 4: 2}, se_stages=[4])
    assert {layer.name[:11] for layer in _se_layers(kept)} == {"inception_4"}


@pytest.mark.parametrize("fn,expected", [
    (models.SEResNet50, (2, 1)),      # strides in the first 1x1 convolution
    (models.SEResNeXt50, (1, 2)),     # strides in the grouped 3x3 convolution
])
def test_stride_in_1x1_defaults(fn, expected):
    model = fn(include_top=False, input_shape=(32, 32, 3))
    strides = (model.get_layer("conv3_block1_1_conv").strides[0],
               model.get_layer("conv3_block1_2_conv").strides[0])
    assert strides == expected
    flipped = fn(include_top=False, input_shape=(32, 32, 3), stride_in_1x1=expected == (1, 2))
    strides = (flipped.get_layer("conv3_block1_1_conv").strides[0],
               flipped.get_layer("conv3_block1_2_conv").strides[0])
    assert strides == expected[::-1]
    assert model.get_layer("conv3_block1_2_conv").groups == (32 if fn is models.SEResNeXt50 else 1)


# integration -> the layer whose output is the SE block's input, in conv3_block1
# of SE-ResNet-50 (a downsampling unit with a projection shortcut).
PLACEMENT = {
    "standard": "conv3_block1_3_bn",
    "pre": "conv2_block3_out",
    "post": "conv3_block1_out",
    "identity": "conv3_block1_0_bn",
    "3x3": "conv3_block1_2_relu",
}


@pytest.mark.parametrize("integration", list(PLACEMENT))
def test_integration_placement_and_training(integration):
    model = models.SEResNet50(
        input_shape=(32, 32, 3), classes=3, se_integration=integration, se_stages=[3]
    )
    se = model.get_layer("conv3_block1_se")
    assert se.input is model.get_layer(PLACEMENT[integration]).output
    if integration == "post":
        add = model.get_layer("conv3_block1_add")
        assert model.get_layer("conv3_block1_out").input is add.output
    if integration == "pre":
        # SE on the unit's input feeds the residual branch only; the projection
        # shortcut takes the input as it was (the paper's Fig. 5c).
        assert model.get_layer("conv3_block1_1_conv").input is se.output
        assert model.get_layer("conv3_block1_0_conv").input is se.input
    if integration == "identity":
        # SE on the shortcut, which the addition sees.
        consumers = {id(t) for t in model.get_layer("conv3_block1_add").input}
        assert id(se.output) in consumers
    width = {"3x3": 128, "pre": 256}.get(integration, 512)
    assert se.channels == width

    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [keras.ops.convert_to_numpy(w).copy() for w in se.trainable_weights]
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    after = [keras.ops.convert_to_numpy(w) for w in se.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize("integration", ["standard", "pre", "post", "identity", "3x3"])
@pytest.mark.parametrize("depth", [20, 164])
def test_cifar_integrations_build_and_train(integration, depth):
    model = models.CifarSEResNet(
        depth=depth, input_shape=(8, 8, 3), classes=2, se_integration=integration,
        se_stages=[2],
    )
    se = model.get_layer("conv2_block1_se")
    if integration == "identity":
        assert se.output in model.get_layer("conv2_block1_add").input
    if integration == "post":
        add = model.get_layer("conv2_block1_add")
        assert se.input in (add.output, getattr(_maybe(model, "conv2_block1_out"), "output", None))
    if depth == 20:  # one step of the deep 164 is slow; SEResNet50's test trains too
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        loss = model.train_on_batch(np.ones((2, 8, 8, 3), "float32"), np.array([0, 1]))
        assert np.isfinite(loss)
    else:
        out = model(np.ones((2, 8, 8, 3), "float32"))
        assert out.shape == (2, 2)


def _maybe(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


@pytest.mark.parametrize("kwargs,message", [
    ({"weights": "imagenet"}, "No ImageNet checkpoint has this architecture"),
    ({"weights": "missing.weights.h5"}, "weights='missing.weights.h5'"),
    ({"se_ratio": 0}, "se_ratio=0"),
    ({"se_ratio": {1: 8}}, r"se_ratio=\{1: 8\}"),
    ({"se_ratio": {"3": 8}}, r"se_ratio=\{'3': 8\}"),
    ({"se_ratio": {3: -1}}, r"se_ratio=\{3: -1\}"),
    ({"se_ratio": {}}, r"se_ratio=\{\}"),
    ({"se_integration": "middle"}, "se_integration='middle'"),
    ({"se_stages": [1, 7]}, r"se_stages=\[1, 7\]"),
    ({"se_kwargs": {"ratio": 4}}, "se_kwargs="),
    ({"pooling": "median"}, "pooling='median'"),
    ({"classes": 0}, "classes=0"),
    ({"input_shape": (16, 16, 3)}, r"input_shape=\(16, 16, 3\)"),
    ({"stride_in_1x1": "yes"}, "stride_in_1x1='yes'"),
    ({"attention": "sk"}, "attention='sk'"),
    ({"resnet_d": 1}, "resnet_d=1"),
])
def test_bad_builder_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.SEResNet18(**kwargs)


def test_bad_cifar_depth():
    with pytest.raises(ValueError, match="depth=50"):
        models.CifarSEResNet(depth=50)


def test_weights_file_is_loaded(tmp_path):
    model = models.CifarSEResNet(depth=20, classes=3)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    again = models.CifarSEResNet(depth=20, classes=3, weights=str(path))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_every_builder_is_registered():
    exported = {name for name in models.__all__
                if name[0].isupper() and name not in ("BUILDERS", "IMAGENET_PRESETS")}
    assert set(models.BUILDERS) == exported - {"BuilderInfo"}
    assert all(info.builder is getattr(models, name) for name, info in models.BUILDERS.items())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_registry_gives_each_builders_default_and_smallest_input(name):
    info = models.get_builder(name)
    assert info.builder().input_shape[1:] == info.default_input_shape()
    smallest = (info.min_size, info.min_size, 3)
    assert info.builder(include_top=False, input_shape=smallest).input_shape[1:] == smallest
    with pytest.raises(ValueError, match=f"{info.min_size - 1}, {info.min_size - 1}, 3"):
        info.builder(include_top=False, input_shape=(info.min_size - 1, info.min_size - 1, 3))


ATTENTION_LAYERS = {"se": "SqueezeExcite", "ese": "EffectiveSqueezeExcite",
                    "eca": "EfficientChannelAttention", "cbam": "CBAM", "ge": "GatherExcite"}


@pytest.mark.slow
@pytest.mark.parametrize("attention", [*ATTENTION_LAYERS, None])
def test_every_attention_type_in_a_resnet_d(attention, tmp_path):
    shape = (32, 32, 3)
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")
    model = models.SEResNet18(input_shape=shape, classes=5, attention=attention, resnet_d=True,
                              se_ratio=4, classifier_activation=None)
    blocks = [f"conv{s}_block{b}" for s in (2, 3, 4, 5) for b in (1, 2)]
    found = [layer.name for layer in model.layers
             if type(layer).__name__ == ATTENTION_LAYERS.get(attention)]
    assert found == ([f"{b}_{attention}" for b in blocks] if attention else [])
    assert model.name == (f"{attention}_resnet18d" if attention else "resnet18d")
    # ResNet-D: the deep stem, and shortcuts that average before projecting.
    assert model.get_layer("conv1_1_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_0_pool").pool_size == (2, 2)
    assert model.get_layer("conv3_block1_0_conv").strides == (1, 1)
    # Randomized BN statistics so that every block contributes.
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype(w.dtype)
                       if "moving_variance" not in v.path else np.abs(w) + 0.5
                       for v, w in zip(model.weights, model.get_weights())])
    y = keras.ops.convert_to_numpy(model(x, training=False))

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x, training=False)), y,
                               rtol=1e-5, atol=1e-5)

    # channels_first: the same weights give the same function.
    keras.config.set_image_data_format("channels_first")
    first = models.SEResNet18(input_shape=(3, 32, 32), classes=5, attention=attention,
                              resnet_d=True, se_ratio=4, classifier_activation=None)
    first.set_weights(model.get_weights())
    got = predict_compiled(first, np.transpose(x, (0, 3, 1, 2)))
    # XLA against eager, through 18 layers to logits in the hundreds: within 1e-3
    # of their scale (seen: 1.1e-4); a misplaced channel axis moves them by O(1).
    assert np.abs(got - y).max() <= 1e-3 * np.abs(y).max()
    keras.config.set_image_data_format("channels_last")

    # The stage features P2..P5 at strides 4 to 32, named as keras-hub names them.
    features = models.pyramid(model)
    shapes = {k: tuple(v.shape) for k, v in features.output.items()}
    assert shapes == {"P2": (None, 8, 8, 64), "P3": (None, 4, 4, 128),
                      "P4": (None, 2, 2, 256), "P5": (None, 1, 1, 512)}
    got = features(x, training=False)
    last_unit = keras.Model(model.inputs, model.get_layer("conv4_block2_out").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got["P4"]), keras.ops.convert_to_numpy(
        last_unit(x, training=False)), rtol=1e-6, atol=1e-6)


def test_pyramid_of_other_backbones():
    resnext = models.SEResNeXt50(include_top=False, input_shape=(64, 64, 3), se_integration="post")
    features = models.pyramid(resnext)
    # With SE after the addition, a stage ends with its last unit's SE block.
    assert [t._keras_history[0].name for t in features.output.values()] == [
        "conv2_block3_se", "conv3_block4_se", "conv4_block6_se", "conv5_block3_se"]
    assert [t.shape[1] for t in features.output.values()] == [16, 8, 4, 2]
    retrofitted = keras_se.retrofit(keras.applications.ResNet50(weights=None,
                                                                input_shape=(64, 64, 3)))
    assert [t.shape[-1] for t in models.pyramid(retrofitted).output.values()] == [
        256, 512, 1024, 2048]
    with pytest.raises(ValueError, match="conv5_block.*Received: model='cifar_se_resnet20'"):
        models.pyramid(models.CifarSEResNet(depth=20))
