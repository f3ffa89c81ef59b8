"""Distributed training: one step on two replicas equals one step on one device.

Each test runs TensorFlow in a fresh process, because logical devices and the
multi-worker runtime must be configured before TensorFlow starts.
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

ONE_STEP = """
import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, HERE)
from test_train import NUM_CLASSES, tiny_data, tiny_model
from seglab import losses, train

def first_step(strategy, loss_name):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(NUM_CLASSES, 1),
        ])
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=losses.LOSSES[loss_name](NUM_CLASSES))
    before = [w.copy() for w in model.get_weights()]
    images, labels = next(iter(tiny_data(8).unbatch().batch(8)))
    labels = labels.numpy()
    labels[:4, :, 2:7] = 255    # the first replica's images: more pixels ignored
    # one global batch of 8: 4 images per replica
    data = tf.data.Dataset.from_tensors((images, labels))
    history = model.fit(data, validation_data=data, epochs=1, verbose=0)
    step = np.concatenate([(a - b).ravel()
                           for a, b in zip(model.get_weights(), before)])
    return step, history.history

result = {}
# one strategy for every loss and for the fit below: strategies created later
# in the same process would reuse the first one's collective keys
two_cpus = train.select_strategy(["/cpu:0", "/cpu:1"])
for loss_name in LOSS_NAMES:
    single, single_log = first_step(tf.distribute.get_strategy(), loss_name)
    mirrored, mirrored_log = first_step(two_cpus, loss_name)
    result[loss_name] = {
        "step_ratio": float(np.linalg.norm(mirrored) / np.linalg.norm(single)),
        "step_max_diff": float(np.abs(mirrored - single).max()),
        "step_max": float(np.abs(single).max()),
        "loss": [single_log["loss"][0], mirrored_log["loss"][0]],
        "val_loss": [single_log["val_loss"][0], mirrored_log["val_loss"][0]],
    }
# seglab's own fit on the two replicas, with its callbacks and outputs
with two_cpus.scope():
    model = tiny_model()
data = tiny_data()
history = train.fit(model, data, data, epochs=3, out_dir=OUT, verbose=0)
result["fit"] = {"replicas": two_cpus.num_replicas_in_sync,
                 "kind": type(two_cpus).__name__, "loss": history["loss"]}
print(json.dumps(result))
"""


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
def first_steps(tmp_path_factory):
    names = ["cross_entropy", "ce_dice"]
    out = str(tmp_path_factory.mktemp("mirrored") / "run")
    script = (
        f"HERE = {HERE!r}\nLOSS_NAMES = {names!r}\nOUT = {out!r}\n"
        + textwrap.dedent(ONE_STEP)
    )
    return json.loads(run_python(script, timeout=600))


@pytest.mark.parametrize("loss_name", ["cross_entropy", "ce_dice"])
def test_two_replicas_take_the_single_device_step(first_steps, loss_name):
    found = first_steps[loss_name]
    assert found["step_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert found["step_max_diff"] <= 1e-3 * found["step_max"]


@pytest.mark.parametrize("loss_name", ["cross_entropy", "ce_dice"])
def test_two_replicas_log_the_single_device_loss(first_steps, loss_name):
    found = first_steps[loss_name]
    np.testing.assert_allclose(found["loss"][1], found["loss"][0], rtol=1e-4)
    np.testing.assert_allclose(found["val_loss"][1], found["val_loss"][0], rtol=1e-4)


def test_mirrored_strategy_trains_on_two_logical_cpus(first_steps):
    """seglab.train.fit under select_strategy's two-CPU MirroredStrategy."""
    found = first_steps["fit"]
    assert found["kind"] == "MirroredStrategy" and found["replicas"] == 2
    assert all(np.isfinite(found["loss"]))
    assert found["loss"][-1] < found["loss"][0]


WORKER = """
import hashlib, json, sys
from seglab import train
# TensorFlow requires the multi-worker strategy before anything starts its runtime
strategy = train.select_strategy()
import keras, numpy as np
sys.path.insert(0, HERE)
from test_train import tiny_data, tiny_model
with strategy.scope():
    model = tiny_model(keras.optimizers.SGD(0.2))
import tensorflow as tf
images, labels = next(iter(tiny_data(16).unbatch().batch(16)))
# two global batches of 8 per epoch: 4 images per worker
data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
history = train.fit(model, data, data, epochs=2, out_dir=OUT, verbose=0,
                    tensorboard=False)
weights = np.concatenate([w.ravel() for w in model.get_weights()])
print(json.dumps({
    "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
    "replicas": strategy.num_replicas_in_sync,
    "loss": history["loss"],
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


def test_two_worker_processes_train_through_seglab_and_agree(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        script = f"HERE = {HERE!r}\nOUT = {str(tmp_path / str(index))!r}\n" + (
            textwrap.dedent(WORKER)
        )
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": json.dumps(tf_config),
            "CUDA_VISIBLE_DEVICES": "",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=240)
            assert process.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    chief, other = results
    assert chief["multi_worker"] and chief["replicas"] == 2
    assert chief["iterations"] == other["iterations"] == 2 * 2  # 2 epochs x 2 steps
    assert chief["digest"] == other["digest"]  # the same weights on both workers
    assert chief["loss"] == other["loss"]
    assert chief["loss"][-1] < chief["loss"][0]
