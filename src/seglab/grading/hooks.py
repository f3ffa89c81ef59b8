"""The hooks ``autograder/nbgrader_config.py`` loads: per-cell time limits,
output and time limits, the test-cell guard, the preprocessor lists."""

from __future__ import annotations

import time
from typing import Any

import nbformat
from nbgrader.preprocessors import Execute, LimitOutput
from traitlets import Integer

from seglab.grading import CELL_TIMEOUT, SETUP_TIMEOUT
from seglab.grading.feedback import feedback_preprocessors  # noqa: F401

# --------------------------------------------------------------------------
# Hooks used by autograder/nbgrader_config.py


def cell_timeout(cell: Any) -> int:
    """Time limit in seconds for one notebook cell while nbgrader executes it.

    Only cells that nbgrader restores from the instructor's source before
    running (locked, with a known ``grade_id``) and that are not graded get
    ``SETUP_TIMEOUT``; everything a student can influence gets ``CELL_TIMEOUT``.
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    instructor_setup = (
        meta.get("locked", False)
        and bool(meta.get("grade_id"))
        and not meta.get("grade", False)
        and not meta.get("solution", False)
    )
    return SETUP_TIMEOUT if instructor_setup else CELL_TIMEOUT


class LimitOutputSize(LimitOutput):
    """nbgrader's line limit plus a limit on characters per output.

    A single huge line (``print("x" * 10**8)``) passes a line limit untouched;
    this cuts every text output to ``max_chars`` characters.
    """

    max_chars = Integer(
        20_000, help="maximum characters kept per output (-1 means no limit)"
    ).tag(config=True)

    def _cut(self, text: str) -> str:
        if self.max_chars < 0 or len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + "\n... Output truncated ..."

    def preprocess_cell(self, cell, resources, cell_index):
        """Apply the line limits, then cut long texts in every output."""
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.outputs:
            if "text" in output:
                output.text = self._cut(output.text)
            if "traceback" in output:
                output.traceback = [self._cut(line) for line in output.traceback]
            if "evalue" in output:
                output.evalue = self._cut(output.evalue)
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str):
                    output.data[mime] = self._cut(value)
        return cell, resources


TRUNCATED_MARKER = "\n... Output truncated ...\n"

BUDGET_ENAME = "TimeBudgetExceeded"
GUARD_ENAME = "GradingGuardError"

GUARD_CODE = """
import sys
from IPython import get_ipython
from IPython.core.inputtransformer2 import TransformerManager
shell = get_ipython()
shell.ast_transformers = []
shell.input_transformers_post = []
shell.input_transformer_manager = TransformerManager()
shell.custom_exceptions = ()
sys.displayhook = shell.displayhook
for owner, names in ((shell, SHELL_METHODS), (getattr(shell, "kernel", None),
                                              KERNEL_METHODS)):
    for name in names:
        if owner is not None and name in vars(owner):
            delattr(owner, name)
for event, callbacks in shell.events.callbacks.items():
    callbacks[:] = [c for c in callbacks if str(getattr(c, "__module__", "")).split(
        ".")[0] in KEPT_MODULES]
