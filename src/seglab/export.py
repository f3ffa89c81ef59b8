"""Export for serving, and prediction on image files.

:func:`export_saved_model` writes a TensorFlow SavedModel whose
``serving_default`` signature takes a batch of **encoded image bytes** (JPEG,
PNG, GIF or BMP, each of any size), decodes and resizes them *inside the graph*,
runs the model and returns each image's class map **at that image's own size**.
A batch of different sizes cannot be one dense tensor, so the maps come padded
to the batch's largest height and width with 255 (the ignore label), together
with every image's ``height`` and ``width``::

    serve(images: string (N,)) -> {"class_map": int32 (N, H_max, W_max),
                                    "height": int32 (N,), "width": int32 (N,)}

Each image is prepared as ``seglab evaluate`` prepares it
(:func:`seglab.evaluate.letterbox`): resized bilinearly with its aspect ratio
kept to fit the size the model was trained at, values in [0, 1], padded with
grey. The padding is cropped off the logits, which are resized bilinearly to
the image's size, **but never beyond** :data:`MAX_LOGIT_SIDE` on the longer
side: a ``(H, W, C)`` float tensor at a photo's full size would take
``C * H * W * 4`` bytes (21 classes at 4000 x 3000: 1 GB). For a larger
image the argmax is taken at that bounded size and the class map is resized
to the image's size by nearest neighbour. Up to ``MAX_LOGIT_SIDE`` the maps
are exactly those ``seglab evaluate`` scores. Serving needs only TensorFlow,
not seglab.

:func:`predict_files` runs either a ``.keras`` model or an exported SavedModel
on image files and writes ``<stem>_label.png`` (a palettised PNG with the VOC
colour table: pixel values are class indices) and ``<stem>_overlay.png``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from seglab.evaluate import class_map_from_logits, class_names_for, letterbox
from seglab.palette import IGNORE_LABEL, PETS_CLASSES, VOC_COLORMAP, label_to_color

PAD_VALUE = IGNORE_LABEL
MAX_LOGIT_SIDE = 512
"""Longest side logits are resized to before the argmax (bounds serving memory)."""
SIGNATURE = "serving_default"
INFO_FILE = "seglab.json"
"""Written beside ``saved_model.pb``: class count and names, serving size."""


def serving_input_size(
    model: keras.Model, image_size: int | tuple[int, int] | None = None
) -> tuple[int, int]:
    """``(height, width)`` that serving resizes to: the model's, else ``image_size``."""
    height, width = model.input_shape[1:3]
    if height and width:
        return int(height), int(width)
    if image_size is None:
        raise ValueError(
            f"model {model.name} accepts any input size: pass image_size (e.g. "
            "the size it was trained at) to choose the serving resolution"
        )
    if isinstance(image_size, int):
        return int(image_size), int(image_size)
    height, width = image_size
    return int(height), int(width)


def make_serving_function(
    model: keras.Model,
    image_size: int | tuple[int, int] | None = None,
    max_side: int = MAX_LOGIT_SIDE,
) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    """The serving function: encoded images ``(N,)`` string -> padded class maps.

    See the module docstring for the outputs and ``max_side``. Decoding
    failures raise ``tf.errors.InvalidArgumentError`` for the whole batch.
    """
    size = serving_input_size(model, image_size)

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        padded, content = letterbox(image, size)
        return padded, content, tf.shape(image)[:2]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve(images):
        batch, contents, shapes = tf.map_fn(
            decode,
            images,
            fn_output_signature=(
                tf.TensorSpec([*size, 3], tf.float32),
                tf.TensorSpec([2], tf.int32),
                tf.TensorSpec([2], tf.int32),
            ),
        )
        logits = tf.cast(model(batch, training=False), tf.float32)
        max_shape = tf.reduce_max(shapes, axis=0)

        def class_map(args):
            image_logits, content, shape = args
            labels = class_map_from_logits(image_logits, content, shape, max_side)
            padding = [[0, max_shape[0] - shape[0]], [0, max_shape[1] - shape[1]]]
            return tf.pad(labels, padding, constant_values=PAD_VALUE)

        maps = tf.map_fn(
            class_map,
            (logits, contents, shapes),
            fn_output_signature=tf.TensorSpec([None, None], tf.int32),
        )
        return {"class_map": maps, "height": shapes[:, 0], "width": shapes[:, 1]}

    return serve


