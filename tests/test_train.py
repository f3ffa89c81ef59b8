"""Training: poly schedule, fit with callbacks, resume, strategies, the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from seglab import losses, metrics, train

NUM_CLASSES = 3


def tiny_data(count: int = 16, size: int = 16, seed: int = 0):
    """Images whose red channel says the class: bright -> 1, dark -> 2, grey -> 0."""
    rng = np.random.default_rng(seed)
    images = rng.random((count, size, size, 3)).astype(np.float32) * 0.2
    labels = rng.integers(0, NUM_CLASSES, (count, 1, 1)).repeat(size, 1).repeat(size, 2)
    images[..., 0] += np.choose(labels, [0.4, 0.8, 0.0])
    labels = labels.astype(np.int32)
    labels[:, :, :2] = 255  # an ignored band, as VOC object boundaries
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)


def tiny_model(optimizer=None) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(NUM_CLASSES, 1),
        ]
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(0.05),
        loss=losses.cross_entropy(NUM_CLASSES),
        metrics=metrics.segmentation_metrics(NUM_CLASSES),
    )
    return model


def test_poly_schedule_follows_the_formula_and_ends_at_the_floor():
    schedule = train.poly_learning_rate(0.007, decay_steps=100, end=1e-6, power=0.9)
    for step in (0, 1, 50, 99):
        expected = (0.007 - 1e-6) * (1 - step / 100) ** 0.9 + 1e-6
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    assert float(schedule(100)) == pytest.approx(1e-6)
    assert float(schedule(500)) == pytest.approx(1e-6)


def test_sgd_uses_momentum_poly_decay_and_weight_decay():
    optimizer = train.make_optimizer("sgd", 0.007, decay_steps=10, weight_decay=2e-4)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.9 and optimizer.weight_decay == 2e-4
    assert isinstance(
        optimizer._learning_rate, keras.optimizers.schedules.PolynomialDecay
    )
    adam = train.make_optimizer("adam", 1e-3)
    assert isinstance(adam, keras.optimizers.Adam)
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        train.make_optimizer("rmsprop")


def test_adam_takes_the_poly_schedule_too_and_quick_deeplab_uses_it():
    adam = train.make_optimizer("adam", 2e-3, decay_steps=10)
    assert isinstance(adam, keras.optimizers.Adam)
    schedule = adam._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.PolynomialDecay)
    assert float(schedule(0)) == pytest.approx(2e-3)
    assert float(schedule(10)) == pytest.approx(1e-6)
    constant = train.make_optimizer("adam", 2e-3)
    assert not isinstance(
        constant._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    )
    quick = train.deeplab.deeplab_settings("quick")
    model = train.deeplab.build_deeplab(
        dataclasses.replace(quick, image_size=32, atrous_rates=(1, 2)),
        steps_per_epoch=5,
    )
    horizon = model.optimizer._learning_rate.decay_steps
    assert horizon == quick.epochs * 5
    with pytest.raises(ValueError, match="'poly' or 'none'"):
        train.deeplab.build_deeplab(
            dataclasses.replace(quick, learning_rate_decay="cosine")
        )


def test_fit_learns_tiny_data_and_writes_its_outputs(tmp_path):
    model = tiny_model()
    data = tiny_data()
    history = train.fit(model, data, data, epochs=8, out_dir=tmp_path, verbose=0)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    scores = metrics.evaluate(model, data, NUM_CLASSES)
    assert scores["mean_iou"] > 0.8
    for name in ("model.keras", "best.keras", "history.csv"):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "logs").rglob("events.out.tfevents*"))
    assert not (tmp_path / "backup").exists()  # removed after a finished run
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 and "val_mean_iou" in rows[0]
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    images = next(iter(data))[0]
    np.testing.assert_allclose(loaded(images), model(images), rtol=1e-5, atol=1e-5)


class Crash(keras.callbacks.Callback):
    """Stops the process-like run when epoch ``at`` begins (as a kill would)."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"killed at epoch {epoch}")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A four-epoch run killed as epoch 2 began (epochs 0 and 1 finished)."""
    out = tmp_path_factory.mktemp("killed") / "run"
    data = tiny_data()
    with pytest.raises(KeyboardInterrupt):
        train.fit(
            tiny_model(),
            data,
            data,
            epochs=4,
            out_dir=out,
            extra_callbacks=[Crash(at=2)],
            verbose=0,
        )
    return out


@pytest.fixture()
def killed(killed_run, tmp_path):
    """A private copy of the killed run's folder, for one test to resume."""
    out = tmp_path / "run"
    shutil.copytree(killed_run, out)
    return out


