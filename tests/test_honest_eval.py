"""Honest evaluation: trained size and resize mode stored with the model,
images prepared as in training (letterbox or squash), scoring at the original
resolution, bounded serving memory, no test split in validation."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from seglab import cli, evaluate, export, model_info, train

NUM_CLASSES = 4
WEIGHTS = np.array(
    [[2.3, -0.4, 0.7, 0.1], [-0.9, 1.9, 0.3, 0.2], [0.4, 0.6, -1.7, 0.9]],
    dtype=np.float32,
)
BIAS = np.array([0.05, -0.1, 0.3, 0.0], dtype=np.float32)


def pointwise_model(num_classes: int = NUM_CLASSES) -> keras.Model:
    """A 1 x 1 convolution of any input size: logits = image @ W + b.

    With the default 4 classes W and b are the fixed :data:`WEIGHTS` and
    :data:`BIAS` the NumPy reference uses.
    """
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(num_classes, 1)
    model = keras.Model(inputs, conv(inputs), name="pointwise")
    if num_classes == NUM_CLASSES:
        conv.set_weights([WEIGHTS[None, None], BIAS])
    return model


# --- a NumPy reference of the scoring rule -----------------------------------


def np_resize_bilinear(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (TensorFlow's rule), float64."""
    array = np.asarray(array, dtype=np.float64)

    def axis(out_size, in_size):
        source = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
        floor = np.floor(source)
        lower = np.maximum(floor, 0).astype(int)
        upper = np.minimum(np.ceil(source), in_size - 1).astype(int)
        return lower, upper, source - floor

    top, bottom, y_lerp = axis(height, array.shape[0])
    left, right, x_lerp = axis(width, array.shape[1])
    y_lerp, x_lerp = y_lerp[:, None, None], x_lerp[None, :, None]
    upper = array[top][:, left] + (array[top][:, right] - array[top][:, left]) * x_lerp
    lower = (
        array[bottom][:, left]
        + (array[bottom][:, right] - array[bottom][:, left]) * x_lerp
    )
    return upper + (lower - upper) * y_lerp


