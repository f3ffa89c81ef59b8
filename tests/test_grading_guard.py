"""seglab.grading.guard: tampering is found, answers are typed strictly.

These run in plain Python (no IPython shell); the checks inside a real
kernel, against real notebooks, are in test_assignment_tests.py.
"""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from seglab import palette
from seglab.grading import guard as grading_guard


@pytest.fixture()
def namespace():
    return {"np": np, "palette": palette}


def test_an_untouched_state_has_no_problems(namespace):
    guard = grading_guard.capture(namespace)
    assert guard.problems(namespace) == []
    guard.check(namespace)


@pytest.mark.parametrize(
    "patch",
    [
        lambda: setattr(np, "allclose", lambda *a, **k: True),
        lambda: setattr(np, "array_equal", lambda *a, **k: True),
        lambda: setattr(np.allclose._implementation, "__defaults__", (1e9, 1e9, False)),
        lambda: setattr(palette, "IGNORE_LABEL", 0),
        lambda: setattr(palette, "label_to_color", lambda *a: None),
        lambda: palette.VOC_COLORMAP.__setitem__(1, (0, 0, 0)),
        lambda: setattr(builtins, "divmod", lambda *a: (0, 0)),
    ],
)
def test_patched_numpy_package_or_builtins_are_found(namespace, patch, monkeypatch):
    guard = grading_guard.capture(namespace)
    saved = {
        "allclose": np.allclose,
        "array_equal": np.array_equal,
        "defaults": np.allclose._implementation.__defaults__,
        "divmod": builtins.divmod,
        "label_to_color": palette.label_to_color,
        "ignore": palette.IGNORE_LABEL,
        "colormap": palette.VOC_COLORMAP.copy(),
    }
    try:
        patch()
        with pytest.raises(grading_guard.GuardError, match="cannot trust"):
            guard.check(namespace)
    finally:
        np.allclose, np.array_equal = saved["allclose"], saved["array_equal"]
        np.allclose._implementation.__defaults__ = saved["defaults"]
        builtins.divmod = saved["divmod"]
        palette.label_to_color = saved["label_to_color"]
        palette.IGNORE_LABEL = saved["ignore"]
        palette.VOC_COLORMAP[:] = saved["colormap"]
    assert guard.problems(namespace) == []


def test_a_rebound_module_name_or_builtin_in_the_notebook_is_found(namespace):
    guard = grading_guard.capture(namespace)
    assert guard.problems({**namespace, "np": object()}) == [
        "np no longer names the module numpy"
    ]
    problems = guard.problems({**namespace, "type": lambda value: str})
    assert problems and "'type'" in problems[0]


def test_the_references_are_the_ones_captured(namespace):
    guard = grading_guard.capture(namespace)
    original = np.allclose
    try:
        np.allclose = lambda *a, **k: True
        assert not guard.allclose([1.0], [2.0])
        assert guard.allclose is original
    finally:
        np.allclose = original


class _AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True


class _Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class _Str(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: grading_guard.Guard.array(v), [[1, 2]]),
        (lambda v: grading_guard.Guard.array(v), np.zeros(2).view(_AlwaysEqual)),
        (lambda v: grading_guard.Guard.array(v), np.array([_Int(1)], dtype=object)),
        (lambda v: grading_guard.Guard.array(v, "iu"), np.zeros(2)),
        (lambda v: grading_guard.Guard.array(v, "f", (2, 2)), np.zeros(4)),
        (lambda v: grading_guard.Guard.integer(v), _Int(3)),
        (lambda v: grading_guard.Guard.integer(v), True),
        (lambda v: grading_guard.Guard.integer(v), 3.0),
        (lambda v: grading_guard.Guard.text(v), _Str("B")),
        (lambda v: grading_guard.Guard.boolean(v), 1),
        (lambda v: grading_guard.Guard.letters(v), {_Str("A")}),
        (lambda v: grading_guard.Guard.letters(v), "AC"),
        (lambda v: grading_guard.Guard.integers(v), [1, _Int(2)]),
        (lambda v: grading_guard.Guard.number(v), _Int(1)),
    ],
)
def test_strict_types_refuse_look_alikes(check, value):
    with pytest.raises(grading_guard.GuardError):
        check(value)


def test_strict_types_accept_plain_answers():
    guard = grading_guard.Guard
    assert guard.array(np.zeros((2, 2), np.int32), "iu", (2, 2)).shape == (2, 2)
    assert guard.integer(np.int64(3)) == 3 and guard.integer(3) == 3
    assert guard.number(np.float32(0.5)) == 0.5
    assert guard.text("B") == "B" and guard.boolean(False) is False
    assert guard.letters({"A", "C"}) == {"A", "C"}
    assert guard.integers(np.array([2, 0])) == [2, 0]
    assert guard.integers((np.int64(1), 2)) == [1, 2]