"""
"""Run in the kernel (through ``user_expressions``, which no input or AST
transformer touches) right before every test cell: undoes what would stop a
test cell from running as written or hide its failure."""

GUARD_NAMES = {
    "SHELL_METHODS": (
        "run_cell",
        "run_cell_async",
        "run_ast_nodes",
        "run_code",
        "transform_cell",
        "transform_ast",
        "should_run_async",
        "user_expressions",
        "showtraceback",
        "_showtraceback",
        "showsyntaxerror",
        "_run_cell",
    ),
    "KERNEL_METHODS": ("do_execute", "execute_request", "send_response"),
    "KEPT_MODULES": (
        "IPython",
        "ipykernel",
        "matplotlib",
        "matplotlib_inline",
        "ipywidgets",
        "comm",
        "jupyter_client",
    ),
}


def guard_expression(nonce: str) -> str:
    """A ``user_expressions`` entry that runs ``GUARD_CODE`` and yields ``nonce``."""
    names = "".join(f"{key} = {value!r}\n" for key, value in GUARD_NAMES.items())
    return f"(exec({names + GUARD_CODE!r}, {{}}), {nonce!r})[1]"


def _output_size(content: dict) -> int:
    """Characters an output message would store (text, data, traceback)."""
    size = len(str(content.get("text", ""))) + len(str(content.get("evalue", "")))
    size += sum(len(str(value)) for value in content.get("data", {}).values())
    size += sum(len(str(line)) for line in content.get("traceback", []) or [])
    return size


class CappedExecute(Execute):
    """nbgrader's ``Execute`` with limits that hold whatever a submission does.

    - Output: nbclient keeps every output message of a cell in memory until
      the cell ends. Past ``max_output_chars`` per cell, ``max_outputs`` per
      cell, or ``max_notebook_chars`` / ``max_notebook_outputs`` for the whole
      notebook, only the cell's first error and first result are kept (they
      decide the grade) plus one short marker per output stream (so output on
      stderr still counts as a failure).
    - Time: every cell a student can influence (answers, tests, added cells;
      see ``cell_timeout``) draws on one ``time_budget`` per notebook. A cell
      never gets more than what is left; once it is spent, the remaining
      such cells are not run and get an error output (no points).
    """

    max_output_chars = Integer(
        1_000_000, help="characters of output stored per cell while it runs"
    ).tag(config=True)
    max_outputs = Integer(100, help="outputs stored per cell").tag(config=True)
    max_notebook_chars = Integer(
        4_000_000, help="characters of output stored per notebook"
    ).tag(config=True)
    max_notebook_outputs = Integer(1_000, help="outputs stored per notebook").tag(
        config=True
    )
    time_budget = Integer(
        60, help="seconds all student-influenced cells of a notebook may run in total"
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook with fresh output counters and time budget."""
        self.reset_counters()
        return super().preprocess(nb, resources, km)

    def reset_counters(self) -> None:
        """Forget the output stored and the time used so far."""
        self._output_chars: dict[int, int] = {}
        self._output_counts: dict[int, int] = {}
        self._kept_kinds: set[tuple[int, str]] = set()
        self._marked_streams: set[tuple[int, str]] = set()
        self._notebook_chars = 0
        self._notebook_outputs = 0
        self._budget_used = 0.0

    def _budgeted(self, cell) -> bool:
        return cell.cell_type == "code" and cell_timeout(cell) == CELL_TIMEOUT

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if cell is not None and self._budgeted(cell):
            left = self.time_budget - getattr(self, "_budget_used", 0.0)
            timeout = max(1, int(min(timeout or left, left) + 0.999))
        return timeout

    def _guard(self) -> str:
        """Run the guard in the kernel; '' when it ran, else what went wrong."""
        import secrets

        nonce = secrets.token_hex(12)
        try:
            msg_id = self.kc.execute(
                "",
                silent=True,
                store_history=False,
                user_expressions={"g": guard_expression(nonce)},
            )
            reply = self.wait_for_reply(msg_id)
        except Exception as error:  # noqa: BLE001 (any failure means no guard)
            return f"the grading guard could not run: {type(error).__name__}"
        result = (
            (reply or {}).get("content", {}).get("user_expressions", {}).get("g", {})
        )
        if result.get("data", {}).get("text/plain") != repr(nonce):
            return (
                "the grading guard could not run: the kernel was changed "
                f"({result.get('ename', 'no answer')})"
            )
        return ""

    def preprocess_cell(self, cell, resources, index):
        """Run one cell, or skip it with an error once the time budget is spent.

        Before a test cell, the guard resets IPython's transformers, exception
        handlers, display hook and event callbacks; a test cell whose guard
        cannot run is not run and scores 0.
        """
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if (
            cell.cell_type == "code"
            and meta.get("grade")
            and meta.get("locked")
            and not meta.get("solution")
            and getattr(self, "kc", None) is not None
        ):
            problem = self._guard()
            if problem:
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error", ename=GUARD_ENAME, evalue=problem, traceback=[]
                    )
                ]
                cell.execution_count = None
                return cell, resources
        if not self._budgeted(cell):
            return super().preprocess_cell(cell, resources, index)
        used = getattr(self, "_budget_used", 0.0)
        if used >= self.time_budget:
            cell.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename=BUDGET_ENAME,
                    evalue=f"not run: the notebook used its {self.time_budget} s "
                    "time budget",
                    traceback=[],
                )
            ]
            cell.execution_count = None
            return cell, resources
        start = time.monotonic()
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            self._budget_used = used + time.monotonic() - start

    def output(self, outs, msg, display_id, cell_index):
        """Store the output unless the cell or notebook has already output too much."""
        if not hasattr(self, "_output_counts"):
            self.reset_counters()
        msg_type = msg.get("msg_type")
        content = msg.get("content", {})
        size = _output_size(content)
        within = (
            self._output_chars.get(cell_index, 0) < self.max_output_chars
            and self._output_counts.get(cell_index, 0) < self.max_outputs
            and self._notebook_chars < self.max_notebook_chars
            and self._notebook_outputs < self.max_notebook_outputs
        )
        first_of_kind = (
            msg_type in ("error", "execute_result")
            and (cell_index, msg_type) not in self._kept_kinds
        )
        if within or first_of_kind:
            if msg_type in ("error", "execute_result"):
                self._kept_kinds.add((cell_index, msg_type))
            self._output_chars[cell_index] = (
                self._output_chars.get(cell_index, 0) + size
            )
            self._output_counts[cell_index] = self._output_counts.get(cell_index, 0) + 1
            self._notebook_chars += size
            self._notebook_outputs += 1
            return super().output(outs, msg, display_id, cell_index)
        if msg_type in (
            "stream",
            "display_data",
            "error",
            "execute_result",
            "update_display_data",
        ):
            name = str(content.get("name", "stdout"))
            if msg_type == "stream" and name not in ("stdout", "stderr"):
                name = "stdout"
            name = name if msg_type == "stream" else "stdout"
            key = (cell_index, name)
            if key not in self._marked_streams:
                self._marked_streams.add(key)
                out = nbformat.NotebookNode(
                    output_type="stream", name=name, text=TRUNCATED_MARKER
                )
                outs.append(out)
                return out
        return None


def autograde_preprocessors() -> list:
    """nbgrader's autograde steps, ``LimitOutput`` swapped for ``LimitOutputSize``."""
    from nbgrader.converters import Autograde

    trait = Autograde.class_traits()["autograde_preprocessors"]
    defaults = trait.make_dynamic_default()
    replace = {LimitOutput: LimitOutputSize, Execute: CappedExecute}
    return [replace.get(step, step) for step in defaults]


def solution_preprocessors() -> list:
    """nbgrader's ``generate_solution`` steps without execution (no outputs)."""
    from nbgrader.converters import GenerateSolution

    defaults = GenerateSolution.class_traits()["preprocessors"].make_dynamic_default()
    return [step for step in defaults if step is not Execute]
