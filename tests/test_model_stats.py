import keras
import pytest

from keras_se import SqueezeExcite, models
import keras_se
from keras_se.utils import layer_macs, model_stats

# The paper's Table 10 (section 6.1): SE-ResNet-50 parameters by reduction ratio (None: no SE).
RATIO_PARAMS = {2: 45.7e6, 4: 35.7e6, 8: 30.7e6, 16: 28.1e6, 32: 26.9e6, None: 25.6e6}

# The paper's Table 2: GMACs ("GFLOPs" there) with SE at r = 16, and the blocks of
# each stage (Table 1; ResNeXt's stages have ResNet's output widths).
MACS = [
    (models.SEResNet50, 3.87, (3, 4, 6, 3), keras.applications.ResNet50),
    (models.SEResNet101, 7.60, (3, 4, 23, 3), keras.applications.ResNet101),
    (models.SEResNet152, 11.32, (3, 8, 36, 3), keras.applications.ResNet152),
    (models.SEResNeXt50, 4.25, (3, 4, 6, 3), None),
    (models.SEResNeXt101, 8.00, (3, 4, 23, 3), None),
]


def _se_macs(blocks, ratio=16):
    """SE's MACs at 224x224: per block, the two FC layers (C x C/r each way), one
    accumulate per input element (squeeze) and one multiply per element (scale)."""
    total = 0
    for n, channels, side in zip(blocks, (256, 512, 1024, 2048), (56, 28, 14, 7)):
        total += n * (2 * channels * (channels // ratio) + 2 * channels * side * side)
    return total


@pytest.mark.slow
@pytest.mark.parametrize("ratio", list(RATIO_PARAMS))
def test_se_resnet50_params_by_ratio(ratio):
    params = model_stats(models.SEResNet50(se_ratio=ratio))["params"]
    assert abs(params - RATIO_PARAMS[ratio]) <= 0.1e6, params


@pytest.mark.slow
@pytest.mark.parametrize("fn,paper,blocks,application", MACS,
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_macs_match_the_paper(fn, paper, blocks, application):
    plain = model_stats(fn(se_ratio=None))["macs"]
    se = model_stats(fn(se_ratio=16))["macs"]
    # SE's own cost, counted block by block, exactly; it is 0.0136 G at least...
    assert se - plain == _se_macs(blocks) >= 13.5e6
    # ...so a total within 0.01 G of the paper's tells a network with SE from one without.
    assert abs(se / 1e9 - paper) <= 0.01, (fn.__name__, se / 1e9)
    if application is not None:
        assert plain == model_stats(application(weights=None))["macs"]


@pytest.mark.slow
def test_keras_applications_resnet50():
    stats = model_stats(keras.applications.ResNet50(weights=None))
    assert round(stats["macs"] / 1e9, 3) == 3.858
    assert stats["params"] == 25_636_712


def _single(layer, shape):
    inputs = keras.Input(shape=shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("layer,shape,expected", [
    # out positions * kernel * C_in/groups * C_out
    (keras.layers.Conv2D(8, 3, padding="same"), (5, 5, 4), 25 * 9 * 4 * 8),
    (keras.layers.Conv2D(8, 3, groups=2), (5, 5, 4), 9 * 9 * 2 * 8),
    (keras.layers.Conv1D(6, 2), (7, 3), 6 * 2 * 3 * 6),
    (keras.layers.Conv3D(2, 2), (3, 3, 3, 2), 8 * 8 * 2 * 2),
    (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (5, 5, 4), 9 * 9 * 8),
    (keras.layers.SeparableConv2D(6, 3), (5, 5, 4), 9 * 9 * 4 + 9 * 4 * 6),
    (keras.layers.Dense(5), (3,), 15),
    (keras.layers.Dense(5), (4, 3), 4 * 15),
    # two FC layers 16->4->16, plus one squeeze and one rescale per element
    (SqueezeExcite(ratio=4), (3, 3, 16), 2 * 16 * 4 + 2 * 9 * 16),
])
def test_layer_macs(layer, shape, expected):
    stats = model_stats(_single(layer, shape))
    assert stats["macs"] == expected
    assert stats["params"] == layer.count_params()


def test_nested_models_are_counted():
    inner = _single(keras.layers.Conv2D(4, 1), (3, 3, 2))
    inputs = keras.Input(shape=(3, 3, 2))
    outer = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    assert model_stats(outer)["macs"] == 9 * 2 * 4 + 9 * 4 * 2


def test_unknown_spatial_size_is_an_error():
    with pytest.raises(ValueError, match="fixed input sizes"):
        model_stats(_single(keras.layers.Conv2D(4, 1), (None, None, 2)))


def test_not_a_model():
    with pytest.raises(ValueError, match="Received: model=Conv2D"):
        model_stats(keras.layers.Conv2D(4, 1))


@pytest.mark.slow
def test_a_builder_name_is_built_at_its_registered_input_size():
    # SE-ResNet-50 by name is the 224x224 network of the paper's Tables 2 and 10.
    stats = model_stats("SEResNet50")
    assert abs(stats["params"] - RATIO_PARAMS[16]) <= 0.1e6
    assert round(stats["macs"] / 1e9, 2) == 3.87
    cifar = models.CifarSEResNet(depth=20, se_ratio=None, input_shape=(32, 32, 3))
    assert model_stats("CifarSEResNet", depth=20, se_ratio=None) == model_stats(cifar)


def test_builder_arguments_go_with_a_name():
    with pytest.raises(ValueError, match="Received: model=Functional"):
        model_stats(_single(keras.layers.Conv2D(4, 1), (3, 3, 2)), se_ratio=4)
    with pytest.raises(ValueError, match="name='VGG16'"):
        model_stats("VGG16")


# ResNet-50 with each attention type at 224x224: each block's cost by hand
# (C channels at H x W: SE 2*C*C/16 + 2*C*H*W; ESE C*C + 2*C*H*W; ECA
# k*C + 2*C*H*W with k = 5, 5, 5, 7 for C = 256, 512, 1024, 2048).
STAGES = [(256, 56, 3), (512, 28, 4), (1024, 14, 6), (2048, 7, 3)]  # C, H = W, units
ECA_K = {256: 5, 512: 5, 1024: 5, 2048: 7}


@pytest.mark.slow
@pytest.mark.parametrize("attention,params,macs", [
    ("se", sum(n * (2 * c * (c // 16) + c + c // 16) for c, _, n in STAGES),
     sum(n * (2 * c * (c // 16) + 2 * c * h * h) for c, h, n in STAGES)),
    ("ese", sum(n * (c * c + c) for c, _, n in STAGES),
     sum(n * (c * c + 2 * c * h * h) for c, h, n in STAGES)),
    ("eca", sum(n * ECA_K[c] for c, _, n in STAGES),
     sum(n * (ECA_K[c] * c + 2 * c * h * h) for c, h, n in STAGES)),
])
def test_resnet50_with_each_attention_type(attention, params, macs):
    plain = model_stats("SEResNet50", se_ratio=None)
    stats = model_stats("SEResNet50", attention=attention)
    assert stats["params"] - plain["params"] == params
    assert stats["macs"] - plain["macs"] == macs


def test_cbam_and_gather_excite_macs():
    x = (None, 14, 14, 64)
    cbam = keras_se.layers.CBAM(ratio=16)
    inputs = keras.Input(x[1:])
    model = keras.Model(inputs, cbam(inputs))
    # MLP twice (avg, max): 4 * 64 * 4; 6 passes over the map; a 7x7 conv on 2 maps.
    assert layer_macs(cbam) == 4 * 64 * 4 + 6 * 14 * 14 * 64 + 14 * 14 * 2 * 49
    assert model_stats(model)["params"] == 2 * 64 * 4 + 49 * 2 + 4  # + BN's 4
    ge = keras_se.layers.GatherExcite(extent=4, extra_params=True, use_mlp=True, ratio=16)
    keras.Model(inputs, ge(inputs))
    # Two stride-2 depthwise 3x3 convs (7x7 then 4x4 outputs), an MLP on 4x4.
    assert layer_macs(ge) == 2 * 14 * 14 * 64 + (49 + 16) * 64 * 9 + 16 * 2 * 64 * 4
