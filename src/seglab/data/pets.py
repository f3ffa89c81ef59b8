"""Oxford-IIIT Pet: tensorflow-datasets, a raw folder, or the built-in stand-in.

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
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from seglab import config
from seglab.data import pipeline, synthetic
from seglab.data.voc import DatasetError

SPLITS = ("train", "test")
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


def read_split(root: Path, split: str) -> list[str]:
    """Image names of ``train`` (trainval.txt) or ``test`` (test.txt)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = root / "annotations" / ("trainval.txt" if split == "train" else "test.txt")
    if not path.is_file():
        raise DatasetError(f"missing split list {path}")
    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4:
            raise DatasetError(
                f"{path}:{number}: expected '<name> <class_id> <species> "
                f"<breed_id>', got {line!r}"
            )
        names.append(fields[0])
    return names


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


def _tfds_pairs(split: str, data_dir: str | None) -> tuple[tf.data.Dataset, int]:
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
    ds = builder.as_dataset(split=split)
    count = builder.info.splits[split].num_examples
    pairs = ds.map(
        lambda example: (example["image"], example["segmentation_mask"]),
        num_parallel_calls=pipeline.AUTOTUNE,
    )
    return pairs, count


def resolve_source(source: str | os.PathLike) -> tuple[str, Path | None]:
    """``("synthetic"|"tfds"|"folder", root)`` for a ``source`` argument."""
    if isinstance(source, str) and source == "synthetic":
        return "synthetic", synthetic.ensure_pets()
    if isinstance(source, str) and source == "tfds":
        return "tfds", None
    path = Path(source)
    if not path.exists():
        raise DatasetError(
            f"pets source {str(source)!r} is neither 'synthetic', 'tfds' nor an "
            "existing folder"
        )
    return "folder", find_pets(path)


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
) -> tf.data.Dataset:
    """A batched Oxford-IIIT Pet segmentation dataset.

    Args:
        source: ``"synthetic"`` (built-in), ``"tfds"`` (tensorflow-datasets,
            only when already prepared: it never starts a download), or a raw
            Oxford-IIIT Pet folder.
        split: ``"train"`` (the trainval list) or ``"test"``.

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


def default_source() -> str:
    """``"tfds"`` when prepared, a downloaded folder when present, else synthetic."""
    home = config.data_home()
    if (home / "pets" / "images").is_dir() and not synthetic.is_synthetic(
        home / "pets"
    ):
        return str(home / "pets")
    return "synthetic"
