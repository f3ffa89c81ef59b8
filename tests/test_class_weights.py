import keras
import numpy as np
import pytest
import tensorflow as tf

from seglab import class_weights


def test_without_pixel_counts_weights_are_scaled_to_mean_one_per_class():
    weights = class_weights.normalise_class_weights([2.0, 2.0, 1.0])
    np.testing.assert_allclose(weights, np.array([2, 2, 1]) / (5 / 3), rtol=1e-6)
    assert weights.mean() == pytest.approx(1.0)


def test_with_pixel_counts_the_mean_weight_per_pixel_is_one():
    counts = [27, 61, 12]  # real Pets: pet, background, border (percent)
    per_class = class_weights.normalise_class_weights([1.0, 1.0, 3.0])
    # the old "mean 1 per class" scaling shrinks the loss by about a quarter
    assert class_weights.mean_pixel_weight(per_class, counts) == pytest.approx(
        0.744, abs=1e-3
    )
    weights = class_weights.normalise_class_weights([1.0, 1.0, 3.0], counts)
    np.testing.assert_allclose(weights, np.array([1, 1, 3]) / 1.24, rtol=1e-6)
    masks = np.repeat(np.array([0, 1, 2]), counts).reshape(1, 10, 10)
    pixels = class_weights.sample_weights_from_masks(masks, weights).numpy()
    assert pixels.mean() == pytest.approx(1.0, rel=1e-6)
    # so a weighted loss with equal per-pixel losses equals the unweighted one
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = np.zeros((1, 10, 10, 3), np.float32)
    assert float(loss(masks, logits, sample_weight=pixels)) == pytest.approx(
        float(loss(masks, logits)), rel=1e-5
    )


def test_pixel_counts_must_match_the_classes():
    with pytest.raises(ValueError, match="pixel_counts"):
        class_weights.normalise_class_weights([1.0, 1.0, 3.0], [5, 5])


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [0.0, 0.0], [1.0, np.inf]])
def test_bad_class_weights_are_rejected(bad):
    with pytest.raises(ValueError, match="class_weights"):
        class_weights.normalise_class_weights(bad)


def test_sample_weights_look_up_each_pixels_class_like_numpy():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, size=(2, 5, 7))
    masks[0, 0, :3] = 255
    weights = class_weights.sample_weights_from_masks(masks, [1.0, 1.0, 4.0])
    table = np.array([1.0, 1.0, 4.0])  # used as given
    expected = np.where(masks == 255, 0.0, table[np.where(masks == 255, 0, masks)])
    assert weights.shape == masks.shape and weights.dtype == tf.float32
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)


def test_a_label_beyond_the_weights_is_an_error():
    with pytest.raises(tf.errors.InvalidArgumentError, match="class weights"):
        class_weights.sample_weights_from_masks(np.array([[0, 3]]), [1.0, 1.0, 1.0])


def test_dataset_map_yields_image_mask_weight_triples():
    images = np.zeros((4, 8, 8, 3), np.float32)
    masks = np.tile(np.array([0, 1, 2, 1, 1, 1, 1, 1]), (4, 8, 1)).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(2)
    weighted = ds.map(class_weights.add_sample_weights([2.0, 2.0, 1.0]))
    assert len(weighted.element_spec) == 3
    _, batch_masks, batch_weights = next(iter(weighted))
    assert batch_weights.shape == batch_masks.shape == (2, 8, 8)
    np.testing.assert_allclose(batch_weights[0, 0, :3], [1.2, 1.2, 0.6], rtol=1e-6)
    counts = class_weights.class_pixel_counts(ds, 3)  # 8 pet, 48 bg, 8 border
    per_pixel = ds.map(
        class_weights.add_sample_weights([2.0, 2.0, 1.0], pixel_counts=counts)
    )
    weights = np.concatenate([w.numpy().ravel() for _, _, w in per_pixel])
    assert weights.mean() == pytest.approx(1.0, rel=1e-6)


