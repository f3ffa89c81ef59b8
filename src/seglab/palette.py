"""PASCAL VOC classes and colours; labels <-> colours, vectorised; overlays.

VOC stores its segmentation targets as *palettised* PNGs: each pixel holds a
class index (0-20, or 255 on object boundaries) and the file carries a colour
table. This module builds that table and converts both ways with NumPy
indexing instead of per-pixel Python loops.
"""

from __future__ import annotations

import functools

import numpy as np

IGNORE_LABEL = 255
"""VOC's label for boundary and 'difficult' pixels: never scored, never learned."""

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
NUM_VOC_CLASSES = len(VOC_CLASSES)

PETS_CLASSES = ("pet", "background", "border")
"""Oxford-IIIT Pet trimap classes after shifting {1, 2, 3} to {0, 1, 2}."""


def voc_colormap(n: int = 256) -> np.ndarray:
    """The VOC colour table, ``(n, 3)`` uint8.

    Class ``i`` takes its colour from the bits of ``i``: bit 0, 1, 2 go to the
    top bit of red, green, blue, the next three bits to the next-highest bits,
    and so on. Entry 255 is the cream colour (224, 224, 192) VOC draws
    boundaries with.
    """
    index = np.arange(n, dtype=np.int64)
    cmap = np.zeros((n, 3), dtype=np.int64)
    value = index.copy()
    for shift in range(7, -1, -1):
        for channel in range(3):
            cmap[:, channel] |= ((value >> channel) & 1) << shift
        value >>= 3
    return cmap.astype(np.uint8)


VOC_COLORMAP = voc_colormap()


def label_to_color(
    label: np.ndarray, colormap: np.ndarray = VOC_COLORMAP
) -> np.ndarray:
    """Colour a label map: ``(H, W)`` integer -> ``(H, W, 3)`` uint8."""
    label = np.asarray(label)
    if label.size and (label.min() < 0 or label.max() >= len(colormap)):
        raise ValueError(
            f"labels must lie in [0, {len(colormap) - 1}], got "
            f"[{label.min()}, {label.max()}]"
        )
    return colormap[label.astype(np.intp)]


def color_to_label(
    color: np.ndarray,
    colormap: np.ndarray = VOC_COLORMAP,
    *,
    num_classes: int = NUM_VOC_CLASSES,
    ignore_label: int = IGNORE_LABEL,
    source: str = "image",
) -> np.ndarray:
    """Map an RGB colour-map image back to labels, vectorised.

    ``(H, W, 3)`` uint8 -> ``(H, W)`` uint8. The first ``num_classes`` colours
    map to their class; the boundary colour (entry ``ignore_label``) and pure
    white (what some tools write for boundaries) map to ``ignore_label``. Each
    colour is packed into a 24-bit key and looked up in a table with one entry
    per possible colour, built once per colour map.

    Raises:
        ValueError: some colours are none of these; the message lists them and
            names ``source``.
    """
    color = np.asarray(color)
    if color.ndim != 3 or color.shape[-1] != 3:
        raise ValueError(
            f"{source}: expected an (H, W, 3) RGB image, got {color.shape}"
        )
    table = _color_table(colormap.tobytes(), num_classes, ignore_label)
    rgb = color.astype(np.uint32, copy=False)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    labels = table[keys]
    unknown = labels == _UNKNOWN
    if unknown.any():
        bad = np.unique(keys[unknown])
        shown = ", ".join(str(_rgb(k)) for k in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        raise ValueError(
            f"{source}: {int(unknown.sum())} pixels have colours that are not "
            f"VOC class colours: {shown}{more}. Is this a VOC colour map? "
            "JPEG-compressed masks blur colours; use the PNG originals."
        )
    return labels.astype(np.uint8)


_UNKNOWN = np.uint16(0xFFFF)


@functools.lru_cache(maxsize=4)
def _color_table(colormap_bytes: bytes, num_classes: int, ignore_label: int):
    """A ``(2**24,)`` uint16 table: packed RGB -> label, or ``_UNKNOWN``."""
    colormap = np.frombuffer(colormap_bytes, np.uint8).reshape(-1, 3)
    table = np.full(1 << 24, _UNKNOWN, np.uint16)
    table[_key(colormap[ignore_label])] = ignore_label
    table[_key((255, 255, 255))] = ignore_label
    for index in range(num_classes - 1, -1, -1):  # first class wins on ties
        table[_key(colormap[index])] = index
    return table


def _key(rgb) -> np.uint32:
    r, g, b = (int(c) for c in rgb)
    return np.uint32((r << 16) | (g << 8) | b)


def _rgb(key: int) -> tuple[int, int, int]:
    key = int(key)
    return (key >> 16) & 255, (key >> 8) & 255, key & 255


def overlay(
    image: np.ndarray,
    label: np.ndarray,
    *,
    alpha: float = 0.5,
    colormap: np.ndarray = VOC_COLORMAP,
    ignore_label: int = IGNORE_LABEL,
) -> np.ndarray:
    """Blend a coloured label map over an image; background stays unblended.

    ``image`` is ``(H, W, 3)`` uint8 or float in [0, 1]; returns float32 in
    [0, 1]. Pixels labelled 0 (background) or ``ignore_label`` show the image.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    label = np.asarray(label)
    if image.shape[:2] != label.shape[:2]:
        raise ValueError(
            f"image {image.shape[:2]} and label {label.shape[:2]} differ in size"
        )
    colors = label_to_color(label, colormap).astype(np.float32) / 255.0
    mask = ((label != 0) & (label != ignore_label))[..., None]
    blended = (1 - alpha) * image + alpha * colors
    return np.where(mask, blended, image).astype(np.float32)


def one_hot(
    label: np.ndarray, num_classes: int, ignore_label: int = IGNORE_LABEL
) -> np.ndarray:
    """``(H, W)`` labels -> ``(H, W, num_classes)`` float32; ignored pixels all 0."""
    label = np.asarray(label).astype(np.int64)
    valid = label != ignore_label
    safe = np.where(valid, label, 0)
    out = np.eye(num_classes, dtype=np.float32)[safe]
    return out * valid[..., None]
