"""Instructor tools for the nbgrader course in ``autograder/``.

The course's commands (``seglab grade ...``, run from the repository root
with the environment's ``bin`` on ``PATH``, because nbgrader calls ``alembic``):

- ``release``: ``generate_assignment`` for every assignment, then prove that
  each release fails its tests unsolved (nbgrader's ``validate --invert``).
- ``solutions``: regenerate ``solutions/`` from ``autograder/source`` with
  ``generate_solution`` (in a scratch copy of the course, so the instructor's
  gradebook is untouched).
- ``autograde``: grade everything in ``autograder/submitted/``: each
  submission rebuilt on the released structure (``submission``), scanned
  (``withhold``), graded by nbgrader in a worker process of its own
  (``worker``) with its kernel in a bubblewrap sandbox (``sandbox``); report
  what went wrong per submission and export the grades to CSV.
- ``clear``: give a withheld (flagged) score back.
- ``exchange`` / ``collect`` / ``feedback``: nbgrader's exchange loop, with
  feedback that shows no hidden test (``feedback``).
- ``student-copy``: what students get of this repository.

The package also holds the hooks ``autograder/nbgrader_config.py`` loads: the
per-cell time limits, the output and time limits, the test-cell guard.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.preprocessors import Execute, LimitOutput
from traitlets import Integer

from seglab.grading import sandbox
from seglab.grading.feedback import feedback_preprocessors  # noqa: F401

COURSE_ID = "seglab"
ASSIGNMENTS = (
    "01_concepts",
    "02_data_preparation",
    "03_atrous_convolution",
    "04_deeplabv3",
    "05_unet_pets",
    "06_evaluation",
)
"""One assignment per lesson; each lives in ``source/<name>/<name>.ipynb``."""

CELL_TIMEOUT = 10
"""Seconds any answer, test or student-added cell may run (real ones need < 2)."""

SETUP_TIMEOUT = 180
"""Seconds a locked, ungraded instructor cell may run (``import tensorflow``)."""

DEFAULT_COURSE = Path("autograder")
DEFAULT_SOLUTIONS = Path("solutions")
GRADES_CSV = "grades.csv"
REPORT_CSV = "grading_report.csv"


class GradingError(Exception):
    """A course operation failed; the message says which assignment and why."""


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
    "SHELL_METHODS": ("run_cell", "run_cell_async", "run_ast_nodes", "run_code",
                      "transform_cell", "transform_ast", "should_run_async",
                      "user_expressions", "showtraceback", "_showtraceback",
                      "showsyntaxerror", "_run_cell"),
    "KERNEL_METHODS": ("do_execute", "execute_request", "send_response"),
    "KEPT_MODULES": ("IPython", "ipykernel", "matplotlib", "matplotlib_inline",
                     "ipywidgets", "comm", "jupyter_client"),
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
    max_notebook_outputs = Integer(
        1_000, help="outputs stored per notebook"
    ).tag(config=True)
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
            msg_id = self.kc.execute("", silent=True, store_history=False,
                                     user_expressions={"g": guard_expression(nonce)})
            reply = self.wait_for_reply(msg_id)
        except Exception as error:  # noqa: BLE001 (any failure means no guard)
            return f"the grading guard could not run: {type(error).__name__}"
        result = ((reply or {}).get("content", {}).get("user_expressions", {})
                  .get("g", {}))
        if result.get("data", {}).get("text/plain") != repr(nonce):
            return ("the grading guard could not run: the kernel was changed "
                    f"({result.get('ename', 'no answer')})")
        return ""

    def preprocess_cell(self, cell, resources, index):
        """Run one cell, or skip it with an error once the time budget is spent.

        Before a test cell, the guard resets IPython's transformers, exception
        handlers, display hook and event callbacks; a test cell whose guard
        cannot run is not run and scores 0.
        """
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if (cell.cell_type == "code" and meta.get("grade") and meta.get("locked")
                and not meta.get("solution") and getattr(self, "kc", None)
                is not None):
            problem = self._guard()
            if problem:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename=GUARD_ENAME, evalue=problem, traceback=[])]
                cell.execution_count = None
                return cell, resources
        if not self._budgeted(cell):
            return super().preprocess_cell(cell, resources, index)
        used = getattr(self, "_budget_used", 0.0)
        if used >= self.time_budget:
            cell.outputs = [nbformat.v4.new_output(
                "error", ename=BUDGET_ENAME,
                evalue=f"not run: the notebook used its {self.time_budget} s "
                       "time budget", traceback=[])]
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
                self._output_chars.get(cell_index, 0) + size)
            self._output_counts[cell_index] = self._output_counts.get(cell_index, 0) + 1
            self._notebook_chars += size
            self._notebook_outputs += 1
            return super().output(outs, msg, display_id, cell_index)
        if msg_type in ("stream", "display_data", "error", "execute_result",
                        "update_display_data"):
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


# --------------------------------------------------------------------------
# Running nbgrader in-process


def load_config(course: Path):
    """The course's ``nbgrader_config.py`` with the course root set to ``course``."""
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    config_file = course / "nbgrader_config.py"
    if not config_file.exists():
        raise GradingError(
            f"{config_file} not found: pass the nbgrader course folder with "
            "--course (the folder holding nbgrader_config.py and source/)"
        )
    if shutil.which("alembic") is None:
        # nbgrader runs `alembic` to create or upgrade the gradebook; it sits
        # next to this interpreter in a virtual environment.
        bin_dir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    config = PyFileConfigLoader(config_file.name, path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    config.Application.log_level = "WARNING"
    return config


def _run_app(app_class, config, **coursedir_attrs: str) -> dict:
    """Start one nbgrader converter; returns ``{"success", "log", "error"}``."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    for name, value in coursedir_attrs.items():
        setattr(coursedir, name, value)
    app = app_class(coursedir=coursedir, config=config)
    app.force = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with warnings.catch_warnings():
        # nbgrader's own session handling; harmless, and noisy on every run.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        return capture_log(app)


def _check(result: dict, what: str) -> None:
    if not result["success"]:
        detail = result.get("error") or result.get("log") or "no details"
        raise GradingError(f"{what} failed:\n{detail}")


def source_assignments(course: Path) -> list[str]:
    """Names of the assignments under ``course/source`` (sorted)."""
    source = Path(course) / "source"
    if not source.is_dir():
        raise GradingError(f"{source} not found: is {course} the nbgrader course?")
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").exists())


def _select(available: Sequence[str], wanted: Iterable[str] | None, where: str):
    if not wanted:
        return list(available)
    wanted = list(wanted)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise GradingError(
            f"unknown assignment(s) {unknown} in {where}; choose from {list(available)}"
        )
    return wanted


def generate(course: Path, assignments: Iterable[str] | None = None) -> list[str]:
    """``nbgrader generate_assignment`` for each assignment; returns their names."""
    from nbgrader.converters import GenerateAssignment

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    config = load_config(course)
    for name in names:
        result = _run_app(GenerateAssignment, config, assignment_id=name)
        _check(result, f"generate_assignment {name}")
    return names


def validate_release_fails(
    course: Path, assignments: Iterable[str] | None = None
) -> list[str]:
    """Run each released notebook unsolved; raise if any test cell passes."""
    from nbgrader.validator import Validator

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    config = load_config(course)
    problems = []
    for name in names:
        notebook = course / "release" / name / f"{name}.ipynb"
        if not notebook.exists():
            raise GradingError(f"{notebook} not found: run `seglab grade release`")
        validator = Validator(invert=True, config=config)
        results = validator.validate(str(notebook))
        # An unanswered 0-point written answer "passes" (0 of 0): not a leak.
        zero_point = {
            cell.source.strip()
            for cell in nbformat.read(str(notebook), as_version=4).cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
            and float(cell.metadata["nbgrader"].get("points", 0)) == 0
        }
        for kind in ("type_changed", "changed", "passed"):
            for cell in results.get(kind, []):
                if kind == "passed" and cell["source"] in zero_point:
                    continue
                first_line = cell["source"].splitlines()[0] if cell["source"] else ""
                problems.append(f"{name}: {kind} cell: {first_line}")
    if problems:
        raise GradingError(
            "released notebooks must fail every test unsolved, but:\n"
            + "\n".join(problems)
        )
    return names


def release(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    validate: bool = True,
) -> list[str]:
    """Generate the student versions and (by default) prove they fail unsolved."""
    names = generate(course, assignments)
    if validate:
        validate_release_fails(course, names)
    return names


def generate_solutions(
    course: Path = DEFAULT_COURSE,
    destination: Path = DEFAULT_SOLUTIONS,
    assignments: Iterable[str] | None = None,
) -> list[Path]:
    """Write ``destination/<name>/<name>.ipynb`` with ``generate_solution``.

    Works in a scratch copy of the course (source and config only), so neither
    the instructor's gradebook nor ``release/`` changes. Returns the files.
    """
    from nbgrader.converters import GenerateAssignment, GenerateSolution

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    destination = Path(destination)
    written = []
    with tempfile.TemporaryDirectory(prefix="seglab-solutions-") as scratch:
        scratch_course = Path(scratch) / "course"
        shutil.copytree(course / "source", scratch_course / "source")
        shutil.copy(course / "nbgrader_config.py", scratch_course)
        config = load_config(scratch_course)
        for name in names:
            _check(
                _run_app(GenerateAssignment, config, assignment_id=name),
                f"generate_assignment {name}",
            )
            _check(
                _run_app(GenerateSolution, config, assignment_id=name),
                f"generate_solution {name}",
            )
            target = destination / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(scratch_course / "solution" / name, target)
            written.extend(sorted(target.rglob("*.ipynb")))
    return written


# --------------------------------------------------------------------------
# Autograding


@dataclass
class SubmissionResult:
    """What happened when one student's submission of one assignment was graded."""

    assignment: str
    student: str
    success: bool
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    withheld: str = ""

    @property
    def status(self) -> str:
        """``ok``, ``flagged`` (graded, but something needs a look), ``withheld``
        (the static scan found tricks; 0 until cleared) or ``failed``."""
        if not self.success:
            return "failed"
        if self.withheld:
            return "withheld"
        return "flagged" if self.notes else "ok"


def _grade_cell_ids(notebook_path: Path) -> list[str]:
    """``grade_id`` of every graded cell in a notebook file."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    return [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]


def _source_grade_ids(gradebook, assignment: str) -> dict[str, list[str]]:
    """Grade cell ids per notebook of an assignment, from the gradebook."""
    found = gradebook.find_assignment(assignment)
    return {nb.name: [cell.name for cell in nb.grade_cells] for nb in found.notebooks}


_CHANGED = re.compile(r"Attribute '(\w+)' for cell (\S+) has changed")


def _notes_from_log(log: str) -> list[str]:
    """Changed cell types, lock flags or points that nbgrader put back."""
    return [
        f"cell {cell}: {attribute} was changed; nbgrader restored it"
        for attribute, cell in sorted(set(_CHANGED.findall(log)))
        if attribute != "checksum"  # hidden tests change it; see _edited_cells
    ]


def _locked_sources(notebook_path: Path) -> dict[str, str]:
    """Source of every locked cell (set-up and tests), keyed by ``grade_id``."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    sources = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and meta.get("grade_id"):
            sources[meta["grade_id"]] = cell.source
    return sources


def _edited_cells(originals: Sequence[Path], submitted: Path) -> list[str]:
    """Notes for locked cells whose source matches none of the original versions.

    ``originals`` are the instructor's notebook and the released one (which
    lacks the hidden tests); a cell equal to either was not touched.
    """
    versions: dict[str, set[str]] = {}
    for path in originals:
        if path.exists():
            for grade_id, source in _locked_sources(path).items():
                versions.setdefault(grade_id, set()).add(source)
    notes = []
    for grade_id, source in _locked_sources(submitted).items():
        if grade_id in versions and source not in versions[grade_id]:
            notes.append(f"locked cell {grade_id} was edited; the original was graded")
    return notes


def _notes_from_autograded(notebook_path: Path) -> list[str]:
    notes = []
    if not notebook_path.exists():
        return notes
    notebook = nbformat.read(str(notebook_path), as_version=4)
    for index, cell in enumerate(notebook.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        outputs = cell.get("outputs", [])
        if any(output.get("ename") == "CellTimeoutError" for output in outputs):
            notes.append(f"cell {grade_id or index} timed out and was interrupted")
        if any("Output truncated" in str(output.get("text", "")) for output in outputs):
            notes.append(f"cell {grade_id or index} printed too much; output cut")
        for output in outputs:
            if output.get("ename") in (BUDGET_ENAME, GUARD_ENAME):
                notes.append(f"cell {grade_id or index}: {output.get('evalue')}")
    return notes


_EXCEPTION_LINE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))(?::\s*(.*))?$")


