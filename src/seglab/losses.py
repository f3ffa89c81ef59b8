"""Segmentation losses from logits that honour the ignore label (255).

Every loss takes integer labels ``(B, H, W)`` or ``(B, H, W, 1)`` and logits
``(B, H, W, C)``; calling it returns one float32 scalar for the batch:

- pixels labelled ``ignore_label`` contribute exactly zero loss and zero gradient
  (they are masked *before* any table lookup, so 255 never indexes a
  ``C``-entry table, which crashes on a CPU);
- averages run over the valid pixels of the whole batch, not per image;
- a batch without any valid pixel gives a finite 0 instead of NaN;
- the maths runs in float32 even when the model computes in ``mixed_float16``;
- ``sample_weight`` acts per pixel for cross-entropy and focal loss (a
  ``(B, H, W)`` weight map, or ``(B,)`` per image): each pixel's loss is
  multiplied by its weight, and the sum is divided by the number of valid
  pixels (or the sum of their class weights), as Keras's own losses do. Dice,
  and cross-entropy + Dice, compare whole class areas, so a pixel's weight has
  no meaning there: they raise ``ValueError`` when given sample weights.

**Several replicas** (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``).
A loss is defined by sums over the *global* batch (valid pixels, class
weights, weighted losses, Dice's class areas). Each replica computes its own
sums, one all-reduce adds them up (:func:`seglab.replicas.global_sum`;
forward only: no collective runs in the backward pass), and every replica
then knows the global batch's loss. What a
replica returns to Keras has two parts (:func:`_replica_result`):

- its *gradient* is that of the replica's own share of the global loss (its
  weighted losses over the global weight sum; for Dice, the first-order term
  of its class areas), so the gradients Keras sums over the replicas are the
  single-device gradient of the global batch;
- its *value* is the global loss divided by the number of replicas, so the
  loss Keras logs (each replica's value, times the number of replicas,
  averaged with its local batch size as weight) is the single-device loss,
  also when the replicas hold different numbers of images (an uneven last
  batch, an empty replica).

Use the factories :func:`cross_entropy`, :func:`dice`, :func:`focal` and
:func:`ce_dice`; the classes they return are registered with Keras, so a saved
``model.keras`` loads back with its loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from seglab import replicas
from seglab.palette import IGNORE_LABEL


def _labels_and_mask(labels, num_classes: int, ignore_label: int):
    """Flatten labels: ``(B, H, W[, 1])`` -> safe int32 labels and a float32 mask.

    Ignored pixels get label 0 (any valid index) and mask 0, so lookups are
    safe and the mask removes their contribution.
    """
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 4:
        labels = tf.squeeze(labels, axis=-1)
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, ignore_label)
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    return safe, tf.cast(valid, tf.float32)


def _pixel_weights(sample_weight, labels):
    """``sample_weight`` as float32 ``(B, H, W)`` (or ``(B, 1, 1)``), or None.

    Accepts ``(B,)`` or ``(B, 1)`` per image and ``(B, H, W)`` or
    ``(B, H, W, 1)`` per pixel.
    """
    if sample_weight is None:
        return None
    weights = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
    rank = weights.shape.rank
    if rank == 1 or (rank == 2 and weights.shape[-1] == 1):
        return tf.reshape(weights, [-1, 1, 1])
    if rank == 4:
        weights = tf.squeeze(weights, axis=-1)
    if weights.shape.rank != 3:
        raise ValueError(
            f"sample_weight of shape {weights.shape} does not fit labels of shape "
            f"{labels.shape}: give one weight per image (B,) or per pixel (B, H, W)"
        )
    return weights


def _replica_result(share, value):
    """The scalar one replica hands Keras for a loss ``value`` of the global batch.

    ``share``: this replica's part of the loss, whose gradients summed over the
    replicas are the gradient of ``value``. The result has ``share``'s
    gradient and the value ``value / replicas``, which is what Keras expects of
    a replica's loss: it sums the replicas' gradients, and logs the value
    times the number of replicas. On one device the result is ``value``.
    """
    return share + tf.stop_gradient(value / replicas.replicas_in_sync() - share)


def batch_class_weights(labels, valid, num_classes: int):
    """Per-class weights ``1 - frequency`` from the global batch's valid pixels.

    ``labels`` int32 ``(B, H, W)`` (ignored pixels already replaced),
    ``valid`` float32 ``(B, H, W)`` -> float32 ``(num_classes,)``. Frequent
    classes (usually background) weigh less; no gradient flows through them.
    Under a distribution strategy the class counts are summed over the
    replicas first, so every replica weighs with the whole batch's table.
    """
    counts = tf.math.unsorted_segment_sum(
        tf.reshape(valid, [-1]), tf.reshape(labels, [-1]), num_classes
    )
    counts = replicas.global_sum(counts)
    total = tf.maximum(tf.reduce_sum(counts), 1.0)
    return tf.stop_gradient(1.0 - counts / total)


class _SegmentationLoss(keras.losses.Loss):
    """Base: masks ignored pixels, sums over the global batch, returns a scalar.

    A subclass defines the loss by two methods: :meth:`local_sums`, a float32
    vector of the sums this replica contributes (pixel sums, class areas), and
    :meth:`share_and_value`, which turns this replica's sums and the global
    ones into the replica's share of the loss and the global loss.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        name: str | None = None,
        **kwargs,
    ):
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with tf.name_scope(self.name):
            logits = tf.cast(y_pred, tf.float32)
            labels, valid = _labels_and_mask(
                y_true, self.num_classes, self.ignore_label
            )
            weights = _pixel_weights(sample_weight, labels)
            local = self.local_sums(labels, valid, logits, weights)
            share, value = self.share_and_value(local, replicas.global_sum(local))
            return _replica_result(share, value)

    def call(self, y_true, y_pred):
        """The batch's loss, float32 scalar (what calling the loss returns)."""
        return self(y_true, y_pred)

    def local_sums(self, labels, valid, logits, weights):  # pragma: no cover
        raise NotImplementedError

    def share_and_value(self, local, total):  # pragma: no cover
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_classes=self.num_classes, ignore_label=self.ignore_label)
        return config


