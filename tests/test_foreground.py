import numpy as np
import pytest

from seglab import foreground


def _scene():
    class_map = np.ones((20, 30), np.int32)  # background 1
    class_map[5:15, 10:20] = 0  # a pet
    class_map[4, 10:20] = 2  # its border
    image = np.full((20, 30, 3), 50, np.uint8)
    return image, class_map


def test_alpha_is_one_exactly_on_the_foreground_classes():
    _, class_map = _scene()
    alpha = foreground.alpha_mask(class_map, [0, 2])
    assert alpha.dtype == np.float32
    np.testing.assert_array_equal(alpha, np.isin(class_map, [0, 2]))


def test_soft_edges_ramp_between_zero_and_one():
    _, class_map = _scene()
    hard = foreground.alpha_mask(class_map, [0])
    soft = foreground.soften_edges(hard, sigma=1.5)
    assert soft.min() >= 0 and soft.max() <= 1
    assert soft[10, 15] == pytest.approx(1, abs=0.01)  # inside stays opaque
    assert soft[10, 2] == pytest.approx(0, abs=0.01)  # far outside stays clear
    assert 0.2 < soft[10, 10] < 0.8  # the edge is partly transparent
    np.testing.assert_array_equal(foreground.soften_edges(hard, 0), hard)


def test_composite_over_white_matches_the_formula():
    image, class_map = _scene()
    alpha = foreground.soften_edges(foreground.alpha_mask(class_map, [0]), 1.0)
    out = foreground.composite(image, alpha)
    expected = alpha[..., None] * (50 / 255) + (1 - alpha[..., None]) * 1.0
    np.testing.assert_allclose(out, np.repeat(expected, 3, axis=-1), rtol=1e-6)


def test_composite_over_another_image_resizes_it():
    image, class_map = _scene()
    backdrop = np.zeros((40, 60, 3), np.uint8)
    out, alpha = foreground.extract_foreground(
        image, class_map, [0], sigma=0, background=backdrop
    )
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out[10, 15], 50 / 255, rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], 0.0)
    assert alpha[0, 0] == 0 and alpha[10, 15] == 1


def test_bad_inputs_are_named():
    image, class_map = _scene()
    with pytest.raises(ValueError, match="class_map"):
        foreground.alpha_mask(image, [0])
    with pytest.raises(ValueError, match="foreground_classes"):
        foreground.alpha_mask(class_map, [])
    with pytest.raises(ValueError, match="differ in size"):
        foreground.composite(image, np.ones((5, 5)))
    with pytest.raises(ValueError, match="background"):
        foreground.composite(image, np.ones((20, 30)), np.ones((20, 30)))
