"""Training: optimisers with poly decay, callbacks, strategies, resumable ``fit``.

- :func:`poly_learning_rate` / :func:`make_optimizer`: SGD with momentum 0.9
  and poly decay (power 0.9, from 0.007; DeepLab's recipe) or Adam (the book's).
- :func:`select_strategy`: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG``
  names several workers, ``MirroredStrategy`` for several GPUs (or the devices
  given), else the default strategy; the same training code runs in all.
- :func:`make_callbacks` and :func:`fit`: CSVLogger, TensorBoard,
  ModelCheckpoint, EarlyStopping, ReduceLROnPlateau and BackupAndRestore, so a
  killed run resumes at its last finished epoch.
- :func:`write_metrics`: the ``metrics.json`` both models' runs write.

The models' runs live in the submodules, imported at the end of this file:
:mod:`seglab.train.deeplab` (DeepLabV3 on VOC, ``seglab train deeplabv3``) and
:mod:`seglab.train.unet` (the U-Net on Pets, ``seglab train unet``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from seglab import config, metrics
from seglab.models.layers import all_layers

MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
LOG_DIR = "logs"
BACKUP_DIR = "backup"


def poly_learning_rate(
    initial: float = 0.007,
    decay_steps: int = 30_000,
    end: float = 1e-6,
    power: float = 0.9,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Poly decay ``(initial - end) * (1 - step / decay_steps) ** power + end``.

    After ``decay_steps`` the rate stays at ``end``.
    """
    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=initial,
        decay_steps=max(1, int(decay_steps)),
        end_learning_rate=end,
        power=power,
    )