def _refuse_sample_weight(loss: keras.losses.Loss, sample_weight) -> None:
    if sample_weight is not None:
        raise ValueError(
            f"{type(loss).__name__} ({loss.name}) cannot use sample_weight: Dice "
            "compares whole class areas, so a weight per pixel or image has no "
            "meaning. Drop sample_weight (and class_weight in fit), or use "
            "seglab.losses.cross_entropy(..., class_weights=...) or focal loss."
        )


def _weighted_mean_sums(per_pixel, class_weight, weights):
    """``[sum(weights * class_weight * per_pixel), sum(class_weight)]``.

    ``class_weight`` is zero on ignored pixels; ``weights`` (sample weights)
    may be None. The loss is the first sum over the second, over the global
    batch.
    """
    weighted = class_weight if weights is None else class_weight * weights
    return tf.stack([tf.reduce_sum(weighted * per_pixel), tf.reduce_sum(class_weight)])


def _weighted_mean(local, total):
    """Share and value of a weighted mean from :func:`_weighted_mean_sums`."""
    return (
        tf.math.divide_no_nan(local[0], total[1]),
        tf.math.divide_no_nan(total[0], total[1]),
    )


@keras.saving.register_keras_serializable(package="seglab")
class MaskedCrossEntropy(_SegmentationLoss):
    """Softmax cross-entropy over valid pixels, optionally class-weighted.

    With weights ``w`` the loss is ``sum(w[y] * ce) / sum(w[y])`` over valid
    pixels (a weighted mean, as PyTorch's ``CrossEntropyLoss(weight=...)``).
    """

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        class_weights: str | Sequence[float] | None = None,
        name: str = "cross_entropy",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)
        if isinstance(class_weights, str) and class_weights != "batch":
            raise ValueError(
                f"class_weights={class_weights!r}: use None, 'batch' or a sequence "
                f"of {num_classes} numbers"
            )
        if class_weights is not None and not isinstance(class_weights, str):
            class_weights = [float(w) for w in class_weights]
            if len(class_weights) != num_classes:
                raise ValueError(
                    f"class_weights has {len(class_weights)} entries; expected one "
                    f"per class ({num_classes})"
                )
        self.class_weights = class_weights

    def local_sums(self, labels, valid, logits, weights):
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        if self.class_weights is None:
            class_weight = valid
        else:
            if self.class_weights == "batch":
                table = batch_class_weights(labels, valid, self.num_classes)
            else:
                table = tf.constant(self.class_weights, tf.float32)
            class_weight = tf.gather(table, labels) * valid
        return _weighted_mean_sums(per_pixel, class_weight, weights)

    def share_and_value(self, local, total):
        return _weighted_mean(local, total)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="seglab")
class MaskedDice(_SegmentationLoss):
    """Soft Dice loss ``1 - mean_c (2 |P_c Y_c| + s) / (|P_c| + |Y_c| + s)``.

    ``P`` are softmax probabilities and ``Y`` one-hot labels, both zeroed on
    ignored pixels and summed over the whole (global) batch per class ``c``.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        smooth: float = 1.0,
        name: str = "dice",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)
        self.smooth = float(smooth)

    def __call__(self, y_true, y_pred, sample_weight=None):
        _refuse_sample_weight(self, sample_weight)
        return super().__call__(y_true, y_pred)

    def local_sums(self, labels, valid, logits, weights):
        """``[intersection (C,), sizes (C,)]`` of this replica's pixels."""
        mask = valid[..., None]
        probabilities = tf.nn.softmax(logits, axis=-1) * mask
        one_hot = tf.one_hot(labels, self.num_classes, dtype=tf.float32) * mask
        axes = [0, 1, 2]
        intersection = tf.reduce_sum(probabilities * one_hot, axis=axes)
        sizes = tf.reduce_sum(probabilities + one_hot, axis=axes)
        return tf.concat([intersection, sizes], axis=0)

    def share_and_value(self, local, total):
        """Dice of the global class areas; the share is its first-order term.

        With ``I`` and ``S`` the global intersections and sizes, the loss
        ``1 - mean((2 I + s) / (S + s))`` has the derivatives
        ``-2 / (C (S + s))`` by ``I`` and ``(2 I + s) / (C (S + s)^2)`` by
        ``S``; a replica's share is those (constant) derivatives times its
        own ``I`` and ``S``, so the shares' gradients add up to the loss's.
        """
        classes = self.num_classes
        intersection, sizes = total[:classes], total[classes:]
        denominator = sizes + self.smooth
        score = (2.0 * intersection + self.smooth) / denominator
        by_intersection = -2.0 / (classes * denominator)
        by_size = (2.0 * intersection + self.smooth) / (classes * denominator**2)
        share = tf.reduce_sum(by_intersection * local[:classes]) + tf.reduce_sum(
            by_size * local[classes:]
        )
        return share, 1.0 - tf.reduce_mean(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="seglab")
