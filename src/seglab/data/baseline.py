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
) -> tf.data.Dataset:
    """The baseline pipeline: ``(images float32 (B,S,S,3), labels int32 (B,S,S))``."""
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

    pairs = files.map(load)
    if cache:
        pairs = pairs.cache()
    return pairs.map(resize).batch(batch_size).prefetch(1)
