import numpy as np
import pytest
from PIL import Image

from seglab import palette


def test_colormap_matches_known_voc_colours():
    cmap = palette.VOC_COLORMAP
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    assert cmap[0].tolist() == [0, 0, 0]
    assert cmap[1].tolist() == [128, 0, 0]  # aeroplane
    assert cmap[15].tolist() == [192, 128, 128]  # person
    assert cmap[20].tolist() == [0, 64, 128]  # tvmonitor
    assert cmap[255].tolist() == [224, 224, 192]  # boundary


def test_class_names_have_twenty_one_entries():
    assert palette.NUM_VOC_CLASSES == 21
    assert palette.VOC_CLASSES[15] == "person"


def test_color_to_label_inverts_label_to_color():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 21, size=(17, 23)).astype(np.uint8)
    labels[0, :5] = 255
    colors = palette.label_to_color(labels)
    assert colors.shape == (17, 23, 3)
    assert np.array_equal(palette.color_to_label(colors), labels)


def test_white_pixels_count_as_boundary():
    colors = np.full((2, 2, 3), 255, np.uint8)
    assert (palette.color_to_label(colors) == 255).all()


def test_unknown_colours_are_listed_with_the_source():
    colors = np.zeros((3, 3, 3), np.uint8)
    colors[1, 1] = (1, 2, 3)
    with pytest.raises(ValueError, match=r"mask\.png: 1 pixels.*\(1, 2, 3\)"):
        palette.color_to_label(colors, source="mask.png")


def test_labels_match_pil_palette_indices(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.choice([0, 3, 8, 255], size=(9, 11)).astype(np.uint8)
    image = Image.fromarray(labels, mode="P")
    image.putpalette(palette.VOC_COLORMAP.flatten().tolist())
    image.save(tmp_path / "m.png")
    rgb = np.asarray(Image.open(tmp_path / "m.png").convert("RGB"))
    assert np.array_equal(palette.color_to_label(rgb), labels)


def test_label_to_color_rejects_out_of_range():
    with pytest.raises(ValueError, match="0, 255"):
        palette.label_to_color(np.array([[300]]))


def test_overlay_keeps_background_and_tints_objects():
    image = np.full((2, 2, 3), 0.5, np.float32)
    label = np.array([[0, 15], [255, 1]])
    out = palette.overlay(image, label, alpha=0.5)
    assert np.allclose(out[0, 0], 0.5) and np.allclose(out[1, 0], 0.5)
    expected = 0.25 + 0.5 * palette.VOC_COLORMAP[15] / 255
    assert np.allclose(out[0, 1], expected)


def test_overlay_rejects_size_mismatch():
    with pytest.raises(ValueError, match="differ in size"):
        palette.overlay(np.zeros((2, 2, 3)), np.zeros((3, 3), int))


def test_one_hot_leaves_ignored_pixels_empty():
    out = palette.one_hot(np.array([[0, 2], [255, 1]]), 3)
    assert out.shape == (2, 2, 3)
    assert out[1, 0].sum() == 0
    assert out[0, 1].tolist() == [0, 0, 1]
