"""A dry run of the full profile's exact DeepLabV3 settings on the built-in data.

The full profile is meant for a GPU with ImageNet weights and VOC; here one
training step at its exact settings (ResNet-50, output stride 16, rates 6/12/18,
384 x 384, batch 8, SGD with poly decay, cross-entropy + Dice) proves that the
configuration builds, traces and trains, with random weights and offline.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from seglab import train
from seglab.data import voc_dataset


@pytest.mark.slow
def test_full_profile_settings_train_one_step_on_builtin_data(voc_root):
    settings = train.deeplab.deeplab_settings("full")
    dry = dataclasses.replace(settings, backbone_weights=None)  # no download here
    model = train.deeplab.build_deeplab(dry, steps_per_epoch=100)
    assert model.get_layer("aspp_atrous3_conv").dilation_rate == (18, 18)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert type(model.loss).__name__ == "CrossEntropyDice"
    data = voc_dataset(
        voc_root,
        "train",
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        augment=settings.augment,
        shuffle=True,
        seed=0,
        progress=False,
    )
    images, labels = next(iter(data))
    assert tuple(images.shape) == (8, 384, 384, 3)
    before = model.get_layer("classifier").get_weights()[0].copy()
    model.run_eagerly = True  # the same computation, without ~30 s of tracing
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert int(model.optimizer.iterations) == 1
    assert not np.array_equal(before, model.get_layer("classifier").get_weights()[0])
    learning_rate = float(model.optimizer.learning_rate)
    assert learning_rate == pytest.approx(
        (0.007 - 1e-6) * (1 - 1 / (settings.epochs * 100)) ** 0.9 + 1e-6, rel=1e-4
    )
