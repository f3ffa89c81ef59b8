"""Atrous convolution helpers: reach, receptive fields, gridding, degeneration."""

from __future__ import annotations

import numpy as np
import pytest

from seglab import atrous


@pytest.mark.parametrize(
    "kernel, rate, expected", [(3, 1, 3), (3, 2, 5), (3, 6, 13), (5, 3, 13), (1, 9, 1)]
)
def test_effective_kernel_size(kernel, rate, expected):
    assert atrous.effective_kernel_size(kernel, rate) == expected


def test_receptive_field_of_stacks_with_rates_and_strides():
    assert atrous.receptive_field([3, 3, 3]) == 7
    assert atrous.receptive_field([3, 3, 3], rates=[1, 2, 4]) == 15
    assert atrous.receptive_field([3, 3], strides=[2, 1]) == 7
    with pytest.raises(ValueError, match="one entry per layer"):
        atrous.receptive_field([3, 3], rates=[1])


@pytest.mark.parametrize("rates", [[1], [2], [1, 2, 4], [2, 2, 2]])
def test_impulse_response_spans_the_receptive_field(rates):
    response = atrous.impulse_response(3, rates, size=41)
    rows = np.flatnonzero(response.sum(axis=1))
    expected = atrous.receptive_field([3] * len(rates), rates)
    assert rows.max() - rows.min() + 1 == expected


def test_equal_rates_leave_holes_and_growing_rates_do_not():
    gridded = atrous.impulse_response(3, [2, 2, 2], size=21)
    centre = gridded[4:17, 4:17]  # the 13 x 13 receptive field
    assert (centre == 0).any()
    hybrid = atrous.impulse_response(3, [1, 2, 3], size=21)[4:17, 4:17]
    assert (hybrid > 0).all()


def test_rate_as_large_as_the_map_degenerates_to_a_1x1_conv():
    assert atrous.degenerate_rate_demo(side=4, rate=4) < 1e-5
    assert atrous.degenerate_rate_demo(side=8, rate=2) > 1e-2


def test_time_dilated_conv_times_the_work_it_is_given():
    """About 3000 times the arithmetic takes clearly longer; a timer that
    returned a constant, or timed the tracing call, would not show it."""
    small = atrous.time_dilated_conv(2, side=4, batch=1, channels=8, filters=8)
    large = atrous.time_dilated_conv(
        2, side=32, batch=2, channels=128, filters=128, repeats=3
    )
    assert 0.0 < small < large / 3
