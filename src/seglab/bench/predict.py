"""The ``predict`` case: latency of the Keras model and the exported SavedModel."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np

from seglab.bench.levels import VOC_SIDES, Level, median


def _jpeg_bytes(height: int = VOC_SIDES[0], width: int = VOC_SIDES[1]) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def bench_predict(level: Level) -> dict:
    """Latency per image: Keras forward pass vs the exported SavedModel."""
    import keras
    import tensorflow as tf

    from seglab import export
    from seglab.models import atrous_rates_for, deeplabv3

    encoded = tf.constant([_jpeg_bytes()])
    rows = []
    with tempfile.TemporaryDirectory(prefix="seglab-bench-") as tmp:
        for size in level.predict_sizes:
            keras.backend.clear_session()
            rates = (6, 12, 18) if level.predict_backbone == "resnet50" else None
            model = deeplabv3(
                21,
                backbone=level.predict_backbone,
                backbone_weights=None,
                atrous_rates=rates or atrous_rates_for(size, 16),
            )
            batch = np.random.default_rng(0).random((1, size, size, 3), np.float32)
            start = time.perf_counter()
            model.predict_on_batch(batch)
            keras_first = time.perf_counter() - start
            model.predict_on_batch(batch)  # settle any retracing
            keras_times = []
            for _ in range(level.predict_repeats):
                start = time.perf_counter()
                model.predict_on_batch(batch)
                keras_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            folder = export.export_saved_model(
                model, Path(tmp) / str(size), image_size=size
            )
            serve = export.load_saved_model(folder)
            serve(images=encoded)
            export_s = time.perf_counter() - start
            serve(images=encoded)
            served = []
            for _ in range(level.predict_repeats):
                start = time.perf_counter()
                serve(images=encoded)
                served.append(time.perf_counter() - start)
            common = {"image_size": size, "backbone": level.predict_backbone}
            rows.append(
                {
                    "name": f"keras predict_on_batch {size}px",
                    "what": "forward pass of a (1, S, S, 3) float batch",
                    "latency_ms": 1000 * median(keras_times),
                    "first_call_s": keras_first,
                    **common,
                }
            )
            rows.append(
                {
                    "name": f"SavedModel serve {size}px",
                    "what": "JPEG bytes (500x375) -> class map at 500x375",
                    "latency_ms": 1000 * median(served),
                    "export_and_first_call_s": export_s,
                    **common,
                }
            )
            del serve
    return {"settings": {"repeats": level.predict_repeats}, "results": rows}
