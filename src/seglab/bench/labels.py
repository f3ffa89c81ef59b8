"""The ``labels`` case: vectorised colour -> label conversion against a
per-pixel Python loop."""

from __future__ import annotations

import time

import numpy as np

from seglab.bench.levels import Level, median
from seglab.bench.pipeline import voc_sized_data

LABELS_TARGET = 200.0
"""Wanted speed-up of the vectorised colour -> label conversion over the loop."""
VOC_MASKS = 2913
"""Masks in VOC 2012's trainval segmentation set: what a conversion must cover."""


def per_pixel_color_to_label(color: np.ndarray) -> np.ndarray:
    """The baseline: a Python loop over every pixel with a colour -> class dict."""
    from seglab.palette import IGNORE_LABEL, NUM_VOC_CLASSES, VOC_COLORMAP

    lookup = {tuple(int(c) for c in VOC_COLORMAP[i]): i for i in range(NUM_VOC_CLASSES)}
    lookup[tuple(int(c) for c in VOC_COLORMAP[IGNORE_LABEL])] = IGNORE_LABEL
    labels = np.zeros(color.shape[:2], np.uint8)
    for row in range(color.shape[0]):
        for column in range(color.shape[1]):
            pixel = color[row, column]
            if (pixel == [255, 255, 255]).all():
                labels[row, column] = IGNORE_LABEL
            else:
                labels[row, column] = lookup[tuple(pixel)]
    return labels


def bench_labels(level: Level) -> dict:
    """Vectorised colour -> label conversion vs the per-pixel loop, per image."""
    from PIL import Image

    from seglab.data import voc
    from seglab.palette import _color_table, color_to_label, label_to_color

    folder = voc.find_voc(voc_sized_data(level.pipeline_images))
    masks = sorted((folder / "SegmentationClass").glob("*.png"))[: level.label_images]
    colors = [label_to_color(np.asarray(Image.open(path))) for path in masks]
    start = time.perf_counter()
    _color_table.cache_clear()
    color_to_label(colors[0])
    first_call_s = time.perf_counter() - start  # builds the lookup table once
    vectorised = []
    for color in colors:
        start = time.perf_counter()
        labels = color_to_label(color)
        vectorised.append(time.perf_counter() - start)
    loop = []
    for color in colors[: level.label_loop_images]:
        start = time.perf_counter()
        looped = per_pixel_color_to_label(color)
        loop.append(time.perf_counter() - start)
        if not np.array_equal(looped, color_to_label(color)):
            raise RuntimeError("the loop and the vectorised conversion disagree")
    pixels = float(np.mean([c.shape[0] * c.shape[1] for c in colors]))
    vector_s, loop_s = median(vectorised), median(loop)
    speedup = loop_s / vector_s
    del labels
    return {
        "settings": {
            "images": len(colors),
            "loop_images": len(loop),
            "mean_pixels_per_image": pixels,
        },
        "results": [
            {
                "name": "vectorised color_to_label",
                "ms_per_image": 1000 * vector_s,
                "voc_trainval_s": vector_s * VOC_MASKS,
                "table_build_s": first_call_s,
            },
            {
                "name": "per-pixel Python loop",
                "ms_per_image": 1000 * loop_s,
                "voc_trainval_s": loop_s * VOC_MASKS,
            },
        ],
        "voc_trainval_masks": VOC_MASKS,
        "speedup": speedup,
        "target": LABELS_TARGET,
        "target_met": speedup >= LABELS_TARGET,
    }
