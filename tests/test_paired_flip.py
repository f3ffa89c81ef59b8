import numpy as np
import pytest
import tensorflow as tf

from seglab.data.augment import PairedRandomFlip


def _batch(size=16):
    rng = np.random.default_rng(0)
    images = rng.random((size, 6, 8, 3), dtype=np.float32)
    masks = rng.integers(0, 3, size=(size, 6, 8)).astype(np.int32)
    return images, masks


def test_image_and_mask_are_flipped_together():
    images, masks = _batch()
    flipped_images, flipped_masks = PairedRandomFlip(seed=3)(images, masks)
    image_flipped = [
        np.array_equal(flipped_images[i], images[i, :, ::-1]) for i in range(16)
    ]
    mask_flipped = [
        np.array_equal(flipped_masks[i], masks[i, :, ::-1]) for i in range(16)
    ]
    kept = [np.array_equal(flipped_images[i], images[i]) for i in range(16)]
    assert image_flipped == mask_flipped
    assert all(f != k for f, k in zip(image_flipped, kept, strict=True))
    assert 0 < sum(image_flipped) < 16  # some flipped, some not
    assert flipped_masks.dtype == tf.int32


TRANSFORMS = {
    "none": lambda x: x,
    "horizontal": lambda x: x[:, ::-1],
    "vertical": lambda x: x[::-1],
    "both": lambda x: x[::-1, ::-1],
}
ALLOWED = {
    "horizontal": {"none", "horizontal"},
    "vertical": {"none", "vertical"},
    "horizontal_and_vertical": {"none", "horizontal", "vertical", "both"},
}


def _which(original, result) -> str:
    """The flip that turns ``original`` (one image or mask) into ``result``."""
    found = [
        name
        for name, transform in TRANSFORMS.items()
        if np.array_equal(np.asarray(result), transform(original))
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("mode", sorted(ALLOWED))
def test_every_mode_flips_image_and_mask_together_some_but_not_all(mode):
    images, masks = _batch(32)
    out_images, out_masks = PairedRandomFlip(mode, seed=5)(images, masks)
    applied = []
    for i in range(32):
        image_flip = _which(images[i], out_images[i])
        assert _which(masks[i], out_masks[i]) == image_flip, i
        applied.append(image_flip)
    assert set(applied) <= ALLOWED[mode]
    assert "none" in applied and len(set(applied)) >= 2
    if mode == "horizontal_and_vertical":
        assert set(applied) == ALLOWED[mode]  # each flip on its own coin


def test_inference_mode_passes_through():
    images, masks = _batch()
    out_images, out_masks = PairedRandomFlip()(images, masks, training=False)
    np.testing.assert_array_equal(out_images, images)
    np.testing.assert_array_equal(out_masks, masks)


def test_runs_inside_tf_data_on_batches():
    images, masks = _batch(8)
    ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)
    ds = ds.map(PairedRandomFlip(seed=0), num_parallel_calls=tf.data.AUTOTUNE)
    shapes = [(x.shape, y.shape) for x, y in ds]
    assert shapes == [((4, 6, 8, 3), (4, 6, 8))] * 2


def test_unbatched_inputs_and_bad_modes_are_rejected():
    images, masks = _batch()
    with pytest.raises(ValueError, match="batches"):
        PairedRandomFlip()(images[0], masks[0])
    with pytest.raises(ValueError, match="mode"):
        PairedRandomFlip("diagonal")
