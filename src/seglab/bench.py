"""``seglab bench``: measure what the course runs, against what it replaces.

Cases (each in its own process, so that its peak memory is its own):

- ``pipeline``: images/s of :func:`seglab.data.voc_dataset` with the training
  settings (augmentation, shuffle) on VOC-sized images (about 500 x 375),
  cold first epoch and warm (cached) epochs, side by side with the book's
  design, :func:`seglab.data.baseline.numpy_function_dataset`.
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

import argparse
import dataclasses
import datetime as dt
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

CASES = ("pipeline", "labels", "train", "predict")
RESULTS_DIR = Path("benchmarks") / "results"
VOC_SIDES = (375, 500)
"""Side lengths of the generated VOC-sized images (PASCAL VOC: about 500 x 375)."""

PIPELINE_TARGET = 3.0
"""Wanted speed-up of ``voc_dataset`` over the book's design, cold epoch."""
LABELS_TARGET = 200.0
"""Wanted speed-up of the vectorised colour -> label conversion over the loop."""
VOC_MASKS = 2913
"""Masks in VOC 2012's trainval segmentation set: what a conversion must cover."""
TRAIN_IMAGES = {"deeplabv3": 1464, "unet": 3680}
"""Training images per epoch on the real data: VOC 2012 train, Pets trainval."""


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


# --- measuring ---------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux: KiB units)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return peak / scale


def _median(values: Iterable[float]) -> float:
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


# --- pipeline ----------------------------------------------------------------


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
    from seglab.data import baseline, voc

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
        "book (numpy_function + PIL)": lambda: baseline.numpy_function_dataset(
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
                "cold_images_per_s": _median(
                    r["cold"]["images_per_s"] for r in repeats
                ),
                "warm_images_per_s": _median(
                    w["images_per_s"] for r in repeats for w in r["warm"]
                ),
                "cold_cpu_ms_per_image": _median(
                    r["cold"]["cpu_ms_per_image"] for r in repeats
                ),
                "warm_cpu_ms_per_image": _median(
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


# --- labels ------------------------------------------------------------------


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
    vector_s, loop_s = _median(vectorised), _median(loop)
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


# --- train -------------------------------------------------------------------


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
    return {"replicas": replicas, "global_batch": batch_size,
            "batch_per_replica": batch_size // replicas}


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
    from seglab.train import build_deeplab, deeplab_settings
    from seglab.train_unet import build_unet, unet_settings

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


# --- predict -----------------------------------------------------------------


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
                    "latency_ms": 1000 * _median(keras_times),
                    "first_call_s": keras_first,
                    **common,
                }
            )
            rows.append(
                {
                    "name": f"SavedModel serve {size}px",
                    "what": "JPEG bytes (500x375) -> class map at 500x375",
                    "latency_ms": 1000 * _median(served),
                    "export_and_first_call_s": export_s,
                    **common,
                }
            )
            del serve
    return {"settings": {"repeats": level.predict_repeats}, "results": rows}


BENCHMARKS: dict[str, Callable[[Level], dict]] = {
    "pipeline": bench_pipeline,
    "labels": bench_labels,
    "train": bench_train,
    "predict": bench_predict,
}


# --- running, isolated or not ------------------------------------------------


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


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine the figures were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        total_gib = None
    return {
        "cpu": cpu_model(),
        "cores": usable,
        "memory_gib": total_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


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
        "load_average_before": _load(),
        "cases": {},
    }
    for name in cases:
        if progress:
            progress(f"running {name} ...")
        runner = run_case_isolated if isolate else run_case
        report["cases"][name] = runner(name, settings)
    report["load_average_after"] = _load()
    environments = [case.pop("environment") for case in report["cases"].values()]
    if environments:
        report["machine"].update(environments[0])
        report["machine"]["gpu"] = ", ".join(environments[0]["gpus"]) or "none"
    report["isolated_processes"] = isolate
    report["notes"] = notes(report)
    return report


def notes(report: dict) -> list[str]:
    """What a reader must know to judge the figures (no GPU, a busy machine)."""
    found = []
    machine = report["machine"]
    if machine.get("gpu", "none") == "none":
        found.append(
            "no GPU: only float32 on the CPU was timed; mixed precision and XLA "
            "are timed when a GPU is present"
        )
    loads = [report.get("load_average_before"), report.get("load_average_after")]
    busiest = max((load[0] for load in loads if load), default=0.0)
    if busiest > machine["cores"]:
        found.append(
            f"the machine was shared (load average up to {busiest:.1f} on "
            f"{machine['cores']} cores): absolute figures are pessimistic, "
            "ratios measured side by side are the ones to compare"
        )
    return found


# --- showing -----------------------------------------------------------------


def table(report: dict) -> str:
    """The report as a plain-text table, one row per measured variant."""
    lines = []
    m = report["machine"]
    lines.append(
        f"seglab bench ({report['level']}) on {m['cpu']}, {m['cores']} cores, "
        f"GPU: {m.get('gpu', 'none')}, TensorFlow {m.get('tensorflow', '?')}"
    )
    lines.append(
        f"load average before/after: {report['load_average_before']} / "
        f"{report['load_average_after']}"
    )
    lines.extend(f"note: {note}" for note in report.get("notes", []))
    cases = report["cases"]
    if "pipeline" in cases:
        case = cases["pipeline"]
        s = case["settings"]
        lines.append("")
        lines.append(
            f"pipeline: {s['images']} images of {s['image_sides'][0]}-"
            f"{s['image_sides'][1]} px -> {s['image_size']}px, batch "
            f"{s['batch_size']}, augmented; median of {s['repeats']} run(s)"
        )
        lines.append(
            f"  {'':30s} {'cold img/s':>11s} {'warm img/s':>11s} "
            f"{'cold CPU ms/img':>16s} {'warm CPU ms/img':>16s}"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:30s} {row['cold_images_per_s']:11.1f} "
                f"{row['warm_images_per_s']:11.1f} "
                f"{row['cold_cpu_ms_per_image']:16.1f} "
                f"{row['warm_cpu_ms_per_image']:16.1f}"
            )
        stages = ", ".join(
            f"{name} {ms:.1f}" for name, ms in case["stage_cpu_ms_per_image"].items()
        )
        lines.append(f"  seglab steps alone, CPU ms/img: {stages}")
        verdict = "met" if case["target_met"] else "MISSED"
        lines.append(
            f"  speed-up cold {case['speedup_cold']:.1f}x (target "
            f"{case['target_cold']:.0f}x: {verdict}), "
            f"warm {case['speedup_warm']:.1f}x; one-off label conversion "
            f"{case['label_conversion_s']:.2f} s; "
            f"peak RSS {case['peak_rss_mb']:.0f} MiB"
        )
    if "labels" in cases:
        case = cases["labels"]
        lines.append("")
        lines.append(
            f"labels: colour map -> labels, "
            f"{case['settings']['mean_pixels_per_image']:.0f} px per image"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:30s} {row['ms_per_image']:10.2f} ms/image   "
                f"VOC trainval ({case['voc_trainval_masks']} masks) "
                f"{row['voc_trainval_s']:8.1f} s"
            )
        lines.append(
            f"  speed-up {case['speedup']:.0f}x (target {case['target']:.0f}x: "
            f"{'met' if case['target_met'] else 'MISSED'}); "
            f"peak RSS {case['peak_rss_mb']:.0f} MiB"
        )
    if "train" in cases:
        case = cases["train"]
        lines.append("")
        lines.append(
            f"train: random weights, first step apart, then mean of "
            f"{case['settings']['steps']} steps"
        )
        lines.append(
            f"  {'':38s} {'size':>5s} {'batch':>5s} {'first s':>8s} "
            f"{'s/step':>8s} {'img/s':>7s} {'real epoch':>11s}"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:38s} {row['image_size']:5d} {row['batch_size']:5d} "
                f"{row['first_step_s']:8.1f} {row['step_s']:8.3f} "
                f"{row['images_per_s']:7.1f} {row['real_epoch_s'] / 60:7.1f} min"
            )
        lines.append(
            "  real epoch: VOC 2012 train (1464 images) for DeepLabV3, "
            "Pets trainval (3680) for U-Net, at this rate"
        )
        lines.append(f"  peak RSS {case['peak_rss_mb']:.0f} MiB")
    if "predict" in cases:
        case = cases["predict"]
        lines.append("")
        lines.append("predict: latency per image (batch of one), median")
        for row in case["results"]:
            lines.append(
                f"  {row['name']:34s} {row['backbone']:11s} {row['latency_ms']:9.1f} ms"
            )
        lines.append(f"  peak RSS {case['peak_rss_mb']:.0f} MiB")
    return "\n".join(lines)


