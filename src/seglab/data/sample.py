"""The shipped Oxford-IIIT Pet sample: 300 real photos, downsized, with a licence.

The quick profile trains on real pets without a download. The sample lives in
the package (``seglab/data/pets_sample/``, so ``pip install`` carries it) in
the dataset's own raw layout, so :mod:`seglab.data.pets` reads it like the
official archives::

    images/<name>.jpg                 # longest side at most 256 px
    annotations/trimaps/<name>.png    # 1 pet, 2 background, 3 border
    annotations/{list,trainval,test}.txt
    annotations/README                # the dataset's own README
    LICENSE.md                        # attribution, CC BY-SA 4.0
    SEGLAB_SAMPLE.json                # how it was made

:func:`make_pets_sample` writes it from a raw Oxford-IIIT Pet folder (the
official download, or any folder holding the same images). Its output depends
only on the input files: images are resized with Pillow's Lanczos filter and
trimaps with nearest neighbour, JPEGs are written at a fixed quality without
metadata, and the split is fixed by a checksum of each image's name, breed by
breed, so running it again gives the same bytes (``scripts/make_pets_sample.py``
regenerates the shipped copy; a test compares).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from PIL import Image

SAMPLE_BREEDS = ("Abyssinian", "Bengal", "american_bulldog")
"""The three breeds of the sample: two cats and a dog, 100 images each."""

MAX_SIDE = 256
"""Longest side of a sample image, in pixels (smaller images are kept as they are)."""

TEST_PER_BREED = 20
"""Images of each breed in the sample's own test split (the rest is trainval)."""

JPEG_QUALITY = 85
MAX_BYTES = 6 * 1024 * 1024
"""The whole sample must stay under 6 MB."""

MARKER = "SEGLAB_SAMPLE.json"
LICENSE_FILE = "LICENSE.md"
FORMAT_VERSION = 1

LICENSE_TEXT = """\
# Oxford-IIIT Pet sample: attribution and licence

The images and trimaps in this folder are a sample of the **Oxford-IIIT Pet
Dataset** by Omkar M. Parkhi, Andrea Vedaldi, Andrew Zisserman and
C. V. Jawahar (Visual Geometry Group, University of Oxford):

> O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar.
> *Cats and Dogs*. IEEE Conference on Computer Vision and Pattern
> Recognition (CVPR), 2012.
> https://www.robots.ox.ac.uk/~vgg/data/pets/

The dataset is available under the **Creative Commons Attribution-ShareAlike
4.0 International licence** (CC BY-SA 4.0,
https://creativecommons.org/licenses/by-sa/4.0/). This sample is shared under
the same licence. The copyright of each image remains with its owner; the
dataset's own README (`annotations/README`, included unchanged) asks users to
respect the terms of use of the websites the images were taken from.

Changes made for this sample (by the seglab course, with
`scripts/make_pets_sample.py`): {count} trainval images of the breeds
{breeds} were selected; images were downsized to a longest side of at most
{max_side} pixels (Lanczos) and re-encoded as JPEG (quality {quality},
metadata removed); trimaps were downsized with nearest-neighbour sampling,
their values unchanged; the images were split into a trainval list of
{trainval} and a test list of {test} of the sample's own ({test_per_breed}
per breed), which is not the dataset's official split.
"""


def shipped_sample() -> Path:
    """The folder of the sample installed with seglab (read it, do not write it)."""
    root = Path(str(resources.files("seglab.data") / "pets_sample"))
    if not (root / MARKER).is_file():
        raise FileNotFoundError(
            f"the Oxford-IIIT Pet sample is missing from the installed package "
            f"({root}); reinstall seglab (`bash scripts/setup.sh`)"
        )
    return root


def is_sample(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds the seglab Pets sample (or a copy of it)."""
    return (Path(root) / MARKER).is_file()


def write_sample(folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Copy the shipped sample to ``folder`` (created; must be empty or absent)."""
    folder = Path(folder).expanduser()
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{folder} is not empty; choose another folder or pass --force "
                "to replace it"
            )
        shutil.rmtree(folder)
    shutil.copytree(shipped_sample(), folder, dirs_exist_ok=True)
    return folder


def _name_key(name: str, salt: str) -> tuple[int, str]:
    """A fixed pseudo-random order of names: CRC-32 of salt + name, then name."""
    return zlib.crc32(f"{salt}:{name}".encode()), name


