"""The ``train`` case: DeepLabV3 and U-Net training steps per profile."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from seglab.bench.levels import Level

TRAIN_IMAGES = {"deeplabv3": 1464, "unet": 3680}
"""Training images per epoch on the real data: VOC 2012 train, Pets trainval."""


def _precision_variants(on_gpu: bool) -> list[tuple[str, str, bool]]:
    """(label, dtype policy, XLA) to time: float32 only on a CPU."""
    variants = [("float32", "float32", False)]
    if on_gpu:
        variants += [
            ("mixed_float16", "mixed_float16", False),
            ("mixed_float16 + XLA", "mixed_float16", True),
        ]
    return variants


def time_training_steps(model, images, labels, steps: int) -> dict:
    """First ``train_on_batch`` (tracing) apart, then the mean of ``steps`` more."""
    start = time.perf_counter()
    model.train_on_batch(images, labels)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    step = (time.perf_counter() - start) / steps
    return {
        "first_step_s": first,
        "step_s": step,
        "images_per_s": len(images) / step,
    }


def training_layout(batch_size: int, gpu_count: int) -> dict:
    """How ``seglab train`` would spread ``batch_size`` over this machine's GPUs.

    Training uses ``MirroredStrategy`` over all GPUs when there are two or
    more; the batch size is the global batch, split evenly over the replicas.
    """
    replicas = max(1, gpu_count)
    if batch_size % replicas:
        raise ValueError(
            f"batch size {batch_size} does not split over {replicas} GPUs; "
            f"choose a multiple of {replicas}"
        )
    return {
        "replicas": replicas,
        "global_batch": batch_size,
        "batch_per_replica": batch_size // replicas,
    }


def training_layout_or_none(batch_size: int, gpu_count: int) -> dict | None:
    """:func:`training_layout`, or ``None`` when the batch does not split."""
    try:
        return training_layout(batch_size, gpu_count)
    except ValueError:
        return None


def bench_train(level: Level) -> dict:
    """Training-step times of DeepLabV3 and U-Net per profile setting."""
    import keras

    from seglab import config
    from seglab.train.deeplab import build_deeplab, deeplab_settings
    from seglab.train.unet import build_unet, unet_settings

    on_gpu = bool(config.gpus())
    rng = np.random.default_rng(0)
    rows = []
    for profile in level.train_profiles:
        for model_name in ("deeplabv3", "unet"):
            if model_name == "deeplabv3":
                settings = deeplab_settings(profile)
                settings = dataclasses.replace(settings, backbone_weights=None)
                detail = f"{settings.backbone}, output stride {settings.output_stride}"
            else:
                settings = unet_settings(profile)
                settings = dataclasses.replace(settings, encoder_weights=None)
                detail = f"MobileNetV2 x{settings.alpha}"
            size = level.train_size_override or settings.image_size
            batch = level.train_batch_override or settings.batch_size
            batches = [batch]
            if on_gpu and profile == "full" and model_name == "deeplabv3":
                batches.append(2 * batch)  # the GPU question: batch 8 and 16
            # eager execution skips tracing: what a short CPU run may prefer
            modes = level.train_modes if profile == "quick" else ("graph",)
            variants = [
                (batch_size, mode, *variant)
                for batch_size in batches
                for mode in modes
                for variant in _precision_variants(on_gpu and mode == "graph")
            ]
            for batch_size, mode, label, policy, xla in variants:
                settings = dataclasses.replace(
                    settings, image_size=size, batch_size=batch_size
                )
                images = rng.random((batch_size, size, size, 3), dtype=np.float32)
                labels = rng.integers(0, settings.num_classes, images.shape[:3])
                labels = labels.astype(np.int32)
                keras.backend.clear_session()
                keras.mixed_precision.set_global_policy(policy)
                try:
                    if model_name == "deeplabv3":
                        model = build_deeplab(settings, jit_compile=xla)
                    else:
                        model = build_unet(settings)
                        model.jit_compile = xla
                    model.run_eagerly = mode == "eager"
                    timing = time_training_steps(
                        model, images, labels, level.train_steps
                    )
                finally:
                    keras.mixed_precision.set_global_policy("float32")
                train_images = TRAIN_IMAGES[model_name]
                rows.append(
                    {
                        "name": f"{model_name} [{profile}] {label}, {mode}",
                        "model": model_name,
                        "profile": profile,
                        "detail": detail,
                        "image_size": size,
                        "batch_size": batch_size,
                        "precision": label,
                        "mixed_precision": policy == "mixed_float16",
                        "xla": xla,
                        # the step above runs on one device; training would
                        # split the batch like this over this machine's GPUs
                        "training": training_layout_or_none(
                            batch_size, len(config.gpus())
                        ),
                        "execution": mode,
                        **timing,
                        "real_epoch_images": train_images,
                        "real_epoch_s": train_images / timing["images_per_s"],
                    }
                )
    return {
        "settings": {"steps": level.train_steps, "random_weights": True},
        "results": rows,
    }
