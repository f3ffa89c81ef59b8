"""The book's input pipeline, rebuilt as a labelled baseline to measure against.

Its design: a Python generator yields file names, each example is read with
``tf.numpy_function`` + PIL (PIL can read palette indices, TensorFlow cannot),
the maps run one element at a time, and the cache comes after the expensive
load *and* after the conversion to float. It gives the same kind of batches as
:func:`seglab.data.voc_dataset` (without augmentation) so both can be timed on
the same files. Do not use it for training: it is here to be beaten.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from seglab.data import voc


def _load_pair(image_path: bytes, mask_path: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read one JPEG and its palette PNG with PIL (runs in Python, holds the GIL)."""
    image = np.asarray(Image.open(image_path.decode()).convert("RGB"), np.float32)
    mask = np.asarray(Image.open(mask_path.decode()), np.uint8)[..., None]
    return image / 255.0, mask


def numpy_function_dataset(
    root: str | os.PathLike,
    split: str,
    *,
    image_size: int,
    batch_size: int,
    cache: bool = True,
    augment: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """The baseline pipeline: ``(images float32 (B,S,S,3), labels int32 (B,S,S))``.

    ``augment`` adds the book's random scale/crop/flip and colour jitter, run
    on float images one element at a time; ``seed`` makes it repeatable.
    """
    folder = voc.find_voc(root)
    ids = voc.read_split_ids(folder, split)

    def names():
        for image_id in ids:
            yield (
                str(folder / "JPEGImages" / f"{image_id}.jpg"),
                str(folder / "SegmentationClass" / f"{image_id}.png"),
            )

    files = tf.data.Dataset.from_generator(
        names,
        output_signature=(
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.string),
        ),
    )

    def load(image_path, mask_path):
        image, mask = tf.numpy_function(
            _load_pair, [image_path, mask_path], [tf.float32, tf.uint8]
        )
        image.set_shape([None, None, 3])
        mask.set_shape([None, None, 1])
        return image, mask

    def resize(image, mask):
        image = tf.image.resize(image, (image_size, image_size))
        mask = tf.image.resize(mask, (image_size, image_size), method="nearest")
        return image, tf.cast(mask[..., 0], tf.int32)

    def random_crop_or_resize(image, mask):
        # the book's way: full-size float image, a random rescale, then pad and
        # crop to the output size; mask shifted by 1 so padding becomes 255
        factor = tf.random.uniform([], 0.75, 1.5, seed=seed)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = factor * image_size / tf.reduce_min(shape)
        new_shape = tf.cast(tf.math.ceil(shape * scale), tf.int32)
        image = tf.image.resize(image, new_shape)
        mask = tf.image.resize(mask, new_shape, method="nearest")
        height = tf.maximum(new_shape[0], image_size)
        width = tf.maximum(new_shape[1], image_size)
        image = tf.image.pad_to_bounding_box(image, 0, 0, height, width)
        shifted = tf.cast(mask, tf.float32) + 1.0
        shifted = tf.image.pad_to_bounding_box(shifted, 0, 0, height, width)
        both = tf.concat([image, shifted], axis=-1)
        both = tf.image.random_crop(both, [image_size, image_size, 4], seed=seed)
        both = tf.image.random_flip_left_right(both, seed=seed)
        labels = tf.cast(both[..., 3:] - 1.0, tf.int32)
        labels = tf.where(labels < 0, 255, labels)
        return both[..., :3], tf.cast(labels, tf.uint8)

    def jitter(image, mask):
        image = tf.image.random_brightness(image, 0.1, seed=seed)
        image = tf.image.random_contrast(image, 0.8, 1.2, seed=seed)
        image = tf.image.random_hue(image, 0.04, seed=seed)
        return tf.clip_by_value(image, 0.0, 1.0), tf.cast(mask[..., 0], tf.int32)

    pairs = files.map(load)
    if cache:
        pairs = pairs.cache()
    if augment:
        pairs = pairs.map(random_crop_or_resize).map(jitter)
    else:
        pairs = pairs.map(resize)
    return pairs.batch(batch_size).prefetch(1)
