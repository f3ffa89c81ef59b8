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
from seglab import config, metrics
from seglab.models.unet import unet_mobilenetv2
from seglab.palette import IGNORE_LABEL, PETS_CLASSES

NUM_PETS_CLASSES = len(PETS_CLASSES)


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


def unet_settings(profile: str | config.Profile | None = None) -> UNetSettings:
    """The U-Net settings of a profile (``quick``, ``full`` or ``auto``).

    - ``full``: the tutorial's run: 128 x 128, batch 64, 20 epochs, Adam 1e-3,
      MobileNetV2 (width 1.0) with ImageNet weights, frozen encoder.
    - ``quick``: the profile's image size, batch and epochs with a random
      encoder of width 0.35 (trained, as every random encoder is).
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
        alpha=1.0 if full else 0.35,
        learning_rate=1e-3,
        augment=True,
    )


def pixel_loss(ignore_label: int = IGNORE_LABEL) -> keras.losses.Loss:
    """Per-pixel cross-entropy from logits; ``ignore_label`` pixels count 0.

    Per pixel (not a batch scalar), so a ``(B, H, W)`` sample weight weights
    each pixel before the mean.
    """
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ignore_label
    )


def build_unet(settings: UNetSettings) -> keras.Model:
    """The U-Net built and compiled as ``settings`` say (call inside a strategy)."""
    model = unet_mobilenetv2(
        settings.num_classes,
        input_shape=(settings.image_size, settings.image_size, 3),
        encoder_weights=settings.encoder_weights,
        trainable_encoder=settings.trainable_encoder,
        alpha=settings.alpha,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=pixel_loss(),
        metrics=metrics.segmentation_metrics(settings.num_classes),
    )
    return model


def pets_source(data: str) -> str:
    """``--data`` -> a :func:`seglab.data.pets_dataset` source.

    ``synthetic`` and ``tfds`` pass through; ``pets:DIR`` and a plain existing
    folder give the folder.
    """
    if data in ("synthetic", "tfds"):
        return data
    folder = data[len("pets:") :] if data.startswith("pets:") else data
    if not folder or not Path(folder).expanduser().is_dir():
        raise ValueError(
            f"--data {data!r}: use synthetic, tfds or pets:DIR where DIR is a raw "
            "Oxford-IIIT Pet folder (images/ and annotations/trimaps/)"
        )
    return str(Path(folder).expanduser())


def pets_data(settings: UNetSettings, source: str, seed: int = 42):
    """``(train, test)`` datasets: train shuffled (augmented if set), test plain.

    With ``settings.class_weights`` the training batches carry per-pixel
    sample weights: ``(images, masks, weights (B, H, W) float32)``.
    """
    from seglab.data import pets_dataset

    train = pets_dataset(
        source,
        "train",
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        augment=settings.augment,
        shuffle=True,
        seed=seed,
    )
    test = pets_dataset(
        source,
        "test",
        image_size=settings.image_size,
        batch_size=settings.batch_size,
    )
    if settings.class_weights is not None:
        train = train.map(
            weighting.add_sample_weights(settings.class_weights),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return train, test


def train_unet(
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

    Writes ``model.keras``, ``best.keras``, ``history.csv``, ``logs/`` and
    ``metrics.json`` (test-split ``pixel_accuracy``, ``mean_accuracy``,
    ``mean_iou``, ``per_class_iou``, ``epochs``, ``seconds``, ``profile``,
    ``data``, ``weights``, ``settings``), as ``seglab train deeplabv3`` does.
    Returns that metrics dictionary.
    """
    from seglab import train

    config.set_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_data, test_data = pets_data(settings, source, seed)
    strategy = train.select_strategy()
    with strategy.scope():
        model = build_unet(settings)
    start = time.perf_counter()
    history = train.fit(
        model,
        train_data,
        test_data,
        epochs=settings.epochs,
        out_dir=out,
        resume=resume,
        extra_callbacks=extra_callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    return train.write_metrics(
        model, test_data, out, history, seconds=seconds, settings=settings,
        data=data_description or str(source), weights=model.encoder_weights,
        extra={"classes": list(PETS_CLASSES), "split": "test"},
    )


def parse_class_weights(text: str | None) -> tuple[float, ...] | str | None:
    """``--class-weights``: ``"2,2,1"`` -> floats; ``"auto"``; ``None``/``"none"``."""
    if text is None or text.lower() == "none":
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as error:
        raise ValueError(
            f"--class-weights {text!r}: give one number per class "
            f"({', '.join(PETS_CLASSES)}), e.g. 1,1,3, or 'auto'"
        ) from error
    if len(values) != NUM_PETS_CLASSES:
        raise ValueError(
            f"--class-weights {text!r} has {len(values)} values; expected "
            f"{NUM_PETS_CLASSES} ({', '.join(PETS_CLASSES)})"
        )
    weighting.normalise_class_weights(values)  # rejects negatives and zeros
    return values


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


def default_pets_source() -> str:
    """Where lessons read Pets from: a prepared tensorflow-datasets copy, else a
    downloaded raw folder under the data home, else the built-in data."""
    from seglab.data import pets

    tfds_home = Path(
        os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets")
    )
    if any((tfds_home / pets.TFDS_NAME).glob("*/dataset_info.json")):
        return "tfds"
    return pets.default_source()
