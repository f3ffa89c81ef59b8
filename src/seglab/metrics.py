"""Segmentation metrics accumulated in one confusion matrix (ignore label honoured).

Each metric keeps a ``(C, C)`` int64 confusion matrix (rows: true class,
columns: predicted class) summed over **every** ``update_state`` call until
``reset_state``: the dataset-level definition of DeepLab's ``eval.py`` and of
the PASCAL VOC benchmark. Averaging per-batch scores instead (as the book's
listing does, with +1 smoothing) weights small batches like large ones and
scores an all-wrong batch at about 0.94 mean accuracy.

Conventions, with ``M`` the confusion matrix:

- pixel accuracy ``= trace(M) / sum(M)``;
- accuracy of class c ``= M[c, c] / sum_j M[c, j]``; the mean runs over classes
  **present in the truth** (a class never in the truth has no recall);
- IoU of class c ``= M[c, c] / (sum_j M[c, j] + sum_i M[i, c] - M[c, c])``; the
  mean runs over classes **present in the truth or the prediction**: a class
  absent from both is left out (its IoU is 0/0), a class predicted but absent
  from the truth counts as IoU 0. This equals
  ``keras.metrics.MeanIoU(ignore_class=255)``.

Pixels labelled ``ignore_label`` (255) are never counted. Inputs: integer labels
``(B, H, W)`` or ``(B, H, W, 1)``; predictions are logits or probabilities
``(B, H, W, C)`` (argmax is taken) or a class map shaped like the labels.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from seglab import replicas
from seglab.palette import IGNORE_LABEL


def confusion_matrix(
    labels, predictions, num_classes: int, ignore_label: int = IGNORE_LABEL
):
    """One batch's ``(C, C)`` int64 confusion matrix, ignored pixels left out.

    ``labels`` ``(B, H, W[, 1])`` int; ``predictions`` logits ``(B, H, W, C)``
    or a class map shaped like ``labels``.
    """
    labels = tf.convert_to_tensor(labels)
    predictions = tf.convert_to_tensor(predictions)
    if labels.shape.rank == 4:
        labels = tf.squeeze(labels, axis=-1)
    if predictions.shape.rank == labels.shape.rank + 1:
        predictions = tf.argmax(predictions, axis=-1)
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
    valid = tf.not_equal(labels, ignore_label)
    return tf.math.confusion_matrix(
        tf.boolean_mask(labels, valid),
        tf.boolean_mask(predictions, valid),
        num_classes=num_classes,
        dtype=tf.int64,
    )


def per_class_iou_from_matrix(matrix) -> np.ndarray:
    """Per-class IoU from a confusion matrix; NaN for classes absent from both."""
    matrix = np.asarray(matrix, dtype=np.float64)
    true_positive = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, true_positive / union, np.nan)


def per_class_f1_from_matrix(matrix) -> np.ndarray:
    """Per-class F1 (Dice) from a confusion matrix; NaN for classes absent from both."""
    matrix = np.asarray(matrix, dtype=np.float64)
    true_positive = np.diag(matrix)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 2 * true_positive / denominator, np.nan)


class ConfusionMatrixMetric(keras.metrics.Metric):
    """Base: accumulates a ``(C, C)`` int64 confusion matrix over all updates."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.total_confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="int64",
            name="total_confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch; ``sample_weight`` is not supported (use the ignore label)."""
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} does not take sample_weight; label the "
                f"pixels to skip with {self.ignore_label} instead"
            )
        batch = confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_label)
        self.total_confusion.assign_add(batch)

    def reset_state(self):
        self.total_confusion.assign(tf.zeros_like(self.total_confusion))

    def _matrix(self):
        """The accumulated matrix, float64, over all replicas.

        Keras reads a metric's result inside each replica while it trains and
        logs the replicas' mean; a replica holds only its own counts there, so
        they are summed over the replicas first (in float64: exact to 2^53
        pixels). Outside a replica the variable already reads as the sum.
        """
        matrix = tf.cast(tf.convert_to_tensor(self.total_confusion), tf.float64)
        return replicas.global_sum(matrix)

    @staticmethod
    def _mean_where(values, present):
        """float32 mean of ``values`` over the classes where ``present`` holds."""
        present = tf.cast(present, tf.float64)
        value = tf.math.divide_no_nan(
            tf.reduce_sum(values * present), tf.reduce_sum(present)
        )
        return tf.cast(value, tf.float32)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_label": self.ignore_label,
        }


