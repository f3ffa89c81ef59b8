"""Joint image + mask transforms: the same geometry for both, colour for the image.

Images are resized bilinearly; masks with *nearest neighbour*, because a label
is a category, not a quantity: bilinear resizing would invent labels between
two classes (e.g. 7.5 between car and cat). All random ops are stateless and
take a ``seed`` of shape ``(2,)``, so the same seed gives the same crop.
"""

from __future__ import annotations

import tensorflow as tf

from seglab.palette import IGNORE_LABEL


def resize_pair(
    image: tf.Tensor, label: tf.Tensor, size: tuple[int, int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """Resize to ``size``: image bilinear -> float32 in [0, 1], label nearest.

    ``image`` ``(H, W, 3)`` uint8, ``label`` ``(H, W, 1)`` uint8.
    """
    image = tf.image.resize(image, size, method="bilinear") / 255.0
    label = tf.image.resize(label, size, method="nearest")
    image.set_shape([*size, 3])
    label.set_shape([*size, 1])
    return image, label


def random_scale_crop_flip(
    image: tf.Tensor,
    label: tf.Tensor,
    size: tuple[int, int],
    seed: tf.Tensor,
    *,
    min_scale: float = 0.75,
    max_scale: float = 1.5,
    pad_label: int = IGNORE_LABEL,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random rescale, pad, crop to ``size`` and horizontal flip, same for both.

    The image is first scaled so its short side equals the crop's long side,
    times a random factor in ``[min_scale, max_scale]``; padding (image 0.5
    grey, label ``pad_label``) covers crops that overhang. Returns float32
    image ``(h, w, 3)`` in [0, 1] and uint8 label ``(h, w, 1)``.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    target = tf.cast(tf.reduce_max(size), tf.float32)
    factor = tf.random.stateless_uniform(
        [], seeds[0], minval=min_scale, maxval=max_scale
    )
    scale = factor * target / tf.reduce_min(shape)
    new_shape = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, new_shape, method="bilinear") / 255.0
    label = tf.image.resize(label, new_shape, method="nearest")
    # pad to at least the crop size; keep labels apart with an offset so that
    # the padding value can be told from real labels after the joint crop
    height = tf.maximum(new_shape[0], size[0])
    width = tf.maximum(new_shape[1], size[1])
    image = tf.image.pad_to_bounding_box(image - 0.5, 0, 0, height, width) + 0.5
    label = tf.cast(label, tf.int32) + 1
    label = tf.image.pad_to_bounding_box(label, 0, 0, height, width)
    label = tf.where(label == 0, pad_label, label - 1)
    stacked = tf.concat([image, tf.cast(label, tf.float32)], axis=-1)
    stacked = tf.image.stateless_random_crop(stacked, [*size, 4], seed=seeds[1])
    stacked = tf.image.stateless_random_flip_left_right(stacked, seed=seeds[2])
    image = stacked[..., :3]
    label = tf.cast(tf.round(stacked[..., 3:]), tf.uint8)
    image.set_shape([*size, 3])
    label.set_shape([*size, 1])
    return image, label


def color_jitter(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Random brightness, contrast, saturation and hue; image only, in [0, 1]."""
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    image = tf.image.stateless_random_brightness(image, 0.1, seeds[0])
    image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seeds[1])
    image = tf.image.stateless_random_saturation(image, 0.8, 1.2, seeds[2])
    image = tf.image.stateless_random_hue(image, 0.04, seeds[3])
    return tf.clip_by_value(image, 0.0, 1.0)
