"""The tf.data steps shared by the VOC and Pets loaders.

Order matters for speed: decode once (and cache the decoded ``uint8`` arrays),
then shuffle, repeat, and run the random crop/resize *before* converting to
float, so the expensive work happens on small tensors. Every ``map`` runs with
``num_parallel_calls=AUTOTUNE``; random ops are *stateless* with a per-element
seed, so a seeded pipeline gives the same batches every time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from seglab.data import augment
from seglab.palette import IGNORE_LABEL

AUTOTUNE = tf.data.AUTOTUNE


def image_size_pair(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """``128`` or ``(128, 160)`` -> ``(height, width)``; rejects bad sizes."""
    if isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 8:
        raise ValueError(
            f"image_size must be an int or (height, width) of at least 8, "
            f"got {image_size!r}"
        )
    return size  # type: ignore[return-value]


def decode_image(path: tf.Tensor) -> tf.Tensor:
    """Read an image by its content (JPEG, PNG, GIF, BMP) -> ``(H, W, 3)`` uint8."""
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )
    image.set_shape([None, None, 3])
    return image


def decode_label(path: tf.Tensor) -> tf.Tensor:
    """Read a single-channel label PNG -> ``(H, W, 1)`` uint8."""
    label = tf.io.decode_png(tf.io.read_file(path), channels=1)
    label.set_shape([None, None, 1])
    return label


def build(
    pairs: tf.data.Dataset,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    augment_data: bool,
    shuffle: bool,
    repeat: bool,
    seed: int | None,
    cache: bool | str,
    label_size: tuple[int, int] | None = None,
    label_offset: int = 0,
    pad_label: int = IGNORE_LABEL,
    num_examples: int | None = None,
) -> tf.data.Dataset:
    """Turn a dataset of decoded ``(image uint8, label uint8)`` into batches.

    Args:
        pairs: elements ``((H, W, 3) uint8, (H, W, 1) uint8)`` of any size.
        label_offset: subtracted from every label after resizing (Pets
            trimaps 1..3 -> 0..2).
        pad_label: label (before the offset) of pixels that random crops pad.

    Returns:
        ``(images float32 (B, h, w, 3) in [0, 1], labels int32 (B, h', w'))``
        where ``(h, w) = image_size`` and ``(h', w') = label_size or image_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    if cache:
        pairs = pairs.cache("" if cache is True else str(cache))
    if shuffle:
        buffer = num_examples or 1024
        pairs = pairs.shuffle(
            min(buffer, 2048), seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        pairs = pairs.repeat()

    def prepare(index, pair):
        image, label = pair
        element_seed = tf.stack([tf.cast(seed, tf.int64), index])
        if augment_data:
            image, label = augment.random_scale_crop_flip(
                image, label, image_size, element_seed, pad_label=pad_label
            )
            image = augment.color_jitter(image, element_seed + 1)
        else:
            image, label = augment.resize_pair(image, label, image_size)
        if label_size is not None and tuple(label_size) != tuple(image_size):
            label = tf.image.resize(label, label_size, method="nearest")
        label = tf.cast(label[..., 0], tf.int32)
        if label_offset:
            label = label - label_offset
        return image, label

    batches = (
        pairs.enumerate()
        .map(prepare, num_parallel_calls=AUTOTUNE)
        .batch(batch_size, drop_remainder=repeat)
        .prefetch(AUTOTUNE)
    )
    return batches
