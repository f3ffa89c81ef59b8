"""Figures: prediction grids, confusion matrices, training curves, a display callback.

Every function returns its ``matplotlib`` figure (and shows nothing by itself
outside a notebook), so the same code runs in JupyterLab, in CI and in scripts.
Class maps are coloured with the VOC colour table (:mod:`seglab.palette`);
ignored pixels (255) take VOC's cream boundary colour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seglab.palette import label_to_color

GRID_TITLES = ("input", "truth", "prediction")


def _to_numpy(value) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def colorize(class_map) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 1)`` class map -> ``(H, W, 3)`` uint8 colours."""
    class_map = _to_numpy(class_map)
    if class_map.ndim == 3 and class_map.shape[-1] == 1:
        class_map = class_map[..., 0]
    if class_map.ndim != 2:
        raise ValueError(f"a class map must be (H, W), got shape {class_map.shape}")
    return label_to_color(class_map.astype(np.int64))


def show_grid(
    columns: Sequence[Sequence],
    titles: Sequence[str] = GRID_TITLES,
    *,
    row_labels: Sequence[str] | None = None,
    cell_size: float = 2.4,
) -> plt.Figure:
    """Side-by-side panels: one column per list, one row per example.

    ``columns``: e.g. ``[images, truths, predictions]``; images are ``(H, W, 3)``
    in [0, 1] or uint8, class maps ``(H, W)`` int (coloured; take the argmax
    of logits first).
    """
    columns = [[_to_numpy(item) for item in column] for column in columns]
    if not columns or not columns[0]:
        raise ValueError("show_grid needs at least one column with one example")
    rows = len(columns[0])
    if any(len(column) != rows for column in columns):
        raise ValueError("every column of show_grid needs the same number of examples")
    figure, axes = plt.subplots(
        rows,
        len(columns),
        figsize=(cell_size * len(columns), cell_size * rows),
        squeeze=False,
    )
    for col, column in enumerate(columns):
        for row, item in enumerate(column):
            axis = axes[row, col]
            is_rgb = item.ndim == 3 and item.shape[-1] == 3
            axis.imshow(item if is_rgb else colorize(item))
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0 and col < len(titles):
                axis.set_title(titles[col])
            if col == 0 and row_labels is not None:
                axis.set_ylabel(row_labels[row])
    figure.tight_layout()
    return figure


def predict_class_maps(model: keras.Model, images) -> np.ndarray:
    """Inference-mode class maps: ``(B, H, W, 3)`` -> ``(B, H, W)`` int64."""
    logits = model(_to_numpy(images).astype(np.float32), training=False)
    return np.argmax(_to_numpy(logits), axis=-1)


def show_predictions(
    model: keras.Model,
    dataset=None,
    *,
    images=None,
    labels=None,
    num: int = 3,
) -> plt.Figure:
    """Input / truth / prediction for ``num`` examples (inference mode).

    Give either ``dataset`` (batches of ``(images, labels)``; the first
    ``num`` examples are shown) or ``images`` and ``labels`` arrays.
    """
    if dataset is not None:
        collected_images, collected_labels = [], []
        for batch_images, batch_labels in dataset:
            collected_images.extend(_to_numpy(batch_images))
            collected_labels.extend(_to_numpy(batch_labels))
            if len(collected_images) >= num:
                break
        images = np.stack(collected_images[:num])
        labels = np.stack(collected_labels[:num])
    if images is None or labels is None:
        raise ValueError("show_predictions needs a dataset, or images and labels")
    images, labels = _to_numpy(images)[:num], _to_numpy(labels)[:num]
    predictions = predict_class_maps(model, images)
    return show_grid([list(images), list(labels), list(predictions)])