def stratified_pick(rows: Sequence[str], per_group: int | float, salt: str) -> set[str]:
    """Names picked from each breed of ``rows`` (list lines), in a fixed order.

    ``per_group``: a count per breed, or a fraction of each breed (rounded,
    at least 1 when the breed has two or more images, and at least one image
    in all when there are two or more). The order is the CRC-32 of ``salt`` +
    name, so the pick depends on the names alone.
    """
    groups: dict[str, list[str]] = {}
    for row in rows:
        fields = row.split()
        groups.setdefault(fields[1], []).append(fields[0])
    picked: set[str] = set()
    for names in groups.values():
        if isinstance(per_group, float):
            count = round(per_group * len(names))
            count = max(count, 1) if len(names) > 1 else 0
        else:
            count = min(per_group, len(names) - 1)
        ordered = sorted(names, key=lambda name: _name_key(name, salt))
        picked.update(ordered[:count])
    everyone = [name for names in groups.values() for name in names]
    if not picked and isinstance(per_group, float) and per_group > 0:
        if len(everyone) > 1:  # tiny lists: one breed image each
            picked.add(min(everyone, key=lambda name: _name_key(name, salt)))
    return picked


def _source_rows(raw: Path, breeds: Sequence[str]) -> list[str]:
    """Lines of the raw trainval list whose breed is one of ``breeds``."""
    path = raw / "annotations" / "trainval.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: pass the root of a raw Oxford-IIIT Pet folder "
            "(images/, annotations/trimaps/, annotations/trainval.txt)"
        )
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 4 and not line.startswith("#"):
            if fields[0].rsplit("_", 1)[0] in breeds:
                rows.append(" ".join(fields))
    if not rows:
        raise ValueError(f"{path} lists no image of the breeds {', '.join(breeds)}")
    return sorted(rows, key=lambda row: _natural_key(row.split()[0]))


def _natural_key(name: str) -> tuple[str, int]:
    breed, _, number = name.rpartition("_")
    return breed, int(number) if number.isdigit() else -1


def _downsized(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    scale = max_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_pets_sample(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    breeds: Sequence[str] = SAMPLE_BREEDS,
    max_side: int = MAX_SIDE,
    test_per_breed: int = TEST_PER_BREED,
    quality: int = JPEG_QUALITY,
    overwrite: bool = False,
) -> Path:
    """Write the sample of ``raw`` (a raw Oxford-IIIT Pet folder) to ``out``.

    Takes every trainval image of ``breeds``, downsizes it, and writes the
    raw layout with a split of its own (``test_per_breed`` test images per
    breed), the licence file and ``SEGLAB_SAMPLE.json``. Deterministic: the
    same input gives the same bytes.
    """
    raw, out = Path(raw).expanduser(), Path(out).expanduser()
    rows = _source_rows(raw, breeds)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True")
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = row.split()[0]
        with Image.open(raw / "images" / f"{name}.jpg") as image:
            image = image.convert("RGB")
            size = _downsized(image.size, max_side)
            small = image.resize(size, Image.Resampling.LANCZOS)
        small.save(
            out / "images" / f"{name}.jpg",
            format="JPEG",
            quality=quality,
            optimize=True,
        )
        with Image.open(raw / "annotations" / "trimaps" / f"{name}.png") as trimap:
            if trimap.size != image.size:
                raise ValueError(
                    f"trimap of {name} is {trimap.size}, its image {image.size}"
                )
            labels = trimap.convert("L").resize(size, Image.Resampling.NEAREST)
        labels.save(
            out / "annotations" / "trimaps" / f"{name}.png", format="PNG", optimize=True
        )
    test = stratified_pick(rows, test_per_breed, salt="seglab-sample-test")
    annotations = out / "annotations"
    lines = {
        "list.txt": rows,
        "trainval.txt": [row for row in rows if row.split()[0] not in test],
        "test.txt": [row for row in rows if row.split()[0] in test],
    }
    for file_name, file_rows in lines.items():
        (annotations / file_name).write_text("\n".join(file_rows) + "\n")
    readme = raw / "annotations" / "README"
    if readme.is_file():
        shutil.copyfile(readme, annotations / "README")
    (out / LICENSE_FILE).write_text(
        LICENSE_TEXT.format(
            count=len(rows),
            breeds=", ".join(breeds),
            max_side=max_side,
            quality=quality,
            trainval=len(lines["trainval.txt"]),
            test=len(lines["test.txt"]),
            test_per_breed=test_per_breed,
        )
    )
    marker = {
        "dataset": "oxford-iiit-pet",
        "sample": True,
        "version": FORMAT_VERSION,
        "breeds": list(breeds),
        "images": len(rows),
        "trainval": len(lines["trainval.txt"]),
        "test": len(lines["test.txt"]),
        "max_side": max_side,
        "jpeg_quality": quality,
        "licence": "CC BY-SA 4.0",
        "made_by": "scripts/make_pets_sample.py",
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return out


def folder_bytes(root: str | os.PathLike) -> int:
    """Total size of the files under ``root``, in bytes."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