def _real_exception(text: str) -> str:
    """The last exception line of the last traceback in ``text`` (nbgrader
    itself only says "Please see the above traceback")."""
    candidates = []
    for line in text.splitlines():
        match = _EXCEPTION_LINE.match(line)
        if match and match.group(1) not in {"NbGraderException"}:
            candidates.append(line.strip())
    return candidates[-1][:300] if candidates else ""


def _failure_reason(result: dict) -> str:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    if "DeadKernelError" in text or "Kernel died" in text:
        return "the kernel died (the code exits or crashes the interpreter)"
    if "CellTimeoutError" in text or "Timeout waiting" in text:
        return "a cell ran past the time limit and could not be interrupted"
    if "UnresponsiveKernel" in text or "unresponsive" in text:
        return "the kernel stopped responding"
    real = _real_exception(text)
    if real:
        return real
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def submissions(course: Path) -> dict[str, list[str]]:
    """Students per assignment found in ``course/submitted/<student>/<assignment>``."""
    submitted = Path(course) / "submitted"
    found: dict[str, list[str]] = {}
    if not submitted.is_dir():
        return found
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            found.setdefault(assignment_dir.name, []).append(student_dir.name)
    return found


def _ensure_in_gradebook(course: Path, assignments: Iterable[str]) -> None:
    """Create gradebook entries (via ``generate_assignment``) where missing."""
    from nbgrader.api import Gradebook, MissingEntry

    missing = []
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        for name in assignments:
            try:
                if not gradebook.find_assignment(name).notebooks:
                    missing.append(name)
            except MissingEntry:
                missing.append(name)
    if missing:
        generate(course, missing)