@keras.saving.register_keras_serializable(package="seglab")
class PixelAccuracy(ConfusionMatrixMetric):
    """Correct pixels / valid pixels over everything seen since the last reset."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str = "pixel_accuracy",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def result(self):
        matrix = self._matrix()
        value = tf.math.divide_no_nan(tf.linalg.trace(matrix), tf.reduce_sum(matrix))
        return tf.cast(value, tf.float32)


@keras.saving.register_keras_serializable(package="seglab")
class MeanAccuracy(ConfusionMatrixMetric):
    """Mean over classes present in the truth of each class's pixel recall."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str = "mean_accuracy",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def result(self):
        matrix = self._matrix()
        true_counts = tf.reduce_sum(matrix, axis=1)
        recall = tf.math.divide_no_nan(tf.linalg.diag_part(matrix), true_counts)
        return self._mean_where(recall, true_counts > 0)


@keras.saving.register_keras_serializable(package="seglab")
class MeanIoU(ConfusionMatrixMetric):
    """Mean intersection over union over classes in the truth or the prediction."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str = "mean_iou",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def _iou_and_present(self):
        matrix = self._matrix()
        true_positive = tf.linalg.diag_part(matrix)
        union = (
            tf.reduce_sum(matrix, axis=0)
            + tf.reduce_sum(matrix, axis=1)
            - true_positive
        )
        return tf.math.divide_no_nan(true_positive, union), union > 0

    def result(self):
        iou, present = self._iou_and_present()
        return self._mean_where(iou, present)

    def per_class_iou(self) -> np.ndarray:
        """``(C,)`` float64 IoU per class; NaN for classes absent from both."""
        return per_class_iou_from_matrix(self.total_confusion.numpy())

    def confusion_matrix(self) -> np.ndarray:
        """The accumulated ``(C, C)`` int64 confusion matrix (rows: truth)."""
        return np.asarray(self.total_confusion.numpy())


@keras.saving.register_keras_serializable(package="seglab")
class MeanF1(ConfusionMatrixMetric):
    """Mean F1 (Dice coefficient) over classes in the truth or the prediction."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str = "mean_f1",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def result(self):
        matrix = self._matrix()
        true_positive = tf.linalg.diag_part(matrix)
        denominator = tf.reduce_sum(matrix, axis=0) + tf.reduce_sum(matrix, axis=1)
        f1 = tf.math.divide_no_nan(2 * true_positive, denominator)
        return self._mean_where(f1, denominator > 0)

    def per_class_f1(self) -> np.ndarray:
        """``(C,)`` float64 F1 per class; NaN for classes absent from both."""
        return per_class_f1_from_matrix(self.total_confusion.numpy())


def segmentation_metrics(num_classes: int, ignore_label: int = IGNORE_LABEL) -> list:
    """The four metrics a segmentation model is compiled with.

    Pixel accuracy, mean accuracy, mean IoU and mean F1: the figures the
    course's source logs during training (loss, accuracy, mIoU, F1).
    """
    return [
        PixelAccuracy(num_classes, ignore_label),
        MeanAccuracy(num_classes, ignore_label),
        MeanIoU(num_classes, ignore_label),
        MeanF1(num_classes, ignore_label),
    ]


def scores_from_matrix(matrix) -> dict:
    """Pixel accuracy, mean accuracy, mean IoU and F1, per class and mean.

    ``matrix`` ``(C, C)`` counts, rows = truth. Same conventions as the metric
    classes; per-class IoU and F1 are NaN for classes absent from truth and
    prediction.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    total = matrix.sum()
    true_counts = matrix.sum(axis=1)
    present = true_counts > 0
    recall = np.divide(
        np.diag(matrix), true_counts, out=np.zeros(len(matrix)), where=present
    )
    per_class = per_class_iou_from_matrix(matrix)
    per_class_f1 = per_class_f1_from_matrix(matrix)
    return {
        "pixel_accuracy": float(np.trace(matrix) / total) if total else 0.0,
        "mean_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "mean_iou": float(np.nanmean(per_class))
        if np.isfinite(per_class).any()
        else 0.0,
        "per_class_iou": per_class,
        "mean_f1": float(np.nanmean(per_class_f1))
        if np.isfinite(per_class_f1).any()
        else 0.0,
        "per_class_f1": per_class_f1,
    }


def evaluate(
    model: keras.Model,
    dataset,
    num_classes: int,
    ignore_label: int = IGNORE_LABEL,
) -> dict:
    """Run ``model`` in inference mode over ``dataset`` and score it.

    ``dataset`` yields ``(images, labels)`` batches. Returns
    :func:`scores_from_matrix`'s dictionary plus ``confusion_matrix`` (int64).
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for images, labels in dataset:
        logits = model(images, training=False)
        matrix += confusion_matrix(labels, logits, num_classes, ignore_label).numpy()
    return {**scores_from_matrix(matrix), "confusion_matrix": matrix}
