"""Oxford-IIIT Pet: the shipped sample, a raw folder, tensorflow-datasets, or
the synthetic stand-in.

The dataset's trimaps label each pixel 1 (pet), 2 (background) or 3 (border,
the uncertain band around the pet); we shift them to 0, 1, 2 (see
:data:`seglab.palette.PETS_CLASSES`). Its ``annotations/README`` is the source
for that order: some tutorials swap background and border in their text.

The raw folder is what the two official tarballs extract to::

    images/<name>.jpg
    annotations/trimaps/<name>.png
    annotations/{list,trainval,test}.txt   # "<name> <class> <species> <breed>"

A few real ``.jpg`` files are really PNG (some with alpha) or GIF: images are
decoded by content and converted to RGB, and the loader reports them.

Splits: ``trainval`` and ``test`` are the dataset's lists. Validation (early
stopping, the learning-rate schedule, model selection) must never see the test
split, so ``val`` holds out :data:`VAL_FRACTION` of each breed of ``trainval``
(a fixed pick, by a checksum of the names) and ``train`` is the rest.

Sources: ``"sample"`` (300 real photos shipped with seglab, see
:mod:`seglab.data.sample`; the quick profile's data), a raw folder (the
official download), ``"tfds"`` (a prepared tensorflow-datasets copy) or
``"synthetic"`` (drawn shapes in the Pets format, for unit tests).
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from seglab import config
from seglab.data import pipeline, sample, synthetic
from seglab.data.voc import DatasetError

SPLITS = ("train", "val", "trainval", "test")
VAL_FRACTION = 0.15
"""Share of each breed of ``trainval`` held out as the ``val`` split."""
VAL_SALT = "seglab-val"
SOURCES = ("sample", "synthetic", "tfds")
TFDS_NAME = "oxford_iiit_pet"
TRIMAP_OFFSET = 1  # trimap values 1..3 -> class ids 0..2
IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG": "PNG",
    b"GIF8": "GIF",
    b"BM": "BMP",
}


def sniff_format(path: Path) -> str | None:
    """The image format a file's first bytes announce (``JPEG``, ``PNG``…) or None."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    for signature, name in IMAGE_SIGNATURES.items():
        if head.startswith(signature):
            return name
    return None


def find_pets(root: str | os.PathLike) -> Path:
    """Locate the raw Pets root (holding ``images/`` and ``annotations/``)."""
    root = Path(root).expanduser()
    for candidate in (root, root / "oxford-iiit-pet"):
        if (candidate / "images").is_dir() and (
            candidate / "annotations" / "trimaps"
        ).is_dir():
            return candidate
    raise DatasetError(
        f"no Oxford-IIIT Pet folder at {root} (expected images/ and "
        "annotations/trimaps/). Download it with `seglab data download pets DIR`, "
        "or write the built-in stand-in with `seglab data synth pets DIR`."
    )