def _db_url(course: Path) -> str:
    # Workers grading at once share the gradebook: wait for its lock.
    return f"sqlite:///{(Path(course) / 'gradebook.db').resolve()}?timeout=120"


WORKER_MARGIN = 120
"""Seconds a grading worker may run beyond its notebooks' time limits."""


def _worker_timeout(notebooks: int) -> float:
    per_notebook = 2 * SETUP_TIMEOUT + CappedExecute.time_budget.default_value
    return notebooks * per_notebook + WORKER_MARGIN


def autograde(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    students: Iterable[str] | None = None,
    export: bool = True,
    progress: bool = True,
    sandboxed: bool = True,
    jobs: int = 1,
) -> list[SubmissionResult]:
    """Grade every submission in ``course/submitted``; never stops on a bad one.

    Each submission is read and rebuilt on the released structure, scanned for
    tricks, and graded by nbgrader in a worker process of its own, with the
    kernel in a sandbox (``sandboxed=False`` turns that off, with a warning).
    A flagged submission's score is withheld until ``clear``. ``jobs``
    submissions are graded at once (each in its own worker and sandbox). Writes
    ``course/grades.csv`` (nbgrader's CSV export) and
    ``course/grading_report.csv`` (status and notes per submission).
    """
    from nbgrader.api import Gradebook

    course = Path(course)
    available = source_assignments(course)
    found = submissions(course)
    if not found:
        raise GradingError(
            f"no submissions in {course / 'submitted'}: put each one in "
            "submitted/<student_id>/<assignment>/<assignment>.ipynb "
            "(nbgrader collect or zip_collect do this)"
        )
    unknown = sorted(set(found) - set(available))
    if unknown:
        raise GradingError(
            f"{course}/submitted holds assignments with no source: {unknown}"
        )
    names = _select(available, assignments, f"{course}/source")
    names = [name for name in names if name in found]
    mode = _sandbox_mode(sandboxed)
    load_config(course)
    _ensure_in_gradebook(course, names)
    wanted_students = set(students) if students else None

    if jobs < 1:
        raise GradingError(f"jobs={jobs}: grade at least one submission at a time")
    queue = []
    for name in names:
        with Gradebook(_db_url(course), COURSE_ID) as gradebook:
            expected = _source_grade_ids(gradebook, name)
        releases = _releases(course, name, expected)
        for student in found[name]:
            if wanted_students is None or student in wanted_students:
                queue.append((name, student, expected, releases))

    results: list[SubmissionResult] = []

    def report(result: SubmissionResult) -> None:
        results.append(result)
        if progress:
            print(
                f"{result.assignment:24s} {result.student:20s} {result.status:8s} "
                f"{result.score:6.1f}/{result.max_score:<6.1f} "
                f"{result.seconds:5.1f} s",
                flush=True,
            )

    with _orphans_reaped() as reaper:
        running: list[_Pending] = []
        while queue or running:
            while queue and len(running) < jobs:
                name, student, expected, releases = queue.pop(0)
                running.append(_start(course, name, student, expected, releases, mode))
            for pending in _wait_any(running):
                running.remove(pending)
                pending.stop(reaper, [p.pid for p in running])
                report(_finish(course, pending))
    order = {(n, s): i for i, (n, s) in enumerate(
        (n, s) for n in names for s in found[n])}
    results.sort(key=lambda r: order[(r.assignment, r.student)])
    if export:
        export_grades(course)
        write_report(results, course / REPORT_CSV)
    return results


