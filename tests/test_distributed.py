"""Distributed training: one step on two replicas equals one step on one device.

Each test runs TensorFlow in a fresh process, because logical devices and the
multi-worker runtime must be configured before TensorFlow starts.
"""

from __future__ import annotations

import json
import os
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
from test_train import NUM_CLASSES, tiny_data
from seglab import losses

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
# one strategy for every loss: strategies created later in the same process
# would reuse the first one's collective keys
two_cpus = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
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
print(json.dumps(result))
"""


def run_python(script: str, timeout: int = 300, env: dict | None = None) -> str:
    """Run ``script`` in a fresh interpreter; return its last stdout line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def first_steps():
    names = ["cross_entropy", "ce_dice"]
    script = f"HERE = {HERE!r}\nLOSS_NAMES = {names!r}\n" + textwrap.dedent(ONE_STEP)
    return json.loads(run_python(script))


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
