"""Atrous (dilated) convolution by the numbers: reach, receptive fields, gridding.

Helpers for lesson 03. A ``k x k`` kernel at rate ``r`` places its ``k**2``
weights ``r`` pixels apart, so it spans ``k + (k - 1)(r - 1)`` pixels with the
same number of parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np


def effective_kernel_size(kernel_size: int, rate: int) -> int:
    """Pixels one side of a dilated kernel spans: ``k + (k - 1)(r - 1)``."""
    if kernel_size < 1 or rate < 1:
        raise ValueError(
            f"kernel_size and rate must be at least 1, got {kernel_size}, {rate}"
        )
    return kernel_size + (kernel_size - 1) * (rate - 1)


def receptive_field(
    kernel_sizes: Sequence[int],
    rates: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> int:
    """Receptive field (one side, pixels) of stacked convolutions.

    Each layer adds ``(effective_kernel_size - 1) * jump``, where ``jump`` is
    the product of the strides before it.

    >>> receptive_field([3, 3, 3], rates=[1, 2, 4])
    15
    """
    count = len(kernel_sizes)
    rates = [1] * count if rates is None else list(rates)
    strides = [1] * count if strides is None else list(strides)
    if not len(rates) == len(strides) == count:
        raise ValueError("kernel_sizes, rates and strides need one entry per layer")
    field, jump = 1, 1
    for kernel, rate, stride in zip(kernel_sizes, rates, strides, strict=True):
        field += (effective_kernel_size(kernel, rate) - 1) * jump
        jump *= stride
    return field


def stacked_dilated_convs(
    kernel_size: int, rates: Sequence[int], filters: int = 1
) -> keras.Sequential:
    """Stacked linear ``Conv2D`` layers, all weights 1, no bias ('same' padding).

    With all-ones kernels, the output at a pixel counts the paths from each
    input pixel to it, which makes receptive fields and gridding visible.
    ``(B, H, W, 1)`` -> ``(B, H, W, filters)``.
    """
    layers = [keras.Input((None, None, 1))]
    for index, rate in enumerate(rates):
        layers.append(
            keras.layers.Conv2D(
                filters,
                kernel_size,
                dilation_rate=rate,
                padding="same",
                use_bias=False,
                kernel_initializer="ones",
                name=f"dilated_{index}_rate_{rate}",
            )
        )
    return keras.Sequential(layers)


def impulse_response(
    kernel_size: int, rates: Sequence[int], size: int = 33
) -> np.ndarray:
    """Where a single bright pixel reaches through stacked dilated convs.

    Returns ``(size, size)`` float32: how many paths connect the centre pixel
    to each output pixel. By symmetry this is also the centre output's
    receptive field; zeros inside it are the holes of gridding.
    """
    impulse = np.zeros((1, size, size, 1), np.float32)
    impulse[0, size // 2, size // 2, 0] = 1.0
    model = stacked_dilated_convs(kernel_size, rates)
    return np.asarray(model(impulse))[0, :, :, 0]


def degenerate_rate_demo(side: int = 4, rate: int = 4, seed: int = 0) -> float:
    """Largest difference between a 3x3 conv at ``rate`` and its centre tap as 1x1.

    On a ``side x side`` map with ``rate >= side``, every off-centre tap reads
    zero padding, so the atrous conv *is* a 1x1 conv: the result is ~0.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(1, side, side, 8)).astype(np.float32)
    atrous = keras.layers.Conv2D(4, 3, dilation_rate=rate, padding="same")
    pointwise = keras.layers.Conv2D(4, 1)
    atrous_out = np.asarray(atrous(features))
    pointwise(features)
    kernel, bias = atrous.get_weights()
    pointwise.set_weights([kernel[1:2, 1:2], bias])
    return float(np.abs(atrous_out - np.asarray(pointwise(features))).max())


def time_dilated_conv(
    rate: int,
    side: int = 4,
    batch: int = 4,
    channels: int = 2048,
    filters: int = 256,
    repeats: int = 2,
) -> float:
    """Seconds for one 3x3 conv's forward and backward pass at ``rate``.

    Runs on a ``(batch, side, side, channels)`` float32 map, as ASPP sees
    ResNet-50's ``conv5`` output; the first (tracing) call is not timed.
    """
    import time

    import tensorflow as tf

    features = tf.random.normal((batch, side, side, channels))
    conv = keras.layers.Conv2D(filters, 3, dilation_rate=rate, padding="same")

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(conv(x))
        return tape.gradient(total, conv.trainable_variables)

    forward_backward(features)
    start = time.perf_counter()
    for _ in range(repeats):
        forward_backward(features)
    return (time.perf_counter() - start) / repeats