def test_killed_run_resumes_at_its_last_finished_epoch(killed):
    assert (killed / "backup").is_dir()
    recorder = EpochRecorder()
    model = tiny_model()
    data = tiny_data()
    train.fit(
        model,
        data,
        data,
        epochs=4,
        out_dir=killed,
        resume=True,
        extra_callbacks=[recorder],
        verbose=0,
    )
    assert recorder.epochs == [2, 3]
    rows = (killed / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == [0, 1, 2, 3]


def test_fresh_run_ignores_an_old_backup(killed):
    data = tiny_data()
    recorder = EpochRecorder()
    train.fit(
        tiny_model(),
        data,
        data,
        epochs=2,
        out_dir=killed,
        resume=False,
        extra_callbacks=[recorder],
        verbose=0,
    )
    assert recorder.epochs == [0, 1]


def test_reduce_lr_on_plateau_only_with_a_constant_learning_rate(tmp_path):
    with_plateau = train.make_callbacks(tmp_path, reduce_lr=True)
    without = train.make_callbacks(tmp_path, reduce_lr=False)
    kinds = [type(c).__name__ for c in with_plateau]
    assert "ReduceLROnPlateau" in kinds
    assert "ReduceLROnPlateau" not in [type(c).__name__ for c in without]
    assert kinds[-1] == "BackupAndRestore"
    data = tiny_data(8)
    for optimizer, plateau in (
        (train.make_optimizer("sgd", 0.007, decay_steps=4), False),
        (train.make_optimizer("sgd", 0.007), True),
        (
            keras.optimizers.LossScaleOptimizer(
                train.make_optimizer("adam", 1e-3, decay_steps=4)
            ),
            False,
        ),
    ):
        assert train.follows_schedule(optimizer) is not plateau
        model = tiny_model(optimizer=optimizer)
        used = []
        fit = model.fit

        def spy(*args, fit=fit, used=used, **kwargs):
            used.extend(type(c).__name__ for c in kwargs["callbacks"])
            return fit(*args, **kwargs)

        model.fit = spy
        out = tmp_path / type(optimizer).__name__ / str(plateau)
        history = train.fit(model, data, data, epochs=1, out_dir=out, verbose=0)
        assert np.isfinite(history["loss"][0])
        assert ("ReduceLROnPlateau" in used) is plateau, used
        assert used[-1] == "BackupAndRestore"


def test_default_strategy_on_a_single_device():
    assert train.select_strategy().num_replicas_in_sync == 1


def test_quick_and_full_settings_differ_where_documented():
    quick = train.deeplab.deeplab_settings("quick")
    full = train.deeplab.deeplab_settings("full")
    assert (full.backbone, full.image_size, full.batch_size) == ("resnet50", 384, 8)
    assert full.atrous_rates == (6, 12, 18) and full.output_stride == 16
    assert full.backbone_weights == "imagenet" and full.optimizer == "sgd"
    feature_side = quick.image_size // quick.output_stride
    assert max(quick.atrous_rates) < feature_side


@pytest.mark.slow
def test_cli_trains_deeplabv3_and_writes_its_outputs(tmp_path, small_voc, capsys):
    from seglab.cli import main

    out = tmp_path / "run"
    code = main(  # a six-image VOC folder: the outputs, not the scores, matter here
        [
            "train",
            "deeplabv3",
            "--profile",
            "quick",
            "--epochs",
            "1",
            "--image-size",
            "64",
            "--data",
            f"voc:{small_voc}",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    for name in ("model.keras", "history.csv", "metrics.json"):
        assert (out / name).is_file(), name
    assert any((out / "logs").rglob("events.out.tfevents*"))
    result = json.loads((out / "metrics.json").read_text())
    for key in (
        "pixel_accuracy",
        "mean_accuracy",
        "mean_iou",
        "per_class_iou",
        "mean_f1",
        "per_class_f1",
        "epochs",
        "seconds",
        "profile",
        "data",
        "weights",
    ):
        assert key in result, key
    assert result["epochs"] == 1 and result["profile"] == "quick"
    assert str(small_voc) in result["data"]
    assert result["weights"] == "random" and len(result["per_class_iou"]) == 21
    assert list(result["per_class_iou"])[:2] == ["background", "aeroplane"]
    assert 0.0 <= result["mean_iou"] <= 1.0
    assert "validation (quick profile)" in capsys.readouterr().out
    # the figures are the saved model's scores on the val split, not train's
    from seglab.data import voc_dataset
    from seglab.evaluate import load_model

    model = load_model(out / "model.keras")
    scores = {
        split: metrics.evaluate(
            model,
            voc_dataset(small_voc, split, image_size=64, batch_size=4, progress=False),
            21,
        )
        for split in ("val", "train")
    }
    for key in ("pixel_accuracy", "mean_accuracy", "mean_iou", "mean_f1"):
        assert result[key] == pytest.approx(scores["val"][key], rel=1e-6), key
    assert result["pixel_accuracy"] != pytest.approx(
        scores["train"]["pixel_accuracy"], rel=1e-6
    )


def test_cli_rejects_a_bad_data_argument(capsys):
    from seglab.cli import main

    assert main(["train", "deeplabv3", "--data", "imagenet"]) == 1
    assert "voc:DIR" in capsys.readouterr().err


def test_full_weight_decay_is_the_recipes_l2_term_on_conv_kernels():
    settings = dataclasses.replace(
        train.deeplab.deeplab_settings("quick"),
        optimizer="sgd",
        weight_decay=2e-4,
        image_size=64,
        atrous_rates=(1, 2, 3),
    )
    assert train.deeplab.deeplab_settings("full").weight_decay == 2e-4
    model = train.deeplab.build_deeplab(settings, steps_per_epoch=4)
    assert not model.optimizer.weight_decay  # no decoupled decay on top
    kernels = [
        layer.kernel
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    expected = sum(2e-4 * float(np.sum(np.square(k.numpy()))) / 2 for k in kernels)
    assert len(model.losses) == len(kernels) > 50
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)
    # its gradient is weight_decay * kernel, as an L2 term in the loss
    kernel = kernels[0]
    with tf.GradientTape() as tape:
        penalty = tf.add_n(model.losses)
    grad = tape.gradient(penalty, kernel.value)
    np.testing.assert_allclose(grad, 2e-4 * kernel.numpy(), rtol=1e-5, atol=1e-12)
    # the regulariser is saved with the model
    config = model.get_layer("classifier").get_config()
    assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-4)


class CrashAfterLogging(keras.callbacks.Callback):
    """Dies at the end of epoch ``at``: logged in history.csv, not backed up."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"killed after logging epoch {epoch}")


class Sabotage(keras.callbacks.Callback):
    """Zeroes the weights before every epoch: each resumed epoch is worse."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_weights([np.zeros_like(w) for w in self.model.get_weights()])


def shuffled_tiny_data():
    """tiny_data reshuffled every epoch (seeded), with a known number of batches."""
    images, labels = next(iter(tiny_data().unbatch().batch(16)))
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    return pairs.shuffle(16, seed=1).batch(4)


def test_resume_never_overwrites_best_keras_with_a_worse_epoch(killed):
    data = tiny_data()
    best = killed / "best.keras"
    before = (best.read_bytes(), best.stat().st_mtime_ns)
    model = tiny_model(keras.optimizers.SGD(0.0))
    history = train.fit(
        model,
        data,
        data,
        epochs=4,
        out_dir=killed,
        resume=True,
        extra_callbacks=[Sabotage()],
        verbose=0,
    )
    assert len(history["val_loss"]) == 2
    assert history["val_loss"][0] == pytest.approx(np.log(NUM_CLASSES), rel=1e-4)
    assert (best.read_bytes(), best.stat().st_mtime_ns) == before


def test_resume_logs_every_epoch_once(tmp_path):
    data = tiny_data()
    with pytest.raises(KeyboardInterrupt):
        train.fit(
            tiny_model(),
            data,
            data,
            epochs=4,
            out_dir=tmp_path,
            extra_callbacks=[CrashAfterLogging(at=2)],
            verbose=0,
        )
    rows = (tmp_path / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2"]
    train.fit(
        tiny_model(), data, data, epochs=4, out_dir=tmp_path, resume=True, verbose=0
    )
    rows = (tmp_path / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2", "3"]


def test_resumed_run_continues_the_data_stream_of_an_unbroken_run(tmp_path):
    def run(out, resume=False, crash=()):
        model = tiny_model()  # seeds Keras and TensorFlow, then the data's shuffle
        data = shuffled_tiny_data()
        train.fit(
            model,
            data,
            tiny_data(),
            epochs=4,
            out_dir=out,
            resume=resume,
            extra_callbacks=list(crash),
            verbose=0,
        )
        return model

    unbroken = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", crash=[Crash(at=2)])
    resumed = run(tmp_path / "b", resume=True)
    for a, b in zip(unbroken.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_state_restores_best_values_and_counters(tmp_path):
    first = train.make_callbacks(tmp_path, tensorboard=False)
    checkpoint, early, plateau, state = first[1:5]
    assert isinstance(state, train.ResumeState)
    checkpoint.best, early.best, early.wait, early.best_epoch = 0.25, 0.25, 2, 1
    plateau.best, plateau.wait, plateau.cooldown_counter = 0.25, 2, 0
    state.on_epoch_end(3)  # four epochs done
    again = train.make_callbacks(tmp_path, tensorboard=False, start_epoch=4)
    for callback in again[1:5]:
        callback.on_train_begin()
    checkpoint, early, plateau = again[1:4]
    assert (checkpoint.best, early.best, early.wait, early.best_epoch) == (
        0.25,
        0.25,
        2,
        1,
    )
    assert (plateau.best, plateau.wait) == (0.25, 2)
