"""Built-in datasets written in the real on-disk formats.

Without a network there is no PASCAL VOC and no Oxford-IIIT Pet, so the quick
profile generates small stand-ins that the *same* loading code reads:

- :func:`write_voc` writes a ``VOCdevkit/VOC2012`` folder: JPEG images of varied
  sizes, palettised ``SegmentationClass`` PNGs with the VOC colour table and a
  255 band on every object boundary, and ``ImageSets/Segmentation`` lists.
- :func:`write_pets` writes an Oxford-IIIT Pet folder: ``images/*.jpg``,
  ``annotations/trimaps/*.png`` (1 pet, 2 background, 3 border) and the
  ``list.txt`` / ``trainval.txt`` / ``test.txt`` lists in the original format.
  It serves the unit tests and ``--data synthetic``; the lessons' Pets data is
  the shipped sample of real photos (:mod:`seglab.data.sample`).

Objects are told apart by *shape and texture*, not colour: every object and the
background draw their colours from the same distribution, so a per-pixel colour
classifier cannot name the class while a small CNN can (a test checks).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm.auto import tqdm

from seglab import config
from seglab.palette import IGNORE_LABEL, VOC_COLORMAP

MARKER = "SEGLAB_SYNTHETIC.json"
"""File at a generated dataset's root: says it is synthetic and how it was made."""

GENERATOR_VERSION = 2
"""Bumped whenever the drawing code changes, so cached data is written anew."""

# class index -> (shape, texture); indices are the VOC ones
VOC_OBJECTS: dict[int, tuple[str, str]] = {
    1: ("cross", "horizontal_stripes"),  # aeroplane
    7: ("wide_box", "checker"),  # car
    8: ("triangle", "diagonal_stripes"),  # cat
    12: ("ellipse", "dots"),  # dog
    15: ("capsule", "vertical_stripes"),  # person
}
SYNTHETIC_VOC_CLASSES = (0, *VOC_OBJECTS)

BOUNDARY_WIDTH = 2
"""Half-width in pixels of the 255 band drawn on every label boundary."""


# --- drawing helpers -----------------------------------------------------


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour field, ``(H, W, 3)`` float in [0, 255]."""
    grid = rng.uniform(0, 255, size=(3, 3, 3))
    zoom = (height / 3, width / 3, 1)
    field = ndimage.zoom(grid, zoom, order=1, mode="nearest")[:height, :width]
    return field


def _texture(
    kind: str, rng: np.random.Generator, height: int, width: int
) -> np.ndarray:
    """A binary-ish texture in [0, 1], ``(H, W)``, with random phase and period."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(-0.25, 0.25)
    u = xx * np.cos(angle) + yy * np.sin(angle) + rng.uniform(0, 20)
    v = -xx * np.sin(angle) + yy * np.cos(angle) + rng.uniform(0, 20)
    period = rng.uniform(7.0, 10.0)
    wave = 2 * np.pi / period
    if kind == "horizontal_stripes":
        pattern = np.sin(v * wave)
    elif kind == "vertical_stripes":
        pattern = np.sin(u * wave)
    elif kind == "diagonal_stripes":
        pattern = np.sin((u + v) * wave / np.sqrt(2))
    elif kind == "checker":
        pattern = np.sin(u * wave) * np.sin(v * wave)
    elif kind == "dots":
        fu = (u / period) % 1.0 - 0.5
        fv = (v / period) % 1.0 - 0.5
        pattern = 0.09 - (fu**2 + fv**2)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return (pattern > 0).astype(np.float32)


