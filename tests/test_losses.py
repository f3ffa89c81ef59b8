"""Masked losses against plain NumPy references; 255 contributes nothing."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seglab import losses

NUM_CLASSES = 4
IGNORE = 255


def random_batch(seed: int, shape=(2, 5, 6), ignore_fraction=0.25):
    """Logits float32 (B, H, W, C) and labels int32 (B, H, W) with some 255."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, shape + (NUM_CLASSES,)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, shape).astype(np.int32)
    labels[rng.random(shape) < ignore_fraction] = IGNORE
    return labels, logits


def np_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_cross_entropy(labels, logits, class_weights=None):
    valid = labels != IGNORE
    log_p = np_log_softmax(logits.astype(np.float64))[valid]
    picked = -log_p[np.arange(len(log_p)), labels[valid]]
    if class_weights is None:
        weights = np.ones_like(picked)
    else:
        weights = np.asarray(class_weights, np.float64)[labels[valid]]
    return (weights * picked).sum() / weights.sum()


def np_batch_weights(labels):
    valid = labels[labels != IGNORE]
    counts = np.bincount(valid, minlength=NUM_CLASSES).astype(np.float64)
    return 1.0 - counts / counts.sum()


def np_dice(labels, logits, smooth=1.0):
    valid = labels != IGNORE
    probabilities = np.exp(np_log_softmax(logits.astype(np.float64)))[valid]
    one_hot = np.eye(NUM_CLASSES)[labels[valid]]
    intersection = (probabilities * one_hot).sum(axis=0)
    sizes = probabilities.sum(axis=0) + one_hot.sum(axis=0)
    return 1.0 - ((2 * intersection + smooth) / (sizes + smooth)).mean()


def np_focal(labels, logits, gamma=2.0):
    valid = labels != IGNORE
    log_p = np_log_softmax(logits.astype(np.float64))[valid]
    log_p_true = log_p[np.arange(len(log_p)), labels[valid]]
    return (-((1 - np.exp(log_p_true)) ** gamma) * log_p_true).mean()


