"""Checks that make the assignments' test cells hard to spoof.

A locked set-up cell of every assignment runs, before any student code::

    from seglab.grading.guard import capture as _seglab_capture
    _seglab = _seglab_capture(globals())

:func:`capture` records the state the tests rely on: NumPy's and the course
package's functions (the objects and their code), the built-ins, the modules
bound in the notebook, and IPython's code transformers, event callbacks and
display hook. Every test cell starts with ``_seglab.check(globals())``, which
fails when any of these changed (a patched ``np.allclose``, an AST or input
transformer, a custom ``sys.displayhook``, a rebound ``type``...). The tests
then check answer types strictly (:meth:`Guard.array`, :meth:`Guard.integer`,
:meth:`Guard.text`: exact types, so an object whose ``__eq__`` always says
yes cannot pass) and compare with the references captured here
(``_seglab.array_equal``, ``_seglab.allclose``), not with names a student's
code could have replaced.

Code in the same process can always undo a check it can reach; these checks
are one layer. The other is :mod:`seglab.grading.scan`, which flags, before
grading, any student cell that reaches them (names starting with ``_seglab``,
``gc``, ``ctypes``, ``globals()``, code objects, ``sys.modules``...), and a
transformer that removes whole test cells, which no check inside those cells
can see.
"""

from __future__ import annotations

import builtins
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["Guard", "GuardError", "capture"]

_WATCHED_PACKAGES = ("numpy", "seglab")
"""Every loaded module of these packages is recorded: functions and classes,
and for seglab also its constants (``palette.IGNORE_LABEL``, ``VOC_COLORMAP``)."""

_SHELL_METHODS = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "should_run_async",
    "showtraceback",
    "ex",
    "ev",
)
_TEST_BUILTINS = (
    "type",
    "isinstance",
    "issubclass",
    "len",
    "set",
    "frozenset",
    "str",
    "bool",
    "int",
    "float",
    "tuple",
    "list",
    "dict",
    "range",
    "sorted",
    "zip",
    "any",
    "all",
    "abs",
    "next",
    "iter",
    "repr",
    "AssertionError",
    "ValueError",
    "object",
    "print",
    "super",
    "hasattr",
    "getattr",
    "enumerate",
)
"""Built-ins the test cells call: the notebook must not rebind them."""

_KERNEL_BUILTINS = ("input", "raw_input")
"""Built-ins the Jupyter kernel itself replaces for every cell it runs."""

_INTEGER_TYPES = (
    int,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
)
_FLOAT_TYPES = (float, np.float16, np.float32, np.float64)


class GuardError(AssertionError):
    """The notebook's state was tampered with; the test cell fails."""


def _function_parts(value: Any) -> tuple:
    """The objects that decide what a function does: itself, code, defaults."""
    parts = [value]
    target = value
    if type(value).__name__ == "_ArrayFunctionDispatcher":  # NumPy's wrappers
        target = value._implementation
        parts.append(target)
    if isinstance(target, types.FunctionType):
        parts += [target.__code__, target.__defaults__, target.__kwdefaults__]
    return tuple(parts)


def _module_record(module: types.ModuleType, constants: bool) -> dict[str, tuple]:
    """Callables, classes and submodules of a module by name (and its constants).

    Each entry: the function that describes the value, and its description.
    """
    record = {}
    for name, value in list(vars(module).items()):
        if isinstance(value, types.ModuleType) or callable(value):
            record[name] = (_function_parts, _function_parts(value))
        elif constants and not name.startswith("__"):
            record[name] = (_constant_parts, _constant_parts(value))
    return record


def _constant_parts(value: Any) -> tuple:
    """A constant, and the bytes of an array (which can change in place)."""
    if type(value) is np.ndarray:
        return (value, value.tobytes())
    return (value,)


