"""How much each benchmark case measures, and the timers they share."""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from collections.abc import Iterable

VOC_SIDES = (375, 500)
"""Side lengths of the generated VOC-sized images (PASCAL VOC: about 500 x 375)."""


@dataclasses.dataclass(frozen=True)
class Level:
    """How much each case measures: ``tiny`` (tests), ``quick`` (CI), ``full``."""

    name: str
    pipeline_images: int
    pipeline_image_size: int
    pipeline_batch_size: int
    pipeline_warm_epochs: int
    pipeline_repeats: int
    label_images: int
    label_loop_images: int
    train_profiles: tuple[str, ...]
    train_steps: int
    train_size_override: int | None
    train_batch_override: int | None
    train_modes: tuple[str, ...]
    predict_sizes: tuple[int, ...]
    predict_backbone: str
    predict_repeats: int


LEVELS = {
    "tiny": Level(
        name="tiny",
        pipeline_images=8,
        pipeline_image_size=96,
        pipeline_batch_size=4,
        pipeline_warm_epochs=1,
        pipeline_repeats=1,
        label_images=2,
        label_loop_images=1,
        train_profiles=("quick",),
        train_steps=1,
        train_size_override=64,
        train_batch_override=2,
        train_modes=("eager",),
        predict_sizes=(64,),
        predict_backbone="mobilenetv2",
        predict_repeats=3,
    ),
    "quick": Level(
        name="quick",
        pipeline_images=32,
        pipeline_image_size=384,
        pipeline_batch_size=8,
        pipeline_warm_epochs=2,
        pipeline_repeats=1,
        label_images=8,
        label_loop_images=1,
        train_profiles=("quick",),
        train_steps=2,
        train_size_override=None,
        train_batch_override=None,
        train_modes=("graph", "eager"),
        predict_sizes=(128, 384),
        predict_backbone="mobilenetv2",
        predict_repeats=3,
    ),
    "full": Level(
        name="full",
        pipeline_images=160,
        pipeline_image_size=384,
        pipeline_batch_size=8,
        pipeline_warm_epochs=2,
        pipeline_repeats=3,
        label_images=40,
        label_loop_images=3,
        train_profiles=("quick", "full"),
        train_steps=2,
        train_size_override=None,
        train_batch_override=None,
        train_modes=("graph", "eager"),
        predict_sizes=(128, 384, 513),
        predict_backbone="resnet50",
        predict_repeats=5,
    ),
}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux: KiB units)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return peak / scale


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def time_epoch(dataset) -> dict:
    """One pass over a ``(images, labels)`` dataset: images/s and CPU ms per image."""
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for images, _ in dataset:
        count += int(images.shape[0])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "images": count,
        "seconds": wall,
        "images_per_s": count / wall,
        "cpu_ms_per_image": 1000 * cpu / count,
    }