CASES = {
    "cross_entropy": (lambda: losses.cross_entropy(NUM_CLASSES), np_cross_entropy),
    "weighted": (
        lambda: losses.cross_entropy(NUM_CLASSES, class_weights=[0.2, 1, 2, 3]),
        lambda y, z: np_cross_entropy(y, z, [0.2, 1, 2, 3]),
    ),
    "batch_weighted": (
        lambda: losses.cross_entropy(NUM_CLASSES, class_weights="batch"),
        lambda y, z: np_cross_entropy(y, z, np_batch_weights(y)),
    ),
    "dice": (lambda: losses.dice(NUM_CLASSES), np_dice),
    "focal": (lambda: losses.focal(NUM_CLASSES, gamma=2.0), np_focal),
    "focal_gamma_0_is_cross_entropy": (
        lambda: losses.focal(NUM_CLASSES, gamma=0.0),
        np_cross_entropy,
    ),
    "ce_dice": (
        lambda: losses.ce_dice(NUM_CLASSES),
        lambda y, z: np_cross_entropy(y, z) + np_dice(y, z),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_matches_numpy_reference_over_several_batches(case):
    make, reference = CASES[case]
    loss = make()
    for seed in range(4):
        labels, logits = random_batch(seed)
        value = float(loss(labels, logits))
        np.testing.assert_allclose(value, reference(labels, logits), rtol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ignored_pixels_get_zero_gradient_and_do_not_change_the_loss(case):
    loss = CASES[case][0]()
    labels, logits = random_batch(7)
    ignored = labels == IGNORE
    logits_tensor = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(logits_tensor)
        value = loss(labels, logits_tensor)
    gradient = tape.gradient(value, logits_tensor).numpy()
    assert np.all(gradient[ignored] == 0.0)
    assert np.any(gradient[~ignored] != 0.0)
    changed = logits.copy()
    changed[ignored] = 100.0 * np.random.default_rng(1).normal(
        size=changed[ignored].shape
    )
    assert float(loss(labels, changed)) == pytest.approx(float(value), rel=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_without_valid_pixels_gives_finite_loss_and_gradient(case):
    loss = CASES[case][0]()
    labels = np.full((2, 3, 3), IGNORE, np.int32)
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 3, NUM_CLASSES)))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(labels, logits)
    assert np.isfinite(float(value)) and float(value) == 0.0
    assert np.all(np.isfinite(tape.gradient(value, logits).numpy()))


def test_labels_with_a_channel_axis_give_the_same_loss():
    labels, logits = random_batch(3)
    loss = losses.ce_dice(NUM_CLASSES)
    assert float(loss(labels[..., None], logits)) == pytest.approx(
        float(loss(labels, logits)), rel=1e-6
    )


def test_float16_logits_are_scored_in_float32():
    labels, logits = random_batch(4)
    loss = losses.cross_entropy(NUM_CLASSES)
    value = loss(labels, tf.constant(logits, tf.float16))
    assert value.dtype == tf.float32
    reference = np_cross_entropy(labels, logits.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(float(value), reference, rtol=1e-4)


def test_mean_runs_over_the_whole_batch_not_per_image():
    labels, logits = random_batch(5)
    labels[0, :, :] = IGNORE
    labels[0, 0, 0] = 1  # image 0 has a single valid pixel
    value = float(losses.cross_entropy(NUM_CLASSES)(labels, logits))
    np.testing.assert_allclose(value, np_cross_entropy(labels, logits), rtol=1e-5)


def test_wrong_number_of_class_weights_is_explained():
    with pytest.raises(ValueError, match="3 entries; expected one per class \\(4\\)"):
        losses.cross_entropy(NUM_CLASSES, class_weights=[1, 2, 3])
    with pytest.raises(ValueError, match="'batch'"):
        losses.cross_entropy(NUM_CLASSES, class_weights="median")


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_survives_keras_serialisation(case):
    loss = CASES[case][0]()
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    labels, logits = random_batch(6)
    assert float(restored(labels, logits)) == pytest.approx(float(loss(labels, logits)))


def np_pixel_cross_entropy(labels, logits):
    """Cross-entropy of every pixel, 0 on ignored ones: float64 (B, H, W)."""
    log_p = np_log_softmax(logits.astype(np.float64))
    safe = np.where(labels == IGNORE, 0, labels)
    picked = -np.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
    return np.where(labels == IGNORE, 0.0, picked)


@pytest.mark.parametrize("factory", [losses.cross_entropy, losses.focal])
def test_sample_weights_act_on_the_pixel_they_weigh(factory):
    labels, logits = random_batch(5)
    labels[0, 0, 0], labels[0, 1, 1] = 1, 2  # both weighted pixels are valid
    loss = factory(NUM_CLASSES)
    on_first, on_second = (
        np.ones(labels.shape, np.float32),
        np.ones(labels.shape, np.float32),
    )
    on_first[0, 0, 0] = 4.0
    on_second[0, 1, 1] = 4.0
    plain = float(loss(labels, logits))
    first = float(loss(labels, logits, sample_weight=on_first))
    second = float(loss(labels, logits, sample_weight=on_second))
    assert len({round(plain, 6), round(first, 6), round(second, 6)}) == 3
    if factory is losses.cross_entropy:
        per_pixel = np_pixel_cross_entropy(labels, logits)
        valid = (labels != IGNORE).sum()
        assert first == pytest.approx((per_pixel * on_first).sum() / valid, rel=1e-5)


def test_per_image_sample_weights_weigh_whole_images():
    labels, logits = random_batch(6, ignore_fraction=0.0)
    per_pixel = np_pixel_cross_entropy(labels, logits)
    weights = np.array([0.0, 1.0], np.float32)
    found = float(losses.cross_entropy(NUM_CLASSES)(labels, logits, weights))
    assert found == pytest.approx(per_pixel[1].sum() / labels.size, rel=1e-5)


@pytest.mark.parametrize("factory", [losses.dice, losses.ce_dice])
def test_dice_losses_refuse_sample_weights_with_the_fix(factory):
    labels, logits = random_batch(7)
    with pytest.raises(ValueError, match="cannot use sample_weight.*cross_entropy"):
        factory(NUM_CLASSES)(labels, logits, sample_weight=np.ones(labels.shape))


def test_call_returns_the_batch_loss_as_one_float32_scalar():
    labels, logits = random_batch(8)
    loss = losses.cross_entropy(NUM_CLASSES)
    value = loss.call(labels, logits)
    assert value.shape == () and value.dtype == tf.float32
    assert float(value) == pytest.approx(np_cross_entropy(labels, logits), rel=1e-5)