def make_optimizer(
    name: str = "sgd",
    learning_rate: float = 0.007,
    *,
    decay_steps: int | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> keras.optimizers.Optimizer:
    """SGD (with momentum) or Adam; poly decay over ``decay_steps`` when given.

    ``weight_decay`` is Keras's decoupled decay (each step subtracts
    ``learning_rate * weight_decay * weight``), not an L2 term in the loss; the
    DeepLab settings use :func:`add_kernel_l2` instead, as their recipe does.
    """
    key = name.lower()
    rate = (
        learning_rate
        if decay_steps is None
        else poly_learning_rate(learning_rate, decay_steps)
    )
    if key == "sgd":
        return keras.optimizers.SGD(
            rate, momentum=momentum, weight_decay=weight_decay or None
        )
    if key == "adam":
        return keras.optimizers.Adam(rate, weight_decay=weight_decay or None)
    raise ValueError(f"optimizer {name!r} is unknown; choose 'sgd' or 'adam'")


def add_kernel_l2(model: keras.Model, weight_decay: float) -> int:
    """Add the recipe's weight decay to the loss: L2 on every conv kernel.

    The term is ``weight_decay * sum(kernel ** 2) / 2`` over the kernels of all
    ``Conv2D`` and ``DepthwiseConv2D`` layers (biases and BatchNorm are left
    alone), TensorFlow's ``tf.nn.l2_loss`` convention, so its gradient is
    ``weight_decay * kernel``. This is *not* Keras's ``weight_decay=`` argument
    of an optimiser, which is decoupled decay (each step subtracts
    ``learning_rate * weight_decay * kernel``, with no momentum): under SGD
    with momentum 0.9 an L2 term in the loss acts about 10 times as strongly.
    Returns the number of kernels regularised.
    """
    if weight_decay <= 0:
        return 0
    regularizer = keras.regularizers.L2(weight_decay / 2)
    count = 0
    for layer in all_layers(model):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            layer.kernel.regularizer = regularizer
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                layer.depthwise_regularizer = regularizer  # saved with the model
            else:
                layer.kernel_regularizer = regularizer
            count += 1
    return count


def select_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """The distribution strategy for this machine, or for ``devices``.

    ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` lists several workers,
    ``MirroredStrategy`` over ``devices`` (if two or more) or over all GPUs (if
    two or more), otherwise the default (single-device) strategy.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("cluster", {})
    if len(cluster.get("worker", [])) > 1:
        return _reduce_nested(tf.distribute.MultiWorkerMirroredStrategy())
    if devices is not None and len(devices) > 1:
        return _new_mirrored_strategy(list(devices))
    found = config.gpus()
    if len(found) > 1:
        return _new_mirrored_strategy()
    return tf.distribute.get_strategy()


_COLLECTIVE_KEY_STEP = 100_000
_mirrored_made = itertools.count(1)


def _new_mirrored_strategy(devices: list[str] | None = None):
    """A ``MirroredStrategy`` whose collective keys no earlier one here used.

    TensorFlow numbers the collective ops of every new ``MirroredStrategy``
    from the same start, and its runtime remembers each numbered op's shape
    for the whole process. A second strategy (a re-run notebook cell, a second
    model, one run per loss) then reuses the first one's numbers for other
    tensors and its first step aborts with "Shape mismatch in the collective
    instance". TensorFlow's own tests give every strategy they make a key
    base of its own (``strategy_combinations``); so does this.
    """
    strategy_class = tf.distribute.MirroredStrategy
    saved = strategy_class._collective_key_base
    strategy_class._collective_key_base = (
        saved + next(_mirrored_made) * _COLLECTIVE_KEY_STEP
    )
    try:
        return strategy_class(devices)
    finally:
        strategy_class._collective_key_base = saved


def _reduce_nested(strategy: tf.distribute.Strategy) -> tf.distribute.Strategy:
    """Make ``strategy.reduce`` accept what Keras 3's ``fit`` hands it.

    Under ``MultiWorkerMirroredStrategy`` Keras 3 calls ``strategy.reduce`` with
    a whole ``(images, labels)`` batch (to build the model) and with scalar
    metrics at ``axis=0``; TensorFlow's multi-worker ``reduce`` takes neither
    ("Attempt to convert a value (PerReplica...)", "Invalid reduction dimension
    0 for input with 0 dimensions": tensorflow/tensorflow#72388). Reducing each
    element of a nest, and scalars without an axis, gives what Keras means.
    """
    reduce = strategy.reduce

    def rank(value) -> int | None:
        if isinstance(value, tf.distribute.DistributedValues):
            value = strategy.experimental_local_results(value)[0]
        return getattr(getattr(value, "shape", None), "rank", None)

    def reduce_each(reduce_op, value, axis=None):
        def one(item):
            return reduce(reduce_op, item, None if rank(item) == 0 else axis)

        return tf.nest.map_structure(one, value)

    strategy.reduce = reduce_each
    return strategy


def follows_schedule(optimizer: keras.optimizers.Optimizer | None) -> bool:
    """Whether ``optimizer`` takes its rate from a ``LearningRateSchedule``.

    Looks through the ``LossScaleOptimizer`` that ``compile`` wraps around the
    optimiser under ``mixed_float16``: the wrapper's own rate is a plain
    variable, but the steps are taken by the inner optimiser, whose schedule a
    callback such as ``ReduceLROnPlateau`` cannot change.
    """
    while optimizer is not None and hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return isinstance(
        getattr(optimizer, "_learning_rate", None),
        keras.optimizers.schedules.LearningRateSchedule,
    )


STATE_FILE = "callbacks.json"


class ResumeState(keras.callbacks.Callback):
    """Saves and restores the state of the callbacks that remember the past.

    ``ModelCheckpoint`` (best value so far), ``EarlyStopping`` (best value,
    epochs waited, best epoch) and ``ReduceLROnPlateau`` (best, wait,
    cooldown) start from scratch in every ``fit`` call. Without their state a
    resumed run would overwrite ``best.keras`` with a worse epoch and wait
    from zero again. This callback writes their state after every epoch to
    ``backup/callbacks.json`` (keyed by epochs done, so it always matches the
    epoch ``BackupAndRestore`` backed up) and puts it back when training
    begins. Place it after those callbacks and before ``BackupAndRestore``.
    """

    FIELDS = {
        keras.callbacks.ModelCheckpoint: ("best",),
        keras.callbacks.EarlyStopping: ("best", "wait", "best_epoch"),
        keras.callbacks.ReduceLROnPlateau: ("best", "wait", "cooldown_counter"),
    }

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        callbacks: Sequence[keras.callbacks.Callback],
        start_epoch: int,
    ):
        super().__init__()
        self.path = Path(backup_dir) / STATE_FILE
        self.tracked = [c for c in callbacks if type(c) in self.FIELDS]
        self.start_epoch = start_epoch

    def _state(self) -> list[dict]:
        return [
            {name: _plain(getattr(c, name, None)) for name in self.FIELDS[type(c)]}
            for c in self.tracked
        ]

    def on_train_begin(self, logs=None):
        if not self.start_epoch or not self.path.exists():
            return
        saved = json.loads(self.path.read_text()).get(str(self.start_epoch))
        if saved is None:
            return
        for callback, values in zip(self.tracked, saved, strict=True):
            for name, value in values.items():
                setattr(callback, name, value)

    def on_epoch_end(self, epoch, logs=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        states = json.loads(self.path.read_text()) if self.path.exists() else {}
        states = {k: v for k, v in states.items() if int(k) <= epoch}
        states[str(epoch + 1)] = self._state()
        self.path.write_text(json.dumps(states))


def _plain(value):
    """A NumPy or TensorFlow scalar as a Python number (JSON keeps infinities)."""
    return value.item() if hasattr(value, "item") else value


def make_callbacks(
    out_dir: str | os.PathLike,
    *,
    monitor: str = "val_loss",
    reduce_lr: bool = True,
    early_stopping_patience: int = 6,
    reduce_lr_patience: int = 3,
    resume: bool = True,
    tensorboard: bool = True,
    start_epoch: int = 0,
) -> list[keras.callbacks.Callback]:
    """The book's callbacks plus checkpoints, TensorBoard and backup/restore.

    Writes under ``out_dir``: ``history.csv`` (appended on resume),
    ``best.keras`` (best ``monitor`` so far), ``logs/`` (TensorBoard) and
    ``backup/`` (deleted when training finishes). Set ``reduce_lr=False`` when
    the optimiser follows a schedule (its rate cannot be changed by a callback).
    ``start_epoch``: the epoch a resumed run continues at; :class:`ResumeState`
    then restores the best values and waiting counts of that epoch.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mode = "min" if "loss" in monitor else "max"
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.CSVLogger(str(out / HISTORY_FILE), append=resume),
        keras.callbacks.ModelCheckpoint(
            str(out / BEST_MODEL_FILE), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=early_stopping_patience
        ),
    ]
    if reduce_lr:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode=mode,
                factor=0.1,
                patience=reduce_lr_patience,
                min_lr=1e-8,
            )
        )
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        print(
            "TensorBoard is not installed, so no logs/ are written "
            "(pip install tensorboard)."
        )
    elif tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out / LOG_DIR)))
    callbacks.append(ResumeState(out / BACKUP_DIR, callbacks, start_epoch))
    # last, so a run killed after an epoch has already backed that epoch up
    callbacks.append(keras.callbacks.BackupAndRestore(str(out / BACKUP_DIR)))
    return callbacks


