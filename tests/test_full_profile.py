"""A dry run of the full profile's exact DeepLabV3 settings on the built-in data.

The full profile is meant for a GPU with ImageNet weights and VOC; here one
training step at its exact settings (ResNet-50, output stride 16, rates 6/12/18,
384 x 384, batch 8, SGD with poly decay, cross-entropy + Dice) proves that the
configuration builds, trains and updates its weights, with random weights and
offline.

The step runs in a Python process of its own with oneDNN's CPU kernels
switched on (``TF_ENABLE_ONEDNN_OPTS=1``, which TensorFlow reads only when it
is imported). TensorFlow's default CPU kernels take the gradient of a dilated
convolution through space-to-batch, which is slow for large rates: measured on
a 2-core AMD EPYC, the step took 91 s with them and 41 s with oneDNN's (the
rate-18 ASPP branch alone: 35 s against 8 s). The arithmetic is the same.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

STEP = r"""
import dataclasses
import json
import sys

import keras
import numpy as np

from seglab import train
from seglab.data import voc_dataset

settings = train.deeplab.deeplab_settings("full")
dry = dataclasses.replace(settings, backbone_weights=None)  # no download here
model = train.deeplab.build_deeplab(dry, steps_per_epoch=100)
data = voc_dataset(
    sys.argv[1],
    "train",
    image_size=settings.image_size,
    batch_size=settings.batch_size,
    augment=settings.augment,
    shuffle=True,
    seed=0,
    progress=False,
)
images, labels = next(iter(data))
before = model.get_layer("classifier").get_weights()[0].copy()
model.run_eagerly = True  # the same computation, without ~30 s of tracing
logs = model.train_on_batch(images, labels, return_dict=True)
after = model.get_layer("classifier").get_weights()[0]
print(json.dumps({
    "dilation_rate": list(model.get_layer("aspp_atrous3_conv").dilation_rate),
    "optimizer": type(model.optimizer).__name__,
    "sgd": isinstance(model.optimizer, keras.optimizers.SGD),
    "loss_class": type(model.loss).__name__,
    "images_shape": list(images.shape),
    "loss": float(logs["loss"]),
    "iterations": int(model.optimizer.iterations),
    "classifier_changed": not np.array_equal(before, after),
    "learning_rate": float(model.optimizer.learning_rate),
    "epochs": settings.epochs,
}))
"""


@pytest.mark.slow
def test_full_profile_settings_train_one_step_on_builtin_data(voc_root):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1")
    done = subprocess.run(
        [sys.executable, "-c", STEP, str(voc_root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dilation_rate"] == [18, 18]
    assert result["sgd"], result["optimizer"]
    assert result["loss_class"] == "CrossEntropyDice"
    assert result["images_shape"] == [8, 384, 384, 3]
    assert math.isfinite(result["loss"])
    assert result["iterations"] == 1
    assert result["classifier_changed"]
    assert result["learning_rate"] == pytest.approx(
        (0.007 - 1e-6) * (1 - 1 / (result["epochs"] * 100)) ** 0.9 + 1e-6, rel=1e-4
    )