def _same(recorded: tuple, now: tuple) -> bool:
    if len(recorded) != len(now):
        return False
    return all(
        a == b if type(a) is bytes else a is b
        for a, b in zip(recorded, now, strict=True)
    )


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _shell_state(shell) -> dict[str, Any]:
    """What IPython runs a cell through, as lists of the objects involved."""
    if shell is None:
        return {}
    manager = shell.input_transformer_manager
    state = {
        "ast_transformers": list(shell.ast_transformers),
        "input_transformers_post": list(shell.input_transformers_post),
        "input_transformers_cleanup": list(shell.input_transformers_cleanup),
        "cleanup_transforms": list(manager.cleanup_transforms),
        "line_transforms": list(manager.line_transforms),
        "token_transformers": list(manager.token_transformers),
        "displayhook": [shell.displayhook],
        "display_pub": [shell.display_pub],
        "compile": [shell.compile],
        "custom_exceptions": list(shell.custom_exceptions),
    }
    for event, callbacks in shell.events.callbacks.items():
        state[f"events.{event}"] = list(callbacks)
    for name in _SHELL_METHODS:
        state[f"shell.{name}"] = [
            getattr(type(shell), name, None),
            vars(shell).get(name),
        ]
    return state


class Guard:
    """State recorded before student code ran, and strict checks for the tests."""

    __slots__ = (
        "_builtins",
        "_first",
        "_modules",
        "_namespace_modules",
        "_shell",
        "_shell_state",
        "_sys_hooks",
        "array_equal",
        "allclose",
        "isclose",
        "isnan",
    )

    def __init__(self, namespace: Mapping[str, Any]):
        self._shell = _shell()
        # Captured in the first cell of a fresh kernel (the input history holds
        # an empty entry and this cell), or code ran before it.
        self._first = (
            self._shell is None or len(self._shell.history_manager.input_hist_raw) <= 2
        )
        self._builtins = {
            name: value
            for name, value in vars(builtins).items()
            if name not in _KERNEL_BUILTINS
        }
        self._modules = {
            name: (module, _module_record(module, name.startswith("seglab")))
            for name, module in list(sys.modules.items())
            if module is not None and name.split(".")[0] in _WATCHED_PACKAGES
        }
        self._namespace_modules = {
            name: value
            for name, value in namespace.items()
            if isinstance(value, types.ModuleType) and not name.startswith("_")
        }
        self._shell_state = _shell_state(self._shell)
        self._sys_hooks = self._hooks()
        self.array_equal = np.array_equal
        self.allclose = np.allclose
        self.isclose = np.isclose
        self.isnan = np.isnan

    @staticmethod
    def _hooks() -> tuple:
        return (
            sys.displayhook,
            sys.gettrace(),
            sys.getprofile(),
            sys.modules,
            sys.meta_path[:],
            sys.path_hooks[:],
            builtins.__import__,
        )

    # -- the check every test cell runs first ------------------------------
    def problems(self, namespace: Mapping[str, Any]) -> list[str]:
        """What changed since :func:`capture`, one line each (empty: nothing)."""
        found = []
        if not self._first:
            found.append(
                "code ran before the set-up cell: restart the kernel and "
                "run the whole notebook from the top (Kernel -> Restart "
                "and Run All)"
            )
        for name, value in self._builtins.items():
            if vars(builtins).get(name) is not value:
                found.append(f"the built-in {name} was replaced")
        for name in _TEST_BUILTINS:
            if name in namespace:
                found.append(
                    f"the notebook rebinds the built-in {name!r}; rename your variable"
                )
        for name, module in self._namespace_modules.items():
            if namespace.get(name) is not module:
                found.append(f"{name} no longer names the module {module.__name__}")
        for name, (module, record) in self._modules.items():
            if sys.modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}] was replaced")
                continue
            now = vars(module)
            for attr, parts in record.items():
                describe, before = parts
                if attr not in now or not _same(before, describe(now[attr])):
                    found.append(f"{name}.{attr} was changed")
        hooks = self._hooks()
        names = (
            "sys.displayhook",
            "the trace function",
            "the profile function",
            "sys.modules",
            "sys.meta_path",
            "sys.path_hooks",
            "__import__",
        )
        for name, before, after in zip(names, self._sys_hooks, hooks, strict=True):
            same = before == after if isinstance(before, list) else before is after
            if not same:
                found.append(f"{name} was changed")
        if _shell() is not self._shell:
            found.append("the IPython shell was replaced")
        state = _shell_state(self._shell)
        for key in sorted(set(state) | set(self._shell_state)):
            before, after = self._shell_state.get(key, []), state.get(key, [])
            if len(before) != len(after) or any(
                a is not b for a, b in zip(before, after, strict=True)
            ):
                found.append(f"IPython's {key} was changed")
        return found

    def check(self, namespace: Mapping[str, Any]) -> None:
        """Fail this test cell if the grading state was tampered with."""
        found = self.problems(namespace)
        if found:
            shown = "; ".join(found[:5]) + (" ..." if len(found) > 5 else "")
            raise GuardError(f"the tests cannot trust this notebook: {shown}")

    # -- strict answer types -----------------------------------------------
    @staticmethod
    def array(
        value: Any,
        kinds: str = "biuf",
        shape: Iterable[int] | None = None,
        name: str = "the answer",
    ) -> np.ndarray:
        """``value`` if it is a plain ``numpy.ndarray`` of the right kind and shape.

        ``kinds``: allowed dtype kinds (``"iu"`` integers, ``"f"`` floats, ``"b"``
        booleans). Subclasses of ``ndarray`` and ``object`` arrays are refused.
        """
        if type(value) is not np.ndarray:
            raise GuardError(
                f"{name} must be a NumPy array (numpy.ndarray), "
                f"got {type(value).__name__}"
            )
        if type(value.dtype) not in _DTYPE_CLASSES or value.dtype.kind not in kinds:
            raise GuardError(
                f"{name} has dtype {value.dtype}; expected kind {' or '.join(kinds)}"
            )
        if shape is not None and value.shape != tuple(shape):
            raise GuardError(f"{name} has shape {value.shape}, expected {tuple(shape)}")
        return value

    @staticmethod
    def integer(value: Any, name: str = "the answer") -> int:
        """``value`` as an ``int`` if it is exactly a Python or NumPy integer."""
        if type(value) not in _INTEGER_TYPES:
            raise GuardError(f"{name} must be an integer, got {type(value).__name__}")
        return int(value)

    @staticmethod
    def number(value: Any, name: str = "the answer") -> float:
        """``value`` as a ``float`` if it is exactly a Python or NumPy number."""
        if type(value) not in _FLOAT_TYPES + _INTEGER_TYPES:
            raise GuardError(f"{name} must be a number, got {type(value).__name__}")
        return float(value)

    @staticmethod
    def text(value: Any, name: str = "the answer") -> str:
        """``value`` if it is exactly a ``str``."""
        if type(value) is not str:
            raise GuardError(f"{name} must be a string, got {type(value).__name__}")
        return value

    @staticmethod
    def boolean(value: Any, name: str = "the answer") -> bool:
        """``value`` if it is exactly ``True`` or ``False``."""
        if type(value) is not bool:
            raise GuardError(
                f"{name} must be True or False, got {type(value).__name__}"
            )
        return value

    @classmethod
    def letters(cls, value: Any, name: str = "the answer") -> frozenset[str]:
        """``value`` as a frozenset if it is a set of plain strings."""
        if type(value) not in (set, frozenset):
            raise GuardError(f"{name} must be a set, got {type(value).__name__}")
        return frozenset(cls.text(item, f"each letter of {name}") for item in value)

    @classmethod
    def integers(cls, value: Any, name: str = "the answer") -> list[int]:
        """A 1-D integer array, list or tuple of integers as a list of ``int``."""
        if type(value) is np.ndarray:
            return [int(v) for v in cls.array(value, "iu", name=name).ravel()]
        if type(value) not in (list, tuple):
            raise GuardError(
                f"{name} must be an array, list or tuple of integers, "
                f"got {type(value).__name__}"
            )
        return [cls.integer(v, f"each item of {name}") for v in value]


_DTYPE_CLASSES = {type(np.dtype(code)) for code in "?bhilqBHILQefd"}


def capture(namespace: Mapping[str, Any]) -> Guard:
    """Record the notebook's state now; call from the locked set-up cell."""
    return Guard(namespace)
