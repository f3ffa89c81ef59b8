"""The size a model was trained at, stored beside it in ``model_info.json``.

A DeepLabV3 accepts images of any size, so its ``.keras`` file does not say
at which resolution it learned. Training (:func:`seglab.train.fit`, used by
``seglab train deeplabv3`` and ``seglab train unet``) therefore writes
``model_info.json`` in the run folder, beside ``model.keras`` and
``best.keras``, before the first epoch::

    {"image_size": [384, 384], "num_classes": 21, "class_names": [...],
     "model": "deeplabv3", "resize": "letterbox"}

``resize`` says how the training images were fitted to ``image_size``:
``"letterbox"`` (aspect ratio kept, padded) or ``"squash"`` (resized to the
square, aspect ratio not kept: the Pets U-Net). An info written before the
key existed means ``"letterbox"``.

``seglab evaluate``, ``seglab export`` and ``seglab predict`` read it with
:func:`trained_size` and :func:`trained_resize`, and prepare every image the
same way. Copy it along with the model to use the model elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

INFO_FILE = "model_info.json"
RESIZE_MODES = ("letterbox", "squash")
"""How images are fitted to the trained size (:func:`seglab.evaluate.fit_to_size`)."""
DEFAULT_RESIZE = "letterbox"
"""The mode of an info without a ``resize`` key (runs from before it was stored)."""


def check_resize(resize: str, where: str = "resize") -> str:
    """``resize`` if it is one of :data:`RESIZE_MODES`, else a ``ValueError``."""
    if resize not in RESIZE_MODES:
        raise ValueError(
            f"{where} must be one of {', '.join(RESIZE_MODES)}, got {resize!r}"
        )
    return resize


def info_path(model_path: str | os.PathLike) -> Path:
    """Where the info of ``model_path`` (a ``.keras`` file) is stored."""
    return Path(model_path).parent / INFO_FILE


def write_model_info(
    out_dir: str | os.PathLike,
    *,
    image_size: tuple[int, int],
    num_classes: int,
    model_name: str = "",
    resize: str = DEFAULT_RESIZE,
) -> Path:
    """Write ``out_dir/model_info.json`` for the models trained in ``out_dir``.

    ``resize`` (one of :data:`RESIZE_MODES`) is how the training images were
    fitted to ``image_size``.
    """
    from seglab.evaluate import class_names_for

    check_resize(resize)

    height, width = (int(side) for side in image_size)
    info = {
        "image_size": [height, width],
        "num_classes": int(num_classes),
        "class_names": list(class_names_for(int(num_classes))),
        "model": model_name,
        "resize": resize,
    }
    path = Path(out_dir) / INFO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def read_model_info(model_path: str | os.PathLike) -> dict:
    """The stored info of a model file, or ``{}`` when there is none."""
    path = info_path(model_path)
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); delete it and pass --image-size "
            "with the size the model was trained at"
        ) from error
    return info if isinstance(info, dict) else {}


def _old_run_hint(model_path: Path) -> str:
    """What an old run's ``metrics.json`` says about its training size, if any."""
    metrics_file = model_path.parent / "metrics.json"
    try:
        size = json.loads(metrics_file.read_text())["settings"]["image_size"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f" (its {metrics_file} says settings.image_size = {size})"


def trained_size(
    model_path: str | os.PathLike,
    fixed_size: tuple[int | None, int | None] = (None, None),
    requested: int | None = None,
) -> tuple[int, int]:
    """``(height, width)`` the model at ``model_path`` was trained at.

    The stored ``model_info.json`` wins, then a fixed model input
    ``fixed_size`` (a U-Net's). ``requested`` (``--image-size``) must agree
    with a stored size (``ValueError`` otherwise); it is only needed, and
    only used, for a model of any input size trained before the size was
    stored (an old run), which without it is a ``ValueError`` naming the fix.
    """
    model_path = Path(model_path)
    info = read_model_info(model_path)
    stored: tuple[int, int] | None = None
    where = ""
    if "image_size" in info:
        height, width = info["image_size"]
        stored, where = (int(height), int(width)), f"stored in {info_path(model_path)}"
    elif fixed_size[0] and fixed_size[1]:
        stored = (int(fixed_size[0]), int(fixed_size[1]))
        where = "the model's fixed input size"
    if requested is not None and requested <= 0:
        raise ValueError(f"--image-size must be positive, got {requested}")
    if stored is not None:
        if requested is not None and (requested, requested) != stored:
            raise ValueError(
                f"--image-size {requested} disagrees with the size {model_path} was "
                f"trained at, {stored[0]} x {stored[1]} ({where}); leave "
                "--image-size out to use the trained size"
            )
        return stored
    if requested is not None:
        return int(requested), int(requested)
    raise ValueError(
        f"{model_path} accepts any input size and no trained size is stored "
        f"with it (no {info_path(model_path)}: an older run, or the file was "
        "copied without it). Pass --image-size N with the size it was trained "
        f"at{_old_run_hint(model_path)}, or retrain: training now writes "
        f"{INFO_FILE} beside model.keras"
    )


def trained_resize(model_path: str | os.PathLike) -> str:
    """How the model at ``model_path`` saw its training images fitted to size.

    ``"letterbox"`` or ``"squash"`` as stored in ``model_info.json``; an info
    without the key, or no info at all (an older run), means ``"letterbox"``.
    An unknown value is a ``ValueError`` naming the file.
    """
    info = read_model_info(model_path)
    resize = info.get("resize", DEFAULT_RESIZE)
    return check_resize(resize, f'"resize" in {info_path(model_path)}')
