"""from_timm equivalence (needs torch and timm: the tox env "torch")."""

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
    model = from_timm(module)
    assert sum(isinstance(layer, SqueezeExcite) for layer in model.layers) == n_se
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype("float32")
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = keras.ops.convert_to_numpy(model(np.transpose(x, (0, 2, 3, 1)), training=False))
    assert np.abs(got - expected).max() <= 1e-4


def test_deep_stem_variants_are_refused():
    module = timm.create_model("seresnext26d_32x4d", pretrained=False)
    with pytest.raises(ValueError, match="deep-stem"):
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


def _timm_attention(name, channels, monkeypatch):
    from timm.layers import gather_excite
    from timm.layers.cbam import CbamModule
    from timm.layers.eca import EcaModule
    from timm.layers.gather_excite import GatherExcite
    from timm.layers.squeeze_excite import EffectiveSEModule

    # timm 1.0.31's GatherExcite passes `*dd` (the strings "device" and "dtype")
    # as positional arguments to ConvMlp and create_conv2d, which then fail with
    # a TypeError, and to BatchNorm2d as eps and momentum: drop them, so that
    # timm's own constructor builds the module, and remake its BatchNorm2d.
    for helper in ("ConvMlp", "create_conv2d"):
        original = getattr(gather_excite, helper)
        monkeypatch.setattr(gather_excite, helper, lambda *args, _f=original, **kwargs: _f(
            *[a for a in args if a not in ("device", "dtype")], **kwargs))

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
