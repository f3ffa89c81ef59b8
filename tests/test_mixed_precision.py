"""Mixed precision as on a GPU, on the CPU: one training step of each model.

``mixed_float16`` is switched on by hand (``config.configure_devices`` does
it when it finds a GPU). Each model then computes in float16, keeps float32
weights, returns float32 logits, and ``compile`` wraps its optimiser in
Keras's ``LossScaleOptimizer``; its first SGD step that is not skipped (the
loss scale halves after an overflow) points the way the float32 model's
first step does.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seglab import config, losses, train
from seglab.models.deeplab import deeplabv3
from seglab.models.unet import unet_mobilenetv2

SIZE = 64
NUM_CLASSES = 3


def _batch():
    rng = np.random.default_rng(0)
    images = rng.random((2, SIZE, SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, (2, SIZE, SIZE)).astype(np.int32)
    labels[:, :4] = 255
    return images, labels


BUILDERS = {
    "deeplabv3": lambda: deeplabv3(
        NUM_CLASSES, backbone="mobilenetv2", backbone_weights=None
    ),
    "unet": lambda: unet_mobilenetv2(
        NUM_CLASSES, (SIZE, SIZE, 3), encoder_weights=None, alpha=0.35
    ),
}


def _first_step(name: str, policy: str) -> dict:
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = BUILDERS[name]()
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=losses.ce_dice(NUM_CLASSES),
        )
        images, labels = _batch()
        before = [w.numpy().copy() for w in model.trainable_weights]
        logits = model(images, training=False)
        # The loss scale starts at 2 ** 15; a step whose scaled gradients
        # overflow is skipped (the weights stay) and the scale is halved.
        for tries in range(1, 9):  # noqa: B007 (tries is reported)
            history = model.fit(images, labels, batch_size=2, epochs=1, verbose=0)
            after = [w.numpy() for w in model.trainable_weights]
            steps = [(a - b).ravel() for a, b in zip(after, before, strict=True)]
            if any(np.any(step) for step in steps):
                break
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {
        "model": model,
        "logits_dtype": keras.backend.standardize_dtype(logits.dtype),
        "loss": history.history["loss"][0],
        "step": np.concatenate(steps),
        "head": np.concatenate(steps[-2:]),  # the classifier's kernel and bias
        "tries": tries,
    }


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def steps(request):
    return request.param, {
        policy: _first_step(request.param, policy)
        for policy in ("float32", "mixed_float16")
    }


def test_mixed_precision_computes_in_float16_with_float32_logits_and_weights(steps):
    name, runs = steps
    model = runs["mixed_float16"]["model"]
    assert runs["mixed_float16"]["logits_dtype"] == "float32", name
    assert model.layers[-1].dtype_policy.name == "float32"
    computing = [layer.compute_dtype for layer in model.layers]
    assert computing.count("float16") > len(computing) // 2
    assert {w.dtype for w in model.trainable_weights} == {"float32"}


def test_compile_wraps_the_optimiser_in_a_loss_scale_optimiser(steps):
    name, runs = steps
    optimizer = runs["mixed_float16"]["model"].optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer), name
    assert not isinstance(
        runs["float32"]["model"].optimizer, keras.optimizers.LossScaleOptimizer
    )


def _cosine(first, second) -> float:
    return float(
        np.dot(first, second) / (np.linalg.norm(first) * np.linalg.norm(second))
    )


def test_the_mixed_precision_step_follows_the_float32_step(steps):
    """Same loss; the classifier steps the same way; the whole step agrees less.

    Deep in a random-initialised encoder, float16 gradients through batch
    normalisation of a 2-image batch lose much of their precision to
    cancellation (measured on a CPU: cosine about 0.6-0.7 over all weights,
    above 0.97 for the classifier), which a GPU's float16 shares.
    """
    name, runs = steps
    half, full = runs["mixed_float16"], runs["float32"]
    assert full["tries"] == 1 and half["tries"] <= 4, name
    assert np.isfinite(half["loss"]) and np.all(np.isfinite(half["step"]))
    assert half["loss"] == pytest.approx(full["loss"], rel=2e-2), name
    assert _cosine(half["head"], full["head"]) > 0.95, name
    ratio = np.linalg.norm(half["head"]) / np.linalg.norm(full["head"])
    assert ratio == pytest.approx(1.0, abs=0.2), name
    assert _cosine(half["step"], full["step"]) > 0.4, name


def test_configure_devices_picks_mixed_precision_when_it_finds_a_gpu(monkeypatch):
    monkeypatch.setattr(
        config, "enable_memory_growth", lambda: ["/physical_device:GPU:0"]
    )
    try:
        assert config.configure_devices() == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
        config.configure_devices(mixed_precision=False, light_graphs=True)


def test_a_schedule_is_found_through_the_loss_scale_optimiser():
    inner = train.make_optimizer("sgd", 0.007, decay_steps=10)
    assert train.follows_schedule(keras.optimizers.LossScaleOptimizer(inner))
    constant = train.make_optimizer("sgd", 0.007)
    assert not train.follows_schedule(keras.optimizers.LossScaleOptimizer(constant))
