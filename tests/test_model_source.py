"""Any Keras model in se-tune: callables by dotted path, .keras files, pretrained
weights with a new head, retrofit on explicit attention keys, the input scale,
the model's own image size and the frozen warm-up."""

import types

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner")

import keras_se  # noqa: E402
from se_tune import cli, input_scale, model_source, training  # noqa: E402
from se_tune.config import DataConfig, ModelConfig  # noqa: E402

MOBILENET = "keras.applications.MobileNetV2"
TINY_32 = ["--data.name", "synthetic", "--data.image_size", "32", "--data.num_samples", "96",
           "--data.num_classes", "3", "--data.batch_size", "16", "--train.verbose", "0",
           "--train.run_eagerly", "true"]


def _randomize(model, seed=0):
    """Every weight drawn at random (variances positive), so that nothing is
    left at an initial value a loading bug could also produce."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(0.0, 0.2, variable.shape)
        if "variance" in variable.path:
            values = np.abs(values) + 0.5
        variable.assign(values.astype("float32"))


def _mobilenet_weights(path, classes=1000):
    model = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3),
                                           classes=classes)
    _randomize(model)
    model.save_weights(path)
    return model


def softmax_net(input_shape, classes):
    """A model that ends in a softmax (a test model reached by dotted path)."""
    inputs = keras.Input(input_shape)
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax",
                                                  name="predictions")(pooled))


def five_class_net(input_shape, classes=5):
    """A network whose own classifier has 5 outputs (as ImageNet models have 1000)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, name="stem")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x))


def not_a_model(input_shape, classes):
    return {"input_shape": input_shape, "classes": classes}