def _sandbox_mode(sandboxed: bool) -> str:
    """``"on"`` when kernels will be sandboxed, ``"off"`` when turned off."""
    sandbox_module = sandbox

    if not sandboxed:
        warnings.warn(
            "grading WITHOUT a sandbox (--no-sandbox): submitted code runs with "
            "your rights and can read and change the course, the gradebook and "
            "your files; grade only submissions you trust this way",
            RuntimeWarning, stacklevel=3,
        )
        return "off"
    try:
        sandbox_module.require_sandbox()
    except sandbox_module.SandboxError as error:
        raise GradingError(str(error)) from None
    return "on" if sandbox_module.sandbox_wanted() else "off"


def _releases(course: Path, name: str, expected: dict) -> dict:
    """The released notebook of each notebook id of an assignment."""
    releases = {}
    for notebook_id in expected:
        path = course / "release" / name / f"{notebook_id}.ipynb"
        if not path.exists():
            generate(course, [name])
        releases[notebook_id] = nbformat.read(str(path), as_version=4)
    return releases


class _orphans_reaped:
    """While grading, this process adopts orphaned descendants (Linux's child
    subreaper), so that a process a submission started and detached is still
    found and killed after its submission, even without a sandbox."""

    def __enter__(self):
        import psutil

        self.before = {p.pid for p in psutil.Process().children(recursive=True)}
        self._set(1)
        return self

    def sweep(self, keep: Sequence[int]) -> list[str]:
        """Kill this process's descendants except the ``keep`` trees and those
        that were there before; returns what was killed."""
        import psutil

        me = psutil.Process()
        spared = set(self.before)
        for pid in keep:
            spared.add(pid)
            try:
                spared |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
            except psutil.Error:
                pass
        doomed = [p for p in me.children(recursive=True) if p.pid not in spared]
        killed = []
        for process in list(doomed):
            try:
                # A process a running worker started after ``spared`` was
                # taken (a new kernel) is that worker's, not an orphan.
                if any(parent.pid in keep for parent in process.parents()):
                    doomed.remove(process)
                    continue
                killed.append(" ".join(process.cmdline())[:80] or process.name())
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(doomed, timeout=5)
        return killed

    def __exit__(self, *exc):
        self._set(0)

    @staticmethod
    def _set(value: int) -> None:
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(36, value, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


@dataclass
class _Pending:
    """A submission whose worker process is running."""

    name: str
    student: str
    expected: dict
    releases: dict
    scratch: Any
    prepared: Any
    findings: list[str]
    notes: list[str]
    process: Any
    started: float
    deadline: float
    problem: str = ""
    leftovers: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, reaper, keep: Sequence[int]) -> None:
        """End the worker if it overran; kill everything it left behind."""
        import psutil

        if self.process.is_alive():
            self.problem = (f"grading took longer than "
                            f"{self.deadline - self.started:.0f} s and was stopped")
            try:
                tree = psutil.Process(self.pid)
                for child in tree.children(recursive=True) + [tree]:
                    child.kill()
            except psutil.Error:
                pass
        self.process.join()
        if not self.problem and self.process.exitcode != 0:
            code = self.process.exitcode
            self.problem = f"the grading process ended with code {code}"
        self.leftovers = reaper.sweep(keep)