def plot_confusion_matrix(
    matrix,
    class_names: Sequence[str],
    *,
    normalize: bool = True,
    title: str = "confusion matrix",
) -> plt.Figure:
    """A confusion matrix (rows: truth) as a heat map; rows normalised to sum 1.

    Classes with no true pixel keep a zero row.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"matrix {matrix.shape} does not match {len(class_names)} class names"
        )
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(3.5, 0.45 * len(class_names) + 1.5)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    shown = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(shown, ax=axis, fraction=0.046)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=60, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title + (" (rows sum to 1)" if normalize else ""))
    if len(class_names) <= 12:
        for (row, col), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            colour = (
                "white" if value > (0.5 if normalize else matrix.max() / 2) else "black"
            )
            axis.text(
                col, row, text, ha="center", va="center", color=colour, fontsize=8
            )
    figure.tight_layout()
    return figure


def plot_training_curves(
    history: pd.DataFrame | Mapping[str, Sequence[float]],
    metrics: Sequence[str] = ("loss", "learning_rate", "mean_iou"),
    *,
    x: str = "epoch",
) -> plt.Figure:
    """One panel per metric, training and ``val_`` curves together.

    ``history``: ``history.csv`` as a DataFrame, or ``fit().history``. Metrics
    missing from the history are skipped; none found raises ``KeyError``.
    """
    frame = (
        pd.DataFrame(dict(history))
        if not isinstance(history, pd.DataFrame)
        else history
    )
    steps = frame[x] + 1 if x in frame else pd.Series(np.arange(1, len(frame) + 1))
    shown = [m for m in metrics if m in frame or f"val_{m}" in frame]
    if not shown:
        raise KeyError(
            f"none of {list(metrics)} is in the history (it has {list(frame.columns)})"
        )
    figure, axes = plt.subplots(
        1, len(shown), figsize=(4 * len(shown), 3), squeeze=False
    )
    for axis, metric in zip(axes[0], shown, strict=True):
        if metric in frame:
            axis.plot(steps, frame[metric], "o-", label="train")
        if f"val_{metric}" in frame:
            axis.plot(steps, frame[f"val_{metric}"], "s--", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric.replace("_", " "))
        if metric == "learning_rate":
            axis.set_yscale("log")
        axis.legend()
    figure.tight_layout()
    return figure


def plot_event_scalars(
    scalars: pd.DataFrame, tags: Sequence[str] = ("epoch_loss", "epoch_mean_iou")
) -> plt.Figure:
    """Curves from TensorBoard event files (:func:`seglab.evaluate.read_event_scalars`).

    One panel per tag, one line per run (``train``, ``validation``).
    """
    shown = [t for t in tags if t in set(scalars["tag"])]
    if not shown:
        raise KeyError(
            f"none of {list(tags)} is in the event files (tags: "
            f"{sorted(set(scalars['tag']))})"
        )
    figure, axes = plt.subplots(
        1, len(shown), figsize=(4 * len(shown), 3), squeeze=False
    )
    for axis, tag in zip(axes[0], shown, strict=True):
        for run, rows in scalars[scalars["tag"] == tag].groupby("run"):
            axis.plot(rows["step"] + 1, rows["value"], "o-", label=run)
        axis.set_title(tag)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    return figure


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class DisplayCallback(keras.callbacks.Callback):
    """After every ``every`` epochs, show input / truth / prediction of one example.

    In a notebook the figure replaces the previous one; elsewhere (CI, a
    terminal) nothing is drawn on screen. With ``save_dir`` each figure is also
    written as ``epoch_<n>.png``. The prediction runs in inference mode, so it
    shows what evaluation will see. ``image`` ``(H, W, 3)``, ``label`` ``(H, W)``.
    """

    def __init__(
        self,
        image,
        label,
        *,
        every: int = 1,
        save_dir: str | os.PathLike | None = None,
        clear: bool = True,
    ):
        super().__init__()
        self.image = _to_numpy(image)
        self.label = _to_numpy(label)
        self.every = max(1, int(every))
        self.save_dir = None if save_dir is None else Path(save_dir)
        self.clear = clear
        self.epochs_shown: list[int] = []

    def on_epoch_end(self, epoch: int, logs=None):
        if (epoch + 1) % self.every:
            return
        prediction = predict_class_maps(self.model, self.image[None])[0]
        figure = show_grid([[self.image], [self.label], [prediction]])
        figure.suptitle(f"after epoch {epoch + 1}")
        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            figure.savefig(self.save_dir / f"epoch_{epoch + 1}.png", dpi=72)
        if _in_notebook():
            from IPython.display import clear_output, display

            if self.clear:
                clear_output(wait=True)
            display(figure)
        plt.close(figure)
        self.epochs_shown.append(epoch + 1)
