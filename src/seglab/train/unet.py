"""Training the Pets U-Net: settings per profile and ``seglab train unet``.

Shares the training loop and its outputs with DeepLabV3 (:func:`seglab.train.fit`:
``model.keras``, ``history.csv``, ``logs/`` for TensorBoard, ``best.keras``) and
writes the same ``metrics.json``, scored by :func:`seglab.metrics.evaluate` on
the held-out test split in inference mode.

The loss is Keras's per-pixel ``SparseCategoricalCrossentropy`` from logits, so
per-pixel sample weights (:mod:`seglab.class_weights`) weight each pixel.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from seglab import class_weights as weighting
from seglab import config, losses, metrics
from seglab.models.unet import DECODER_FILTERS, unet_mobilenetv2
from seglab.palette import PETS_CLASSES

NUM_PETS_CLASSES = len(PETS_CLASSES)
QUICK_DECODER_FILTERS = (256, 128, 64, 32)
"""Decoder widths of the quick profile's U-Net (half the tutorial's)."""
QUICK_CLASS_WEIGHTS = (1.0, 1.0, 2.0)
"""Class weights of the quick recipe's cross-entropy term: pet, background,
border (the thin, rarest class) twice."""


@dataclasses.dataclass(frozen=True)
class UNetSettings:
    """Everything that defines one U-Net training run of a profile."""

    profile: str
    encoder_weights: str | None
    trainable_encoder: bool
    image_size: int
    batch_size: int
    epochs: int
    alpha: float
    learning_rate: float
    augment: bool
    class_weights: tuple[float, ...] | None = None
    num_classes: int = NUM_PETS_CLASSES
    loss: str = "cross_entropy"
    schedule: str = "constant"
    batchnorm_momentum: float = 0.9
    decoder_filters: tuple[int, ...] = DECODER_FILTERS
    squash: bool = True


def unet_settings(profile: str | config.Profile | None = None) -> UNetSettings:
    """The U-Net settings of a profile (``quick``, ``full`` or ``auto``).

    - ``full``: the tutorial's run: 128 x 128, batch 64, 20 epochs, Adam 1e-3,
      MobileNetV2 (width 1.0) with ImageNet weights, frozen encoder, the
      tutorial's decoder (512, 256, 128, 64 filters), cross-entropy.
    - ``quick``: a recipe for a random encoder on a CPU, tuned on the Pets
      sample's validation split (``benchmarks/results/``): the profile's image
      size, batch (4: on a CPU twice the updates of batch 8 in about the same
      time) and epochs; MobileNetV2 of width 1.0 (trained, as every
      random encoder is) with a decoder of half the width (256, 128, 64, 32:
      the decoder holds most of the computation); Adam from 2e-3 with cosine
      decay over the run; cross-entropy + Dice, with the border class
      weighted twice in the cross-entropy (:data:`QUICK_CLASS_WEIGHTS`).
      A run that compares weightings (lessons 5 and 6) sets
      ``class_weights=None`` for its unweighted model.
    """
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    full = profile.name == "full"
    return UNetSettings(
        profile=profile.name,
        encoder_weights=profile.backbone_weights,
        trainable_encoder=False,
        image_size=profile.pets_image_size,
        batch_size=profile.pets_batch_size,
        epochs=profile.unet_epochs,
        alpha=1.0,
        learning_rate=1e-3 if full else 2e-3,
        augment=True,
        schedule="constant" if full else "cosine",
        loss="cross_entropy" if full else "ce_dice",
        class_weights=None if full else QUICK_CLASS_WEIGHTS,
        decoder_filters=DECODER_FILTERS if full else QUICK_DECODER_FILTERS,
    )


def learning_rate(
    settings: UNetSettings, steps_per_epoch: int | None = None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """``settings.learning_rate``, constant or cosine-decayed over the run."""
    if settings.schedule == "constant" or not steps_per_epoch:
        return settings.learning_rate
    if settings.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            settings.learning_rate, settings.epochs * steps_per_epoch, alpha=0.01
        )
    raise ValueError(
        f"schedule {settings.schedule!r} is unknown; use 'constant' or 'cosine'"
    )


def make_loss(settings: UNetSettings) -> keras.losses.Loss:
    """The loss ``settings.loss`` names.

    Per-pixel cross-entropy (so ``(B, H, W)`` sample weights weight pixels)
    or cross-entropy + Dice (:func:`seglab.losses.ce_dice`, one scalar per
    batch; class weights go inside it, as a weighted mean of the pixels'
    cross-entropy).
    """
    if settings.loss == "cross_entropy":
        return losses.pixel_loss()
    if settings.loss == "ce_dice":
        return losses.ce_dice(
            settings.num_classes, class_weights=settings.class_weights
        )
    raise ValueError(
        f"loss {settings.loss!r} is unknown; use 'cross_entropy' or 'ce_dice'"
    )


def build_unet(
    settings: UNetSettings, steps_per_epoch: int | None = None
) -> keras.Model:
    """The U-Net built and compiled as ``settings`` say (call inside a strategy).

    ``steps_per_epoch`` sets the horizon of a cosine schedule.
    """
    model = unet_mobilenetv2(
        settings.num_classes,
        input_shape=(settings.image_size, settings.image_size, 3),
        encoder_weights=settings.encoder_weights,
        trainable_encoder=settings.trainable_encoder,
        alpha=settings.alpha,
        decoder_filters=settings.decoder_filters,
        batchnorm_momentum=settings.batchnorm_momentum,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(settings, steps_per_epoch)),
        loss=make_loss(settings),
        metrics=metrics.segmentation_metrics(settings.num_classes),
    )
    return model


def pets_data(settings: UNetSettings, source: str, seed: int = 42):
    """``(train, val, test)`` datasets: train shuffled (augmented if set).

    ``val`` is held out from trainval (:data:`seglab.data.pets.VAL_FRACTION`
    of each breed): early stopping and the learning-rate schedule watch it,
    never the test split. With ``settings.class_weights`` and the per-pixel
    cross-entropy, training batches carry per-pixel sample weights,
    ``(images, masks, weights (B, H, W) float32)``, normalised so the mean
    weight of a training pixel is 1.
    """
    from seglab.data import pets_dataset

    def split(name: str, **options):
        return pets_dataset(
            source,
            name,
            image_size=settings.image_size,
            batch_size=settings.batch_size,
            squash=settings.squash,
            **options,
        )

    train = split("train", augment=settings.augment, shuffle=True, seed=seed)
    val, test = split("val"), split("test")
    if settings.class_weights is not None and settings.loss == "cross_entropy":
        counts = weighting.class_pixel_counts(split("train"), settings.num_classes)
        train = train.map(
            weighting.add_sample_weights(settings.class_weights, pixel_counts=counts),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return train, val, test


def train(
    settings: UNetSettings,
    source: str,
    out_dir: str | os.PathLike,
    *,
    data_description: str = "",
    resume: bool = False,
    seed: int = 42,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 2,
) -> dict:
    """Train the U-Net on Pets data and write every output to ``out_dir``.

    Trains on the ``train`` split, validates (early stopping, learning-rate
    drops, ``best.keras``) on ``val``, and scores the final model on the
    held-out ``test`` split. Writes ``model.keras``, ``best.keras``,
    ``history.csv``, ``logs/`` and ``metrics.json`` (test-split
    ``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``, ``per_class_iou`` by
    class name, ``epochs``, ``seconds``, ``profile``, ``data``, ``weights``,
    ``settings``), as ``seglab train deeplabv3`` does. Returns that dictionary.
    """
    from seglab import train as training
    from seglab.data import pets

    config.set_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_data, val_data, test_data = pets_data(settings, source, seed)
    steps = int(train_data.cardinality())
    strategy = training.select_strategy()
    with strategy.scope():
        model = build_unet(settings, steps_per_epoch=max(steps, 1))
    start = time.perf_counter()
    history = training.fit(
        model,
        train_data,
        val_data,
        epochs=settings.epochs,
        out_dir=out,
        resume=resume,
        extra_callbacks=extra_callbacks,
        verbose=verbose,
        resize="squash" if settings.squash else "letterbox",
    )
    seconds = time.perf_counter() - start
    return training.write_metrics(
        model,
        test_data,
        out,
        history,
        seconds=seconds,
        settings=settings,
        data=data_description or pets.describe_source(source),
        weights=model.encoder_weights,
        extra={
            "classes": list(PETS_CLASSES),
            "split": "test",
            "validation_split": "val",
            "synthetic_data": pets.is_synthetic_source(source),
        },
    )


def auto_class_weights(settings: UNetSettings, source: str) -> tuple[float, ...]:
    """Inverse-frequency class weights from the training split's pixels."""
    from seglab.data import pets_dataset

    counts = weighting.class_pixel_counts(
        pets_dataset(
            source,
            "train",
            image_size=settings.image_size,
            batch_size=settings.batch_size,
        ),
        settings.num_classes,
    )
    weights = weighting.inverse_frequency_weights(counts)
    return tuple(round(float(w), 4) for w in weights)


def default_pets_source(profile: str | config.Profile | None = None) -> str:
    """Where a profile reads Pets from (:func:`seglab.data.pets.default_source`).

    ``quick``: the shipped sample of real photos. ``full``: the complete
    dataset (tensorflow-datasets or ``<data home>/pets``), or a clear error:
    never synthetic data.
    """
    from seglab.data import pets

    return pets.default_source(profile)