def _wait_any(running: list[_Pending]) -> list[_Pending]:
    """Block until a worker ends or overruns; those that did."""
    from multiprocessing.connection import wait

    now = time.monotonic()
    timeout = max(0.0, min(p.deadline for p in running) - now)
    wait([p.process.sentinel for p in running], timeout=timeout)
    now = time.monotonic()
    return [p for p in running if not p.process.is_alive() or now >= p.deadline]


def _start(course, name, student, expected, releases, mode) -> _Pending:
    """Read, rebuild, scan and stage a submission; start its worker."""
    import multiprocessing

    from seglab.grading import submission as submission_module
    from seglab.grading import withhold
    from seglab.grading import worker as worker_module

    notes: list[str] = []
    submitted = course / "submitted" / student / name
    started = time.monotonic()
    scratch_dir = tempfile.TemporaryDirectory(prefix="seglab-grade-")
    scratch = Path(scratch_dir.name)
    prepared = submission_module.prepare(submitted, releases)
    notes.extend(prepared.notes)
    if prepared.ignored_files:
        notes.append("files the kernel did not get: "
                     + ", ".join(prepared.ignored_files[:10]))
    for notebook_id in prepared.notebooks:
        path = submitted / f"{notebook_id}.ipynb"
        originals = [course / folder / name / f"{notebook_id}.ipynb"
                     for folder in ("source", "release")]
        if path.exists():
            try:
                notes.extend(_edited_cells(originals, path))
            except Exception:  # noqa: BLE001 (read errors are reported above)
                pass
    findings = withhold.scan(prepared.notebooks, releases)
    submission_module.stage(prepared, submitted, scratch / "submitted" / student / name)
    request = {"course": str(course.resolve()), "assignment": name,
               "student": student, "submitted": str(scratch / "submitted"),
               "sandbox": mode, "db_url": _db_url(course)}
    request_path = scratch / "REQUEST"
    request_path.write_text(json.dumps(request))
    # Forked on Linux (nbgrader is already imported: seconds saved per
    # submission; this process has no other threads), a fresh one elsewhere.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    process = multiprocessing.get_context(method).Process(
        target=worker_module.child_main, args=(str(request_path),), daemon=False)
    process.start()
    deadline = started + _worker_timeout(max(1, len(expected)))
    return _Pending(name, student, expected, releases, scratch_dir, prepared,
                    findings, notes, process, started, deadline)


def _worker_result(pending: _Pending) -> dict:
    folder = Path(pending.scratch.name)
    result_path = folder / "RESULT"
    if result_path.exists() and not pending.problem:
        result = json.loads(result_path.read_text())
    else:
        log = folder / "worker.log"
        tail = log.read_bytes()[-20_000:].decode(errors="replace") if log.exists() \
            else ""
        result = {"success": False, "log": tail, "error": pending.problem}
    return result


