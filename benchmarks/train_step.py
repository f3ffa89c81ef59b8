"""Print DeepLabV3 training-step times and images/s on this machine (not a test).

For each setting it builds the model with random weights, runs one step to
trace, then times ``--steps`` more steps on random tensors. On a GPU it also
compares float32, mixed precision and XLA (``jit_compile``).

    python benchmarks/train_step.py                  # the quick and full settings
    python benchmarks/train_step.py --only quick --paper-rates --resnet50
    python benchmarks/train_step.py --only full --steps 1 --batch-size 2  # CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from seglab import config, losses
from seglab.bench import train as bench_train
from seglab.models import deeplabv3
from seglab.train.deeplab import deeplab_settings


def time_steps(
    settings,
    *,
    steps: int,
    mixed_precision: bool = False,
    jit_compile: bool = False,
    atrous_rates=None,
    batch_size: int | None = None,
) -> tuple[float, float, float]:
    """Returns (first step seconds, mean later step seconds, images per second)."""
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if mixed_precision else "float32"
    )
    batch = batch_size or settings.batch_size
    size = settings.image_size
    model = deeplabv3(
        settings.num_classes,
        backbone=settings.backbone,
        backbone_weights=None,
        output_stride=settings.output_stride,
        atrous_rates=atrous_rates or settings.atrous_rates,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.007, momentum=0.9),
        loss=losses.LOSSES[settings.loss](settings.num_classes),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    images = rng.random((batch, size, size, 3), dtype=np.float32)
    labels = rng.integers(0, settings.num_classes, (batch, size, size)).astype(np.int32)
    timing = bench_train.time_training_steps(model, images, labels, steps)
    keras.mixed_precision.set_global_policy("float32")
    return timing["first_step_s"], timing["step_s"], timing["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("quick", "full"), default=None)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="override the profile's batch size (e.g. 2 on a CPU)",
    )
    parser.add_argument(
        "--paper-rates",
        action="store_true",
        help="also time the quick setting with rates 6, 12, 18",
    )
    parser.add_argument(
        "--resnet50",
        action="store_true",
        help="also time the quick setting with ResNet-50",
    )
    args = parser.parse_args()
    on_gpu = bool(config.gpus())
    device = "GPU" if on_gpu else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    names = [args.only] if args.only else ["quick", "full"]
    for name in names:
        settings = deeplab_settings(name)
        variants = [("float32", False, False, None, settings)]
        if name == "quick" and args.paper_rates:
            variants.append(
                ("float32, rates 6/12/18", False, False, (6, 12, 18), settings)
            )
        if name == "quick" and args.resnet50:
            variants.append(
                (
                    "float32",
                    False,
                    False,
                    None,
                    dataclasses.replace(settings, backbone="resnet50"),
                )
            )
        if on_gpu:
            variants += [
                ("mixed_float16", True, False, None, settings),
                ("mixed_float16 + XLA", True, True, None, settings),
            ]
        for label, mixed, xla, rates, variant in variants:
            first, mean, rate = time_steps(
                variant,
                steps=args.steps,
                mixed_precision=mixed,
                jit_compile=xla,
                atrous_rates=rates,
                batch_size=args.batch_size,
            )
            batch = args.batch_size or settings.batch_size
            print(
                f"{name:5s} {variant.backbone:11s} {settings.image_size}px "
                f"batch {batch:2d} rates {rates or settings.atrous_rates} "
                f"[{label}]: first step {first:5.1f} s, then {mean:6.3f} s/step, "
                f"{rate:6.1f} images/s"
            )


if __name__ == "__main__":
    main()
