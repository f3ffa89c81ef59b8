"""The size a model was trained at, stored beside it in ``model_info.json``.

A DeepLabV3 accepts images of any size, so its ``.keras`` file does not say
at which resolution it learned. Training (:func:`seglab.train.fit`, used by
``seglab train deeplabv3`` and ``seglab train unet``) therefore writes
``model_info.json`` in the run folder, beside ``model.keras`` and
``best.keras``, before the first epoch::

    {"image_size": [384, 384], "num_classes": 21, "class_names": [...],
     "model": "deeplabv3"}

``seglab evaluate``, ``seglab export`` and ``seglab predict`` read it with
:func:`trained_size`. Copy it along with the model to use the model elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

INFO_FILE = "model_info.json"


def info_path(model_path: str | os.PathLike) -> Path:
    """Where the info of ``model_path`` (a ``.keras`` file) is stored."""
    return Path(model_path).parent / INFO_FILE


def write_model_info(
    out_dir: str | os.PathLike,
    *,
    image_size: tuple[int, int],
    num_classes: int,
    model_name: str = "",
) -> Path:
    """Write ``out_dir/model_info.json`` for the models trained in ``out_dir``."""
    from seglab.evaluate import class_names_for

    height, width = (int(side) for side in image_size)
    info = {
        "image_size": [height, width],
        "num_classes": int(num_classes),
        "class_names": list(class_names_for(int(num_classes))),
        "model": model_name,
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
