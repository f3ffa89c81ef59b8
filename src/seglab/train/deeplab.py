"""DeepLabV3's run: :func:`deeplab_settings` holds the exact settings of each
profile (model, input size, batch, optimiser, loss), so a lesson, the CLI and the
benchmark all train the same thing; :func:`train` is the whole run behind
``seglab train deeplabv3`` and writes ``model.keras``, ``history.csv``, ``logs/``
(TensorBoard) and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from seglab import config, losses, metrics
from seglab import train as training
from seglab.models.deeplab import atrous_rates_for, deeplabv3
from seglab.palette import NUM_VOC_CLASSES


@dataclasses.dataclass(frozen=True)
class DeepLabSettings:
    """Everything that defines one DeepLabV3 training run of a profile."""

    profile: str
    backbone: str
    backbone_weights: str | None
    image_size: int
    batch_size: int
    epochs: int
    output_stride: int
    atrous_rates: tuple[int, ...]
    optimizer: str
    learning_rate: float
    weight_decay: float
    loss: str
    augment: bool
    batchnorm_momentum: float | None = None
    learning_rate_decay: str = "poly"
    num_classes: int = NUM_VOC_CLASSES

    @property
    def resize(self) -> str:
        """How training fits its images to ``image_size`` (``model_info.json``).

        ``"letterbox"`` with augmentation (random rescales that keep the
        aspect ratio, then crops), ``"squash"`` without: the pipeline then
        resizes every image to the square (``augment.resize_pair``).
        """
        return "letterbox" if self.augment else "squash"


def deeplab_settings(profile: str | config.Profile | None = None) -> DeepLabSettings:
    """The DeepLabV3 settings of a profile (``quick``, ``full`` or ``auto``).

    - ``full``: the paper's model and the book's run: ResNet-50 with ImageNet
      weights, output stride 16, rates (6, 12, 18), 384 x 384, batch 8, 25
      epochs, SGD 0.007 with poly decay, cross-entropy + Dice, and the source
      course's weight decay 2e-4 as written there: an L2 term on the conv
      kernels added to the loss (:func:`add_kernel_l2`), not Keras's
      decoupled ``weight_decay``.
    - ``quick``: CPU-sized: the profile's image size and batch, a light
      MobileNetV2 backbone with random weights, ASPP rates fitted to its
      8 x 8 feature map (see :func:`seglab.models.atrous_rates_for`), Adam
      2e-3 with poly decay, cross-entropy + Dice, augmentation, the profile's
      epochs (17): about 6 minutes on 2 CPU cores
      (``benchmarks/results/deeplab-quick-20261130.md``).
    """
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    if profile.name == "full":
        return DeepLabSettings(
            profile="full",
            backbone="resnet50",
            backbone_weights=profile.backbone_weights,
            image_size=profile.voc_image_size,
            batch_size=profile.voc_batch_size,
            epochs=profile.deeplab_epochs,
            output_stride=16,
            atrous_rates=(6, 12, 18),
            optimizer="sgd",
            learning_rate=0.007,
            weight_decay=2e-4,
            loss="ce_dice",
            augment=True,
        )
    return DeepLabSettings(
        profile=profile.name,
        backbone="mobilenetv2",
        backbone_weights=profile.backbone_weights,
        image_size=profile.voc_image_size,
        batch_size=profile.voc_batch_size,
        epochs=profile.deeplab_epochs,
        output_stride=16,
        atrous_rates=atrous_rates_for(profile.voc_image_size, 16),
        optimizer="adam",
        learning_rate=2e-3,
        weight_decay=0.0,
        loss="ce_dice",
        augment=True,
        batchnorm_momentum=0.9,
    )


def build_deeplab(
    settings: DeepLabSettings,
    *,
    jit_compile: bool = False,
    steps_per_epoch: int | None = None,
) -> keras.Model:
    """DeepLabV3 built and compiled as ``settings`` say (call inside a strategy).

    ``steps_per_epoch`` sets the poly-decay horizon (``epochs *
    steps_per_epoch``) when ``settings.learning_rate_decay`` is ``"poly"``.
    """
    if settings.learning_rate_decay not in ("poly", "none"):
        raise ValueError(
            f"learning_rate_decay {settings.learning_rate_decay!r} is unknown; "
            "choose 'poly' or 'none'"
        )
    model = deeplabv3(
        settings.num_classes,
        backbone=settings.backbone,
        backbone_weights=settings.backbone_weights,
        output_stride=settings.output_stride,
        atrous_rates=settings.atrous_rates,
        batchnorm_momentum=settings.batchnorm_momentum,
    )
    decay_steps = None
    if settings.learning_rate_decay == "poly" and steps_per_epoch:
        decay_steps = settings.epochs * steps_per_epoch
    # the source recipe's weight decay: an L2 term in the loss, not decoupled
    training.add_kernel_l2(model, settings.weight_decay)
    model.compile(
        optimizer=training.make_optimizer(
            settings.optimizer, settings.learning_rate, decay_steps=decay_steps
        ),
        loss=losses.LOSSES[settings.loss](settings.num_classes),
        metrics=metrics.segmentation_metrics(settings.num_classes),
        jit_compile=jit_compile,
    )
    return model


def train(
    settings: DeepLabSettings,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    data_description: str = "",
    resume: bool = False,
    devices: Sequence[str] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    seed: int = 42,
    jit_compile: bool = False,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = 2,
) -> dict:
    """Train DeepLabV3 on a VOC-format folder and write every output to ``out_dir``.

    Writes ``model.keras``, ``history.csv``, ``logs/`` and ``metrics.json`` (final
    validation ``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``,
    ``per_class_iou`` by class name (``null`` for classes absent from both
    truth and prediction), ``epochs`` (in total, resumed ones included), ``seconds``
    (training time of this call), ``profile``, ``data`` and ``weights``: those
    actually loaded, ``"random"`` after an offline ImageNet fallback).
    Returns that metrics dictionary. ``strategy``: one made earlier (a
    ``MultiWorkerMirroredStrategy`` must exist before TensorFlow starts),
    else :func:`select_strategy` picks one.
    """
    from seglab.data import voc_dataset

    config.set_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_data = voc_dataset(
        data_root,
        "train",
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        augment=settings.augment,
        shuffle=True,
        seed=seed,
        progress=False,
    )
    val_data = voc_dataset(
        data_root,
        "val",
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        progress=False,
    )
    steps = int(train_data.cardinality())
    strategy = strategy or training.select_strategy(devices)
    with strategy.scope():
        model = build_deeplab(
            settings, jit_compile=jit_compile, steps_per_epoch=max(steps, 1)
        )
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
        resize=settings.resize,
    )
    seconds = time.perf_counter() - start
    return training.write_metrics(
        model,
        val_data,
        out,
        history,
        seconds=seconds,
        settings=settings,
        data=data_description or str(data_root),
        weights=model.backbone_weights,
    )
