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
