"""PASCAL VOC 2012 segmentation: find the folder, convert the masks, split, load.

The official tar extracts to ``VOCdevkit/VOC2012/`` with ``JPEGImages/``,
``SegmentationClass/`` (palettised PNGs) and ``ImageSets/Segmentation/``.
TensorFlow cannot read palette indices (``tf.io.decode_png`` expands them to
RGB), so :func:`convert_labels` writes single-channel label PNGs once into
``SegmentationClassRaw/``; the tf.data pipeline then stays pure TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm.auto import tqdm

from seglab.data import pipeline
from seglab.palette import IGNORE_LABEL, NUM_VOC_CLASSES, color_to_label

SPLITS = ("train", "val", "test", "trainval")
SPLIT_SEED = 1234
"""Seed of the shuffle that halves VOC's ``val.txt`` into our val and test."""

RAW_DIR = "SegmentationClassRaw"


class DatasetError(Exception):
    """The dataset on disk is missing or malformed; the message says how to fix it."""


def find_voc(root: str | os.PathLike) -> Path:
    """Locate ``VOC2012/`` from its parent, ``VOCdevkit/`` or ``VOC2012/`` itself."""
    root = Path(root).expanduser()
    for candidate in (root / "VOCdevkit" / "VOC2012", root / "VOC2012", root):
        if (candidate / "JPEGImages").is_dir() and (
            candidate / "ImageSets" / "Segmentation"
        ).is_dir():
            return candidate
    raise DatasetError(
        f"no PASCAL VOC 2012 folder under {root} (looked for "
        "VOCdevkit/VOC2012/, VOC2012/ and JPEGImages/ + ImageSets/Segmentation/ "
        "in it). Download it with `seglab data download voc DIR`, or write the "
        "built-in stand-in with `seglab data synth voc DIR`."
    )


