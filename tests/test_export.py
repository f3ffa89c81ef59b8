import io
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from seglab import export
from seglab.models import unet_mobilenetv2


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return unet_mobilenetv2(
        3, input_shape=(64, 64, 3), encoder_weights=None, alpha=0.35
    )


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """The model exported (once, with ``force``) over an old, non-empty folder."""
    out = tmp_path_factory.mktemp("export") / "saved"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--force"):
        export.export_saved_model(model, out)
    assert (out / "keep.txt").is_file()  # refused: nothing was touched
    export.export_saved_model(model, out, force=True)
    return out


@pytest.fixture(scope="module")
def serve(exported):
    """The exported model, loaded once for the tests that only call it."""
    return export.load_saved_model(exported)


def _images(sizes=((50, 70), (90, 40), (64, 64))):
    rng = np.random.default_rng(2)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in sizes]


def _png(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_exported_model_equals_the_keras_model_at_each_input_size(model, serve):
    images = _images()
    served = export.predict_encoded(serve, [_png(image) for image in images])
    expected = export.keras_class_maps(model, images)
    for got, want, image in zip(served, expected, images, strict=True):
        assert got.shape == image.shape[:2]
        np.testing.assert_array_equal(got, want)


def test_batch_outputs_are_padded_with_255_and_carry_sizes(serve):
    outputs = serve(images=np.array([_png(i) for i in _images()[:2]], dtype=object))
    assert outputs["class_map"].shape == (2, 90, 70)
    assert outputs["height"].numpy().tolist() == [50, 90]
    assert outputs["width"].numpy().tolist() == [70, 40]
    assert (outputs["class_map"].numpy()[0, 50:, :] == 255).all()


def test_export_records_classes_and_size_beside_the_saved_model(exported):
    info = export.exported_info(exported)
    assert info["num_classes"] == 3 and info["input_size"] == [64, 64]
    assert info["class_names"] == ["pet", "background", "border"]


def test_export_refuses_to_overwrite_without_force(exported):
    # the fixture was refused on a non-empty folder, then replaced it with force
    assert (exported / "saved_model.pb").is_file()
    assert not (exported / "keep.txt").exists()


def test_a_model_of_any_size_needs_a_serving_size():
    inputs = keras.Input((None, None, 3))
    anysize = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="image_size"):
        export.make_serving_function(anysize)
    assert export.serving_input_size(anysize, 96) == (96, 96)


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="seglab export"):
        export.load_saved_model(tmp_path)


def test_predict_files_writes_palettised_labels_and_overlays(serve, tmp_path):
    images = _images(((40, 60), (30, 20)))
    paths = []
    for index, image in enumerate(images):
        path = tmp_path / f"photo{index}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    report = export.predict_files(serve, [paths[0], broken, paths[1]], tmp_path / "out")
    assert list(report.failed) == [broken]
    assert "JPEG" in report.failed[broken]
    label = Image.open(tmp_path / "out" / "photo0_label.png")
    assert label.mode == "P" and label.size == (60, 40)
    assert set(np.unique(np.asarray(label))) <= {0, 1, 2}
    np.testing.assert_array_equal(
        np.asarray(label), export.predict_encoded(serve, [paths[0].read_bytes()])[0]
    )
    overlay = Image.open(tmp_path / "out" / "photo1_overlay.png")
    assert overlay.mode == "RGB" and overlay.size == (20, 30)


def test_overlay_leaves_the_background_class_unblended():
    image = np.full((2, 2, 3), 100, np.uint8)
    class_map = np.array([[1, 0], [2, 1]])
    out = export.overlay_classes(image, class_map, background_class=1)
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(out[1, 0], [50, 114, 50])  # half green (0,128,0)


def test_inputs_with_the_same_stem_never_overwrite_each_other(serve, tmp_path):
    images = _images(((40, 60), (30, 20), (24, 24)))
    paths = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "x.bmp"]
    for path, image in zip(paths, images, strict=True):
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(image).save(path)
    report = export.predict_files(serve, paths, tmp_path / "out")
    assert len(set(report.written)) == 6
    sizes = {
        Image.open(tmp_path / "out" / f"{stem}_label.png").size
        for stem in ("x", "x-2", "x-3")
    }
    assert sizes == {(60, 40), (20, 30), (24, 24)}
    assert export.output_stems([Path("x.png"), Path("x.jpg"), Path("x-2.png")]) == [
        "x",
        "x-3",
        "x-2",
    ]