def reference_confusion(images, labels, size: int) -> np.ndarray:
    """The documented rule, written out in NumPy, one image at a time."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for image, label in zip(images, labels, strict=True):
        height, width = label.shape
        scale = min(size / height, size / width)
        content = (max(1, round(height * scale)), max(1, round(width * scale)))
        canvas = np.full((size, size, 3), 0.5)  # grey padding
        canvas[: content[0], : content[1]] = np_resize_bilinear(image, *content) / 255.0
        logits = canvas @ WEIGHTS.astype(np.float64) + BIAS
        cropped = logits[: content[0], : content[1]]  # the padding cut off
        prediction = np.argmax(np_resize_bilinear(cropped, height, width), axis=-1)
        valid = label != 255
        np.add.at(matrix, (label[valid], prediction[valid]), 1)
    return matrix


def hand_made_pairs():
    """Images of four aspect ratios: colour blocks, noise and a 255 border band."""
    rng = np.random.default_rng(7)
    pairs = []
    for height, width in ((23, 41), (47, 18), (30, 30), (9, 52)):
        image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
        image[: height // 2, : width // 2] = (230, 20, 40)
        image[height // 2 :, width // 3 :] = (30, 200, 60)
        label = rng.integers(0, NUM_CLASSES, (height, width))
        label[: height // 2, : width // 2] = 0
        label[height // 2 :, width // 3 :] = 1
        label[:, width // 2 : width // 2 + 2] = 255
        pairs.append((image, label.astype(np.int32)))
    return pairs


def as_dataset(pairs) -> tf.data.Dataset:
    return tf.data.Dataset.from_generator(
        lambda: iter(pairs),
        output_signature=(
            tf.TensorSpec([None, None, 3], tf.uint8),
            tf.TensorSpec([None, None], tf.int32),
        ),
    )


def test_letterbox_keeps_the_aspect_ratio_and_pads_grey():
    image = np.full((30, 60, 3), 255, np.uint8)
    padded, content = evaluate.letterbox(tf.constant(image), (16, 16))
    assert tuple(content.numpy()) == (8, 16)
    np.testing.assert_allclose(padded[:8].numpy(), 1.0)
    np.testing.assert_allclose(padded[8:].numpy(), evaluate.PAD_IMAGE_VALUE)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_evaluation_at_original_size_equals_the_numpy_reference(batch_size):
    pairs = hand_made_pairs()
    size = 16
    result = evaluate.evaluate_original_size(
        pointwise_model(), as_dataset(pairs), size, batch_size=batch_size
    )
    expected = reference_confusion(*zip(*pairs, strict=True), size)
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    labelled = sum(int((label != 255).sum()) for _, label in pairs)
    assert result["confusion_matrix"].sum() == labelled  # original resolution
    assert result["images"] == 4 and result["image_size"] == (16, 16)


def test_evaluation_differs_from_squashing_or_scoring_the_padding():
    """The reference is not trivially met: squashing gives another matrix."""
    pairs = hand_made_pairs()
    result = evaluate.evaluate_original_size(pointwise_model(), as_dataset(pairs), 16)
    squashed = np.zeros_like(result["confusion_matrix"])
    for image, label in pairs:
        resized = tf.image.resize(image, (16, 16)) / 255.0
        logits = pointwise_model()(resized[None])[0]
        full = tf.image.resize(logits, label.shape).numpy().argmax(-1)
        valid = label != 255
        np.add.at(squashed, (label[valid], full[valid]), 1)
    assert not np.array_equal(squashed, result["confusion_matrix"])


# --- the trained size travels with the model ---------------------------------


def tiny_run(tmp_path, size=24, num_classes=NUM_CLASSES, **fit_options):
    """A pointwise model trained one step by seglab.train.fit at ``size``."""
    model = pointwise_model(num_classes)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = np.random.default_rng(0).random((4, size, size, 3), np.float32)
    labels = np.zeros((4, size, size), np.int32)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    train.fit(
        model,
        data,
        data,
        epochs=1,
        out_dir=tmp_path,
        resume=False,
        verbose=0,
        tensorboard=False,
        **fit_options,
    )
    return tmp_path / train.MODEL_FILE


def test_fit_stores_the_trained_size_beside_the_model(tmp_path):
    path = tiny_run(tmp_path, size=24)
    info = json.loads((tmp_path / model_info.INFO_FILE).read_text())
    assert info["image_size"] == [24, 24] and info["num_classes"] == NUM_CLASSES
    assert info["class_names"] == [f"class_{i}" for i in range(NUM_CLASSES)]
    assert model_info.trained_size(path) == (24, 24)
    assert model_info.trained_size(tmp_path / train.BEST_MODEL_FILE) == (24, 24)
    assert model_info.trained_size(path, requested=24) == (24, 24)
    with pytest.raises(ValueError, match="disagrees.*24 x 24"):
        model_info.trained_size(path, requested=32)


def test_a_model_without_a_stored_size_names_the_fix(tmp_path):
    (tmp_path / "metrics.json").write_text(
        json.dumps({"settings": {"image_size": 384}})
    )
    path = tmp_path / "model.keras"
    with pytest.raises(ValueError, match=r"--image-size.*image_size = 384"):
        model_info.trained_size(path)
    assert model_info.trained_size(path, requested=384) == (384, 384)
    assert model_info.trained_size(path, (64, 64)) == (64, 64)  # fixed input


def test_cli_evaluate_and_export_use_the_stored_size(tmp_path, capsys, voc_root):
    path = tiny_run(tmp_path / "run", size=24, num_classes=21)
    data = ["--data", "voc:synthetic", "--split", "test"]
    assert cli.main(["evaluate", str(path), *data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image_size"] == [24, 24] and "original size" in report["scoring"]
    # scored at the original label size: every labelled pixel of the split
    expected = 0
    for _, label in evaluate.original_pairs(
        evaluate.parse_data("voc:synthetic"), "test"
    ):
        expected += int(np.sum(label.numpy() != 255))
    assert sum(report["class_pixels"].values()) == expected
    small = tiny_run(tmp_path / "small", size=24)  # 4 classes: not VOC's
    assert cli.main(["evaluate", str(small), *data]) == 1
    assert "model has 4 classes" in capsys.readouterr().err
    assert cli.main(["evaluate", str(path), *data, "--image-size", "32"]) == 1
    assert "disagrees" in capsys.readouterr().err

    assert cli.main(["export", str(path), str(tmp_path / "saved")]) == 0
    info = export.exported_info(tmp_path / "saved")
    assert info["input_size"] == [24, 24]
    assert info["max_logit_side"] == export.MAX_LOGIT_SIDE
    (tmp_path / "run" / model_info.INFO_FILE).unlink()  # an old run
    assert cli.main(["export", str(path), str(tmp_path / "old")]) == 1
    assert "--image-size" in capsys.readouterr().err
    assert (
        cli.main(["export", str(path), str(tmp_path / "old"), "--image-size", "24"])
        == 0
    )


# --- serving argmaxes before resizing to large images ------------------------


def test_logit_target_shape_is_bounded():
    assert tuple(evaluate.logit_target_shape(tf.constant([4000, 3000]), 512)) == (
        512,
        384,
    )
    assert tuple(evaluate.logit_target_shape(tf.constant([300, 200]), 512)) == (
        300,
        200,
    )
    assert tuple(evaluate.logit_target_shape(tf.constant([300, 200]))) == (300, 200)


def test_class_map_never_resizes_logits_beyond_the_bound(monkeypatch):
    recorded = []
    resize = tf.image.resize

    def spy(images, size, method="bilinear", **kwargs):
        out = resize(images, size, method=method, **kwargs)
        recorded.append((method, tuple(out.shape)))
        return out

    monkeypatch.setattr(tf.image, "resize", spy)
    logits = tf.random.stateless_normal((16, 16, 21), seed=(1, 2))
    class_map = evaluate.class_map_from_logits(
        logits, tf.constant([12, 16]), tf.constant([3000, 4000]), max_side=512
    )
    assert tuple(class_map.shape) == (3000, 4000)
    bilinear = [shape for method, shape in recorded if method == "bilinear"]
    assert bilinear == [(384, 512, 21)]  # C-channel logits only at the bound
    assert all(shape[-1] == 1 for method, shape in recorded if method == "nearest")


def _png(array: np.ndarray) -> bytes:
    buffer = tf.io.encode_png(tf.constant(array)).numpy()
    return bytes(buffer)


def test_serving_large_images_follows_the_bounded_rule():
    model = pointwise_model()
    rng = np.random.default_rng(3)
    large = rng.integers(0, 256, (90, 130, 3)).astype(np.uint8)
    large[:40, :60] = (230, 20, 40)
    small = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    serve = export.make_serving_function(model, 16, max_side=40)
    served = export.predict_encoded(serve, [_png(large), _png(small)])
    bounded = export.keras_class_maps(model, [large, small], 16, max_side=40)
    exact = export.keras_class_maps(model, [large, small], 16, max_side=None)
    np.testing.assert_array_equal(served[0], bounded[0])
    assert served[0].shape == (90, 130)
    # below the bound the maps are exactly those evaluation scores
    np.testing.assert_array_equal(served[1], exact[1])
    # the bounded map is the small argmax upsampled by nearest neighbour
    content = (11, 16)  # 90 x 130 letterboxed into 16
    padded, _ = evaluate.letterbox(tf.constant(large), (16, 16))
    logits = model(padded[None])[0][: content[0], : content[1]]
    small_map = tf.argmax(tf.image.resize(logits, (28, 40)), -1)
    expected = tf.image.resize(small_map[..., None], (90, 130), "nearest")[..., 0]
    np.testing.assert_array_equal(served[0], expected.numpy())
    assert (served[0] != exact[0]).mean() < 0.2  # close to, not the exact rule


# --- validation never sees the test split ------------------------------------


class Stop(Exception):
    """Raised by the fake fit once the datasets are known."""


def _capture_splits(monkeypatch, module, name):
    """Tag every dataset a loader returns with its split; fit records val's."""
    seen = {}

    def fake_loader(*args, **kwargs):
        split = args[1] if len(args) > 1 else kwargs["split"]
        dataset = tf.data.Dataset.from_tensors(
            (tf.zeros((1, 8, 8, 3)), tf.zeros((1, 8, 8), tf.int32))
        )
        dataset.split_name = split
        return dataset

    def fake_fit(model, train_data, val_data, **kwargs):
        seen["train"] = getattr(train_data, "split_name", None)
        seen["val"] = getattr(val_data, "split_name", None)
        raise Stop

    monkeypatch.setattr(module, name, fake_loader)
    monkeypatch.setattr(train, "fit", fake_fit)
    return seen


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_deeplab_validation_uses_val_never_test(monkeypatch, tmp_path, profile):
    from seglab import data

    seen = _capture_splits(monkeypatch, data, "voc_dataset")
    monkeypatch.setattr(
        train.deeplab, "build_deeplab", lambda *a, **k: pointwise_model()
    )
    settings = train.deeplab.deeplab_settings(profile)
    with pytest.raises(Stop):
        train.deeplab.train(settings, "unused", tmp_path)
    assert seen == {"train": "train", "val": "val"}


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_unet_validation_uses_val_never_test(monkeypatch, tmp_path, profile):
    from seglab import data
    from seglab.train import unet as train_unet

    seen = _capture_splits(monkeypatch, data, "pets_dataset")
    monkeypatch.setattr(train_unet, "build_unet", lambda *a, **k: pointwise_model())
    settings = train_unet.unet_settings(profile)
    with pytest.raises(Stop):
        train_unet.train(settings, "sample", tmp_path)
    assert seen == {"train": "train", "val": "val"}