def _plain_cnn(path):
    """A .keras CNN with neither residual additions nor concatenations."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(3)(x)).save(path)


def _images(n=4, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, 32, 32, 3)).astype("float32")


def test_a_callable_gets_its_weights_file_a_new_head_and_its_family_s_input_scale(tmp_path):
    path = tmp_path / "mobilenet.weights.h5"
    base = _mobilenet_weights(path)
    config = ModelConfig(name=MOBILENET, kwargs={"alpha": 0.35}, weights=str(path))
    model = training.build_model(config, (32, 32, 3), 3)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 3)
    assert model.layers[-1].name == "predictions"
    assert not model.get_layer("preprocessing").trainable
    # The body is the file's, fed as MobileNetV2's own preprocess_input feeds it.
    u = _images()
    features = keras.Model(model.input, model.get_layer("out_relu").output).predict(u, verbose=0)
    scaled = keras.applications.mobilenet_v2.preprocess_input(255.0 * u)
    expected = keras.Model(base.input, base.get_layer("out_relu").output).predict(
        scaled, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_weights_of_the_network_s_own_classes_get_a_new_head_without_a_warning(tmp_path):
    import warnings

    path = tmp_path / "five.weights.h5"
    own = five_class_net((8, 8, 3))
    _randomize(own)
    own.save_weights(path)
    config = ModelConfig(name="test_model_source:five_class_net", weights=str(path),
                         preprocessing="none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = training.build_model(config, (8, 8, 3), 3)
    # The file did not fit the 3-class model first; Keras' warning about that is not the user's.
    assert not [w for w in caught if "nested container" in str(w.message)], caught
    assert model.output_shape == (None, 3)
    np.testing.assert_array_equal(model.get_layer("stem").get_weights()[0],
                                  own.get_layer("stem").get_weights()[0])


def test_auto_preprocessing_is_the_family_s_own():
    modes = {name: model_source.preprocessing_mode(ModelConfig(name=name)) for name in (
        "keras.applications.MobileNetV2", "keras.applications.ResNet50",
        "keras.applications.DenseNet121", "keras.applications.EfficientNetB0")}
    assert modes == {"keras.applications.MobileNetV2": "tf", "keras.applications.ResNet50": "caffe",
                     "keras.applications.DenseNet121": "torch",
                     "keras.applications.EfficientNetB0": "raw"}
    assert model_source.preprocessing_mode(ModelConfig()) == "none"
    assert model_source.preprocessing_mode(ModelConfig(name="SEResNet50",
                                                       weights="imagenet")) == "raw"


def test_caffe_scaling_turns_rgb_to_bgr_less_the_imagenet_mean():
    layer = input_scale.preprocessing_layer("caffe")
    red = np.array([[[[1.0, 0.0, 0.0]]]], "float32")
    out = keras.ops.convert_to_numpy(layer(red))[0, 0, 0]
    # Caffe's means, B, G, R: 103.939, 116.779, 123.68.
    np.testing.assert_allclose(out, [-103.939, -116.779, 255.0 - 123.68], atol=1e-3)


def _resolved(name, given=(), space=(), image_size=0):
    cfg = types.SimpleNamespace(model=ModelConfig(name=name),
                                data=DataConfig(image_size=image_size))
    model_source.resolve_model_defaults(cfg, set(given), space_keys=space)
    return cfg


def test_only_an_explicit_attention_key_retrofits_a_foreign_model():
    assert _resolved(MOBILENET).model.retrofit is False
    assert _resolved(MOBILENET, given={"model.se_ratio"}).model.retrofit is True
    assert _resolved(MOBILENET, given={"model.attention"}).model.retrofit is True
    assert _resolved(MOBILENET, space=("se_ratio",)).model.retrofit is True
    assert _resolved(MOBILENET, space=("gate",)).model.retrofit is True
    assert _resolved(MOBILENET, space=("learning_rate",)).model.retrofit is False
    assert _resolved("CifarSEResNet", given={"model.se_ratio"}).model.retrofit is None


def test_a_retrofitted_model_starts_as_the_model_without_se(tmp_path):
    path = tmp_path / "mobilenet.weights.h5"
    _mobilenet_weights(path, classes=3)
    plain, with_se = (training.build_model(
        ModelConfig(name=MOBILENET, kwargs={"alpha": 0.35}, weights=str(path), retrofit=flag,
                    se_ratio=8), (32, 32, 3), 3) for flag in (False, True))
    # One block on each residual branch: MobileNetV2 has 10 residual additions.
    assert not keras_se.utils.se_layers(plain)
    assert [layer.name for layer in keras_se.utils.se_layers(with_se)][:2] == [
        "block_2_se", "block_4_se"]
    assert len(keras_se.utils.se_layers(with_se)) == 10
    u = _images()
    expected = plain.predict(u, verbose=0)
    np.testing.assert_allclose(with_se.predict(u, verbose=0), expected,
                               atol=2e-3 * np.abs(expected).max())


def test_image_size_defaults_to_the_model_s_own_size():
    assert _resolved(MOBILENET).data.image_size == 224
    assert _resolved(MOBILENET, given={"data.image_size"}, image_size=64).data.image_size == 64
    assert _resolved("CifarSEResNet").data.image_size == 0  # the dataset's own


def test_a_final_softmax_is_left_out_for_logits():
    model = training.build_model(ModelConfig(name="test_model_source:softmax_net",
                                             preprocessing="none"), (32, 32, 3), 3)
    u = _images()
    dense = model.get_layer("predictions")
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(model.predict(u, verbose=0), u.mean(axis=(1, 2)) @ kernel + bias,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,extra,message", [
    ("nosuch_package.build", [], "model.name does not import (ModuleNotFoundError"),
    ("test_model_source:not_a_model", ["--model.preprocessing", "none"],
     "model.name must return a Keras model; it returned a dict"),
    ("PLAIN", ["--model.preprocessing", "none", "--model.se_ratio", "8"],
     "model: retrofit cannot add se blocks to"),
    ("PLAIN", [], "model.preprocessing: auto cannot tell which input scale"),
    ("hf://nobody/nothing", [], "model.name: hf://nobody/nothing is not in the Hugging Face "
     "cache"),
    (MOBILENET, ["--model.weights", "missing.weights.h5"],
     "model.weights must be a weights file (.weights.h5). Received: 'missing.weights.h5'"),
])
def test_a_model_that_cannot_come_in_gets_one_line(tmp_path, capsys, monkeypatch, name, extra,
                                                   message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    if name == "PLAIN":
        name = str(tmp_path / "plain.keras")
        _plain_cnn(name)
    argv = ["fit", *TINY_32, "--run_dir", str(tmp_path / "run"), "--model.name", name, *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("se-tune: error: "), err
    assert message in err and "Received: " in err, err


def _layer_weights(model, names):
    return {name: [np.array(w) for w in model.get_layer(name).get_weights()] for name in names}


@pytest.mark.slow
@pytest.mark.parametrize("epochs,body_trains", [(1, False), (2, True)])
def test_freeze_epochs_train_the_head_and_new_blocks_first(tmp_path, epochs, body_trains):
    path = tmp_path / "mobilenet.weights.h5"
    base = _mobilenet_weights(path, classes=3)
    run = tmp_path / "run"
    argv = ["fit", *TINY_32, "--run_dir", str(run), "--model.name", MOBILENET,
            "--model.kwargs", '{"alpha": 0.35}', "--model.weights", str(path),
            "--model.se_ratio", "8", "--train.epochs", str(epochs), "--train.freeze_epochs", "1",
            "--train.learning_rate", "0.01"]
    assert cli.main(argv) == 0
    trained = keras.saving.load_model(run / "model.keras")
    body = ["Conv1", "bn_Conv1", "block_16_project", "Conv_1_bn"]
    before, after = _layer_weights(base, body + ["predictions"]), _layer_weights(
        trained, body + ["predictions"])
    for name in body:
        same = all(np.array_equal(a, b) for a, b in zip(before[name], after[name]))
        assert same != body_trains, name
    assert not np.array_equal(before["predictions"][0], after["predictions"][0])
    # Retrofit's blocks start with a zero expand kernel; the warm-up trains them.
    se = keras_se.utils.se_layers(trained)[0]
    assert np.abs(se.get_weights()[2]).max() > 0