def export_saved_model(
    model: keras.Model,
    out_dir: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    force: bool = False,
) -> Path:
    """Write ``model`` as a SavedModel with the image-bytes serving signature.

    Raises ``FileExistsError`` when ``out_dir`` exists and is not empty, unless
    ``force`` (then it is replaced).
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise FileExistsError(
                f"{out} already exists; choose another folder or pass --force "
                "(force=True) to replace it"
            )
        if out.is_dir():
            shutil.rmtree(out)
        else:
            out.unlink()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SIGNATURE,
        make_serving_function(model, image_size),
        input_signature=[tf.TensorSpec([None], tf.string, name="images")],
    )
    archive.write_out(str(out), verbose=False)
    num_classes = int(model.output_shape[-1])
    info = {
        "num_classes": num_classes,
        "input_size": list(serving_input_size(model, image_size)),
        "class_names": list(class_names_for(num_classes)),
        "signature": SIGNATURE,
        "preprocessing": "aspect ratio kept, grey padding cropped off the logits",
        "max_logit_side": MAX_LOGIT_SIDE,
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return out


def exported_info(path: str | os.PathLike) -> dict:
    """The ``seglab.json`` written beside an export (class count, names, size).

    Empty for a SavedModel written by other tools.
    """
    info = Path(path) / INFO_FILE
    return json.loads(info.read_text()) if info.is_file() else {}


def load_saved_model(path: str | os.PathLike) -> Callable:
    """The serving signature of an exported SavedModel folder."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"{path} is not a SavedModel folder (no saved_model.pb); create one "
            "with `seglab export MODEL OUT_DIR`"
        )
    loaded = tf.saved_model.load(str(path))
    if SIGNATURE not in loaded.signatures:
        raise ValueError(
            f"{path} has no {SIGNATURE!r} signature (it has "
            f"{', '.join(loaded.signatures) or 'none'}); re-export it with seglab"
        )
    signature = loaded.signatures[SIGNATURE]
    signature._loaded_module = loaded  # keep the variables alive
    return signature


def unpad(outputs: dict) -> list[np.ndarray]:
    """Crop the padded ``class_map`` outputs: a list of ``(H_i, W_i)`` int32 maps."""
    maps = np.asarray(outputs["class_map"])
    heights = np.asarray(outputs["height"])
    widths = np.asarray(outputs["width"])
    return [m[:h, :w] for m, h, w in zip(maps, heights, widths, strict=True)]


def predict_encoded(
    serve: Callable, encoded_images: Sequence[bytes]
) -> list[np.ndarray]:
    """Class maps ``(H_i, W_i)`` int32 of encoded images, by a serving function."""
    outputs = serve(images=tf.constant(list(encoded_images), dtype=tf.string))
    return unpad({key: value.numpy() for key, value in outputs.items()})


def keras_class_maps(
    model: keras.Model,
    images: Sequence[np.ndarray],
    image_size: int | tuple[int, int] | None = None,
    max_side: int | None = MAX_LOGIT_SIDE,
) -> list[np.ndarray]:
    """The same prediction done eagerly with Keras, for comparison with serving.

    ``images``: ``(H_i, W_i, 3)`` uint8 arrays -> ``(H_i, W_i)`` int32 maps.
    With ``max_side=None`` the logits are resized to each image's full size
    (what ``seglab evaluate`` scores; memory grows with the image).
    """
    size = serving_input_size(model, image_size)
    maps = []
    for image in images:
        padded, content = letterbox(tf.convert_to_tensor(image), size)
        logits = model.predict(padded[tf.newaxis], verbose=0)[0]
        shape = tf.constant(np.asarray(image).shape[:2], tf.int32)
        maps.append(class_map_from_logits(logits, content, shape, max_side).numpy())
    return maps


# --- writing predictions -----------------------------------------------------