def test_cli_training_validates_on_val(monkeypatch, tmp_path, voc_root):
    from seglab import data

    seen = _capture_splits(monkeypatch, data, "voc_dataset")
    monkeypatch.setattr(
        train.deeplab, "build_deeplab", lambda *a, **k: pointwise_model()
    )
    with pytest.raises(Stop):
        cli.main(
            [
                "train",
                "deeplabv3",
                "--data",
                "synthetic",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "d"),
            ]
        )
    assert seen == {"train": "train", "val": "val"}
    seen = _capture_splits(monkeypatch, data, "pets_dataset")
    from seglab.train import unet as train_unet

    monkeypatch.setattr(train_unet, "build_unet", lambda *a, **k: pointwise_model())
    with pytest.raises(Stop):
        cli.main(
            [
                "train",
                "unet",
                "--data",
                "synthetic",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "u"),
            ]
        )
    assert seen == {"train": "train", "val": "val"}


def test_validation_and_test_splits_are_disjoint(voc_root):
    from seglab.data import pets, sample, voc

    folder = voc.find_voc(voc_root)
    assert not set(voc.read_split_ids(folder, "val")) & set(
        voc.read_split_ids(folder, "test")
    )
    root = sample.shipped_sample()
    val, test = pets.read_split(root, "val"), pets.read_split(root, "test")
    train_names = pets.read_split(root, "train")
    assert val and test and not set(val) & set(test)
    assert not set(val) & set(train_names)