def read_list(path: Path) -> list[str]:
    """The lines of a Pets list file (``<name> <class_id> <species> <breed_id>``)."""
    if not path.is_file():
        raise DatasetError(f"missing split list {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4:
            raise DatasetError(
                f"{path}:{number}: expected '<name> <class_id> <species> "
                f"<breed_id>', got {line!r}"
            )
        rows.append(" ".join(fields))
    return rows


def read_split(root: Path, split: str) -> list[str]:
    """Image names of a split: ``trainval``/``test`` (the lists), ``train``/``val``.

    ``val`` is :data:`VAL_FRACTION` of each breed of trainval, ``train`` the
    rest: the same names every time, whatever the order of the list.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    file_name = "test.txt" if split == "test" else "trainval.txt"
    rows = read_list(root / "annotations" / file_name)
    names = [row.split()[0] for row in rows]
    if split in ("trainval", "test"):
        return names
    held_out = sample.stratified_pick(rows, VAL_FRACTION, salt=VAL_SALT)
    return [name for name in names if (name in held_out) == (split == "val")]


def mislabelled_images(paths: list[Path]) -> list[tuple[Path, str]]:
    """Files whose content is not what their ``.jpg`` extension says."""
    found = []
    for path in paths:
        kind = sniff_format(path)
        if kind != "JPEG":
            found.append((path, kind or "unknown"))
    return found


def _raw_pairs(root: Path, split: str, report: bool) -> tuple[tf.data.Dataset, int]:
    names = read_split(root, split)
    if not names:
        raise DatasetError(f"split {split!r} of {root} is empty")
    images = [root / "images" / f"{name}.jpg" for name in names]
    trimaps = [root / "annotations" / "trimaps" / f"{name}.png" for name in names]
    missing = [p for p in images + trimaps if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        raise DatasetError(
            f"{len(missing)} files listed in the {split} split are missing: {shown}"
            f"{' …' if len(missing) > 5 else ''}. Run `seglab data check pets "
            f"{root}` for the full list."
        )
    if report:
        for path, kind in mislabelled_images(images):
            print(f"note: {path.name} is a {kind} file named .jpg; decoded by content")
    files = tf.data.Dataset.from_tensor_slices(
        ([str(p) for p in images], [str(p) for p in trimaps])
    )
    pairs = files.map(
        lambda image, trimap: (
            pipeline.decode_image(image),
            pipeline.decode_label(trimap),
        ),
        num_parallel_calls=pipeline.AUTOTUNE,
    )
    return pairs, len(names)


def _tfds_pairs(split: str, data_dir: str | None) -> tuple[tf.data.Dataset, int | None]:
    import tensorflow_datasets as tfds

    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    if not builder.is_prepared():
        raise DatasetError(
            f"tensorflow-datasets has no prepared {TFDS_NAME} in "
            f"{builder.data_dir}. Prepare it once with network access "
            f'(`python -c "import tensorflow_datasets as tfds; '
            f"tfds.load('{TFDS_NAME}')\"`), or use a raw folder "
            "(`seglab data download pets DIR`) or source='synthetic'."
        )
    ds = builder.as_dataset(split="test" if split == "test" else "train")
    count = builder.info.splits["test" if split == "test" else "train"].num_examples
    if split in ("train", "val"):
        # tfds keeps no breed lists at hand: hold out by a hash of the file name
        buckets = round(VAL_FRACTION * 100)
        held_out = split == "val"
        ds = ds.filter(
            lambda example: tf.equal(
                tf.strings.to_hash_bucket_fast(example["file_name"], 100) < buckets,
                held_out,
            )
        )
        count = None
    pairs = ds.map(
        lambda example: (example["image"], example["segmentation_mask"]),
        num_parallel_calls=pipeline.AUTOTUNE,
    )
    return pairs, count


def resolve_source(source: str | os.PathLike) -> tuple[str, Path | None]:
    """``("sample"|"synthetic"|"tfds"|"folder", root)`` for a ``source`` argument."""
    if isinstance(source, str) and source == "sample":
        return "sample", sample.shipped_sample()
    if isinstance(source, str) and source == "synthetic":
        return "synthetic", synthetic.ensure_pets()
    if isinstance(source, str) and source == "tfds":
        return "tfds", None
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(
            f"pets source {str(source)!r} is neither 'sample', 'synthetic', "
            "'tfds' nor an existing folder"
        )
    return "folder", find_pets(path)


def describe_source(source: str | os.PathLike) -> str:
    """What a source really is, in words for banners and ``metrics.json``."""
    kind, root = resolve_source(source)
    if kind == "synthetic" or (root is not None and synthetic.is_synthetic(root)):
        return "built-in synthetic data in the Oxford-IIIT Pet format (not real pets)"
    if kind == "tfds":
        return "Oxford-IIIT Pet (tensorflow-datasets)"
    if root is not None and sample.is_sample(root):
        where = "shipped with seglab" if kind == "sample" else f"at {root}"
        return (
            f"Oxford-IIIT Pet sample {where}: 300 real photos of 3 breeds, "
            "downsized (CC BY-SA 4.0)"
        )
    return f"Oxford-IIIT Pet folder {root}"


def is_synthetic_source(source: str | os.PathLike) -> bool:
    """Whether a source is the synthetic stand-in rather than real photos."""
    kind, root = resolve_source(source)
    return kind == "synthetic" or (root is not None and synthetic.is_synthetic(root))


def pets_dataset(
    source: str | os.PathLike,
    split: str,
    *,
    image_size: int | tuple[int, int],
    batch_size: int,
    augment: bool = False,
    shuffle: bool = False,
    repeat: bool = False,
    seed: int | None = None,
    cache: bool | str = True,
    tfds_data_dir: str | None = None,
    report: bool = True,
    squash: bool = True,
) -> tf.data.Dataset:
    """A batched Oxford-IIIT Pet segmentation dataset.

    Args:
        source: ``"sample"`` (the 300 real photos shipped with seglab),
            ``"synthetic"`` (drawn stand-ins), ``"tfds"`` (tensorflow-datasets,
            only when already prepared: it never starts a download), or a raw
            Oxford-IIIT Pet folder.
        split: ``"train"`` (trainval without the validation images),
            ``"val"``, ``"trainval"`` (the whole list) or ``"test"``.
        squash: resize every image to ``image_size`` (aspect ratio not kept)
            before caching and augmenting, as evaluation resizes the test
            images: training crops then show pets at the scale and shape
            they have at test time, and the cache holds small arrays.

    Returns:
        ``(images float32 (B, H, W, 3) in [0, 1], masks int32 (B, H, W))`` with
        0 pet, 1 background, 2 border.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    size = pipeline.image_size_pair(image_size)
    kind, root = resolve_source(source)
    if kind == "tfds":
        pairs, count = _tfds_pairs(split, tfds_data_dir)
    else:
        pairs, count = _raw_pairs(root, split, report and kind == "folder")
    if squash:
        pairs = pairs.map(
            lambda image, label: _squash(image, label, size),
            num_parallel_calls=pipeline.AUTOTUNE,
        )
    # pad with the background trimap value (2), so padding becomes background
    return pipeline.build(
        pairs,
        image_size=size,
        batch_size=batch_size,
        augment_data=augment,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        cache=cache,
        label_offset=TRIMAP_OFFSET,
        pad_label=2,
        num_examples=count,
    )


def _squash(image, label, size):
    """Resize a decoded pair to ``size``: image bilinear (uint8), label nearest."""
    image = tf.image.resize(image, size, method="bilinear")
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image, tf.image.resize(label, size, method="nearest")


def default_source(profile: config.Profile | str | None = None) -> str:
    """Where a profile reads Pets from.

    ``quick``: the shipped sample of real photos. ``full``: a prepared
    tensorflow-datasets copy, else the downloaded folder ``<data home>/pets``;
    without either it raises :class:`DatasetError` (the full profile never
    falls back to the sample or to synthetic data).
    """
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    if profile.name != "full":
        return "sample"
    tfds_home = Path(
        os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets")
    )
    if any((tfds_home / TFDS_NAME).glob("*/dataset_info.json")):
        return "tfds"
    home = config.data_home() / "pets"
    if (home / "images").is_dir() and not synthetic.is_synthetic(home):
        return str(home)
    raise DatasetError(
        f"the full profile needs the complete Oxford-IIIT Pet dataset, found "
        f"neither a folder at {home} nor a prepared tensorflow-datasets copy in "
        f"{tfds_home}. Download it with `seglab data download pets {home}`, or "
        f"run with {config.PROFILE_ENV}=quick (the shipped sample of real photos)."
    )
