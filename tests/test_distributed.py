"""Distributed training: steps and losses on two replicas equal one device's.

Each check runs TensorFlow in a fresh process, because logical devices and the
multi-worker runtime must be configured before TensorFlow starts. The
mirrored script trains every loss of ``seglab.losses`` for one epoch of five
global batches chosen to tell the replicas apart (different classes,
different numbers of valid pixels, a replica with only label 255, an uneven
batch, a replica with no image), once on one device and once on two logical
CPUs. Every batch starts from the same first weights, so each SGD step and
each logged loss and metric can be compared with the single device's alone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

NUM_CLASSES = 3
SIZE = 8

LOSS_CONFIGS = {
    # name: (factory in seglab.losses, its options, per-pixel sample weights,
    #        mixed_float16)
    "cross_entropy": ("cross_entropy", {}, False, False),
    "fixed_class_weights": (
        "cross_entropy",
        {"class_weights": [0.5, 1.0, 2.0]},
        False,
        False,
    ),
    "batch_class_weights": ("cross_entropy", {"class_weights": "batch"}, False, False),
    "sample_weights": ("cross_entropy", {}, True, False),
    "dice": ("dice", {}, False, False),
    "focal": ("focal", {}, False, False),
    "focal_sample_weights": ("focal", {}, True, False),
    "ce_dice": ("ce_dice", {}, False, False),
    "ce_dice_batch_class_weights": (
        "ce_dice",
        {"class_weights": "batch"},
        False,
        False,
    ),
    "ce_dice_mixed_float16": ("ce_dice", {}, False, True),
}
EXACT = [name for name, config in LOSS_CONFIGS.items() if not config[3]]


def scenario_batches() -> dict:
    """Five global batches: name -> (images, labels, per-pixel weights).

    With two replicas a batch of 4 splits 2 + 2, of 3 splits 2 + 1 and of 1
    splits 1 + 0.
    """
    rng = np.random.default_rng(0)

    def images(count):
        return rng.normal(size=(count, SIZE, SIZE, 3)).astype(np.float32)

    def labels(count, classes=(0, 1, 2)):
        found = rng.choice(classes, size=(count, SIZE, SIZE)).astype(np.int32)
        found[:, 0] = 255  # a boundary row in every image
        return found

    def weights(count):
        return rng.uniform(0.5, 2.0, (count, SIZE, SIZE)).astype(np.float32)

    few_valid = labels(4)
    few_valid[:2][rng.random((2, SIZE, SIZE)) < 0.9] = 255
    one_replica_ignored = labels(4)
    one_replica_ignored[2:] = 255
    plan = {
        "different_classes": np.concatenate([labels(2, (0, 1)), labels(2, (2,))]),
        "different_valid_counts": few_valid,
        "ignored_replica": one_replica_ignored,
        "uneven_batch": labels(3),
        "empty_replica": labels(1),
    }
    return {
        name: (images(len(found)), found, weights(len(found)))
        for name, found in plan.items()
    }


SCENARIOS = list(scenario_batches())


def run_python(script: str, timeout: int = 300, env: dict | None = None) -> str:
    """Run ``script`` in a fresh interpreter; return its last stdout line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mirrored") / "run")
    script = (
        f"HERE = {HERE!r}\nLOSS_NAMES = {list(LOSS_CONFIGS)!r}\nOUT = {out!r}\n"
        + textwrap.dedent(MIRRORED)
    )
    return json.loads(run_python(script, timeout=600))


def trained(mirrored, name) -> dict:
    found = mirrored[name]
    assert found["error"] is None, found["error"]
    assert found["replicas"] == 2
    return found


@pytest.mark.parametrize("name", list(LOSS_CONFIGS))
def test_every_loss_trains_on_a_new_strategy_of_its_own(mirrored, name):
    """Each loss ran under a new select_strategy() in one process: no crash.

    TensorFlow numbers every new MirroredStrategy's collectives from the same
    start; before select_strategy gave each one a key base of its own, the
    second strategy's first step aborted ("Shape mismatch in the collective
    instance").
    """
    trained(mirrored, name)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", EXACT)