class MaskedFocal(_SegmentationLoss):
    """Focal loss ``-(1 - p_t)^gamma log p_t``, averaged over valid pixels."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        gamma: float = 2.0,
        name: str = "focal",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)
        self.gamma = float(gamma)

    def local_sums(self, labels, valid, logits, weights):
        log_p_true = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        p_true = tf.exp(log_p_true)
        per_pixel = -tf.pow(1.0 - p_true, self.gamma) * log_p_true
        return _weighted_mean_sums(per_pixel, valid, weights)

    def share_and_value(self, local, total):
        return _weighted_mean(local, total)

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="seglab")
class CrossEntropyDice(_SegmentationLoss):
    """Cross-entropy plus Dice, the book's combined loss (both masked)."""

    def __init__(
        self,
        num_classes: int,
        ignore_label: int = IGNORE_LABEL,
        class_weights: str | Sequence[float] | None = None,
        smooth: float = 1.0,
        name: str = "ce_dice",
        **kwargs,
    ):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)
        self.cross_entropy = MaskedCrossEntropy(
            num_classes, ignore_label, class_weights=class_weights
        )
        self.dice = MaskedDice(num_classes, ignore_label, smooth=smooth)

    def __call__(self, y_true, y_pred, sample_weight=None):
        _refuse_sample_weight(self, sample_weight)
        return super().__call__(y_true, y_pred)

    def local_sums(self, labels, valid, logits, weights):
        """Cross-entropy's two sums, then Dice's ``2 C``: one all-reduce."""
        return tf.concat(
            [
                self.cross_entropy.local_sums(labels, valid, logits, weights),
                self.dice.local_sums(labels, valid, logits, weights),
            ],
            axis=0,
        )

    def share_and_value(self, local, total):
        ce_share, ce_value = self.cross_entropy.share_and_value(local[:2], total[:2])
        dice_share, dice_value = self.dice.share_and_value(local[2:], total[2:])
        return ce_share + dice_share, ce_value + dice_value

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_weights": self.cross_entropy.class_weights,
            "smooth": self.dice.smooth,
        }


def cross_entropy(
    num_classes: int,
    ignore_label: int = IGNORE_LABEL,
    class_weights: str | Sequence[float] | None = None,
) -> keras.losses.Loss:
    """Masked softmax cross-entropy from logits.

    ``class_weights``: ``None`` (plain mean over valid pixels), ``"batch"``
    (``1 - frequency`` of each class among the batch's valid pixels) or one
    number per class.
    """
    return MaskedCrossEntropy(num_classes, ignore_label, class_weights=class_weights)


def dice(
    num_classes: int, ignore_label: int = IGNORE_LABEL, smooth: float = 1.0
) -> keras.losses.Loss:
    """Masked soft Dice loss from logits (1 - mean Dice score over classes)."""
    return MaskedDice(num_classes, ignore_label, smooth=smooth)


def focal(
    num_classes: int, gamma: float = 2.0, ignore_label: int = IGNORE_LABEL
) -> keras.losses.Loss:
    """Masked focal loss from logits; ``gamma=0`` gives plain cross-entropy."""
    return MaskedFocal(num_classes, ignore_label, gamma=gamma)


def ce_dice(
    num_classes: int,
    ignore_label: int = IGNORE_LABEL,
    class_weights: str | Sequence[float] | None = None,
    smooth: float = 1.0,
) -> keras.losses.Loss:
    """Masked cross-entropy + Dice from logits."""
    return CrossEntropyDice(
        num_classes, ignore_label, class_weights=class_weights, smooth=smooth
    )


LOSSES = {
    "cross_entropy": cross_entropy,
    "dice": dice,
    "focal": focal,
    "ce_dice": ce_dice,
}
"""Loss factories by name (what the CLI's ``--loss`` accepts)."""


def pixel_loss(ignore_label: int = IGNORE_LABEL) -> keras.losses.Loss:
    """Per-pixel cross-entropy from logits; ``ignore_label`` pixels count 0.

    Per pixel (not a batch scalar), so a ``(B, H, W)`` sample weight weights
    each pixel before the mean.
    """
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ignore_label
    )
