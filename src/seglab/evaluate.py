"""Evaluation: test-set scores, per-image losses, hardest examples, training logs.

- :func:`evaluate_model` scores a model in inference mode over a whole dataset
  with the confusion-matrix definitions of :mod:`seglab.metrics` (one source of
  truth): pixel accuracy, mean accuracy, mIoU, per-class IoU, the matrix.
- :func:`evaluate_original_size` is what ``seglab evaluate`` reports: each
  image is fitted to the size the model was trained at the way its training
  images were (:func:`fit_to_size`, mode stored by :mod:`seglab.model_info`):
  ``"letterbox"`` resizes it with its aspect ratio kept and pads it with grey
  (the padding is cropped off the logits again), ``"squash"`` resizes it to
  the square (the Pets U-Net is trained so). Either way the logits are
  resized bilinearly to the image's **original** size, and the class map is
  scored against the original label (255 ignored), so the figures compare
  with published ones. :func:`evaluate_model` scores whatever batches it is
  given (the lessons' resized test sets).
- :func:`per_image_losses` and :func:`hardest_examples` rank test images by
  their mean cross-entropy (exercise 6: ``tf.math.top_k`` of per-image losses).
- :func:`read_history` reads ``history.csv``; :func:`read_event_scalars` reads
  the TensorBoard event files that training wrote under ``logs/``.
- The command line (``seglab evaluate``) lives in :mod:`seglab.cli.model`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seglab import metrics
from seglab.palette import IGNORE_LABEL, PETS_CLASSES, VOC_CLASSES


def evaluate_model(
    model: keras.Model,
    dataset: tf.data.Dataset,
    num_classes: int | None = None,
    ignore_label: int = IGNORE_LABEL,
) -> dict:
    """Score ``model`` (inference mode) over every batch of ``dataset``.

    ``dataset`` yields ``(images (B, H, W, 3) float32, labels (B, H, W) int)``.
    Returns ``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``, ``mean_f1``
    (floats), ``per_class_iou`` and ``per_class_f1`` ``(C,)`` float64 (NaN:
    class absent from truth and prediction), ``confusion_matrix`` ``(C, C)``
    int64 (rows: truth), ``class_pixels`` ``(C,)`` int64 (labelled pixels per
    class) and ``images``.
    """
    if num_classes is None:
        num_classes = int(model.output_shape[-1])
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    images_seen = 0
    for images, labels in dataset:
        logits = model(images, training=False)
        matrix += metrics.confusion_matrix(
            labels, logits, num_classes, ignore_label
        ).numpy()
        images_seen += int(images.shape[0])
    return _report(matrix, images_seen)


def _report(matrix: np.ndarray, images_seen: int) -> dict:
    """Scores of one confusion matrix accumulated over ``images_seen`` images."""
    if images_seen == 0:
        raise ValueError("the dataset is empty: nothing to evaluate")
    return {
        **metrics.scores_from_matrix(matrix),
        "confusion_matrix": matrix,
        "class_pixels": matrix.sum(axis=1),
        "images": images_seen,
    }


PAD_IMAGE_VALUE = 0.5
"""Value (images in [0, 1]) of the padding that squares an image: neutral grey."""


def letterbox(image: tf.Tensor, size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """Fit an image into ``size`` with its aspect ratio kept, padded at the end.

    ``image`` ``(H, W, 3)`` uint8 (any size) is resized bilinearly so that it
    fits ``size = (height, width)`` with one side touching (each side
    ``round(side * scale)``, at least 1), scaled to [0, 1] as the loaders do,
    and padded at the bottom and right with :data:`PAD_IMAGE_VALUE`.
    Returns ``(image (height, width, 3) float32, content (2,) int32)``, where
    ``content`` is the resized image's ``(h, w)`` before the padding.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float64)
    box = tf.constant(size, tf.float64)
    scale = tf.reduce_min(box / shape)
    content = tf.cast(tf.maximum(tf.round(shape * scale), 1.0), tf.int32)
    content = tf.minimum(content, tf.constant(size, tf.int32))
    resized = tf.image.resize(image, content, method="bilinear") / 255.0
    padding = [[0, size[0] - content[0]], [0, size[1] - content[1]], [0, 0]]
    padded = tf.pad(
        tf.cast(resized, tf.float32), padding, constant_values=PAD_IMAGE_VALUE
    )
    padded.set_shape([*size, 3])
    return padded, content