def save_label_png(class_map: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a class map as a palettised PNG (values = classes, VOC colours)."""
    class_map = np.asarray(class_map)
    if class_map.min() < 0 or class_map.max() > 255:
        raise ValueError(f"class indices must lie in [0, 255] to save {path}")
    image = Image.fromarray(class_map.astype(np.uint8), mode="P")
    image.putpalette(VOC_COLORMAP.reshape(-1).tolist())
    image.save(path, format="PNG")
    return Path(path)


def overlay_classes(
    image: np.ndarray,
    class_map: np.ndarray,
    *,
    background_class: int = 0,
    alpha: float = 0.5,
) -> np.ndarray:
    """Blend class colours over an image, leaving ``background_class`` unblended.

    ``image`` ``(H, W, 3)`` uint8, ``class_map`` ``(H, W)`` -> ``(H, W, 3)`` uint8.
    """
    image = np.asarray(image, dtype=np.float32)
    colors = label_to_color(class_map).astype(np.float32)
    keep = (class_map == background_class) | (class_map == IGNORE_LABEL)
    blended = np.where(keep[..., None], image, (1 - alpha) * image + alpha * colors)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def background_class_for(num_classes: int) -> int:
    """The class an overlay leaves unblended: Pets' background (1) or VOC's (0)."""
    return PETS_CLASSES.index("background") if num_classes == len(PETS_CLASSES) else 0


@dataclasses.dataclass
class PredictionReport:
    """What :func:`predict_files` wrote and which inputs failed (with why)."""

    written: list[Path] = dataclasses.field(default_factory=list)
    failed: dict[Path, str] = dataclasses.field(default_factory=dict)


def serving_function_for(
    model_path: str | os.PathLike, image_size: int | tuple[int, int] | None = None
) -> tuple[Callable, int | None]:
    """A serving function and the class count for a ``.keras`` file or SavedModel.

    A ``.keras`` model is served at the size it was trained at
    (:func:`seglab.model_info.trained_size`; ``image_size`` must agree with it,
    or stand in for it for an old run); a SavedModel has its size built in.
    """
    path = Path(model_path)
    if path.is_dir():
        serve = load_saved_model(path)
        num_classes = exported_info(path).get("num_classes")
    else:
        from seglab.evaluate import load_model
        from seglab.model_info import trained_size

        model = load_model(path)
        size = trained_size(path, model.input_shape[1:3], image_size)
        serve = make_serving_function(model, size)
        num_classes = int(model.output_shape[-1])
    return serve, num_classes


def output_stems(paths: Sequence[Path]) -> list[str]:
    """A distinct output name per input: its stem, numbered when stems repeat.

    ``a/x.jpg``, ``b/x.jpg``, ``x.png`` -> ``x``, ``x-2``, ``x-3``, so no
    prediction overwrites another; a numbered name never equals another
    input's stem.
    """
    taken = {path.stem for path in paths}
    seen: set[str] = set()
    stems = []
    for path in paths:
        stem, number = path.stem, 1
        while stem in seen or (number > 1 and stem in taken):
            number += 1
            stem = f"{path.stem}-{number}"
        seen.add(stem)
        stems.append(stem)
    return stems


def predict_files(
    serve: Callable,
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    num_classes: int | None = None,
) -> PredictionReport:
    """Predict image files; write ``<stem>_label.png`` and ``<stem>_overlay.png``.

    Inputs that share a stem get numbered names (:func:`output_stems`).

    Files are processed one by one, so an unreadable file is recorded in the
    report's ``failed`` (with the reason) and the others still run. With
    ``num_classes`` unknown (a SavedModel from elsewhere), overlays leave
    class 0 unblended.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    background = background_class_for(num_classes) if num_classes else 0
    report = PredictionReport()
    paths = [Path(p) for p in paths]
    for path, stem in zip(paths, output_stems(paths), strict=True):
        try:
            encoded = path.read_bytes()
        except OSError as error:
            report.failed[path] = f"cannot read it ({error.strerror or error})"
            continue
        try:
            image = tf.io.decode_image(
                encoded, channels=3, expand_animations=False
            ).numpy()
            (class_map,) = predict_encoded(serve, [encoded])
        except (tf.errors.InvalidArgumentError, ValueError):
            report.failed[path] = "not a readable JPEG, PNG, GIF or BMP image"
            continue
        label_path = save_label_png(class_map, out / f"{stem}_label.png")
        overlay_path = out / f"{stem}_overlay.png"
        Image.fromarray(
            overlay_classes(image, class_map, background_class=background)
        ).save(overlay_path, format="PNG")
        report.written += [label_path, overlay_path]
    return report
