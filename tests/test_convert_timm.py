"""from_timm equivalence (needs torch and timm: PyTorch in the tox env "jax-torch")."""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from keras_se.convert import from_timm  # noqa: E402
from keras_se import SqueezeExcite  # noqa: E402
from keras_se.layers import se_units  # noqa: E402

pytestmark = pytest.mark.timm


def _randomize_batch_norm(module):
    # Fresh BNs are the identity: randomize them so the check means something.
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(n, generator=gen) * 0.1 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


@pytest.mark.parametrize("name,n_se", [
    ("seresnet18", 8),
    ("seresnet50", 16),
    ("legacy_seresnet18", 8),
    ("legacy_seresnet50", 16),
    ("seresnext50_32x4d", 16),
    ("legacy_seresnext26_32x4d", 8),
    ("resnet18", 0),
    ("resnet50", 0),
])
def test_from_timm_matches_timm(name, n_se):
    module = timm.create_model(name, pretrained=False, num_classes=10).eval()
    _randomize_batch_norm(module)
    model = from_timm(module, include_preprocessing=False)
    assert sum(isinstance(layer, SqueezeExcite) for layer in model.layers) == n_se
    _assert_same_outputs(module, model)


def _assert_same_outputs(module, model, x=None, x_keras=None):
    """`model` on `x_keras` (default: `x` in NHWC) equals `module` on `x`, to
    1e-4 of the output's largest magnitude."""
    if x is None:
        x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype("float32")
    if x_keras is None:
        x_keras = np.transpose(x, (0, 2, 3, 1))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = keras.ops.convert_to_numpy(model(x_keras, training=False))
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


# ResNet-D: deep stem and average-pool shortcuts, with SE of timm's widths or ECA.
@pytest.mark.parametrize("name,attention,count", [
    ("resnet50d", None, 0),
    ("seresnext26d_32x4d", "SqueezeExcite", 8),
    ("ecaresnet50d", "EfficientChannelAttention", 16),
])
def test_resnet_d_models_match_timm(name, attention, count):
    module = timm.create_model(name, pretrained=False, num_classes=10).eval()
    _randomize_batch_norm(module)
    model = from_timm(module, include_preprocessing=False)
    assert model.get_layer("conv1_3_conv") is not None
    assert model.get_layer("conv3_block1_0_pool") is not None
    assert sum(type(layer).__name__ == attention for layer in model.layers) == count
    # The same parameters as timm's (PyTorch counts no BN statistics).
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == sum(
        p.numel() for p in module.parameters())
    _assert_same_outputs(module, model)


# timm ships no ResNet with these blocks: its ResNet class takes them as attn_layer.
@pytest.mark.parametrize("attn_layer,layer_type", [
    ("ese", "EffectiveSqueezeExcite"),
    ("cbam", "CBAM"),
    ("ge", "GatherExcite"),
])
def test_resnets_with_other_attention_match_timm(attn_layer, layer_type, monkeypatch):
    from timm.models.resnet import Bottleneck, ResNet

    _patch_gather_excite(monkeypatch)
    module = ResNet(Bottleneck, [2, 2, 2, 2], num_classes=10, stem_width=32, stem_type="deep",
                    avg_down=True, block_args={"attn_layer": attn_layer})
    _randomize_batch_norm(_random_attention(module))
    model = from_timm(module.eval(), include_preprocessing=False)
    assert sum(type(layer).__name__ == layer_type for layer in model.layers) == 8
    _assert_same_outputs(module, model)


def test_se_of_any_width_converts():
    import functools

    from timm.layers.squeeze_excite import SEModule
    from timm.models.resnet import BasicBlock, ResNet

    # Widths round(0.3 * C): 19, 38, 77, 154; no single ratio gives them all.
    se = functools.partial(SEModule, rd_ratio=0.3, rd_divisor=1)
    module = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10, block_args={"attn_layer": se})
    _randomize_batch_norm(_random_attention(module))
    model = from_timm(module.eval(), include_preprocessing=False)
    assert [model.get_layer(f"conv{s}_block1_se").reduce_kernel.shape[1]
            for s in (2, 3, 4, 5)] == [19, 38, 77, 154]
    _assert_same_outputs(module, model)


def _random_attention(module):
    """timm zero-inits or fixes some attention weights: draw them all."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if ".se." in f".{name}":
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return module


def test_the_model_takes_images_in_0_255_and_normalizes_them_as_timm():
    module = timm.create_model("ecaresnet50d", pretrained=False, num_classes=10).eval()
    _randomize_batch_norm(module)
    model = from_timm(module)
    mean = np.array(module.pretrained_cfg["mean"], "float32").reshape(1, 3, 1, 1)
    std = np.array(module.pretrained_cfg["std"], "float32").reshape(1, 3, 1, 1)
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 3, 64, 64)).astype("float32")
    # timm's own recipe: scale to [0, 1], then normalize with the model's mean and std.
    _assert_same_outputs(module, model, x=(images / 255.0 - mean) / std,
                         x_keras=np.transpose(images, (0, 2, 3, 1)))
    assert type(model.layers[1]).__name__ == "ImageNormalization"


def test_tiered_stems_are_refused():
    module = timm.create_model("seresnext26t_32x4d", pretrained=False)
    with pytest.raises(ValueError, match="deep stem of 32, 32 and 64"):
        from_timm(module)


# divisor 1 is the paper's floor(C / r), which timm rounds instead: timm's rule
# is the one for divisor > 1.
@pytest.mark.parametrize("ratio,divisor", [(16, 8), (4, 8), (8, 4), (16, 2)])
def test_se_units_match_timm(ratio, divisor):
    from timm.layers import SEModule, make_divisible

    for channels in range(8, 2049, 24):
        expected = make_divisible(channels / ratio, divisor, round_limit=0.0)
        assert se_units(channels, ratio, divisor) == expected
    # The width timm's own SE module gives its bottleneck.
    module = SEModule(256, rd_ratio=1 / ratio, rd_divisor=divisor)
    assert module.fc1.out_channels == se_units(256, ratio, divisor)


def _random_params(module, seed=0):
    """Every parameter and batch-norm statistic of `module` drawn at random."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    _randomize_batch_norm(module)
    return module.eval()