def backed_up_epoch(out_dir: str | os.PathLike) -> int:
    """Epochs finished by the run backed up in ``out_dir`` (0 if none)."""
    metadata = Path(out_dir) / BACKUP_DIR / "training_metadata.json"
    if not metadata.exists():
        return 0
    return int(json.loads(metadata.read_text()).get("epoch", 0))


def _trim_history(history_csv: Path, start_epoch: int) -> None:
    """Drop rows of epochs >= ``start_epoch`` (logged, but not backed up)."""
    if not history_csv.exists():
        return
    lines = history_csv.read_text().splitlines()
    kept = lines[:1] + [
        line
        for line in lines[1:]
        if line.strip() and int(line.split(",", 1)[0]) < start_epoch
    ]
    history_csv.write_text("\n".join(kept) + "\n")


def epoch_stream(
    train_data: tf.data.Dataset, steps_per_epoch: int | None, start_epoch: int
) -> tuple[tf.data.Dataset, int | None]:
    """One stream of training batches that a resumed run enters where it left.

    A finite dataset is repeated (``steps_per_epoch`` becomes its length), so
    every epoch draws a new shuffle and new augmentations from one iterator,
    and ``start_epoch * steps_per_epoch`` batches are skipped: a run resumed at
    epoch ``k`` sees the batches an unbroken run sees in epoch ``k``, instead
    of replaying epoch 0's order and augmentations. (Skipped batches are still
    computed, so resuming late in a long run takes a little while.)
    """
    if steps_per_epoch is None:
        cardinality = int(train_data.cardinality())
        if cardinality < 0:  # infinite or unknown: Keras needs steps_per_epoch
            if start_epoch:
                print(
                    f"Resuming at epoch {start_epoch}: the training data has no "
                    "known length, so its order starts again from epoch 0's "
                    "(pass steps_per_epoch to continue the stream instead)."
                )
            return train_data, None
        train_data, steps_per_epoch = train_data.repeat(), cardinality
    if start_epoch:
        train_data = train_data.skip(start_epoch * steps_per_epoch)
    return train_data, steps_per_epoch


