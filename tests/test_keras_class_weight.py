"""Assignment 05, question 4 keys what Keras 3 really does with class_weight and masks.

The keyed answer (C) says: Keras does not reject ``(batch, height, width)``
masks (answer A, tf.keras 2's behaviour, is wrong), does not weight pixels by
their class (answer B is wrong), but reads the last axis, the width, as
one-hot classes, so every row gets the weight of the column of its largest
label; training then fails (an index that is not a class, shapes that do not
broadcast) or runs with those wrong weights. Each test runs ``model.fit`` the
way lesson 05 does (a ``tf.data`` dataset), so a Keras upgrade that changes
any of this fails here, and the question must be rewritten.
"""

from __future__ import annotations

from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

SOURCE = (
    Path(__file__).resolve().parents[1]
    / "autograder"
    / "source"
    / "05_unet_pets"
    / "05_unet_pets.ipynb"
)
CLASS_WEIGHT = {0: 1.0, 1: 10.0, 2: 100.0}
TABLE = np.array([1.0, 10.0, 100.0])


def _cell(grade_id: str):
    nb = nbformat.read(str(SOURCE), as_version=4)
    return next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _fit_loss(masks: np.ndarray) -> float:
    """Loss of one fit step at zero logits (learning rate 0): ln(3) per pixel.

    ``masks``: ``(B, H, W)`` or ``(B, H, W, 1)``.
    """
    height, width = masks.shape[1:3]
    inputs = keras.Input((height, width, 3))
    logits = keras.layers.Conv2D(3, 1, kernel_initializer="zeros")(inputs)
    model = keras.Model(inputs, logits)
    model.compile(
        keras.optimizers.SGD(0.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images = np.zeros((*masks.shape[:3], 3), np.float32)
    data = tf.data.Dataset.from_tensor_slices((images, masks)).batch(len(masks))
    return model.fit(data, class_weight=CLASS_WEIGHT, verbose=0).history["loss"][0]


def test_question_4_keys_the_row_lookup_answer():
    namespace: dict = {}
    exec(_cell("class_weight_question").source, namespace)  # the instructor's key
    assert namespace["class_weight_answer"] == "C"
    test = _cell("test_class_weight_question").source
    assert 'assert answer == "C"' in test


def test_fit_accepts_masks_and_weights_each_row_by_its_argmax_column():
    masks = np.array(
        [
            [
                [0, 2, 1],  # largest label in column 1 -> weight 10
                [1, 1, 0],  # column 0 -> weight 1
                [2, 0, 0],
            ]
        ],  # column 0 -> weight 1
        np.int32,
    )
    loss = _fit_loss(masks)  # no error: Keras 3 does not reject the masks (not A)
    row_weights = TABLE[np.argmax(masks, axis=-1)]
    assert loss == pytest.approx(np.log(3) * row_weights.mean(), rel=1e-4)  # C
    per_pixel = np.log(3) * TABLE[masks].mean()
    assert loss != pytest.approx(per_pixel, rel=1e-2)  # not B


def test_fit_fails_when_an_argmax_column_is_not_a_class():
    masks = np.ones((1, 8, 8), np.int32)  # square, so the shapes broadcast
    masks[0, 0, 5] = 2  # row 0's largest label sits in column 5: no class 5
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not in \[0, 3\)"):
        _fit_loss(masks)


def test_fit_fails_on_a_batch_whose_row_weights_do_not_broadcast():
    masks = np.ones((2, 4, 3), np.int32)  # (2, 4) weights against (2, 4, 3) losses
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        _fit_loss(masks)


def test_masks_with_a_channel_axis_get_each_pixels_class_weight():
    """The tutorial's ``(B, H, W, 1)`` layout: Keras squeezes the axis of length
    1 and weights every pixel by its own class (what lesson 05 teaches)."""
    from seglab import class_weights

    rng = np.random.default_rng(3)
    masks = rng.integers(0, 3, (2, 4, 6)).astype(np.int32)
    weights = class_weights.keras_class_weight_lookup(masks[..., None], CLASS_WEIGHT)
    np.testing.assert_array_equal(weights.numpy(), TABLE[masks])
    loss = _fit_loss(masks[..., None])
    assert loss == pytest.approx(np.log(3) * TABLE[masks].mean(), rel=1e-5)