def _t(tensor):
    return tensor.detach().numpy()


def _conv_kernel(conv):
    """A torch (out, in, *k) kernel as Keras' (*k, in, out)."""
    w = _t(conv.weight)
    return np.transpose(w, tuple(range(2, w.ndim)) + (1, 0))


def _bn(bn):
    return [_t(bn.weight), _t(bn.bias), _t(bn.running_mean), _t(bn.running_var)]


def _fc(conv):
    return _t(conv.weight)[:, :, 0, 0].T


def _keras_layer(name, module, channels):
    """Our layer for timm's `module`, given the module's weights by hand."""
    from keras_se import layers

    if name == "ese":
        layer = layers.EffectiveSqueezeExcite()
        layer.build((None, 8, 8, channels))
        layer.set_weights([_fc(module.fc), _t(module.fc.bias)])
    elif name == "eca":
        layer = layers.EfficientChannelAttention()
        layer.build((None, 8, 8, channels))
        layer.set_weights([_t(module.conv.weight)[0, 0]])
    elif name == "cbam":
        channel, spatial = module.channel, module.spatial
        layer = layers.CBAM(ratio=8)
        layer.build((None, 8, 8, channels))
        layer.set_weights([_fc(channel.fc1), _fc(channel.fc2),
                           _conv_kernel(spatial.conv.conv), *_bn(spatial.conv.bn)])
    elif name.startswith("ge"):
        extent, extra, mlp = module.extent, module.gather is not None, not isinstance(
            module.mlp, torch.nn.Identity)
        layer = layers.GatherExcite(extent=extent, extra_params=extra, use_mlp=mlp, ratio=8)
        layer.build((None, 8, 8, channels))
        weights = []
        if mlp:
            weights += [_fc(module.mlp.fc1), _t(module.mlp.fc1.bias), _fc(module.mlp.fc2),
                        _t(module.mlp.fc2.bias)]
        if extra:
            for i in range(int(np.log2(extent))):
                conv = _t(getattr(module.gather, f"conv{i + 1}").weight)  # (C, 1, 3, 3)
                weights += [np.transpose(conv, (2, 3, 0, 1))]
                weights += _bn(getattr(module.gather, f"norm{i + 1}"))
        layer.set_weights(weights)
    return layer


def _patch_gather_excite(monkeypatch):
    """timm 1.0.31's GatherExcite passes `*dd` (the strings "device" and "dtype")
    as positional arguments to ConvMlp and create_conv2d, which then fail with
    a TypeError, and to BatchNorm2d as eps and momentum: drop them, so that
    timm's own constructor builds the module (its BatchNorm2d are remade
    after)."""
    from timm.layers import gather_excite

    for helper in ("ConvMlp", "create_conv2d"):
        original = getattr(gather_excite, helper)
        monkeypatch.setattr(gather_excite, helper, lambda *args, _f=original, **kwargs: _f(
            *[a for a in args if a not in ("device", "dtype")], **kwargs))


def _timm_attention(name, channels, monkeypatch):
    from timm.layers.cbam import CbamModule
    from timm.layers.eca import EcaModule
    from timm.layers.gather_excite import GatherExcite
    from timm.layers.squeeze_excite import EffectiveSEModule

    _patch_gather_excite(monkeypatch)

    made = {
        "ese": lambda: EffectiveSEModule(channels),
        "eca": lambda: EcaModule(channels),
        "cbam": lambda: CbamModule(channels, rd_ratio=1 / 8),
        "ge-theta-minus": lambda: GatherExcite(channels, extent=2, use_mlp=False),
        "ge-global-mlp": lambda: GatherExcite(channels, rd_ratio=1 / 8),
        "ge-theta-plus": lambda: GatherExcite(channels, extent=4, extra_params=True,
                                              rd_ratio=1 / 8),
    }[name]()
    for child, module in list(made.named_modules()):
        if isinstance(module, torch.nn.BatchNorm2d) and child.startswith("gather."):
            made.gather.add_module(child.split(".")[1], torch.nn.BatchNorm2d(channels))
    return made


@pytest.mark.parametrize("name", ["ese", "eca", "cbam", "ge-theta-minus", "ge-global-mlp",
                                  "ge-theta-plus"])
def test_attention_layers_match_timm(name, monkeypatch):
    channels = 64
    module = _random_params(_timm_attention(name, channels, monkeypatch))
    layer = _keras_layer(name, module, channels)
    # 11 x 13: odd sizes exercise the padding of pools, convolutions and resizes.
    x = np.random.default_rng(1).normal(size=(2, channels, 11, 13)).astype("float32")
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = keras.ops.convert_to_numpy(layer(np.transpose(x, (0, 2, 3, 1)), training=False))
    np.testing.assert_allclose(np.transpose(got, (0, 3, 1, 2)), expected, rtol=1e-5, atol=1e-5)
