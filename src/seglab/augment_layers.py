"""Paired augmentation as a Keras layer: one random flip for an image and its mask.

An image and its mask must move together: flipping one and not the other
teaches the model wrong labels. Two separate ``RandomFlip`` layers given the
same seed only agree as long as both draw their random numbers in lockstep;
this layer draws *one* decision per example and applies it to both tensors.
It runs on batches inside ``tf.data`` (``dataset.map(PairedRandomFlip())``)
or in a model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

MODES = ("horizontal", "vertical", "horizontal_and_vertical")


@keras.saving.register_keras_serializable(package="seglab")
class PairedRandomFlip(keras.layers.Layer):
    """Flip each (image, mask) pair left-right (and/or up-down) with probability 1/2.

    ``images`` ``(B, H, W, C)`` and ``masks`` ``(B, H, W)`` or ``(B, H, W, 1)``
    -> the same shapes and dtypes. With ``training=False`` both pass unchanged.
    """

    def __init__(self, mode: str = "horizontal", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.seed = seed

    def _flip(self, images, masks, axis: int, seed_offset: int):
        batch = tf.shape(images)[0]
        seed = None if self.seed is None else self.seed + seed_offset
        chosen = tf.random.uniform([batch], seed=seed) < 0.5
        image_flags = tf.reshape(chosen, [-1, 1, 1, 1])
        mask_flags = tf.reshape(chosen, [-1] + [1] * (len(masks.shape) - 1))
        images = tf.where(image_flags, tf.reverse(images, [axis]), images)
        masks = tf.where(mask_flags, tf.reverse(masks, [axis]), masks)
        return images, masks

    def call(self, images, masks, training: bool = True):
        if not training:
            return images, masks
        images = tf.convert_to_tensor(images)
        masks = tf.convert_to_tensor(masks)
        if images.shape.rank != 4 or masks.shape.rank not in (3, 4):
            raise ValueError(
                "PairedRandomFlip expects batches: images (B, H, W, C) and masks "
                f"(B, H, W) or (B, H, W, 1), got {images.shape} and {masks.shape}"
            )
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images, masks = self._flip(images, masks, axis=2, seed_offset=0)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images, masks = self._flip(images, masks, axis=1, seed_offset=1)
        return images, masks

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}
