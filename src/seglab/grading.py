"""Instructor tools for the nbgrader course in ``autograder/``.

Three jobs, each one command (``seglab grade ...``, run from the repository root
with the environment's ``bin`` on ``PATH``, because nbgrader calls ``alembic``):

- ``release``: ``generate_assignment`` for every assignment, then prove that
  each release fails its tests unsolved (nbgrader's ``validate --invert``).
- ``solutions``: regenerate ``solutions/`` from ``autograder/source`` with
  ``generate_solution`` (in a scratch copy of the course, so the instructor's
  gradebook is untouched).
- ``autograde``: grade everything in ``autograder/submitted/``, report what
  went wrong per submission (a kernel that died, a cell that timed out, a test
  cell a student deleted or edited) and export the grades to CSV.

The module also holds the hooks ``autograder/nbgrader_config.py`` loads: the
per-cell time limits and an output limiter.
"""

from __future__ import annotations

import argparse
import csv
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


class CappedExecute(Execute):
    """nbgrader's ``Execute`` that stops storing a cell's output past a limit.

    nbclient keeps every output message of a cell in memory until the cell
    ends; a loop that prints for the whole time limit can fill gigabytes.
    Past ``max_output_chars`` per cell only errors and results are kept (they
    decide the grade), and one short marker per output stream (so output on
    stderr still counts as a failure).
    """

    max_output_chars = Integer(
        1_000_000, help="characters of output stored per cell while it runs"
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook with fresh per-cell output counters."""
        self._output_chars: dict[int, int] = {}
        self._marked_streams: set[tuple[int, str]] = set()
        return super().preprocess(nb, resources, km)

    def output(self, outs, msg, display_id, cell_index):
        """Store the output unless the cell has already printed too much."""
        counts = getattr(self, "_output_chars", {})
        msg_type = msg.get("msg_type")
        content = msg.get("content", {})
        used = counts.get(cell_index, 0)
        if msg_type in ("error", "execute_result") or used < self.max_output_chars:
            size = len(str(content.get("text", ""))) + sum(
                len(str(value)) for value in content.get("data", {}).values()
            )
            counts[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        if msg_type == "stream":
            key = (cell_index, str(content.get("name", "stdout")))
            marked = getattr(self, "_marked_streams", set())
            if key not in marked:
                marked.add(key)
                out = nbformat.NotebookNode(
                    output_type="stream", name=key[1], text=TRUNCATED_MARKER
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

    @property
    def status(self) -> str:
        """``ok``, ``flagged`` (graded, but something needs a look) or ``failed``."""
        if not self.success:
            return "failed"
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
    return notes


def _failure_reason(result: dict) -> str:
    text = (result.get("error") or "") + (result.get("log") or "")
    if "DeadKernelError" in text or "Kernel died" in text:
        return "the kernel died (the code exits or crashes the interpreter)"
    if "CellTimeoutError" in text or "Timeout waiting" in text:
        return "a cell ran past the time limit and could not be interrupted"
    if "UnresponsiveKernel" in text or "unresponsive" in text:
        return "the kernel stopped responding"
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
    return f"sqlite:///{(Path(course) / 'gradebook.db').resolve()}"


def autograde(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    students: Iterable[str] | None = None,
    export: bool = True,
    progress: bool = True,
) -> list[SubmissionResult]:
    """Grade every submission in ``course/submitted``; never stops on a bad one.

    Writes ``course/grades.csv`` (nbgrader's CSV export) and
    ``course/grading_report.csv`` (status and notes per submission).
    """
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde

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
    config = load_config(course)
    _ensure_in_gradebook(course, names)
    wanted_students = set(students) if students else None

    results = []
    for name in names:
        with Gradebook(_db_url(course), COURSE_ID) as gradebook:
            expected = _source_grade_ids(gradebook, name)
        for student in found[name]:
            if wanted_students is not None and student not in wanted_students:
                continue
            results.append(
                _grade_one(course, config, Autograde, name, student, expected)
            )
            if progress:
                r = results[-1]
                print(
                    f"{name:24s} {student:20s} {r.status:8s} "
                    f"{r.score:6.1f}/{r.max_score:<6.1f} {r.seconds:5.1f} s",
                    flush=True,
                )
    if export:
        export_grades(course)
        write_report(results, course / REPORT_CSV)
    return results


def _grade_one(course, config, autograde_class, name, student, expected):
    """Autograde one submission and collect its score and notes."""
    from nbgrader.api import Gradebook, MissingEntry

    notes = []
    submitted = course / "submitted" / student / name
    for notebook_id, grade_ids in expected.items():
        path = submitted / f"{notebook_id}.ipynb"
        if not path.exists():
            notes.append(f"notebook {notebook_id}.ipynb was not submitted")
            continue
        try:
            present = set(_grade_cell_ids(path))
            originals = [
                course / folder / name / f"{notebook_id}.ipynb"
                for folder in ("source", "release")
            ]
            notes.extend(_edited_cells(originals, path))
        except Exception as error:  # unreadable JSON is the student's problem
            notes.append(f"{notebook_id}.ipynb could not be read: {error}")
            continue
        for grade_id in grade_ids:
            if grade_id not in present:
                notes.append(
                    f"graded cell {grade_id} was deleted; the original was put back"
                )
    start = time.perf_counter()
    result = _run_app(
        autograde_class, config, assignment_id=name, student_id=student
    )
    seconds = time.perf_counter() - start
    notes.extend(_notes_from_log(result.get("log") or ""))
    for notebook_id in expected:
        autograded = course / "autograded" / student / name / f"{notebook_id}.ipynb"
        notes.extend(_notes_from_autograded(autograded))
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(name, student)
        except MissingEntry:
            notes.append(_failure_reason(result) if not result["success"] else
                         "nbgrader recorded no submission")
            max_score = float(gradebook.find_assignment(name).max_score)
            return SubmissionResult(name, student, False, 0.0, max_score, seconds,
                                    notes)
        if not result["success"]:
            notes.append(_failure_reason(result))
            # Whatever ran before the failure does not count: zero every grade
            # and flag it for a human look in the formgrader.
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = True
            gradebook.db.commit()
        score, max_score = float(submission.score), float(submission.max_score)
    return SubmissionResult(
        name, student, bool(result["success"]), score, max_score, seconds, notes
    )


def export_grades(course: Path, destination: Path | None = None) -> Path:
    """nbgrader's CSV export of the whole gradebook (``course/grades.csv``)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    destination = Path(destination or Path(course) / GRADES_CSV)
    plugin = CsvExportPlugin(to=str(destination))
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        plugin.export(gradebook)
    return destination


def write_report(results: Sequence[SubmissionResult], path: Path) -> Path:
    """One row per graded submission: status, score and what needs a look."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["assignment", "student_id", "status", "score", "max_score", "seconds",
             "notes"]
        )
        for r in results:
            writer.writerow(
                [r.assignment, r.student, r.status, f"{r.score:g}", f"{r.max_score:g}",
                 f"{r.seconds:.1f}", " | ".join(r.notes)]
            )
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
    sub.set_defaults(func=_cli_autograde)


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
        results = autograde(args.course, args.assignments, args.student)
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
            for note in r.notes:
                print(f"    {note}")
    return 0