def test_inverse_frequency_weights_favour_rare_classes():
    weights = class_weights.inverse_frequency_weights([700, 250, 50])
    expected = 1 / (3 * np.array([0.7, 0.25, 0.05]))  # mean 1 per pixel
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert class_weights.mean_pixel_weight(weights, [700, 250, 50]) == (
        pytest.approx(1.0)
    )
    unseen = class_weights.inverse_frequency_weights([90, 10, 0])
    assert unseen[2] == pytest.approx(unseen[1])


def test_class_pixel_counts_skip_ignored_pixels():
    masks = np.array([[[0, 1, 255], [2, 2, 1]]], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((1, 2, 3, 3)), masks)).batch(1)
    counts = class_weights.class_pixel_counts(ds, 3)
    np.testing.assert_array_equal(counts, [1, 2, 2])


# --- what Keras 3 does with class_weight and (B, H, W) masks -----------------


def test_keras_class_weight_gives_one_weight_per_row_not_per_pixel():
    """Keras takes argmax over the *width*: row weights picked by column index."""
    masks = np.ones((1, 3, 6), np.int32)  # background (1) everywhere...
    masks[0, 1, 2] = 2  # ...one border pixel in row 1, at column 2
    masks[0, 2, 0] = 2  # ...one in row 2, at column 0
    weights = class_weights.keras_class_weight_lookup(masks, {0: 5.0, 1: 1.0, 2: 3.0})
    assert weights.shape == (1, 3)  # not (1, 3, 6)
    # row 0: all equal -> argmax 0 -> weight of class 0 (pet), though no pet
    # row 1: argmax is column 2 -> weight of class 2; row 2: column 0 -> class 0
    np.testing.assert_allclose(weights.numpy(), [[5.0, 3.0, 5.0]])
    per_pixel = np.array([5.0, 1.0, 3.0])[masks]
    assert not np.allclose(
        np.broadcast_to(weights.numpy()[..., None], masks.shape), per_pixel
    )


def test_keras_class_weight_fails_on_cpu_when_a_column_index_exceeds_the_classes():
    masks = np.ones((1, 2, 8), np.int32)
    masks[0, 0, 5] = 2  # argmax of row 0 is column 5: no class 5
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in \\[0, 3\\)"):
        class_weights.keras_class_weight_lookup(masks, {0: 1.0, 1: 1.0, 2: 3.0})


def _fit_loss_with_class_weight(masks, class_weight):
    """Loss of one fit step at zero logits (learning rate 0): ln(3) per pixel."""
    height, width = masks.shape[1:]
    inputs = keras.Input((height, width, 3))
    logits = keras.layers.Conv2D(3, 1, kernel_initializer="zeros")(inputs)
    model = keras.Model(inputs, logits)
    model.compile(
        keras.optimizers.SGD(0.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images = np.zeros((*masks.shape, 3), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(len(masks))
    history = model.fit(ds, class_weight=class_weight, verbose=0)
    return history.history["loss"][0]


def test_fit_with_class_weight_on_square_masks_silently_uses_wrong_weights():
    """Keras 3 accepts class_weight for (B, H, W) masks and weights wrongly."""
    masks = np.full((1, 6, 6), 2, np.int32)  # every pixel is border (class 2)
    loss = _fit_loss_with_class_weight(masks, {0: 1.0, 1: 1.0, 2: 5.0})
    # per-pixel weighting would give 5 * ln(3); Keras looks up "class" 0 (the
    # argmax column of each all-equal row) and gives weight 1
    assert loss == pytest.approx(np.log(3), rel=1e-4)
    assert loss != pytest.approx(5 * np.log(3), rel=1e-2)


def test_fit_with_class_weight_on_real_batches_fails_deep_in_the_graph():
    """(B, H) weights meet (B, H, W) losses: broadcasting fails unless B == H."""
    square = np.ones((2, 6, 6), np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Incompatible shapes"):
        _fit_loss_with_class_weight(square, {0: 1.0, 1: 1.0, 2: 5.0})
    wide = np.ones((2, 4, 6), np.int32)
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        _fit_loss_with_class_weight(wide, {0: 1.0, 1: 1.0, 2: 5.0})
