"""``seglab bench``: measure what the course runs, against what it replaces.

Cases (each in its own process, so that its peak memory is its own):

- ``pipeline``: images/s of :func:`seglab.data.voc_dataset` with the training
  settings (augmentation, shuffle) on VOC-sized images (about 500 x 375),
  cold first epoch and warm (cached) epochs, side by side with the book's
  design, :func:`seglab.data.book_pipeline.numpy_function_dataset`.
- ``labels``: colour map -> labels, :func:`seglab.palette.color_to_label`
  against a per-pixel Python loop (timed on a few images, extrapolated).
- ``train``: DeepLabV3 and U-Net training steps at each profile's image size
  and batch: the first step (tracing) apart, then seconds per step and
  images/s; on a GPU also mixed precision and XLA.
- ``predict``: latency per image of the Keras model and of the exported
  SavedModel (image bytes in, class map out) at 128, 384 and 513 pixels.

``--quick`` runs small settings in a few minutes (what CI runs); without it
the full settings run and the results are saved under ``benchmarks/results/``
with the machine described. The figures are measurements, never assertions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from seglab.bench import labels, pipeline, predict, train
from seglab.bench.levels import LEVELS, Level, peak_rss_mb
from seglab.bench.report import RESULTS_DIR, load_average, machine, save, table
from seglab.bench.report import notes as report_notes

__all__ = [
    "CASES",
    "LEVELS",
    "RESULTS_DIR",
    "Level",
    "run",
    "run_case",
    "save",
    "table",
]

CASES = ("pipeline", "labels", "train", "predict")

BENCHMARKS: dict[str, Callable[[Level], dict]] = {
    "pipeline": pipeline.bench_pipeline,
    "labels": labels.bench_labels,
    "train": train.bench_train,
    "predict": predict.bench_predict,
}


def environment() -> dict:
    """TensorFlow/Keras versions and the GPUs this process sees."""
    import keras
    import tensorflow as tf

    from seglab import config

    gpus = config.gpus()
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": names,
    }


def run_case(name: str, level: Level) -> dict:
    """Run one case in this process; adds wall time and peak RSS (MiB)."""
    start = time.perf_counter()
    result = BENCHMARKS[name](level)
    result["case_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = peak_rss_mb()
    result["environment"] = environment()
    return result


def run_case_isolated(name: str, level: Level) -> dict:
    """Run one case in a fresh Python process, so its peak RSS is its own."""
    with tempfile.TemporaryDirectory(prefix="seglab-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "seglab.bench",
            name,
            level.name,
            str(out),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode != 0 or not out.is_file():
            tail = (completed.stderr or completed.stdout)[-2000:]
            raise RuntimeError(f"benchmark case {name!r} failed:\n{tail}")
        return json.loads(out.read_text())


def run(
    level: str = "quick",
    cases: Iterable[str] = CASES,
    *,
    isolate: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the cases at a level; returns the report (one JSON-ready dict)."""
    settings = LEVELS[level]
    report: dict = {
        "seglab_bench": 1,
        "level": level,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": load_average(),
        "cases": {},
    }
    for name in cases:
        if progress:
            progress(f"running {name} ...")
        runner = run_case_isolated if isolate else run_case
        report["cases"][name] = runner(name, settings)
    report["load_average_after"] = load_average()
    environments = [case.pop("environment") for case in report["cases"].values()]
    if environments:
        report["machine"].update(environments[0])
        report["machine"]["gpu"] = ", ".join(environments[0]["gpus"]) or "none"
    report["isolated_processes"] = isolate
    report["notes"] = report_notes(report)
    return report
