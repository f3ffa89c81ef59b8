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


def test_vertical_mode_flips_rows():
    images, masks = _batch()
    _, flipped_masks = PairedRandomFlip("vertical", seed=1)(images, masks)
    for i in range(16):
        assert np.array_equal(flipped_masks[i], masks[i]) or np.array_equal(
            flipped_masks[i], masks[i, ::-1]
        )


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