def fit(
    model: keras.Model,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset,
    *,
    epochs: int,
    out_dir: str | os.PathLike,
    resume: bool = True,
    monitor: str = "val_loss",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    verbose: int | str = 2,
    tensorboard: bool = True,
    resize: str = "letterbox",
) -> dict[str, list[float]]:
    """``model.fit`` with :func:`make_callbacks`; saves ``model.keras`` at the end.

    ``resize`` says how ``train_data``'s images were fitted to their size,
    ``"letterbox"`` (aspect ratio kept, padded) or ``"squash"`` (resized to
    the square); it is stored in ``model_info.json`` (:func:`save_trained_size`)
    so ``seglab evaluate``, ``export`` and ``predict`` prepare images the same way.

    With ``resume=False`` an old backup in ``out_dir`` is deleted first, so the
    run starts at epoch 0; with ``resume=True`` a killed run continues after its
    last finished epoch, with the callbacks' best values and counters, the
    history (no epoch logged twice) and the data stream (see
    :func:`epoch_stream`) where they were. Returns the history of this call
    (epochs run now).
    """
    out = Path(out_dir)
    if not resume and (out / BACKUP_DIR).exists():
        shutil.rmtree(out / BACKUP_DIR)
    start_epoch = backed_up_epoch(out) if resume else 0
    if resume:
        _trim_history(out / HISTORY_FILE, start_epoch)
    train_data, steps_per_epoch = epoch_stream(train_data, steps_per_epoch, start_epoch)
    schedule = follows_schedule(model.optimizer)
    callbacks = make_callbacks(
        out,
        monitor=monitor,
        reduce_lr=not schedule,
        resume=resume,
        tensorboard=tensorboard,
        start_epoch=start_epoch,
    )
    callbacks[-1:-1] = list(extra_callbacks)  # before the backup callback
    save_trained_size(out, model, train_data, resize=resize)
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # a tf.data pipeline shuffles itself
    )
    model.save(out / MODEL_FILE)
    return history.history


def save_trained_size(
    out_dir: str | os.PathLike,
    model: keras.Model,
    train_data: tf.data.Dataset,
    *,
    resize: str = "letterbox",
) -> Path | None:
    """Write ``model_info.json`` (:mod:`seglab.model_info`) for this run.

    The size is the training batches' ``(height, width)``, else the model's
    fixed input size; with neither known nothing is written (and evaluation
    then asks for ``--image-size``). ``resize`` is how the images were fitted
    to that size (``"letterbox"`` or ``"squash"``).
    """
    from seglab import model_info

    model_info.check_resize(resize)

    spec = train_data.element_spec
    images = spec[0] if isinstance(spec, tuple) else spec
    size = tuple(images.shape[1:3]) if images.shape.rank == 4 else (None, None)
    if not all(size):
        size = tuple(model.input_shape[1:3])
    if not all(size):
        return None
    return model_info.write_model_info(
        out_dir,
        image_size=size,
        num_classes=int(model.output_shape[-1]),
        model_name=model.name,
        resize=resize,
    )


def _json_number(value: float) -> float | None:
    return None if value != value else float(value)  # NaN -> null


def write_metrics(
    model,
    dataset,
    out: Path,
    history: dict,
    *,
    seconds: float,
    settings,
    data: str,
    weights: str,
    extra: dict | None = None,
) -> dict:
    """Score ``model`` on ``dataset`` and write ``out/metrics.json``; returns it.

    Shared by ``train deeplabv3`` and ``train unet``: pixel accuracy, mean
    accuracy, mIoU, per-class IoU, mean and per-class F1 by class name (null
    for classes absent from truth and prediction), epochs, seconds, profile,
    data and weights.
    """
    from seglab.evaluate import class_names_for

    scores = metrics.evaluate(model, dataset, settings.num_classes)
    names = class_names_for(settings.num_classes)

    def by_class(values) -> dict:
        return {name: _json_number(v) for name, v in zip(names, values, strict=True)}

    result = {
        "pixel_accuracy": scores["pixel_accuracy"],
        "mean_accuracy": scores["mean_accuracy"],
        "mean_iou": scores["mean_iou"],
        "per_class_iou": by_class(scores["per_class_iou"]),
        "mean_f1": scores["mean_f1"],
        "per_class_f1": by_class(scores["per_class_f1"]),
        **(extra or {}),
        "epochs": _epochs_done(out / HISTORY_FILE, history),
        "seconds": round(seconds, 1),
        "profile": settings.profile,
        "data": data,
        "weights": weights,
        "settings": dataclasses.asdict(settings),
    }
    (out / METRICS_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _epochs_done(history_csv: Path, history: dict) -> int:
    """Epochs finished in total (history.csv counts earlier, resumed epochs too)."""
    if history_csv.exists():
        lines = [ln for ln in history_csv.read_text().splitlines()[1:] if ln.strip()]
        return len(lines)
    return len(next(iter(history.values()), []))


# The models' runs use the loop above; imported last, so they can import it.
from seglab.train import deeplab, unet  # noqa: E402, F401
