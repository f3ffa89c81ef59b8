"""DeepLabV3: shapes at any size, parameter count, copied backbone weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seglab.models import deeplab
from seglab.models.deeplab import atrous_rates_for, deeplabv3


@pytest.fixture(scope="module")
def resnet_model():
    """DeepLabV3 with ResNet-50 and random weights, 21 classes (built once)."""
    keras.utils.set_random_seed(0)
    return deeplabv3(21, backbone_weights=None)


@pytest.fixture(scope="module")
def seeded_resnet50():
    """A plain Keras ResNet-50 (no top) with random weights from seed 1."""
    keras.utils.set_random_seed(1)
    return keras.applications.ResNet50(include_top=False, weights=None)


@pytest.mark.parametrize("height, width", [(64, 64), (321, 481), (97, 130)])
def test_logits_have_the_input_resolution_for_any_size(resnet_model, height, width):
    images = np.random.default_rng(0).random((1, height, width, 3), np.float32)
    logits = resnet_model(images, training=False)
    assert tuple(logits.shape) == (1, height, width, 21)
    assert logits.dtype == "float32"
    assert np.isfinite(np.asarray(logits)).all()


def test_resnet50_deeplabv3_has_39_1_million_parameters(resnet_model):
    assert 39.05e6 < resnet_model.count_params() < 39.2e6


def test_conv5_is_dilated_with_stride_one_and_aspp_uses_paper_rates(resnet_model):
    for block in (1, 2, 3):
        conv = resnet_model.get_layer(f"conv5_block{block}_2_conv")
        assert conv.dilation_rate == (2, 2) and conv.strides == (1, 1)
    assert resnet_model.get_layer("conv5_block1_1_conv").strides == (1, 1)
    for index, rate in enumerate((6, 12, 18), start=1):
        conv = resnet_model.get_layer(f"aspp_atrous{index}_conv")
        assert conv.dilation_rate == (rate, rate)
    assert resnet_model.get_layer("aspp_concat").output.shape[-1] == 1280


def test_image_pooling_resizes_its_convolution_not_the_pooled_input(resnet_model):
    resize = resnet_model.get_layer("aspp_image_pool_resize")
    source = resize._inbound_nodes[0].input_tensors[0]._keras_history.operation
    assert source.name == "aspp_image_pool_1x1_relu"


def test_all_three_conv5_blocks_receive_the_backbone_weights(seeded_resnet50, tmp_path):
    backbone = seeded_resnet50
    path = tmp_path / "backbone.weights.h5"
    backbone.save_weights(path)
    keras.utils.set_random_seed(2)  # the model's own initialisation differs
    model = deeplabv3(21, backbone_weights=str(path))
    assert model.backbone_weights == str(path)
    names = (
        [f"conv5_block1_0_{kind}" for kind in ("conv", "bn")]
        + [
            f"conv5_block{block}_{unit}_{kind}"
            for block in (1, 2, 3)
            for unit in (1, 2, 3)
            for kind in ("conv", "bn")
        ]
        + ["conv4_block6_3_conv", "conv1_conv"]
    )
    for name in names:
        copied = model.get_layer(name).get_weights()
        original = backbone.get_layer(name).get_weights()
        assert len(copied) == len(original) > 0, name
        for ours, theirs in zip(copied, original, strict=True):
            np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_random_initialisation_differs_from_a_given_backbone(
    resnet_model, seeded_resnet50
):
    backbone = seeded_resnet50
    ours = resnet_model.get_layer("conv5_block3_2_conv").get_weights()[0]
    theirs = backbone.get_layer("conv5_block3_2_conv").get_weights()[0]
    assert not np.array_equal(ours, theirs)


def test_output_stride_8_dilates_conv4_by_2_and_conv5_by_4():
    model = deeplabv3(5, backbone_weights=None, output_stride=8)
    assert model.get_layer("conv4_block6_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("conv5_block3_2_conv").dilation_rate == (4, 4)
    assert model.atrous_rates == (12, 24, 36)
    features = model.get_layer("aspp_concat").output
    probe = keras.Model(model.input, features)
    assert tuple(probe(np.zeros((1, 64, 64, 3), np.float32)).shape[1:3]) == (8, 8)


def test_offline_imagenet_falls_back_to_random_init_with_one_line(monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr(
        "keras.src.applications.mobilenet_v2.file_utils.get_file", offline
    )
    model = deeplabv3(3, backbone="mobilenetv2", backbone_weights="imagenet")
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert model.backbone_weights == "random"
    assert len(lines) == 1 and "using random initialisation" in lines[0]


def test_unknown_backbone_names_the_argument_and_the_choices():
    with pytest.raises(ValueError, match="backbone='vgg16'.*resnet50, mobilenetv2"):
        deeplabv3(21, backbone="vgg16", backbone_weights=None)


def test_atrous_rates_scale_with_the_feature_map():
    assert atrous_rates_for(513) == (6, 12, 18)
    assert atrous_rates_for(513, output_stride=8) == (12, 24, 36)
    for size, side in ((128, 8), (64, 4)):
        small = atrous_rates_for(size)  # a side x side feature map
        assert all(1 <= rate < side for rate in small)
        assert list(small) == sorted(set(small))


def test_preprocessing_inside_the_model_matches_keras_resnet50():
    images = np.random.default_rng(0).random((2, 5, 7, 3), np.float32)
    ours = deeplab.BackbonePreprocess("caffe")(images)
    reference = keras.applications.resnet50.preprocess_input(images * 255.0)
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=1e-5, atol=1e-3)


def test_saved_model_file_loads_back_with_the_same_outputs(tmp_path):
    model = deeplabv3(3, backbone="mobilenetv2", backbone_weights=None)
    images = np.random.default_rng(0).random((1, 48, 40, 3), np.float32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded(images)), np.asarray(model(images)), rtol=1e-5, atol=1e-5
    )


def test_mixed_precision_model_returns_float32_logits():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = deeplabv3(4, backbone="mobilenetv2", backbone_weights=None)
        logits = model(np.zeros((1, 64, 64, 3), np.float32), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("classifier").compute_dtype == "float16"
    assert logits.dtype == "float32" and tuple(logits.shape) == (1, 64, 64, 4)


def test_only_download_and_file_errors_fall_back_to_random_weights(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a download problem")

    monkeypatch.setattr(
        "keras.src.applications.mobilenet_v2.file_utils.get_file", broken
    )
    with pytest.raises(RuntimeError, match="a bug"):
        deeplabv3(3, backbone="mobilenetv2", backbone_weights="imagenet")


def test_mobilenetv2_backbone_is_deeplabs_output_stride_16_variant():
    from seglab.models import deeplab

    model = deeplabv3(
        3, backbone="mobilenetv2", backbone_weights=None, atrous_rates=(1, 2, 3)
    )
    assert model.get_layer("block_13_depthwise").strides == (1, 1)
    for block in (14, 15, 16):
        assert model.get_layer(f"block_{block}_depthwise").dilation_rate == (2, 2)
    features = keras.Model(model.input, model.get_layer("block_16_project_BN").output)
    assert tuple(features(np.zeros((1, 128, 128, 3), np.float32)).shape) == (
        1,
        8,
        8,
        320,
    )
    assert deeplab.mobilenetv2_strides_and_rates(32)[13] == (2, 1)


def test_mobilenetv2_weights_arrive_in_every_block(tmp_path):
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(None, None, 3)
    )
    path = tmp_path / "mobilenetv2.weights.h5"
    source.save_weights(path)
    model = deeplabv3(
        3,
        backbone="mobilenetv2",
        backbone_weights=str(path),
        output_stride=32,
        atrous_rates=(1, 2, 3),
    )
    images = np.random.default_rng(0).random((1, 96, 96, 3)).astype(np.float32)
    ours = keras.Model(model.input, model.get_layer("block_16_project_BN").output)
    theirs = keras.Model(source.input, source.get_layer("block_16_project_BN").output)
    np.testing.assert_allclose(ours(images), theirs(images * 2 - 1), atol=1e-5)