def test_two_replicas_take_the_single_device_step(mirrored, name, scenario):
    step = trained(mirrored, name)["steps"][scenario]
    assert step["ratio"] == pytest.approx(1.0, abs=1e-3)
    assert step["max_diff"] <= 1e-3 * step["max"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", EXACT)
def test_two_replicas_log_the_single_device_loss_and_metrics(mirrored, name, scenario):
    """The running loss and metrics Keras logs after each batch.

    After a batch the replicas split unevenly, Keras's running *loss* is the
    mean of each replica's own running mean (weighted by its own images), for
    any loss, Keras's included; the epoch's loss, read over all replicas, is
    compared in the next test instead.
    """
    single, two = trained(mirrored, name)["logs"][scenario]
    assert set(single) == set(two)
    even = len(scenario_batches()[scenario][0]) == 4
    for key in single:
        if key != "loss" or even:
            np.testing.assert_allclose(two[key], single[key], rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("name", EXACT)
def test_two_replicas_validate_like_one_device(mirrored, name):
    """The epoch's logs: training loss and metrics, validation loss and metrics."""
    single, two = trained(mirrored, name)["epoch"]
    assert {"val_loss", "val_mean_iou", "mean_iou"} <= set(single) == set(two)
    for key in single:
        np.testing.assert_allclose(two[key], single[key], rtol=1e-5, err_msg=key)


def test_mixed_precision_ce_dice_on_two_replicas_matches_one_device(mirrored):
    found = trained(mirrored, "ce_dice_mixed_float16")
    for scenario in SCENARIOS:
        step = found["steps"][scenario]
        assert step["ratio"] == pytest.approx(1.0, abs=1e-2), scenario
        assert step["max_diff"] <= 1e-2 * step["max"], scenario
        single, two = found["logs"][scenario]
        np.testing.assert_allclose(two["loss"], single["loss"], rtol=1e-3)


def test_mirrored_strategy_trains_on_two_logical_cpus(mirrored):
    """seglab.train.fit under select_strategy's two-CPU MirroredStrategy."""
    found = mirrored["fit"]
    assert found["kind"] == "MirroredStrategy" and found["replicas"] == 2
    assert all(np.isfinite(found["loss"]))
    assert found["loss"][-1] < found["loss"][0]


MIRRORED = """
import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, HERE)
from test_distributed import LOSS_CONFIGS, scenario_batches, NUM_CLASSES
from seglab import losses, metrics, train

BATCHES = scenario_batches()


def dataset(weighted):
    parts = []
    for images, labels, weights in BATCHES.values():
        parts.append(tf.data.Dataset.from_tensors(
            (images, labels, weights) if weighted else (images, labels)))
    data = parts[0]
    for part in parts[1:]:
        data = data.concatenate(part)
    return data


class Steps(keras.callbacks.Callback):
    # every batch starts from the first weights; records its step and logs

    def __init__(self):
        super().__init__()
        self.steps, self.logs = [], []

    def on_train_begin(self, logs=None):
        self.start = [w.copy() for w in self.model.get_weights()]

    def on_train_batch_begin(self, batch, logs=None):
        self.model.set_weights(self.start)
        self.before = [w.copy() for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        after = self.model.get_weights()
        self.steps.append(np.concatenate(
            [(a - b).ravel() for a, b in zip(after, self.before)]))
        self.logs.append({k: float(v) for k, v in logs.items()})


def run(strategy, name):
    factory, options, weighted, mixed = LOSS_CONFIGS[name]
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(NUM_CLASSES, 1, dtype="float32"),
        ])
        model.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=getattr(losses, factory)(NUM_CLASSES, **options),
            metrics=metrics.segmentation_metrics(NUM_CLASSES),
        )
    steps = Steps()
    history = model.fit(dataset(weighted), validation_data=dataset(weighted),
                        epochs=1, verbose=0, callbacks=[steps])
    keras.mixed_precision.set_global_policy("float32")
    epoch = {k: v[0] for k, v in history.history.items()}
    return steps.steps, steps.logs, epoch


result = {}
for name in LOSS_NAMES:
    found = {"error": None}
    try:
        single = run(tf.distribute.get_strategy(), name)
        # a new strategy for every loss, as a re-run notebook cell makes one
        two_cpus = train.select_strategy(["/cpu:0", "/cpu:1"])
        found["replicas"] = two_cpus.num_replicas_in_sync
        mirrored = run(two_cpus, name)
    except Exception as error:  # recorded, so the other losses still run
        found["error"] = f"{type(error).__name__}: {str(error)[-600:]}"
        result[name] = found
        continue
    found["steps"] = {}
    for scenario, one, two in zip(BATCHES, single[0], mirrored[0]):
        found["steps"][scenario] = {
            "ratio": float(np.linalg.norm(two) / np.linalg.norm(one)),
            "max_diff": float(np.abs(two - one).max()),
            "max": float(np.abs(one).max()),
        }
    found["logs"] = {
        scenario: [one, two]
        for scenario, one, two in zip(BATCHES, single[1], mirrored[1])
    }
    found["epoch"] = [single[2], mirrored[2]]
    result[name] = found

# seglab's own fit on two replicas, with its callbacks and outputs
from test_train import tiny_data, tiny_model
two_cpus = train.select_strategy(["/cpu:0", "/cpu:1"])
with two_cpus.scope():
    model = tiny_model()
data = tiny_data()
history = train.fit(model, data, data, epochs=3, out_dir=OUT, verbose=0)
result["fit"] = {"replicas": two_cpus.num_replicas_in_sync,
                 "kind": type(two_cpus).__name__, "loss": history["loss"]}
print(json.dumps(result))
"""


WORKER = """
import hashlib, json, sys
from seglab import train
# TensorFlow requires the multi-worker strategy before anything starts its
# runtime; without TF_CONFIG this is the single-process reference run
strategy = train.select_strategy()
import keras, numpy as np, tensorflow as tf
sys.path.insert(0, HERE)
from test_distributed import NUM_CLASSES, scenario_batches
from seglab import losses, metrics
keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(NUM_CLASSES, 1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.2),
                  loss=losses.ce_dice(NUM_CLASSES),
                  metrics=metrics.segmentation_metrics(NUM_CLASSES))
batches = list(scenario_batches().values())[:4]
images = np.concatenate([b[0] for b in batches])
labels = np.concatenate([b[1] for b in batches])
# 15 images in global batches of 4, 4, 4 and 3: 2 per worker, then 2 + 1
data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
history = train.fit(model, data, data, epochs=2, out_dir=OUT, verbose=0,
                    tensorboard=False)
weights = np.concatenate([w.ravel() for w in model.get_weights()])
print(json.dumps({
    "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
    "replicas": strategy.num_replicas_in_sync,
    "history": history,
    "weights": weights.tolist(),
    "digest": hashlib.sha256(weights.astype(np.float32).tobytes()).hexdigest(),
    "iterations": int(model.optimizer.iterations.numpy()),
}))
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_worker_processes_train_ce_dice_like_one_process(tmp_path):
    """Two workers on 127.0.0.1 against one process on the same global batches."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    base_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    base_env.pop("TF_CONFIG", None)
    runs = {}
    for index in (0, 1, None):  # the two workers, then the single process
        script = f"HERE = {HERE!r}\nOUT = {str(tmp_path / str(index))!r}\n" + (
            textwrap.dedent(WORKER)
        )
        env = dict(base_env)
        if index is not None:
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": workers},
                    "task": {"type": "worker", "index": index},
                }
            )
        runs[index] = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    results = {}
    try:
        for index, process in runs.items():
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err[-3000:]
            results[index] = json.loads(out.strip().splitlines()[-1])
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
    chief, other, single = results[0], results[1], results[None]
    assert chief["multi_worker"] and chief["replicas"] == 2
    assert not single["multi_worker"] and single["replicas"] == 1
    assert chief["iterations"] == other["iterations"] == single["iterations"] == 8
    assert chief["digest"] == other["digest"]  # the same weights on both workers
    assert chief["history"] == other["history"]
    np.testing.assert_allclose(
        chief["weights"], single["weights"], rtol=1e-4, atol=1e-6
    )
    assert set(chief["history"]) == set(single["history"])
    for key, values in single["history"].items():
        if key != "learning_rate":
            np.testing.assert_allclose(
                chief["history"][key], values, rtol=1e-5, err_msg=key
            )
    assert single["history"]["loss"][-1] < single["history"]["loss"][0]