def test_predicted_label_png_keeps_the_original_size(tmp_path):
    model = pointwise_model()
    photo = tmp_path / "wide.png"
    Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (21, 55, 3)).astype(np.uint8)
    ).save(photo)
    serve = export.make_serving_function(model, 16)
    report = export.predict_files(serve, [photo], tmp_path / "out")
    label = Image.open(report.written[0])
    assert label.size == (55, 21)


# --- a squash-trained model is evaluated and served squashed -----------------


def np_squash(image: np.ndarray, size: int) -> np.ndarray:
    """Squash as the Pets training data is: bilinear, rounded to uint8, / 255."""
    resized = np_resize_bilinear(image, size, size)
    return np.clip(np.round(resized), 0, 255) / 255.0


def squash_reference_map(image: np.ndarray, size: int) -> np.ndarray:
    """squash -> logits -> bilinear to the original size -> argmax, in NumPy."""
    logits = np_squash(image, size) @ WEIGHTS.astype(np.float64) + BIAS
    return np.argmax(np_resize_bilinear(logits, *image.shape[:2]), axis=-1)


def test_fit_to_size_squash_prepares_images_as_pets_training_does():
    from seglab.data import pets

    image = np.random.default_rng(5).integers(0, 256, (23, 41, 3)).astype(np.uint8)
    label = np.zeros((23, 41, 1), np.uint8)
    fitted, content = evaluate.fit_to_size(tf.constant(image), (16, 16), "squash")
    trained, _ = pets._squash(tf.constant(image), tf.constant(label), (16, 16))
    np.testing.assert_array_equal(fitted.numpy(), trained.numpy() / np.float32(255))
    assert tuple(content.numpy()) == (16, 16) and fitted.dtype == tf.float32
    np.testing.assert_allclose(fitted.numpy(), np_squash(image, 16), atol=1e-6)
    boxed, boxed_content = evaluate.fit_to_size(tf.constant(image), (16, 16))
    letterboxed, _ = evaluate.letterbox(tf.constant(image), (16, 16))
    np.testing.assert_array_equal(boxed.numpy(), letterboxed.numpy())
    assert tuple(boxed_content.numpy()) == (9, 16)
    with pytest.raises(ValueError, match="letterbox, squash.*'stretch'"):
        evaluate.fit_to_size(tf.constant(image), (16, 16), "stretch")


