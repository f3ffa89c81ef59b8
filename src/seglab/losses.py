"""Segmentation losses from logits that honour the ignore label (255).

Every loss takes integer labels ``(B, H, W)`` or ``(B, H, W, 1)`` and logits
``(B, H, W, C)``; calling it returns one float32 scalar for the batch:

- pixels labelled ``ignore_label`` contribute exactly zero loss and zero gradient
  (they are masked *before* any table lookup, so 255 never indexes a
  ``C``-entry table, which crashes on a CPU);
- averages run over the valid pixels of the whole batch, not per image;
- a batch without any valid pixel gives a finite 0 instead of NaN;
- the maths runs in float32 even when the model computes in ``mixed_float16``;
- ``call`` returns a ``(B, H, W)`` tensor, one value per pixel, and Keras
  reduces it. That is what makes the loss right under ``MirroredStrategy``:
  Keras divides a non-scalar loss by the number of replicas before the
  replicas' gradients are summed (a scalar it leaves alone, so the step and the
  logged loss would be N times too large on N devices). The per-pixel values
  are scaled by ``pixels / valid pixels`` so that Keras's mean over all pixels
  is the mean over the valid ones.
- ``sample_weight`` acts per pixel for cross-entropy and focal loss (a
  ``(B, H, W)`` weight map, or ``(B,)`` per image). Dice, and cross-entropy +
  Dice, compare whole class areas, so a pixel's weight has no meaning there:
  they raise ``ValueError`` when given sample weights.

Under a distribution strategy the sums that define a loss (valid pixels, class
weights, Dice's class areas) are all-reduced over the replicas, so the loss
and its gradient equal the single-device ones for the same global batch.

Use the factories :func:`cross_entropy`, :func:`dice`, :func:`focal` and
:func:`ce_dice`; the classes they return are registered with Keras, so a saved
``model.keras`` loads back with its loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

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


def batch_class_weights(labels, valid, num_classes: int):
    """Per-class weights ``1 - frequency`` from one batch's valid pixels.

    ``labels`` int32 ``(B, H, W)`` (ignored pixels already replaced),
    ``valid`` float32 ``(B, H, W)`` -> float32 ``(num_classes,)``. Frequent
    classes (usually background) weigh less; no gradient flows through them.
    """
    counts = tf.math.unsorted_segment_sum(
        tf.reshape(valid, [-1]), tf.reshape(labels, [-1]), num_classes
    )
    total = tf.maximum(tf.reduce_sum(counts), 1.0)
    return tf.stop_gradient(1.0 - counts / total)


def _sum_over_replicas(*values):
    """Sum tensors over the replicas of a distribution strategy (a no-op on one).

    Differentiable: inside ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``
    this is an all-reduce, whose gradient is the all-reduce of the gradients.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return tuple(context.all_reduce(tf.distribute.ReduceOp.SUM, list(values)))


def _spread(weights, per_pixel):
    """``weights * per_pixel``, rescaled so its plain mean is the weighted mean.

    ``weights`` (zero on ignored pixels) and ``per_pixel`` are float32
    ``(B, H, W)``; returns ``(B, H, W)`` whose plain mean equals
    ``sum(weights * per_pixel) / sum(weights)`` (0 when no weight is left).
    Under a distribution strategy the sums run over the whole global batch, so
    Keras's per-replica mean divided by the number of replicas adds up to the
    single-device loss even when replicas hold different numbers of valid pixels.
    """
    (total,) = _sum_over_replicas(tf.reduce_sum(weights))
    # Keras divides by the local pixels and by the number of replicas (the same
    # count it reads here); undo both, then divide by the global weight sum.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    local_pixels = tf.cast(tf.size(weights), tf.float32)
    scale = tf.math.divide_no_nan(local_pixels * replicas, total)
    return weights * per_pixel * tf.stop_gradient(scale)


class _SegmentationLoss(keras.losses.Loss):
    """Base: masks ignored pixels; ``call`` returns per-pixel losses."""

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
        if sample_weight is not None:
            # (B,) or (B, 1) per image, (B, H, W) or (B, H, W, 1) per pixel
            sample_weight = tf.convert_to_tensor(sample_weight, tf.float32)
            if sample_weight.shape.rank in (1, 2) and (
                sample_weight.shape.rank == 1 or sample_weight.shape[-1] == 1
            ):
                sample_weight = tf.reshape(sample_weight, [-1, 1, 1])
            elif sample_weight.shape.rank == 4:
                sample_weight = tf.squeeze(sample_weight, axis=-1)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        """Per-pixel losses ``(B, H, W)`` float32 whose mean is the batch loss."""
        logits = tf.cast(y_pred, tf.float32)
        labels, valid = _labels_and_mask(y_true, self.num_classes, self.ignore_label)
        return self.per_pixel_loss(labels, valid, logits)

    def masked_loss(self, labels, valid, logits):
        """The batch's scalar loss (the mean of :meth:`per_pixel_loss`)."""
        return tf.reduce_mean(self.per_pixel_loss(labels, valid, logits))

    def per_pixel_loss(self, labels, valid, logits):  # pragma: no cover - abstract
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

    def per_pixel_loss(self, labels, valid, logits):
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        if self.class_weights is None:
            weights = valid
        else:
            if self.class_weights == "batch":
                table = batch_class_weights(labels, valid, self.num_classes)
            else:
                table = tf.constant(self.class_weights, tf.float32)
            weights = tf.gather(table, labels) * valid
        return _spread(weights, per_pixel)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="seglab")
class MaskedDice(_SegmentationLoss):
    """Soft Dice loss ``1 - mean_c (2 |P_c Y_c| + s) / (|P_c| + |Y_c| + s)``.

    ``P`` are softmax probabilities and ``Y`` one-hot labels, both zeroed on
    ignored pixels and summed over the whole batch per class ``c``.
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

    def per_pixel_loss(self, labels, valid, logits):
        """The batch's Dice loss, the same value at every pixel."""
        return tf.fill(tf.shape(labels), self.dice_loss(labels, valid, logits))

    def dice_loss(self, labels, valid, logits):
        """Scalar soft Dice loss over the whole batch."""
        mask = valid[..., None]
        probabilities = tf.nn.softmax(logits, axis=-1) * mask
        one_hot = tf.one_hot(labels, self.num_classes, dtype=tf.float32) * mask
        axes = [0, 1, 2]
        intersection = tf.reduce_sum(probabilities * one_hot, axis=axes)
        sizes = tf.reduce_sum(probabilities, axis=axes) + tf.reduce_sum(
            one_hot, axis=axes
        )
        # over the global batch: every replica scores the same whole-batch Dice
        intersection, sizes = _sum_over_replicas(intersection, sizes)
        score = (2.0 * intersection + self.smooth) / (sizes + self.smooth)
        return 1.0 - tf.reduce_mean(score)

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

    def per_pixel_loss(self, labels, valid, logits):
        log_p_true = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        p_true = tf.exp(log_p_true)
        return _spread(valid, -tf.pow(1.0 - p_true, self.gamma) * log_p_true)

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

    def per_pixel_loss(self, labels, valid, logits):
        return self.cross_entropy.per_pixel_loss(
            labels, valid, logits
        ) + self.dice.dice_loss(labels, valid, logits)

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
