"""The ``pipeline`` case: :func:`seglab.data.voc_dataset` against the book's
design on VOC-sized images, cold and warm epochs."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from seglab.bench.levels import VOC_SIDES, Level, median, time_epoch

PIPELINE_TARGET = 3.0
"""Wanted speed-up of ``voc_dataset`` over the book's design, cold epoch."""


def voc_sized_data(num_images: int) -> Path:
    """A VOC-format folder of ``num_images`` VOC-sized train images (cached)."""
    from seglab import config
    from seglab.data import synthetic

    sides = f"{VOC_SIDES[0]}-{VOC_SIDES[1]}"
    root = config.data_home() / "bench" / f"voc-{num_images}-{sides}"
    split = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "train.txt"
    if split.is_file() and len(split.read_text().split()) == num_images:
        return root
    return synthetic.write_voc(
        root,
        num_train=num_images,
        num_val=2,
        min_size=VOC_SIDES[0],
        max_size=VOC_SIDES[1],
        overwrite=True,
        progress=False,
    )


def _read_files(folder: Path) -> None:
    """Read every file once so both pipelines start from the OS page cache."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.read_bytes()


def bench_pipeline(level: Level) -> dict:
    """``voc_dataset`` vs the book's pipeline: cold and warm epochs, images/s."""
    from seglab.data import book_pipeline, voc

    root = voc_sized_data(level.pipeline_images)
    folder = voc.find_voc(root)
    shutil.rmtree(folder / voc.RAW_DIR, ignore_errors=True)
    start = time.perf_counter()
    voc.convert_labels(folder, progress=False)
    conversion_s = time.perf_counter() - start
    _read_files(folder)
    settings = {
        "image_size": level.pipeline_image_size,
        "batch_size": level.pipeline_batch_size,
        "augment": True,
        "seed": 0,
    }
    makers: dict[str, Callable] = {
        "seglab voc_dataset": lambda: voc.voc_dataset(
            folder, "train", shuffle=True, progress=False, **settings
        ),
        "book (numpy_function + PIL)": lambda: book_pipeline.numpy_function_dataset(
            folder, "train", **settings
        ),
    }
    runs: dict[str, list[dict]] = {name: [] for name in makers}
    for _ in range(level.pipeline_repeats):  # interleaved: same machine load
        for name, make in makers.items():
            dataset = make()
            cold = time_epoch(dataset)
            warm = [time_epoch(dataset) for _ in range(level.pipeline_warm_epochs)]
            runs[name].append({"cold": cold, "warm": warm})
    rows = []
    for name, repeats in runs.items():
        rows.append(
            {
                "name": name,
                "cold_images_per_s": median(r["cold"]["images_per_s"] for r in repeats),
                "warm_images_per_s": median(
                    w["images_per_s"] for r in repeats for w in r["warm"]
                ),
                "cold_cpu_ms_per_image": median(
                    r["cold"]["cpu_ms_per_image"] for r in repeats
                ),
                "warm_cpu_ms_per_image": median(
                    w["cpu_ms_per_image"] for r in repeats for w in r["warm"]
                ),
                "cold_runs_images_per_s": [r["cold"]["images_per_s"] for r in repeats],
            }
        )
    ours, book = rows
    speedup_cold = ours["cold_images_per_s"] / book["cold_images_per_s"]
    return {
        "settings": {
            **settings,
            "images": level.pipeline_images,
            "image_sides": list(VOC_SIDES),
            "repeats": level.pipeline_repeats,
            "warm_epochs": level.pipeline_warm_epochs,
        },
        "label_conversion_s": conversion_s,
        "results": rows,
        "stage_cpu_ms_per_image": stage_costs(folder, level.pipeline_image_size),
        "speedup_cold": speedup_cold,
        "speedup_warm": ours["warm_images_per_s"] / book["warm_images_per_s"],
        "target_cold": PIPELINE_TARGET,
        "target_met": speedup_cold >= PIPELINE_TARGET,
    }


def _cpu_ms_per_image(dataset) -> float:
    """CPU ms per element of one pass (the pass itself included, ~0.1 ms)."""
    count, cpu = 0, time.process_time()
    for _ in dataset:
        count += 1
    return 1000 * (time.process_time() - cpu) / count


def stage_costs(folder: Path, image_size: int) -> dict:
    """CPU ms per image of each step of ``voc_dataset``'s training pipeline.

    Each step runs alone, as a parallel ``map`` over inputs held in memory:
    reading + decoding the JPEG and label PNG, the joint random
    scale/crop/flip, and the colour jitter.
    """
    import tensorflow as tf

    from seglab.data import augment, pipeline, voc

    ids = voc.read_split_ids(folder, "train")
    images = [str(folder / "JPEGImages" / f"{i}.jpg") for i in ids]
    labels = [str(folder / voc.RAW_DIR / f"{i}.png") for i in ids]
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE}
    files = tf.data.Dataset.from_tensor_slices((images, labels))
    decoded = files.map(
        lambda image, label: (
            pipeline.decode_image(image),
            pipeline.decode_label(label),
        ),
        **parallel,
    )
    decode_ms = _cpu_ms_per_image(decoded)
    pairs = decoded.cache()
    for _ in pairs:  # fill the cache
        pass
    size = (image_size, image_size)

    def crop(index, pair):
        seed = tf.stack([tf.constant(0, tf.int64), index])
        return augment.random_scale_crop_flip(pair[0], pair[1], size, seed)

    crops = pairs.enumerate().map(crop, **parallel)
    crop_ms = _cpu_ms_per_image(crops)
    cached_crops = crops.cache()
    for _ in cached_crops:
        pass
    jittered = cached_crops.enumerate().map(
        lambda index, pair: augment.color_jitter(
            pair[0], tf.stack([tf.constant(1, tf.int64), index])
        ),
        **parallel,
    )
    return {
        "decode": decode_ms,
        "scale_crop_flip": crop_ms,
        "color_jitter": _cpu_ms_per_image(jittered),
    }