def test_squash_evaluation_equals_the_numpy_reference():
    image, label = hand_made_pairs()[0]  # 23 x 41: not square
    result = evaluate.evaluate_original_size(
        pointwise_model(), as_dataset([(image, label)]), 16, resize="squash"
    )
    prediction = squash_reference_map(image, 16)
    expected = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    valid = label != 255
    np.add.at(expected, (label[valid], prediction[valid]), 1)
    np.testing.assert_array_equal(result["confusion_matrix"], expected)
    assert result["resize"] == "squash" and expected.sum() == valid.sum()
    # the same image letterboxed scores differently: the mode is really used
    boxed = evaluate.evaluate_original_size(
        pointwise_model(), as_dataset([(image, label)]), 16
    )
    assert boxed["resize"] == "letterbox"
    assert not np.array_equal(boxed["confusion_matrix"], expected)
    # the Keras reference of serving gives the same class map
    (keras_map,) = export.keras_class_maps(
        pointwise_model(), [image], 16, max_side=None, resize="squash"
    )
    np.testing.assert_array_equal(keras_map, prediction)


def test_serving_a_squash_model_equals_its_keras_reference():
    model = pointwise_model()
    rng = np.random.default_rng(11)
    images = [
        rng.integers(0, 256, shape).astype(np.uint8)
        for shape in ((23, 41, 3), (47, 18, 3), (90, 130, 3))
    ]
    serve = export.make_serving_function(model, 16, max_side=64, resize="squash")
    served = export.predict_encoded(serve, [_png(image) for image in images])
    reference = export.keras_class_maps(model, images, 16, max_side=64, resize="squash")
    for got, want, image in zip(served, reference, images, strict=True):
        assert got.shape == image.shape[:2]
        np.testing.assert_array_equal(got, want)
    for image, got in zip(images[:2], served, strict=False):  # below the bound
        np.testing.assert_array_equal(got, squash_reference_map(image, 16))
    boxed = export.keras_class_maps(model, images, 16, max_side=64)
    assert any(not np.array_equal(a, b) for a, b in zip(served, boxed, strict=True))


