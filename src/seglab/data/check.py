"""Check a VOC or Pets folder before training: counts, sizes, classes, problems.

Every problem names its file. ``errors`` make the dataset unusable (missing
or unreadable files, a mask whose size differs from its image, labels outside
the class set); ``warnings`` do not (e.g. a ``.jpg`` that is really a PNG,
which the loaders decode by content).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from seglab.data import pets as pets_module
from seglab.data import voc as voc_module
from seglab.data.voc import DatasetError
from seglab.palette import IGNORE_LABEL, NUM_VOC_CLASSES, PETS_CLASSES, VOC_CLASSES


@dataclasses.dataclass
class Problem:
    """One thing wrong with one file."""

    severity: str  # "error" or "warning"
    file: str
    message: str


@dataclasses.dataclass
class Report:
    """What :func:`check_voc` / :func:`check_pets` found."""

    dataset: str
    root: str
    splits: dict[str, int]
    min_size: tuple[int, int] | None
    max_size: tuple[int, int] | None
    class_pixels: dict[str, int]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def usable(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["usable"] = self.usable
        return out

    def format(self) -> str:
        """A human-readable summary, one problem a line."""
        lines = [f"{self.dataset} dataset at {self.root}"]
        lines += [
            f"  {name:<9} {count:>6} images" for name, count in self.splits.items()
        ]
        if self.min_size:
            lines.append(
                f"  sizes     {self.min_size[0]}x{self.min_size[1]} .. "
                f"{self.max_size[0]}x{self.max_size[1]} (width x height)"
            )
        total = sum(self.class_pixels.values()) or 1
        lines.append("  class pixels:")
        for name, count in self.class_pixels.items():
            if count:
                lines.append(
                    f"    {name:<14} {count:>12,} ({100 * count / total:5.1f}%)"
                )
        for problem in self.problems:
            lines.append(
                f"  {problem.severity.upper()}: {problem.file}: {problem.message}"
            )
        verdict = "usable" if self.usable else "NOT usable"
        lines.append(
            f"{verdict}: {len(self.errors)} errors, {len(self.warnings)} warnings"
        )
        return "\n".join(lines)


def _image_size(path: Path, problems: list[Problem], expect: str = "JPEG"):
    """Fully decode an image; record problems; return (width, height) or None."""
    if not path.is_file():
        problems.append(Problem("error", str(path), "missing"))
        return None
    try:
        with Image.open(path) as image:
            kind = image.format
            image.load()
            size = image.size
    except (OSError, SyntaxError, ValueError) as error:
        problems.append(
            Problem("error", str(path), f"unreadable or truncated: {error}")
        )
        return None
    if expect and kind != expect:
        problems.append(
            Problem(
                "warning",
                str(path),
                f"content is {kind} but the extension says {expect}; "
                "decoded by content",
            )
        )
    return size


def _sizes(sizes: list[tuple[int, int]]):
    if not sizes:
        return None, None
    array = np.array(sizes)
    return tuple(int(v) for v in array.min(0)), tuple(int(v) for v in array.max(0))


def check_voc(root: str | os.PathLike, *, progress: bool = True) -> Report:
    """Check a VOC 2012 segmentation folder (any of the accepted roots)."""
    voc = voc_module.find_voc(root)
    problems: list[Problem] = []
    splits: dict[str, int] = {}
    ids: set[str] = set()
    for split in ("train", "val", "test"):
        try:
            split_ids = voc_module.read_split_ids(voc, split)
        except DatasetError as error:
            problems.append(Problem("error", str(voc / "ImageSets"), str(error)))
            split_ids = []
        splits[split] = len(split_ids)
        ids.update(split_ids)
    histogram = np.zeros(256, np.int64)
    sizes = []
    for image_id in tqdm(sorted(ids), desc="checking VOC", disable=not progress):
        size = _image_size(voc / "JPEGImages" / f"{image_id}.jpg", problems)
        mask_path = voc / "SegmentationClass" / f"{image_id}.png"
        if not mask_path.is_file():
            problems.append(Problem("error", str(mask_path), "missing mask"))
            continue
        try:
            # range checks are reported below, so read with the widest class set
            labels = voc_module.mask_to_labels(mask_path, num_classes=256)
        except DatasetError as error:
            problems.append(Problem("error", str(mask_path), str(error)))
            continue
        if size is not None:
            sizes.append(size)
            if (labels.shape[1], labels.shape[0]) != size:
                problems.append(
                    Problem(
                        "error",
                        str(mask_path),
                        f"mask is {labels.shape[1]}x{labels.shape[0]} but its "
                        f"image is {size[0]}x{size[1]}",
                    )
                )
        counts = np.bincount(labels.ravel(), minlength=256)
        bad = np.flatnonzero(counts[NUM_VOC_CLASSES:IGNORE_LABEL])
        if bad.size:
            problems.append(
                Problem(
                    "error",
                    str(mask_path),
                    f"labels {(bad + NUM_VOC_CLASSES).tolist()} are outside "
                    f"0..{NUM_VOC_CLASSES - 1} and not {IGNORE_LABEL}",
                )
            )
        histogram += counts[:256]
    names = {**dict(enumerate(VOC_CLASSES)), IGNORE_LABEL: "ignore (255)"}
    low, high = _sizes(sizes)
    return Report(
        dataset="voc",
        root=str(voc),
        splits=splits,
        min_size=low,
        max_size=high,
        class_pixels={names[i]: int(histogram[i]) for i in names},
        problems=problems,
    )


def check_pets(root: str | os.PathLike, *, progress: bool = True) -> Report:
    """Check a raw Oxford-IIIT Pet folder (``images/`` + ``annotations/``).

    Counts the ``trainval`` and ``test`` lists and, within trainval, the
    ``train`` and ``val`` images training uses (see :mod:`seglab.data.pets`).
    """
    pets = pets_module.find_pets(root)
    problems: list[Problem] = []
    splits: dict[str, int] = {}
    names: set[str] = set()
    for split in ("trainval", "test"):
        try:
            split_names = pets_module.read_split(pets, split)
        except DatasetError as error:
            problems.append(Problem("error", str(pets / "annotations"), str(error)))
            split_names = []
        splits[split] = len(split_names)
        names.update(split_names)
    if splits["trainval"]:  # trainval's carve: what training and validation use
        for split in ("train", "val"):
            splits[split] = len(pets_module.read_split(pets, split))
    histogram = np.zeros(256, np.int64)
    sizes = []
    for name in tqdm(sorted(names), desc="checking Pets", disable=not progress):
        size = _image_size(pets / "images" / f"{name}.jpg", problems)
        trimap_path = pets / "annotations" / "trimaps" / f"{name}.png"
        trimap_size = _image_size(trimap_path, problems, expect="PNG")
        if trimap_size is None:
            continue
        with Image.open(trimap_path) as trimap:
            values = np.asarray(trimap.convert("L"))
        if size is not None:
            sizes.append(size)
            if trimap_size != size:
                problems.append(
                    Problem(
                        "error",
                        str(trimap_path),
                        f"trimap is {trimap_size[0]}x{trimap_size[1]} but its "
                        f"image is {size[0]}x{size[1]}",
                    )
                )
        counts = np.bincount(values.ravel(), minlength=256)
        outside = np.flatnonzero(np.delete(counts, [1, 2, 3]))
        if outside.size:
            found = [int(v if v < 1 else v + 3) for v in outside]
            problems.append(
                Problem(
                    "error",
                    str(trimap_path),
                    f"trimap values {found} are not 1 (pet), 2 (background) or "
                    "3 (border)",
                )
            )
        histogram += counts
    low, high = _sizes(sizes)
    return Report(
        dataset="pets",
        root=str(pets),
        splits=splits,
        min_size=low,
        max_size=high,
        class_pixels={
            f"{value} {name}": int(histogram[value])
            for value, name in zip((1, 2, 3), PETS_CLASSES, strict=True)
        },
        problems=problems,
    )