def _finish(course, pending: _Pending) -> SubmissionResult:
    """Collect the score and notes of a graded submission; withhold if flagged."""
    from nbgrader.api import Gradebook, MissingEntry

    from seglab.grading import withhold

    name, student, notes = pending.name, pending.student, pending.notes
    result = _worker_result(pending)
    pending.scratch.cleanup()
    seconds = time.monotonic() - pending.started
    notes.extend(_notes_from_log(result.get("log") or ""))
    if pending.leftovers:
        notes.append(f"{len(pending.leftovers)} process(es) left running after "
                     "grading were killed")
    for notebook_id in pending.expected:
        autograded = course / "autograded" / student / name / f"{notebook_id}.ipynb"
        notes.extend(_notes_from_autograded(autograded))
    success = bool(result["success"])
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(name, student)
        except MissingEntry:
            notes.append(_failure_reason(result) if not success else
                         "nbgrader recorded no submission")
            max_score = float(gradebook.find_assignment(name).max_score)
            return SubmissionResult(name, student, False, 0.0, max_score, seconds,
                                    notes)
        if not success:
            notes.append(_failure_reason(result))
            # Whatever ran before the failure does not count: zero every grade
            # and flag it for a human look in the formgrader.
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = True
            gradebook.db.commit()
        withheld = withhold.apply(course, gradebook, submission, pending.findings,
                                  pending.prepared.notebooks)
        score, max_score = float(submission.score), float(submission.max_score)
    return SubmissionResult(name, student, success, score, max_score, seconds,
                            notes, withheld)