def read_split_ids(voc: Path, split: str) -> list[str]:
    """Image ids of a split; ``val``/``test`` are the two halves of ``val.txt``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    source = "val" if split in ("val", "test") else split
    path = voc / "ImageSets" / "Segmentation" / f"{source}.txt"
    if not path.is_file():
        raise DatasetError(f"missing split list {path}")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if split in ("val", "test"):
        order = np.random.default_rng(SPLIT_SEED).permutation(len(ids))
        shuffled = [ids[i] for i in order]
        half = len(shuffled) // 2
        ids = shuffled[:half] if split == "val" else shuffled[half:]
    return ids


def mask_to_labels(path: Path, num_classes: int = NUM_VOC_CLASSES) -> np.ndarray:
    """Read one VOC mask PNG as ``(H, W)`` uint8 class indices.

    Accepts palette PNGs (the official format: the indices are read directly),
    RGB colour maps (converted through the VOC colours) and grey label PNGs.

    Raises:
        DatasetError: unreadable file, unknown colours or labels out of range.
    """
    try:
        with Image.open(path) as mask:
            mode = mask.mode
            array = np.asarray(mask.convert("RGB") if mode in ("RGBA", "LA") else mask)
    except (OSError, SyntaxError) as error:
        raise DatasetError(f"{path}: cannot read mask ({error})") from error
    if mode in ("RGB", "RGBA"):
        try:
            labels = color_to_label(array, num_classes=num_classes, source=str(path))
        except ValueError as error:
            raise DatasetError(str(error)) from error
    elif mode in ("P", "L"):
        labels = array.astype(np.uint8)
    else:
        raise DatasetError(f"{path}: unsupported PNG mode {mode!r} for a mask")
    bad = np.unique(labels[(labels >= num_classes) & (labels != IGNORE_LABEL)])
    if bad.size:
        raise DatasetError(
            f"{path}: labels {bad.tolist()} are outside 0..{num_classes - 1} "
            f"and not the ignore label {IGNORE_LABEL}"
        )
    return labels


def _labels_to_write(source_dir: Path, out_dir: Path, ids: list[str]) -> list:
    """(id, mask, label PNG) of every label missing or older than its mask."""
    todo = []
    for image_id in ids:
        source = source_dir / f"{image_id}.png"
        target = out_dir / f"{image_id}.png"
        if not source.is_file():
            raise DatasetError(f"missing mask {source} for image {image_id}")
        if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        todo.append((image_id, source, target))
    return todo


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried, not guessed)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def label_folder_outside(voc: Path) -> Path:
    """Where the labels of a read-only VOC folder go: under the data home.

    ``<data home>/labels/<folder name>-<hash of its path>/SegmentationClassRaw``.
    """
    from seglab import config

    key = hashlib.sha1(str(voc.resolve()).encode()).hexdigest()[:10]
    return config.data_home() / "labels" / f"{voc.name}-{key}" / RAW_DIR


def convert_labels(
    root: str | os.PathLike,
    *,
    ids: list[str] | None = None,
    progress: bool = True,
    num_classes: int = NUM_VOC_CLASSES,
) -> Path:
    """Write ``SegmentationClassRaw/<id>.png`` (grey labels) for every mask.

    When the dataset folder is read-only the labels go under the data home
    instead (:func:`label_folder_outside`); loaders find them there.

    Idempotent: files newer than their source are skipped. Writes are atomic,
    so an interrupted run never leaves a half-written label. Also checks that
    each mask matches its image's size. Returns the output folder.
    """
    voc = find_voc(root)
    source_dir = voc / "SegmentationClass"
    if ids is None:
        ids = sorted(p.stem for p in source_dir.glob("*.png"))
    out_dir = voc / RAW_DIR
    todo = _labels_to_write(source_dir, out_dir, ids)
    if todo and not _writable(out_dir if out_dir.exists() else voc):
        out_dir = label_folder_outside(voc)
        if progress:
            print(f"{voc} is read-only: writing label PNGs to {out_dir}")
        todo = _labels_to_write(source_dir, out_dir, ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    for image_id, source, target in tqdm(
        todo, desc="masks -> labels", disable=not progress or not todo
    ):
        labels = mask_to_labels(source, num_classes)
        image_path = voc / "JPEGImages" / f"{image_id}.jpg"
        try:
            with Image.open(image_path) as image:
                size = image.size
        except (OSError, SyntaxError) as error:
            raise DatasetError(f"{image_path}: cannot read image ({error})") from error
        if size != (labels.shape[1], labels.shape[0]):
            raise DatasetError(
                f"{source}: mask is {labels.shape[1]}x{labels.shape[0]} but "
                f"{image_path.name} is {size[0]}x{size[1]}; fix or remove the pair"
            )
        tmp = target.with_name(f".{target.name}.tmp")
        Image.fromarray(labels, mode="L").save(tmp, format="PNG")
        os.replace(tmp, target)
    return out_dir


def voc_dataset(
    root: str | os.PathLike,
    split: str,
    *,
    image_size: int | tuple[int, int],
    batch_size: int,
    augment: bool = False,
    shuffle: bool = False,
    repeat: bool = False,
    seed: int | None = None,
    cache: bool | str = True,
    label_size: int | tuple[int, int] | None = None,
    progress: bool = True,
) -> tf.data.Dataset:
    """A batched VOC segmentation dataset.

    Args:
        root: a folder holding ``VOCdevkit/``, ``VOCdevkit/`` itself, or
            ``VOC2012/``.
        split: ``train`` (train.txt), ``val`` or ``test`` (the two halves of
            val.txt, shuffled with a fixed seed), or ``trainval``.
        image_size: output size, an int or ``(height, width)``.
        augment: random scale/crop/flip (same for image and mask) and colour
            jitter (image only); without it images are resized to the size.
        cache: keep decoded images in memory (``True``), in a file (a path),
            or not at all (``False``).
        label_size: resize labels (nearest) to another size than the images.

    Returns:
        ``(images float32 (B, H, W, 3) in [0, 1], labels int32 (B, H, W))``
        with 255 kept as the ignore label.
    """
    size = pipeline.image_size_pair(image_size)
    labels_at = None if label_size is None else pipeline.image_size_pair(label_size)
    voc = find_voc(root)
    ids = read_split_ids(voc, split)
    if not ids:
        raise DatasetError(f"split {split!r} of {voc} is empty")
    label_dir = convert_labels(voc, ids=ids, progress=progress)
    images = [str(voc / "JPEGImages" / f"{i}.jpg") for i in ids]
    labels = [str(label_dir / f"{i}.png") for i in ids]
    files = tf.data.Dataset.from_tensor_slices((images, labels))
    pairs = files.map(
        lambda image, label: (
            pipeline.decode_image(image),
            pipeline.decode_label(label),
        ),
        num_parallel_calls=pipeline.AUTOTUNE,
    )
    return pipeline.build(
        pairs,
        image_size=size,
        batch_size=batch_size,
        augment_data=augment,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        cache=cache,
        label_size=labels_at,
        num_examples=len(ids),
    )
