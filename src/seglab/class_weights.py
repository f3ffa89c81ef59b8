"""Class imbalance in segmentation: per-pixel sample weights from class weights.

Segmentation classes cover very different areas (a thin border band against a
large background), so an unweighted loss mostly learns the big classes. The
fix is a weight per *pixel*: look each pixel's label up in a vector of class
weights with ``tf.gather`` and pass the result to ``fit`` as ``sample_weight``
(the dataset then yields ``(image, mask, weights)`` triples).

Why not ``model.fit(..., class_weight=...)``? Keras 3 accepts it for
segmentation targets but treats the last axis of the target as a one-hot class
axis: for ``(B, H, W)`` integer masks it takes ``argmax`` over the *width*, so
each image row gets the weight of "class" = the column of that row's largest
label. The result has shape ``(B, H)`` and nothing to do with the pixels'
classes; when such a column index exceeds the class count, the lookup fails on
a CPU with an ``indices ... not in [0, n)`` error and silently gives weight 0
on a GPU (``tf.gather``'s documented behaviour there).
:func:`keras_class_weight_lookup` reproduces Keras's own lookup so a lesson
can show this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from seglab.palette import IGNORE_LABEL


def normalise_class_weights(
    class_weights: Sequence[float], pixel_counts: Sequence[int] | None = None
) -> np.ndarray:
    """Scale class weights so the mean weight *per pixel* is 1: ``(C,)`` float32.

    Keras averages a sample-weighted loss over all pixels, ``sum(w * loss) /
    pixels``, so what keeps the loss on its usual scale is a mean weight of 1
    per pixel, not per class. With ``pixel_counts`` (pixels of each class in
    the training data, :func:`class_pixel_counts`) the weights are divided by
    ``sum(frequency * weight)``, and the training data's mean pixel weight is
    exactly 1. Without them they are scaled to a mean of 1 over the classes,
    which only keeps the scale when the classes are equally frequent: with
    (1, 1, 3) and a rare border class the mean pixel weight is well below 1
    and the loss, and its gradients, shrink by that factor.
    Raises ``ValueError`` for negative or all-zero weights or counts.
    """
    weights = np.asarray(class_weights, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(
            f"class_weights must be a non-empty list, one weight per class, "
            f"got {class_weights!r}"
        )
    if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise ValueError(
            f"class_weights must be finite, non-negative and not all zero, "
            f"got {weights.tolist()}"
        )
    if pixel_counts is None:
        return (weights / weights.mean()).astype(np.float32)
    counts = np.asarray(pixel_counts, dtype=np.float64)
    if counts.shape != weights.shape or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(
            f"pixel_counts must hold one non-negative count per class "
            f"({weights.size}), not all zero; got {counts.tolist()}"
        )
    mean_pixel_weight = float((counts / counts.sum()) @ weights)
    if mean_pixel_weight <= 0:
        raise ValueError(
            f"class_weights {weights.tolist()} give every labelled pixel weight 0"
        )
    return (weights / mean_pixel_weight).astype(np.float32)


def mean_pixel_weight(
    class_weights: Sequence[float], pixel_counts: Sequence[int]
) -> float:
    """The mean sample weight of a pixel, for class weights and pixel counts."""
    counts = np.asarray(pixel_counts, dtype=np.float64)
    return float((counts / counts.sum()) @ np.asarray(class_weights, np.float64))


def sample_weights_from_masks(
    masks: tf.Tensor,
    class_weights: Sequence[float],
    ignore_label: int = IGNORE_LABEL,
) -> tf.Tensor:
    """Each pixel's class weight: masks ``(..., H, W)`` int -> same shape float32.

    The weights are used as given (normalise them first with
    :func:`normalise_class_weights`); pixels labelled ``ignore_label`` get
    weight 0. Labels outside ``[0, C)`` raise an error.
    """
    table = tf.constant(as_weight_table(class_weights))
    masks = tf.cast(masks, tf.int32)
    ignored = tf.equal(masks, ignore_label)
    safe = tf.where(ignored, tf.zeros_like(masks), masks)
    tf.debugging.assert_less(
        safe,
        tf.shape(table)[0],
        message=f"a mask holds a label >= the {len(table)} class weights given",
    )
    tf.debugging.assert_non_negative(safe, message="a mask holds a negative label")
    weights = tf.gather(table, safe)
    return tf.where(ignored, tf.zeros_like(weights), weights)


def as_weight_table(class_weights: Sequence[float]) -> np.ndarray:
    """``class_weights`` as float32, after the checks of the normaliser."""
    normalise_class_weights(class_weights)  # raises on bad weights
    return np.asarray(class_weights, dtype=np.float32)


def add_sample_weights(
    class_weights: Sequence[float],
    ignore_label: int = IGNORE_LABEL,
    *,
    pixel_counts: Sequence[int] | None = None,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """A ``Dataset.map`` function: ``(images, masks)`` -> ``(images, masks, weights)``.

    ``weights`` has the masks' shape, float32: each pixel's class weight after
    :func:`normalise_class_weights` (with ``pixel_counts`` of the training
    data, the mean weight per training pixel is 1).
    """
    table = normalise_class_weights(class_weights, pixel_counts)

    def with_weights(images, masks):
        return (
            images,
            masks,
            sample_weights_from_masks(masks, table, ignore_label),
        )

    return with_weights


def class_pixel_counts(
    dataset: tf.data.Dataset,
    num_classes: int,
    ignore_label: int = IGNORE_LABEL,
    max_batches: int | None = None,
) -> np.ndarray:
    """Pixels per class over a dataset of ``(images, masks)``: ``(C,)`` int64."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for step, (_, masks) in enumerate(dataset):
        if max_batches is not None and step >= max_batches:
            break
        labels = np.asarray(masks).ravel()
        labels = labels[labels != ignore_label]
        counts += np.bincount(labels, minlength=num_classes)[:num_classes]
    return counts


def inverse_frequency_weights(pixel_counts: Sequence[int]) -> np.ndarray:
    """Class weights proportional to 1 / frequency: ``(C,)`` float32.

    Scaled so the mean weight per pixel of the counted data is 1 (every seen
    class then carries the same total weight). A class never seen gets the
    largest weight of the others (not infinity).
    """
    counts = np.asarray(pixel_counts, dtype=np.float64)
    if counts.sum() <= 0:
        raise ValueError("pixel_counts are all zero: no labelled pixel was seen")
    frequency = counts / counts.sum()
    weights = np.zeros_like(frequency)
    seen = frequency > 0
    weights[seen] = 1.0 / frequency[seen]
    weights[~seen] = weights[seen].max()
    return normalise_class_weights(weights, counts)


def keras_class_weight_lookup(
    masks: tf.Tensor, class_weight: Mapping[int, float]
) -> tf.Tensor:
    """The sample weights ``model.fit(class_weight=...)`` derives from ``masks``.

    Calls the function Keras 3 maps over a ``tf.data`` input when
    ``class_weight`` is given (a private Keras module: this is for showing
    what it does, not for training). ``(B, H, W)`` masks -> ``(B, H)``
    weights: one per image *row*, looked up at the argmax over the width.
    ``(B, H, W, 1)`` masks (a last axis of length 1 is squeezed) -> ``(B, H,
    W)`` weights: each pixel's class weight.
    """
    from keras.src.trainers.data_adapters.tf_dataset_adapter import (
        make_class_weight_map_fn,
    )

    masks = tf.convert_to_tensor(masks)
    images = tf.zeros(tf.concat([tf.shape(masks), [1]], axis=0))
    _, _, weights = make_class_weight_map_fn(dict(class_weight))(images, masks)
    return weights