def clear(course: Path, assignment: str, student: str) -> dict:
    """Give a withheld submission its points back; re-export ``grades.csv``."""
    from nbgrader.api import Gradebook, MissingEntry

    from seglab.grading import withhold

    course = Path(course)
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        try:
            entry = withhold.clear(course, gradebook, assignment, student)
        except KeyError as error:
            raise GradingError(error.args[0]) from None
        except MissingEntry:
            raise GradingError(
                f"the gradebook has no submission of {assignment} by {student}: "
                "grade it first with `seglab grade autograde`") from None
        score = float(gradebook.find_submission(assignment, student).score)
    export_grades(course)
    report = course / REPORT_CSV
    if report.exists():
        with open(report, newline="") as handle:
            rows = list(csv.reader(handle))
        for row in rows[1:]:
            if row[:2] == [assignment, student] and row[2] == "withheld":
                row[2], row[3] = "cleared", f"{score:g}"
        with open(report, "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    entry["score"] = score
    return entry


def _exchange_config(course: Path, exchange: Path | None):
    config = load_config(course)
    if exchange is not None:
        config.Exchange.root = str(Path(exchange).resolve())
    Path(config.Exchange.root).mkdir(parents=True, exist_ok=True)
    return config


def release_to_exchange(course: Path = DEFAULT_COURSE,
                        assignments: Iterable[str] | None = None,
                        exchange: Path | None = None) -> Path:
    """``nbgrader release_assignment`` for each assignment; the exchange folder."""
    from nbgrader.apps import NbGraderAPI

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    config = _exchange_config(course, exchange)
    api = NbGraderAPI(config=config)
    for name in names:
        if not (course / "release" / name).is_dir():
            generate(course, [name])
        result = api.release_assignment(name)
        _check(result, f"release_assignment {name}")
    return Path(config.Exchange.root)


def collect(course: Path = DEFAULT_COURSE, assignments: Iterable[str] | None = None,
            exchange: Path | None = None) -> dict[str, list[str]]:
    """``nbgrader collect``: copy submissions from the exchange to ``submitted/``."""
    from nbgrader.apps import NbGraderAPI

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    api = NbGraderAPI(config=_exchange_config(course, exchange))
    for name in names:
        _check(api.collect(name), f"collect {name}")
    return {name: students for name, students in submissions(course).items()
            if name in names}


def generate_feedback(course: Path = DEFAULT_COURSE,
                      assignments: Iterable[str] | None = None,
                      students: Iterable[str] | None = None,
                      release_feedback: bool = False,
                      exchange: Path | None = None) -> list[Path]:
    """HTML feedback per student (``feedback/<student>/<assignment>/*.html``).

    Hidden tests and the traceback lines that show them are removed (see
    ``seglab.grading.feedback``). A withheld score shows as 0 until cleared.
    With ``release_feedback``, the HTML also goes to the exchange, where
    students fetch it from the Assignment List.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import GenerateFeedback

    course = Path(course)
    names = _select(source_assignments(course), assignments, f"{course}/source")
    config = _exchange_config(course, exchange) if release_feedback else \
        load_config(course)
    wanted = set(students) if students else None
    autograded = course / "autograded"
    written = []
    for name in names:
        students_of = sorted(p.parent.name for p in autograded.glob(f"*/{name}")
                             if p.is_dir() and (wanted is None
                                                or p.parent.name in wanted))
        for student in students_of:
            _check(_run_app(GenerateFeedback, config, assignment_id=name,
                            student_id=student),
                   f"generate_feedback {name} for {student}")
            html = (course / "feedback" / student / name).glob("*.html")
            written.extend(sorted(html))
            if release_feedback:
                api = NbGraderAPI(config=config)
                _check(api.release_feedback(name, student),
                       f"release_feedback {name} for {student}")
    return written


STUDENT_COPY_PARTS = ("lessons", "src", "img", "README.md", "pyproject.toml",
                      "environment.yml", "Makefile", "scripts", "LICENSE",
                      "NOTICE", "data_sources")
"""What students get of this repository (when it exists), besides the
released assignments: never ``autograder/source`` (hidden tests), never
``solutions/``."""


def student_copy(destination: Path, course: Path = DEFAULT_COURSE,
                 repository: Path | None = None) -> list[Path]:
    """Write the students' copy of the course to ``destination``.

    Lessons, the ``seglab`` package and what it needs to install, and the
    released assignments (``assignments/<name>/``, generated if needed);
    no instructor sources, no hidden tests, no solutions, no gradebook.
    Returns the top-level entries written.
    """
    repository = Path(repository or Path(course).resolve().parent)
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise GradingError(f"{destination} is not empty: choose a new folder")
    course = Path(course)
    names = source_assignments(course)
    missing = [n for n in names if not (course / "release" / n).is_dir()]
    if missing:
        generate(course, missing)
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints",
                                    "*.pyc")
    written = []
    for part in STUDENT_COPY_PARTS:
        source = repository / part
        if not source.exists():
            continue
        target = destination / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
        written.append(target)
    for name in names:
        shutil.copytree(course / "release" / name, destination / "assignments" / name,
                        ignore=ignore)
    written.append(destination / "assignments")
    leaks = [str(p) for p in destination.rglob("*.ipynb")
             if "BEGIN HIDDEN TESTS" in p.read_text(errors="replace")
             or "BEGIN SOLUTION" in p.read_text(errors="replace")]
    if leaks:
        shutil.rmtree(destination)
        raise GradingError(f"the student copy would hold hidden tests or solutions: "
                           f"{leaks}; nothing was written")
    return written


def export_grades(course: Path, destination: Path | None = None) -> Path:
    """nbgrader's CSV export of the whole gradebook (``course/grades.csv``)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    destination = Path(destination or Path(course) / GRADES_CSV)
    plugin = CsvExportPlugin(to=str(destination))
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        plugin.export(gradebook)
    return destination


REPORT_HEADER = ["assignment", "student_id", "status", "score", "max_score",
                 "seconds", "notes"]


def write_report(results: Sequence[SubmissionResult], path: Path) -> Path:
    """One row per submission: status, score and what needs a look.

    Rows of submissions graded earlier (and not now) are kept, so grading one
    student again does not drop the others from the report.
    """
    rows: dict[tuple[str, str], list[str]] = {}
    if Path(path).exists():
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            if next(reader, None) == REPORT_HEADER:
                rows = {(row[0], row[1]): row for row in reader if len(row) >= 2}
    for r in results:
        rows[(r.assignment, r.student)] = [
            r.assignment, r.student, r.status, f"{r.score:g}", f"{r.max_score:g}",
            f"{r.seconds:.1f}", " | ".join(([r.withheld] if r.withheld else [])
                                           + r.notes)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_HEADER)
        writer.writerows(rows[key] for key in sorted(rows))
    return path


# --------------------------------------------------------------------------
# Command line: seglab grade {release,solutions,autograde}


def register(subparsers) -> None:
    """Add ``seglab grade ...`` to the CLI."""
    parser = subparsers.add_parser(
        "grade",
        help="nbgrader course: release assignments, solutions, autograding",
        description="Instructor commands for the nbgrader course in autograder/.",
    )
    commands = parser.add_subparsers(dest="grade_command", metavar="ACTION")
    commands.required = True

    def common(sub):
        sub.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                         help="nbgrader course folder (default: autograder)")
        sub.add_argument("assignments", nargs="*",
                         help="assignment names (default: all)")

    sub = commands.add_parser(
        "release", help="generate_assignment for all, then validate --invert"
    )
    common(sub)
    sub.add_argument("--no-validate", action="store_true",
                     help="skip running the releases unsolved")
    sub.set_defaults(func=_cli_release)

    sub = commands.add_parser("solutions", help="regenerate solutions/ from source")
    common(sub)
    sub.add_argument("--output", type=Path, default=DEFAULT_SOLUTIONS,
                     help="where to write the solutions (default: solutions)")
    sub.set_defaults(func=_cli_solutions)

    sub = commands.add_parser(
        "autograde", help="grade everything in submitted/ and export grades.csv"
    )
    common(sub)
    sub.add_argument("--student", action="append", default=None,
                     help="grade only this student (repeatable)")
    sub.add_argument("--jobs", type=int, default=1,
                     help="submissions graded at once (default 1; each has its "
                          "own worker and sandbox)")
    sub.add_argument("--no-sandbox", action="store_true",
                     help="run graded kernels WITHOUT the bubblewrap sandbox "
                          "(trusted submissions only; warns)")
    sub.set_defaults(func=_cli_autograde)

    sub = commands.add_parser(
        "clear", help="give a withheld (flagged) submission its points back")
    sub.add_argument("student", help="student id")
    sub.add_argument("assignment", help="assignment name")
    sub.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                     help="nbgrader course folder (default: autograder)")
    sub.set_defaults(func=_cli_clear)

    sub = commands.add_parser(
        "exchange", help="release_assignment: put releases in the exchange")
    common(sub)
    sub.add_argument("--exchange", type=Path, default=None,
                     help="exchange folder (default: the course config's, "
                          "autograder/exchange)")
    sub.set_defaults(func=_cli_exchange)

    sub = commands.add_parser(
        "collect", help="collect submissions from the exchange into submitted/")
    common(sub)
    sub.add_argument("--exchange", type=Path, default=None,
                     help="exchange folder (default: the course config's)")
    sub.set_defaults(func=_cli_collect)

    sub = commands.add_parser(
        "feedback", help="HTML feedback per student, hidden tests removed")
    common(sub)
    sub.add_argument("--student", action="append", default=None,
                     help="only this student (repeatable)")
    sub.add_argument("--release", action="store_true",
                     help="also release the feedback to the exchange")
    sub.add_argument("--exchange", type=Path, default=None,
                     help="exchange folder (default: the course config's)")
    sub.set_defaults(func=_cli_feedback)

    sub = commands.add_parser(
        "student-copy",
        help="write the students' copy: lessons, package, released assignments")
    sub.add_argument("destination", type=Path, help="new (or empty) folder")
    sub.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                     help="nbgrader course folder (default: autograder)")
    sub.set_defaults(func=_cli_student_copy)