def _shape_mask(
    kind: str, height: int, width: int, cy: float, cx: float, size: float
) -> np.ndarray:
    """A boolean mask of one shape centred at (cy, cx) with extent ``size``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dy, dx = (yy - cy) / size, (xx - cx) / size
    if kind == "cross":
        body = (np.abs(dy) < 0.12) & (np.abs(dx) < 0.5)
        wings = (np.abs(dx + 0.05) < 0.12) & (np.abs(dy) < 0.4)
        return body | wings
    if kind == "wide_box":
        return (np.abs(dy) < 0.22) & (np.abs(dx) < 0.5)
    if kind == "triangle":
        top = dy > -0.45
        return top & (dy < 0.4) & (np.abs(dx) < (dy + 0.45) * 0.6)
    if kind == "ellipse":
        return (dx / 0.5) ** 2 + (dy / 0.33) ** 2 < 1
    if kind == "capsule":
        torso = (np.abs(dx) < 0.15) & (dy > -0.25) & (dy < 0.5)
        head = dx**2 + (dy + 0.38) ** 2 < 0.14**2
        return torso | head
    raise ValueError(f"unknown shape {kind!r}")


def _boundary_band(label: np.ndarray, width: int = BOUNDARY_WIDTH) -> np.ndarray:
    """Pixels within ``width`` of a change of label (where VOC draws 255)."""
    footprint = np.ones((2 * width + 1, 2 * width + 1), bool)
    high = ndimage.maximum_filter(label, footprint=footprint)
    low = ndimage.minimum_filter(label, footprint=footprint)
    return high != low


def _finish(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add sensor noise and convert to uint8."""
    noisy = image + rng.normal(0, 6, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def voc_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    max_objects: int = 3,
    *,
    instances: bool = False,
) -> tuple[np.ndarray, ...]:
    """One synthetic VOC-like scene.

    Returns:
        ``(image, label)``: ``(H, W, 3)`` uint8 and ``(H, W)`` uint8 with VOC
        class indices and 255 on the boundaries; with ``instances=True`` also
        ``(H, W)`` uint8 object ids (0 background, 1, 2, ... per object).
    """
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    objects = np.zeros((height, width), np.uint8)
    classes = list(VOC_OBJECTS)
    for _ in range(rng.integers(1, max_objects + 1)):
        class_id = int(rng.choice(classes))
        shape, texture = VOC_OBJECTS[class_id]
        size = rng.uniform(0.45, 0.8) * min(height, width)
        cy = rng.uniform(0.25, 0.75) * height
        cx = rng.uniform(0.25, 0.75) * width
        mask = _shape_mask(shape, height, width, cy, cx, size)
        if mask.sum() < 64:
            continue
        pattern = _texture(texture, rng, height, width)[..., None]
        first, second = _random_colour(rng), _random_colour(rng)
        while np.abs(first - second).sum() < 150:
            second = _random_colour(rng)
        painted = pattern * first + (1 - pattern) * second
        image = np.where(mask[..., None], painted, image)
        label[mask] = class_id
        objects[mask] = objects.max() + 1
    # a band around every object outline, also between two of the same class
    label[_boundary_band(objects)] = IGNORE_LABEL
    if instances:
        return _finish(image, rng), label, objects
    return _finish(image, rng), label