def save(report: dict, folder: Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/bench-<date>.json`` and the table next to it (``.txt``)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report["date"].replace(":", "").replace("-", "")[:15]
    path = folder / f"bench-{report['level']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".txt").write_text(table(report) + "\n")
    return path


# --- command line ------------------------------------------------------------


def _parse_cases(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown case(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(CASES)}"
        )
    return names


def command(args: argparse.Namespace) -> int:
    """``seglab bench``: run, print the table (or JSON), save full runs."""
    level = "quick" if args.quick else "full"
    say = None if args.json else (lambda text: print(text, file=sys.stderr))
    report = run(level, args.cases, isolate=not args.in_process, progress=say)
    saved = None
    if level == "full" and not args.no_save:
        saved = save(report, Path(args.results_dir))
        report["saved_to"] = str(saved)
    if args.json:
        print(json.dumps(report))
    else:
        print(table(report))
        if saved:
            print(f"\nsaved {saved} and {saved.with_suffix('.txt')}")
    return 0


def register(subparsers) -> None:
    """Add ``seglab bench`` to the CLI."""
    parser = subparsers.add_parser(
        "bench",
        help="measure the data pipeline, label conversion, training and prediction",
        description="Measure the data pipeline, colour -> label conversion, "
        "training steps and prediction latency, against the approaches they "
        "replace. Full runs are saved under benchmarks/results/.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small settings, a few minutes on 2 cores (what CI runs)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    parser.add_argument(
        "--cases",
        type=_parse_cases,
        default=list(CASES),
        help=f"comma-separated subset of {','.join(CASES)}",
    )
    parser.add_argument(
        "--results-dir",
        default=str(RESULTS_DIR),
        help="where full runs are saved (default: %(default)s)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not save the results of a full run"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run all cases in this process (peak RSS then accumulates over the cases)",
    )
    parser.set_defaults(func=command)


def _child(argv: list[str]) -> None:
    """Entry of the per-case process: ``python -m seglab.bench CASE LEVEL OUT``."""
    name, level, out = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run_case(name, LEVELS[level])
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1:])