def test_train_unet_stores_squash_and_deeplab_fit_letterbox(
    monkeypatch, tmp_path, small_pets, small_voc
):
    from seglab.train import deeplab as train_deeplab
    from seglab.train import unet as train_unet

    def compiled(num_classes, attribute):
        def build(*args, **kwargs):
            model = pointwise_model(num_classes)
            model.compile(
                "adam",
                keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, ignore_class=255
                ),
            )
            setattr(model, attribute, "none")
            return model

        return build

    monkeypatch.setattr(train_unet, "build_unet", compiled(3, "encoder_weights"))
    settings = dataclasses.replace(
        train_unet.unet_settings("quick"), epochs=1, image_size=32, batch_size=4
    )
    assert settings.squash  # the Pets U-Net trains on squashed images
    for squash, mode in ((True, "squash"), (False, "letterbox")):
        out = tmp_path / mode
        train_unet.train(
            dataclasses.replace(settings, squash=squash),
            str(small_pets),
            out,
            verbose=0,
        )
        info = json.loads((out / model_info.INFO_FILE).read_text())
        assert info["resize"] == mode and info["image_size"] == [32, 32]
        assert model_info.trained_resize(out / train.MODEL_FILE) == mode

    build = compiled(21, "backbone_weights")
    monkeypatch.setattr(train_deeplab, "build_deeplab", build)
    deeplab = dataclasses.replace(
        train_deeplab.deeplab_settings("quick"), epochs=1, image_size=32, batch_size=4
    )
    for augment, mode in ((True, "letterbox"), (False, "squash")):
        # without augmentation the VOC pipeline squashes (augment.resize_pair)
        out = tmp_path / f"deeplab_{mode}"
        run = dataclasses.replace(deeplab, augment=augment)
        assert run.resize == mode
        train_deeplab.train(run, small_voc, out, verbose=0)
        info = json.loads((out / model_info.INFO_FILE).read_text())
        assert info["resize"] == mode


def test_a_stored_info_without_resize_means_letterbox(tmp_path):
    path = tiny_run(tmp_path, size=24)
    info_file = tmp_path / model_info.INFO_FILE
    info = json.loads(info_file.read_text())
    assert info["resize"] == "letterbox"  # train.fit's default
    del info["resize"]  # a run from before the key existed
    info_file.write_text(json.dumps(info))
    assert model_info.trained_resize(path) == "letterbox"
    assert model_info.trained_resize(tmp_path / "nowhere" / "model.keras") == (
        "letterbox"
    )  # no info at all
    info["resize"] = "stretch"
    info_file.write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"model_info.json.*letterbox, squash"):
        model_info.trained_resize(path)


def test_cli_evaluate_export_predict_use_the_stored_squash(tmp_path, capsys, voc_root):
    path = tiny_run(tmp_path / "run", size=24, num_classes=21, resize="squash")
    assert model_info.trained_resize(path) == "squash"
    data = ["--data", "voc:synthetic", "--split", "test"]
    assert cli.main(["evaluate", str(path), *data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resize"] == "squash" and report["scoring"].startswith("squash")
    model = evaluate.load_model(path)
    spec = evaluate.parse_data("voc:synthetic")
    squashed = evaluate.evaluate_original_size(
        model, evaluate.original_pairs(spec, "test"), 24, resize="squash"
    )
    boxed = evaluate.evaluate_original_size(
        model, evaluate.original_pairs(spec, "test"), 24
    )
    assert report["confusion_matrix"] == squashed["confusion_matrix"].tolist()
    assert report["confusion_matrix"] != boxed["confusion_matrix"].tolist()

    assert cli.main(["export", str(path), str(tmp_path / "saved")]) == 0
    info = export.exported_info(tmp_path / "saved")
    assert info["resize"] == "squash"
    assert info["preprocessing"] == export.PREPROCESSING["squash"]
    rng = np.random.default_rng(2)
    photos = [
        rng.integers(0, 256, (21, 55, 3)).astype(np.uint8),
        rng.integers(0, 256, (40, 17, 3)).astype(np.uint8),
    ]
    files = []
    for i, photo in enumerate(photos):
        files.append(tmp_path / f"photo{i}.png")
        Image.fromarray(photo).save(files[-1])
    reference = export.keras_class_maps(model, photos, 24, resize="squash")
    for source in (path, tmp_path / "saved"):
        out = tmp_path / f"pred-{source.name}"
        assert (
            cli.main(["predict", str(source), *map(str, files), "--out", str(out)]) == 0
        )
        for i, want in enumerate(reference):
            got = np.asarray(Image.open(out / f"photo{i}_label.png"))
            np.testing.assert_array_equal(got, want)