def _command_error(error: GradingError):
    from seglab.cli import CommandError

    return CommandError(str(error))


def _cli_release(args: argparse.Namespace) -> int:
    try:
        names = release(args.course, args.assignments, validate=not args.no_validate)
    except GradingError as error:
        raise _command_error(error) from error
    checked = "" if args.no_validate else " (each fails its tests unsolved)"
    print(f"released {len(names)} assignment(s) to {args.course / 'release'}{checked}")
    return 0


def _cli_solutions(args: argparse.Namespace) -> int:
    try:
        written = generate_solutions(args.course, args.output, args.assignments)
    except GradingError as error:
        raise _command_error(error) from error
    for path in written:
        print(f"wrote {path}")
    return 0


def _cli_autograde(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        results = autograde(args.course, args.assignments, args.student,
                            sandboxed=not args.no_sandbox, jobs=args.jobs)
    except GradingError as error:
        raise _command_error(error) from error
    seconds = time.perf_counter() - start
    students = len({r.student for r in results})
    print(
        f"graded {len(results)} submission(s) of {students} student(s) in "
        f"{seconds:.1f} s; grades: {args.course / GRADES_CSV}, "
        f"report: {args.course / REPORT_CSV}"
    )
    for r in results:
        if r.status != "ok":
            print(f"{r.status.upper()}: {r.assignment} / {r.student}")
            for note in ([r.withheld] if r.withheld else []) + r.notes:
                print(f"    {note}")
    return 0


def _cli_clear(args: argparse.Namespace) -> int:
    try:
        entry = clear(args.course, args.assignment, args.student)
    except GradingError as error:
        raise _command_error(error) from error
    print(f"cleared {args.assignment} / {args.student}: score {entry['score']:g} "
          f"(was withheld for {len(entry['findings'])} finding(s)); "
          f"{args.course / GRADES_CSV} updated")
    return 0


def _cli_exchange(args: argparse.Namespace) -> int:
    try:
        root = release_to_exchange(args.course, args.assignments, args.exchange)
    except GradingError as error:
        raise _command_error(error) from error
    print(f"released to the exchange {root}; students fetch them in the "
          "Assignment List")
    return 0


def _cli_collect(args: argparse.Namespace) -> int:
    try:
        found = collect(args.course, args.assignments, args.exchange)
    except GradingError as error:
        raise _command_error(error) from error
    for name, students in found.items():
        print(f"{name}: {len(students)} submission(s) in "
              f"{args.course / 'submitted'}")
    return 0


def _cli_feedback(args: argparse.Namespace) -> int:
    try:
        written = generate_feedback(args.course, args.assignments, args.student,
                                    args.release, args.exchange)
    except GradingError as error:
        raise _command_error(error) from error
    for path in written:
        print(f"wrote {path}")
    if args.release:
        print("released to the exchange: students fetch it in the Assignment List")
    return 0


def _cli_student_copy(args: argparse.Namespace) -> int:
    try:
        written = student_copy(args.destination, args.course)
    except GradingError as error:
        raise _command_error(error) from error
    print(f"wrote the students' copy to {args.destination}: "
          + ", ".join(p.name for p in written))
    return 0
