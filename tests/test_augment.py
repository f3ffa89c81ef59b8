"""Joint augmentation: computing only the crop equals rescaling everything first."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seglab.data import augment
from seglab.palette import IGNORE_LABEL


def _rescale_then_crop(image, label, size, seed, pad_label=IGNORE_LABEL):
    """Reference: rescale the whole pair, pad, crop and flip with TF's own ops."""
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = tf.random.stateless_uniform([], seeds[0], minval=0.75, maxval=1.5)
    scale = factor * tf.cast(max(size), tf.float32) / tf.reduce_min(shape)
    new_shape = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, new_shape, method="bilinear") / 255.0
    label = tf.image.resize(label, new_shape, method="nearest")
    height = tf.maximum(new_shape[0], size[0])
    width = tf.maximum(new_shape[1], size[1])
    image = tf.image.pad_to_bounding_box(image - 0.5, 0, 0, height, width) + 0.5
    label = tf.image.pad_to_bounding_box(
        tf.cast(label, tf.int32) + 1, 0, 0, height, width
    )
    label = tf.where(label == 0, pad_label, label - 1)
    stacked = tf.concat([image, tf.cast(label, tf.float32)], axis=-1)
    stacked = tf.image.stateless_random_crop(stacked, [*size, 4], seed=seeds[1])
    stacked = tf.image.stateless_random_flip_left_right(stacked, seed=seeds[2])
    return stacked[..., :3], tf.cast(tf.round(stacked[..., 3:]), tf.uint8)


@pytest.mark.parametrize(
    "source_shape, size",
    [((375, 500), (64, 64)), ((90, 70), (48, 40)), ((60, 80), (100, 120))],
)
def test_crop_sampling_equals_rescaling_the_whole_image(source_shape, size):
    rng = np.random.default_rng(sum(source_shape))
    image = tf.constant(rng.integers(0, 256, (*source_shape, 3), dtype=np.uint8))
    label = tf.constant(
        rng.choice([0, 7, 15, 255], (*source_shape, 1)).astype(np.uint8)
    )
    for index in range(6):
        seed = tf.constant([index, 3], tf.int64)
        image_out, label_out = augment.random_scale_crop_flip(image, label, size, seed)
        image_ref, label_ref = _rescale_then_crop(image, label, size, seed)
        assert image_out.shape == (*size, 3) and label_out.dtype == tf.uint8
        np.testing.assert_allclose(image_out.numpy(), image_ref.numpy(), atol=1e-5)
        np.testing.assert_array_equal(label_out.numpy(), label_ref.numpy())


def test_padding_gets_grey_pixels_and_the_pad_label():
    # scaled by 0.75-1.5 x 120 / 40, a black 40 x 40 image is too short for a
    # 120 px high crop whenever the factor is below 1
    image = tf.zeros((40, 40, 3), tf.uint8)
    label = tf.zeros((40, 40, 1), tf.uint8)
    padded_somewhere = False
    for index in range(8):
        image_out, label_out = augment.random_scale_crop_flip(
            image, label, (120, 100), tf.constant([index, 2], tf.int64), pad_label=9
        )
        labels = label_out.numpy()[..., 0]
        padded = labels == 9
        padded_somewhere |= bool(padded.any())
        assert (labels[~padded] == 0).all()
        assert np.allclose(image_out.numpy()[padded], 0.5)
        assert np.allclose(image_out.numpy()[~padded], 0.0)
    assert padded_somewhere