def squash(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resize an image to ``size`` without keeping its aspect ratio.

    ``image`` ``(H, W, 3)`` uint8 -> ``(height, width, 3)`` float32 in [0, 1]:
    bilinear, rounded to uint8 and scaled, exactly as
    ``seglab.data.pets_dataset(squash=True)`` prepares the training images.
    """
    resized = tf.image.resize(image, size, method="bilinear")
    resized = tf.clip_by_value(tf.round(resized), 0.0, 255.0) / 255.0
    resized = tf.cast(resized, tf.float32)
    resized.set_shape([*size, 3])
    return resized


def fit_to_size(
    image: tf.Tensor, size: tuple[int, int], resize: str = "letterbox"
) -> tuple[tf.Tensor, tf.Tensor]:
    """Fit an image to the trained ``size`` as the model's training images were.

    ``resize`` is ``"letterbox"`` (:func:`letterbox`: aspect ratio kept, grey
    padding) or ``"squash"`` (:func:`squash`: resized to ``size``). Returns
    ``(image (height, width, 3) float32, content (2,) int32)``: the part of
    the image that is not padding (all of it, ``size``, when squashed), for
    :func:`class_map_from_logits`.
    """
    from seglab.model_info import check_resize

    check_resize(resize)
    if resize == "squash":
        return squash(image, size), tf.constant(size, tf.int32)
    return letterbox(image, size)


def logit_target_shape(shape: tf.Tensor, max_side: int | None = None) -> tf.Tensor:
    """The ``(h, w)`` logits are resized to for an image of ``shape``.

    The image's own shape, or with ``max_side`` and a longer side, that shape
    scaled (aspect kept, each side rounded, at least 1) so the longer side is
    ``max_side``: this bounds the memory of the ``(h, w, C)`` float logits.
    """
    shape = tf.cast(shape, tf.int32)
    if max_side is None:
        return shape
    longest = tf.reduce_max(shape)
    scale = tf.minimum(
        tf.constant(1.0, tf.float64), max_side / tf.cast(longest, tf.float64)
    )
    scaled = tf.round(tf.cast(shape, tf.float64) * scale)
    return tf.cast(tf.maximum(scaled, 1.0), tf.int32)


def class_map_from_logits(
    logits: tf.Tensor,
    content: tf.Tensor,
    shape: tf.Tensor,
    max_side: int | None = None,
) -> tf.Tensor:
    """One image's class map ``(H, W)`` int32 at its original ``shape``.

    ``logits`` ``(h_in, w_in, C)`` of an image prepared by
    :func:`fit_to_size`: the padding is cropped off (``content``; nothing
    for a squashed image), the rest resized bilinearly to
    :func:`logit_target_shape` (the original shape, or at most ``max_side``
    on the longer side), the argmax taken, and a class map smaller than
    ``shape`` resized to it by nearest neighbour.
    """
    logits = tf.cast(logits[: content[0], : content[1]], tf.float32)
    target = logit_target_shape(shape, max_side)
    resized = tf.image.resize(logits, target, method="bilinear")
    labels = tf.argmax(resized, axis=-1, output_type=tf.int32)
    if max_side is None:
        return labels
    labels = tf.image.resize(
        labels[..., tf.newaxis], tf.cast(shape, tf.int32), method="nearest"
    )
    return labels[..., 0]


def evaluate_original_size(
    model: keras.Model,
    pairs: tf.data.Dataset,
    image_size: int | tuple[int, int],
    num_classes: int | None = None,
    *,
    batch_size: int = 8,
    ignore_label: int = IGNORE_LABEL,
    resize: str = "letterbox",
) -> dict:
    """Score ``model`` at each image's original resolution (``seglab evaluate``).

    ``pairs`` yields unbatched ``(image (H, W, 3) uint8, label (H, W) int)``
    of any sizes (:func:`original_pairs`). Each image is fitted to
    ``image_size`` (the size the model was trained at) by
    :func:`fit_to_size` with ``resize`` (how the training images were
    fitted: ``"letterbox"`` or ``"squash"``), batches of
    ``batch_size`` run through the model in inference mode, each image's
    logits are cropped and resized bilinearly to its original size
    (:func:`class_map_from_logits`), and one confusion matrix is accumulated
    against the original labels over the whole split (``ignore_label``
    pixels left out). Returns what :func:`evaluate_model` returns, plus
    ``image_size`` and ``resize``.
    """
    from seglab.data import pipeline
    from seglab.model_info import check_resize

    check_resize(resize)
    size = pipeline.image_size_pair(image_size)
    if num_classes is None:
        num_classes = int(model.output_shape[-1])

    def prepare(image, label):
        label = tf.cast(label, tf.int32)
        if label.shape.rank == 3:
            label = label[..., 0]
        fitted, content = fit_to_size(image, size, resize)
        return fitted, content, label, tf.shape(label)

    batches = (
        pairs.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .padded_batch(batch_size, padding_values=(0.0, 0, ignore_label, 0))
        .prefetch(tf.data.AUTOTUNE)
    )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    images_seen = 0
    for images, contents, labels, shapes in batches:
        logits = model(images, training=False)
        for i in range(int(images.shape[0])):
            class_map = class_map_from_logits(logits[i], contents[i], shapes[i])
            height, width = (int(side) for side in shapes[i])
            label = labels[i, :height, :width]
            outside = (label >= num_classes) & (label != ignore_label)
            if bool(tf.reduce_any(outside)):
                raise ValueError(
                    f"a label of image {images_seen + i} is "
                    f"{int(tf.reduce_max(tf.where(outside, label, 0)))}, but the "
                    f"model has {num_classes} classes: evaluate it on the data it "
                    "was trained for (--data)"
                )
            matrix += metrics.confusion_matrix(
                label[tf.newaxis], class_map[tf.newaxis], num_classes, ignore_label
            ).numpy()
        images_seen += int(images.shape[0])
    return {**_report(matrix, images_seen), "image_size": size, "resize": resize}


def majority_baseline(confusion_matrix: np.ndarray) -> dict:
    """Scores of a model that predicts the most frequent true class everywhere."""
    matrix = np.asarray(confusion_matrix)
    true_counts = matrix.sum(axis=1)
    constant = np.zeros_like(matrix)
    constant[:, int(np.argmax(true_counts))] = true_counts
    scores = metrics.scores_from_matrix(constant)
    return {key: scores[key] for key in ("pixel_accuracy", "mean_accuracy", "mean_iou")}


def per_image_losses(
    model: keras.Model,
    dataset: tf.data.Dataset,
    ignore_label: int = IGNORE_LABEL,
) -> np.ndarray:
    """Mean cross-entropy of each image over its labelled pixels: ``(N,)`` float32.

    Images are taken in dataset order (keep the dataset unshuffled to match
    indices with :func:`take_examples`). An image with no labelled pixel scores 0.
    """
    losses = []
    for images, labels in dataset:
        logits = tf.cast(model(images, training=False), tf.float32)
        labels = tf.cast(labels, tf.int32)
        valid = tf.not_equal(labels, ignore_label)
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
        valid = tf.cast(valid, tf.float32)
        summed = tf.reduce_sum(pixel_loss * valid, axis=[1, 2])
        losses.append(tf.math.divide_no_nan(summed, tf.reduce_sum(valid, axis=[1, 2])))
    if not losses:
        return np.zeros(0, dtype=np.float32)
    return tf.concat(losses, axis=0).numpy()


def top_n_hardest(losses: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``n`` largest losses, largest first (``top_k``)."""
    losses = tf.convert_to_tensor(np.asarray(losses, dtype=np.float32))
    n = min(int(n), int(losses.shape[0]))
    if n < 1:
        raise ValueError("n must be at least 1 and the losses must not be empty")
    values, indices = tf.math.top_k(losses, k=n)
    return indices.numpy(), values.numpy()


def take_examples(
    dataset: tf.data.Dataset, indices: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels at ``indices`` (dataset order) of a batched dataset.

    Returns ``(images (n, H, W, 3), labels (n, H, W))`` in the order of ``indices``.
    """
    wanted = {int(i): position for position, i in enumerate(indices)}
    images: list = [None] * len(wanted)
    labels: list = [None] * len(wanted)
    offset = 0
    for batch_images, batch_labels in dataset:
        size = int(batch_images.shape[0])
        for i in range(offset, offset + size):
            if i in wanted:
                images[wanted[i]] = batch_images[i - offset].numpy()
                labels[wanted[i]] = batch_labels[i - offset].numpy()
        offset += size
        if all(x is not None for x in images):
            break
    missing = [i for i, x in zip(wanted, images, strict=True) if x is None]
    if missing:
        raise IndexError(f"indices {missing} are past the dataset's {offset} images")
    return np.stack(images), np.stack(labels)


def hardest_examples(model: keras.Model, dataset: tf.data.Dataset, n: int = 4) -> dict:
    """The ``n`` test images with the highest mean cross-entropy.

    Returns ``indices``, ``losses`` (largest first), ``images`` ``(n, H, W, 3)``,
    ``labels`` ``(n, H, W)``, ``predictions`` ``(n, H, W)`` int64 class maps and
    ``all_losses`` ``(N,)``.
    """
    all_losses = per_image_losses(model, dataset)
    indices, losses = top_n_hardest(all_losses, n)
    images, labels = take_examples(dataset, indices)
    predictions = np.argmax(model.predict(images, verbose=0), axis=-1)
    return {
        "indices": indices,
        "losses": losses,
        "images": images,
        "labels": labels,
        "predictions": predictions,
        "all_losses": all_losses,
    }


# --- training logs -----------------------------------------------------------


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """``history.csv`` (written by ``CSVLogger``) as a DataFrame, one row per epoch."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"no training history at {path}; train first (it is written by "
            "`seglab train ...` and by seglab.train.fit)"
        )
    return pd.read_csv(path)


def _scalar_value(value) -> float | None:
    """A summary value's number: TF2 stores it as a tensor, TF1 as simple_value."""
    if value.HasField("tensor"):
        array = tf.make_ndarray(value.tensor)
        numeric = array.dtype.kind in "fiub"  # not the model config (a string)
        return float(array) if numeric and array.size == 1 else None
    if value.HasField("simple_value"):
        return float(value.simple_value)
    return None


def read_event_scalars(log_dir: str | os.PathLike) -> pd.DataFrame:
    """Every scalar in the TensorBoard event files under ``log_dir``.

    Returns a DataFrame with columns ``run`` (sub-folder, e.g. ``train`` or
    ``validation``), ``tag`` (e.g. ``epoch_loss``), ``step`` and ``value``,
    sorted by run, tag and step.
    """
    root = Path(log_dir)
    files = sorted(root.rglob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(
            f"no TensorBoard event files under {root}; train with the TensorBoard "
            "callback (seglab.train.fit writes them to <out>/logs)"
        )
    rows = []
    for file in files:
        run = file.parent.relative_to(root).as_posix()
        for record in tf.data.TFRecordDataset(str(file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = _scalar_value(value)
                if number is not None:
                    rows.append((run, value.tag, int(event.step), number))
    frame = pd.DataFrame(rows, columns=["run", "tag", "step", "value"])
    return frame.sort_values(["run", "tag", "step"], ignore_index=True)


def event_curve(scalars: pd.DataFrame, run: str, tag: str) -> pd.Series:
    """One curve from :func:`read_event_scalars`: value indexed by step."""
    rows = scalars[(scalars["run"] == run) & (scalars["tag"] == tag)]
    if rows.empty:
        pairs = zip(scalars["run"], scalars["tag"], strict=True)
        known = sorted({f"{r}/{t}" for r, t in pairs})
        raise KeyError(f"no scalar {run}/{tag}; the logs hold: {', '.join(known)}")
    return rows.set_index("step")["value"]


# --- reports -----------------------------------------------------------------


def class_names_for(num_classes: int) -> tuple[str, ...]:
    """Names for a model's classes: Pets (3), VOC (21) or ``class_<i>``."""
    if num_classes == len(PETS_CLASSES):
        return PETS_CLASSES
    if num_classes == len(VOC_CLASSES):
        return VOC_CLASSES
    return tuple(f"class_{i}" for i in range(num_classes))


def per_class_table(
    result: dict, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-class IoU, F1, accuracy (recall) and labelled pixels as a DataFrame."""
    matrix = np.asarray(result["confusion_matrix"], dtype=np.float64)
    names = class_names or class_names_for(len(matrix))
    true_counts = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true_counts > 0, np.diag(matrix) / true_counts, np.nan)
    return pd.DataFrame(
        {
            "iou": result["per_class_iou"],
            "f1": result["per_class_f1"],
            "accuracy": recall,
            "pixels": true_counts.astype(np.int64),
        },
        index=pd.Index(list(names), name="class"),
    )


def to_json(result: dict, class_names: Sequence[str] | None = None) -> dict:
    """A JSON-ready copy of :func:`evaluate_model`'s result (NaN -> null)."""
    names = list(class_names or class_names_for(len(result["confusion_matrix"])))

    def number(value):
        value = float(value)
        return None if value != value else value

    return {
        "pixel_accuracy": number(result["pixel_accuracy"]),
        "mean_accuracy": number(result["mean_accuracy"]),
        "mean_iou": number(result["mean_iou"]),
        "per_class_iou": {
            name: number(v)
            for name, v in zip(names, result["per_class_iou"], strict=True)
        },
        "mean_f1": number(result["mean_f1"]),
        "per_class_f1": {
            name: number(v)
            for name, v in zip(names, result["per_class_f1"], strict=True)
        },
        "class_pixels": {
            name: int(v) for name, v in zip(names, result["class_pixels"], strict=True)
        },
        "images": int(result["images"]),
        "confusion_matrix": np.asarray(result["confusion_matrix"]).tolist(),
    }


def format_report(result: dict, class_names: Sequence[str] | None = None) -> str:
    """A plain-text report: the four scores and a per-class table."""
    table = per_class_table(result, class_names)
    lines = [
        f"images         : {result['images']}",
        f"pixel accuracy : {result['pixel_accuracy']:.4f}",
        f"mean accuracy  : {result['mean_accuracy']:.4f}",
        f"mean IoU       : {result['mean_iou']:.4f}",
        f"mean F1        : {result['mean_f1']:.4f}",
        "",
        f"{'class':<14}{'IoU':>8}{'F1':>8}{'acc':>8}{'pixels':>12}",
    ]

    def cell(value: float) -> str:
        return "-" if np.isnan(value) else f"{value:.4f}"

    for name, row in table.iterrows():
        lines.append(
            f"{name:<14}{cell(row['iou']):>8}{cell(row['f1']):>8}"
            f"{cell(row['accuracy']):>8}{int(row['pixels']):>12}"
        )
    return "\n".join(lines)


# --- models and data for the command line ------------------------------------


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model written by seglab, without its training config.

    Raises ``FileNotFoundError`` / ``ValueError`` with the path and the fix.
    """
    import seglab.models  # noqa: F401  (registers the custom layers)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"model file {path} does not exist; train one with `seglab train unet` "
            "or `seglab train deeplabv3` (they write <out>/model.keras)"
        )
    if path.is_dir() or path.suffix != ".keras":
        raise ValueError(
            f"{path} is not a .keras file; pass the model.keras that training "
            "wrote (a SavedModel folder is for serving: see `seglab predict`)"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        raise ValueError(f"cannot load model {path}: {error}") from error


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` argument."""

    kind: str  # "pets" or "voc"
    source: str  # "synthetic", "tfds" or a folder

    def describe(self) -> str:
        """Words for reports: which dataset, from where."""
        name = "Oxford-IIIT Pet" if self.kind == "pets" else "PASCAL VOC 2012"
        if self.kind == "pets":
            from seglab.data import pets

            return pets.describe_source(self.source)
        if self.source == "synthetic":
            return f"built-in synthetic data ({name} format)"
        if self.source == "tfds":
            return f"{name} (tensorflow-datasets)"
        return f"{name} folder {self.source}"


def parse_data(text: str, num_classes: int | None = None) -> DataSpec:
    """``sample``, ``synthetic``, ``tfds``, ``pets:DIR``, ``voc:DIR``,
    ``voc:synthetic`` -> spec.

    Plain ``synthetic`` picks the dataset by the model's class count (21: VOC,
    otherwise Pets).
    """
    text = text.strip()
    if text == "sample":
        return DataSpec("pets", "sample")
    if text == "synthetic":
        kind = "voc" if num_classes == len(VOC_CLASSES) else "pets"
        return DataSpec(kind, "synthetic")
    if text == "tfds":
        return DataSpec("pets", "tfds")
    kind, _, source = text.partition(":")
    if kind in ("pets", "voc") and source:
        return DataSpec(kind, source)
    raise ValueError(
        f"--data {text!r} is not understood; use sample, synthetic, tfds, "
        "pets:DIR, voc:DIR or voc:synthetic"
    )


def original_pairs(spec: DataSpec, split: str) -> tf.data.Dataset:
    """The unbatched, unresized ``(image (H, W, 3) uint8, label (H, W) int32)``
    pairs of a split, for :func:`evaluate_original_size`.

    VOC labels keep 255 (boundaries, ignored); Pets trimaps become 0, 1, 2.
    """
    from seglab.data import pets, pipeline, synthetic, voc

    if spec.kind == "pets":
        kind, root = pets.resolve_source(spec.source)
        if kind == "tfds":
            pairs, _ = pets._tfds_pairs(split, None)
        else:
            if split not in pets.SPLITS:
                raise ValueError(
                    f"split must be one of {', '.join(pets.SPLITS)}, got {split!r}"
                )
            pairs, _ = pets._raw_pairs(root, split, kind == "folder")
        offset = pets.TRIMAP_OFFSET
    else:
        root = synthetic.ensure_voc() if spec.source == "synthetic" else spec.source
        folder = voc.find_voc(root)
        ids = voc.read_split_ids(folder, split)
        if not ids:
            raise voc.DatasetError(f"split {split!r} of {folder} is empty")
        label_dir = voc.convert_labels(folder, ids=ids, progress=False)
        files = tf.data.Dataset.from_tensor_slices(
            (
                [str(folder / "JPEGImages" / f"{i}.jpg") for i in ids],
                [str(label_dir / f"{i}.png") for i in ids],
            )
        )
        pairs = files.map(
            lambda image, label: (
                pipeline.decode_image(image),
                pipeline.decode_label(label),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        offset = 0

    def to_labels(image, label):
        label = tf.cast(label, tf.int32)
        if label.shape.rank == 3:
            label = label[..., 0]
        return image, label - offset

    return pairs.map(to_labels, num_parallel_calls=tf.data.AUTOTUNE)
