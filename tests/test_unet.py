import keras
import numpy as np
import pytest

from seglab.models.layers import all_layers
from seglab.models.unet import SKIP_LAYERS, unet_mobilenetv2


@pytest.fixture(scope="module")
def small_unet():
    keras.utils.set_random_seed(0)
    return unet_mobilenetv2(
        3, input_shape=(64, 64, 3), encoder_weights=None, alpha=0.35
    )


def test_logits_have_the_input_size_and_one_channel_per_class(small_unet):
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    logits = small_unet(images, training=False)
    assert logits.shape == (2, 64, 64, 3)
    assert logits.dtype == "float32"


def test_skips_come_from_the_named_layers_at_halving_sizes(small_unet):
    encoder = small_unet.get_layer("encoder")
    sizes = [output.shape[1] for output in encoder.outputs]
    assert sizes == [32, 16, 8, 4, 2]
    names = [output._keras_history.operation.name for output in encoder.outputs]
    assert names == list(SKIP_LAYERS)


def test_every_batchnorm_uses_momentum_09_not_kerass_0999(small_unet):
    momenta = {
        layer.momentum
        for layer in all_layers(small_unet)
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.9}
    plain = keras.applications.MobileNetV2(
        input_shape=(64, 64, 3), include_top=False, weights=None, alpha=0.35
    )
    assert plain.get_layer("bn_Conv1").momentum == pytest.approx(0.999)


def test_random_encoder_is_trained(small_unet):
    encoder = small_unet.get_layer("encoder")
    assert small_unet.encoder_weights == "random"
    assert encoder.trainable and small_unet.encoder_trainable
    trainable = {id(w) for w in small_unet.trainable_weights}
    assert all(id(w) in trainable for w in encoder.trainable_weights)


def test_offline_imagenet_falls_back_to_random_with_one_line(monkeypatch, capsys):
    real = keras.applications.MobileNetV2

    def offline(*args, weights=None, **kwargs):
        if weights == "imagenet":
            raise Exception("URL fetch failure on https://storage.googleapis.com")
        return real(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    model = unet_mobilenetv2(input_shape=(64, 64, 3), alpha=0.35)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1 and "random initialisation" in lines[0]
    assert model.encoder_weights == "random"
    assert model.get_layer("encoder").trainable


def test_pretrained_encoder_is_loaded_and_frozen_unless_asked(tmp_path):
    source = keras.applications.MobileNetV2(
        input_shape=(64, 64, 3), include_top=False, weights=None, alpha=0.35
    )
    path = tmp_path / "encoder.weights.h5"
    source.save_weights(path)
    frozen = unet_mobilenetv2(
        input_shape=(64, 64, 3), encoder_weights=str(path), alpha=0.35
    )
    encoder = frozen.get_layer("encoder")
    kernel = encoder.get_layer("Conv1").get_weights()[0]
    np.testing.assert_array_equal(kernel, source.get_layer("Conv1").get_weights()[0])
    assert not encoder.trainable and frozen.encoder_weights == str(path)
    assert len(frozen.trainable_weights) < len(frozen.weights) // 2
    tuned = unet_mobilenetv2(
        input_shape=(64, 64, 3),
        encoder_weights=str(path),
        alpha=0.35,
        trainable_encoder=True,
    )
    assert tuned.get_layer("encoder").trainable


@pytest.mark.parametrize("shape", [(100, 128, 3), (128, 128, 1), (128, 128)])
def test_bad_input_shapes_are_rejected_with_the_rule(shape):
    with pytest.raises(ValueError, match="input_shape"):
        unet_mobilenetv2(input_shape=shape, encoder_weights=None)


def test_saved_and_loaded_model_predicts_identically(small_unet, tmp_path):
    path = tmp_path / "unet.keras"
    small_unet.save(path)
    loaded = keras.models.load_model(path, compile=False)
    images = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), small_unet.predict(images, verbose=0)
    )
    momenta = {
        layer.momentum
        for layer in all_layers(loaded)
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.9}