def pet_scene(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic pet photo and its trimap (1 pet, 2 background, 3 border)."""
    image = _background(rng, height, width)
    # a gentle texture on the background too, so texture alone is not a pet
    floor = _texture("horizontal_stripes", rng, height, width)[..., None]
    image = image * (0.85 + 0.15 * floor)
    size = rng.uniform(0.45, 0.75) * min(height, width)
    cy = rng.uniform(0.4, 0.6) * height
    cx = rng.uniform(0.35, 0.65) * width
    body = _shape_mask("ellipse", height, width, cy + 0.1 * size, cx, size)
    head = _shape_mask(
        "ellipse", height, width, cy - 0.2 * size, cx + 0.25 * size, 0.55 * size
    )
    ear_x = cx + (0.1 if rng.random() < 0.5 else 0.4) * size
    ear = _shape_mask("triangle", height, width, cy - 0.42 * size, ear_x, 0.3 * size)
    pet = body | head | ear
    fur = _texture(
        rng.choice(["dots", "diagonal_stripes", "checker"]), rng, height, width
    )
    first, second = _random_colour(rng), _random_colour(rng)
    painted = fur[..., None] * first + (1 - fur[..., None]) * second
    image = np.where(pet[..., None], painted, image)
    trimap = np.where(pet, 1, 2).astype(np.uint8)
    trimap[_boundary_band(pet.astype(np.uint8), width=2)] = 3
    return _finish(image, rng), trimap


# --- writers -------------------------------------------------------------


def _atomic_save(image: Image.Image, path: Path, **kwargs) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format=kwargs.pop("format"), **kwargs)
    os.replace(tmp, path)


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    os.replace(tmp, path)


def _check_target(root: Path, overwrite: bool) -> None:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise FileExistsError(
                f"{root} exists and is not a seglab synthetic dataset; refusing "
                "to write into it. Choose an empty folder."
            )
        if not overwrite:
            raise FileExistsError(
                f"{root} already holds a synthetic dataset; pass overwrite=True "
                "(CLI: --force) to write it again."
            )


def write_voc(
    root: str | os.PathLike,
    *,
    num_train: int = 160,
    num_val: int = 80,
    min_size: int = 160,
    max_size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic PASCAL VOC 2012 segmentation folder under ``root``.

    ``root/VOCdevkit/VOC2012/`` gets ``JPEGImages``, ``SegmentationClass``
    (palette-mode PNGs) and ``ImageSets/Segmentation/{train,val,trainval}.txt``.
    Image sides are drawn from ``[min_size, max_size]``. Returns ``root``.
    """
    root = Path(root)
    _check_target(root, overwrite)
    voc = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = VOC_COLORMAP.flatten().tolist()
    names = [f"2012_{index:06d}" for index in range(num_train + num_val)]
    for name in tqdm(names, desc="synthetic VOC", disable=not progress):
        height, width = rng.integers(min_size, max_size + 1, size=2)
        image, label = voc_scene(rng, int(height), int(width))
        _atomic_save(
            Image.fromarray(image),
            voc / "JPEGImages" / f"{name}.jpg",
            format="JPEG",
            quality=92,
        )
        mask = Image.fromarray(label, mode="P")
        mask.putpalette(palette)
        _atomic_save(mask, voc / "SegmentationClass" / f"{name}.png", format="PNG")
    lists = voc / "ImageSets" / "Segmentation"
    _write_lines(lists / "train.txt", names[:num_train])
    _write_lines(lists / "val.txt", names[num_train:])
    _write_lines(lists / "trainval.txt", names)
    _write_marker(root, "voc", seed=seed, train=num_train, val=num_val)
    return root


# (breed, species) in the dataset's class-id order; species 1 cat, 2 dog
PET_BREEDS: tuple[tuple[str, int], ...] = tuple(
    (name, 1 if name[0].isupper() else 2)
    for name in sorted(
        [
            "Abyssinian",
            "Bengal",
            "Birman",
            "Bombay",
            "British_Shorthair",
            "Egyptian_Mau",
            "Maine_Coon",
            "Persian",
            "Ragdoll",
            "Russian_Blue",
            "Siamese",
            "Sphynx",
            "american_bulldog",
            "american_pit_bull_terrier",
            "basset_hound",
            "beagle",
            "boxer",
            "chihuahua",
            "english_cocker_spaniel",
            "english_setter",
            "german_shorthaired",
            "great_pyrenees",
            "havanese",
            "japanese_chin",
            "keeshond",
            "leonberger",
            "miniature_pinscher",
            "newfoundland",
            "pomeranian",
            "pug",
            "saint_bernard",
            "samoyed",
            "scottish_terrier",
            "shiba_inu",
            "staffordshire_bull_terrier",
            "wheaten_terrier",
            "yorkshire_terrier",
        ],
        key=str.lower,
    )
)

PETS_LIST_HEADER = (
    "#Image CLASS-ID SPECIES BREED ID",
    "#ID: 1:37 Class ids",
    "#SPECIES: 1:Cat 2:Dog",
    "#BREED ID: 1-25:Cat 1:12:Dog",
    "#All images with 1st letter as captial are cat images",
    "#images with small first letter are dog images",
)


def write_pets(
    root: str | os.PathLike,
    *,
    num_trainval: int = 192,
    num_test: int = 64,
    min_size: int = 160,
    max_size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic Oxford-IIIT Pet folder (raw tarball layout) under ``root``."""
    root = Path(root)
    _check_target(root, overwrite)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    breed_ids: dict[str, int] = {}
    rows = []
    counters: dict[str, int] = {}
    total = num_trainval + num_test
    for index in tqdm(range(total), desc="synthetic Pets", disable=not progress):
        class_id = index % len(PET_BREEDS) + 1
        breed, species = PET_BREEDS[class_id - 1]
        if breed not in breed_ids:
            breed_ids[breed] = sum(1 for _, s in PET_BREEDS[:class_id] if s == species)
        counters[breed] = counters.get(breed, 0) + 1
        name = f"{breed}_{counters[breed]}"
        height, width = rng.integers(min_size, max_size + 1, size=2)
        image, trimap = pet_scene(rng, int(height), int(width))
        _atomic_save(
            Image.fromarray(image),
            root / "images" / f"{name}.jpg",
            format="JPEG",
            quality=92,
        )
        _atomic_save(
            Image.fromarray(trimap, mode="L"),
            root / "annotations" / "trimaps" / f"{name}.png",
            format="PNG",
        )
        rows.append(f"{name} {class_id} {species} {breed_ids[breed]}")
    annotations = root / "annotations"
    _write_lines(annotations / "list.txt", [*PETS_LIST_HEADER, *rows])
    _write_lines(annotations / "trainval.txt", rows[:num_trainval])
    _write_lines(annotations / "test.txt", rows[num_trainval:])
    _write_marker(root, "pets", seed=seed, trainval=num_trainval, test=num_test)
    return root


def _write_marker(root: Path, kind: str, **details) -> None:
    text = json.dumps(
        {"dataset": kind, "synthetic": True, "version": GENERATOR_VERSION, **details},
        indent=2,
    )
    (root / MARKER).write_text(text + "\n")


def _marker_version(root: Path) -> int | None:
    try:
        return json.loads((root / MARKER).read_text()).get("version")
    except (OSError, ValueError):
        return None


def is_synthetic(root: str | os.PathLike) -> bool:
    """Whether ``root`` (or a parent of a VOC subfolder) was written by seglab."""
    path = Path(root).resolve()
    return any((p / MARKER).exists() for p in (path, *path.parents))


def _ensure(kind: str, writer: Callable[..., Path], root: Path | None) -> Path:
    root = Path(root) if root is not None else config.data_home() / "synthetic" / kind
    inside_home = config.data_home().resolve() in root.resolve().parents
    if (root / MARKER).exists():
        if _marker_version(root) == GENERATOR_VERSION or not inside_home:
            return root
    if root.exists() and any(root.iterdir()):
        if not inside_home:
            raise FileExistsError(
                f"{root} is not empty and holds no seglab dataset; remove it or "
                "pick another folder."
            )
        shutil.rmtree(root)  # interrupted, or written by an older generator
    writer(root)
    return root


def ensure_voc(root: str | os.PathLike | None = None) -> Path:
    """The built-in VOC-format dataset's root, generated on first use.

    Default location: ``<data home>/synthetic/voc`` (``$SEGLAB_DATA``).
    """
    return _ensure("voc", write_voc, None if root is None else Path(root))


def ensure_pets(root: str | os.PathLike | None = None) -> Path:
    """The built-in Pets-format dataset's root, generated on first use."""
    return _ensure("pets", write_pets, None if root is None else Path(root))
