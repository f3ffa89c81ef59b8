"""Foreground extraction: class map -> alpha mask -> soft edge -> composite.

A segmentation model says which pixels belong to the object. Turning that into
a cut-out takes three steps:

1. :func:`alpha_mask`: 1 where the class map holds a foreground class, else 0;
2. :func:`soften_edges`: a Gaussian blur (scikit-image) turns the hard 0/1 step
   into a ramp a few pixels wide, so the cut-out has no jagged staircase edge;
3. :func:`composite`: ``alpha * image + (1 - alpha) * background`` over white
   or over another picture (resized to the image).

Both the object *and* the background are weighted by the same soft alpha, so
edge pixels mix the two; using the hard mask for the object and the soft one
for the background (as some tutorials do) leaves a dark halo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.filters import gaussian
from skimage.transform import resize


def alpha_mask(class_map: np.ndarray, foreground_classes: Sequence[int]) -> np.ndarray:
    """``(H, W)`` int class map -> ``(H, W)`` float32 alpha: 1 on foreground classes."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class_map must be (H, W), got shape {class_map.shape}")
    if len(foreground_classes) == 0:
        raise ValueError("foreground_classes is empty: name at least one class")
    return np.isin(class_map, list(foreground_classes)).astype(np.float32)


def soften_edges(alpha: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Gaussian-blur an alpha mask: ``(H, W)`` -> ``(H, W)`` float32 in [0, 1].

    ``sigma`` (pixels) sets the width of the edge ramp; 0 keeps the mask as is.
    """
    alpha = np.asarray(alpha, dtype=np.float32)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return alpha.copy()
    blurred = gaussian(alpha, sigma=sigma, mode="nearest", preserve_range=True)
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


def _as_float_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB image, got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def composite(
    image: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """``alpha * image + (1 - alpha) * background``: ``(H, W, 3)`` float32 in [0, 1].

    ``image`` and ``background`` are uint8 or float in [0, 1]; ``background``
    ``None`` means white, and one of another size is resized to the image.
    """
    foreground = _as_float_image(image, "image")
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.shape != foreground.shape[:2]:
        raise ValueError(
            f"alpha {alpha.shape} and image {foreground.shape[:2]} differ in size"
        )
    if background is None:
        behind = np.ones_like(foreground)
    else:
        behind = _as_float_image(background, "background")
        if behind.shape[:2] != foreground.shape[:2]:
            behind = resize(behind, foreground.shape[:2], anti_aliasing=True)
    weight = alpha[..., None]
    return (weight * foreground + (1.0 - weight) * behind).astype(np.float32)


def extract_foreground(
    image: np.ndarray,
    class_map: np.ndarray,
    foreground_classes: Sequence[int],
    *,
    sigma: float = 2.0,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The three steps at once: returns ``(composite (H, W, 3), soft alpha (H, W))``."""
    alpha = soften_edges(alpha_mask(class_map, foreground_classes), sigma)
    return composite(image, alpha, background), alpha
