"""Autograding ``autograder/submitted/``: one worker per submission, scanned,
sandboxed; withheld scores and ``clear``; the grades CSV and the report."""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from seglab.grading import (
    COURSE_ID,
    DEFAULT_COURSE,
    GRADES_CSV,
    REPORT_CSV,
    SETUP_TIMEOUT,
    GradingError,
    load_config,
    sandbox,
    select_assignments,
    source_assignments,
    submissions,
)
from seglab.grading.hooks import BUDGET_ENAME, GUARD_ENAME, CappedExecute
from seglab.grading.release import generate

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
    """Source of every locked cell (set-up and tests), keyed by ``grade_id``.

    Read like a submission (metadata of the wrong type dropped), since the
    submitted notebook is one of those read here.
    """
    from seglab.grading.submission import read_notebook

    notebook = read_notebook(notebook_path)
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
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))(?::\s*(.*))?$"
)


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
    names = select_assignments(available, assignments, f"{course}/source")
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
                started = time.monotonic()
                try:
                    running.append(
                        _start(course, name, student, expected, releases, mode)
                    )
                except Exception as error:  # noqa: BLE001 (this submission only)
                    report(_unprepared(course, name, student, started, error))
            if not running:
                continue
            for pending in _wait_any(running):
                running.remove(pending)
                pending.stop(reaper, [p.pid for p in running])
                try:
                    result = _finish(course, pending)
                except Exception as error:  # noqa: BLE001 (this submission only)
                    result = _unfinished(course, pending, error)
                report(result)
    order = {
        (n, s): i for i, (n, s) in enumerate((n, s) for n in names for s in found[n])
    }
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
            RuntimeWarning,
            stacklevel=3,
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

    #: Seconds a stray process gets to end by itself before it counts as left
    #: running: a kernel's process tree that is being shut down while its
    #: worker exits is adopted here for a moment (seen under load).
    grace = 3.0

    def sweep(self, keep: Sequence[int]) -> list[str]:
        """Kill this process's descendants except the ``keep`` trees and those
        that were there before; returns what was still running after
        ``grace`` seconds and was killed."""
        import psutil

        me = psutil.Process()
        spared = set(self.before)
        for pid in keep:
            spared.add(pid)
            try:
                spared |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
            except psutil.Error:
                pass
        strays = []
        for process in me.children(recursive=True):
            try:
                # A process a running worker started after ``spared`` was
                # taken (a new kernel) is that worker's, not an orphan.
                if process.pid in spared or any(
                    parent.pid in keep for parent in process.parents()
                ):
                    continue
            except psutil.Error:
                continue
            strays.append(process)
        # Waiting also reaps the adopted ones that already ended (zombies).
        _, doomed = psutil.wait_procs(strays, timeout=self.grace if strays else 0)
        killed = []
        for process in doomed:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                killed.append(" ".join(process.cmdline())[:80] or process.name())
            except psutil.Error:
                pass
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(doomed, timeout=5)
        return killed

    def __exit__(self, *exc):
        self._set(0)
        sandbox.remove_dangling_socket_links()

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
            self.problem = (
                f"grading took longer than "
                f"{self.deadline - self.started:.0f} s and was stopped"
            )
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


def start_worker(target, *args) -> multiprocessing.Process:
    """Start ``target(*args)`` in a new process: forked on Linux, where
    nbgrader is already imported (seconds saved per submission), spawned
    elsewhere.

    The fork happens with the garbage collector's objects frozen
    (``gc.freeze``), so the child never collects what it inherited. A parent
    that has used TensorFlow (a notebook, the test suite) holds TensorFlow
    objects whose collection in a forked child kills the child with SIGSEGV:
    the honest submission it grades would fail.
    """
    fork = sys.platform.startswith("linux")
    context = multiprocessing.get_context("fork" if fork else "spawn")
    process = context.Process(target=target, args=args, daemon=False)
    if fork:
        gc.freeze()
    try:
        process.start()
    finally:
        if fork:
            gc.unfreeze()
    return process


def _start(course, name, student, expected, releases, mode) -> _Pending:
    """Read, rebuild, scan and stage a submission; start its worker.

    Raises whatever went wrong with this submission (its scratch folder is
    removed first); the caller reports it as failed and grades the next one.
    """
    started = time.monotonic()
    scratch_dir = tempfile.TemporaryDirectory(prefix="seglab-grade-")
    try:
        return _stage_and_start(
            course, name, student, expected, releases, mode, scratch_dir, started
        )
    except BaseException:
        scratch_dir.cleanup()
        raise


def _stage_and_start(
    course, name, student, expected, releases, mode, scratch_dir, started
) -> _Pending:
    from seglab.grading import submission as submission_module
    from seglab.grading import withhold
    from seglab.grading import worker as worker_module

    notes: list[str] = []
    submitted = course / "submitted" / student / name
    scratch = Path(scratch_dir.name)
    prepared = submission_module.prepare(submitted, releases)
    notes.extend(prepared.notes)
    if prepared.ignored_files:
        notes.append(
            "files the kernel did not get: " + ", ".join(prepared.ignored_files[:10])
        )
    for notebook_id in prepared.notebooks:
        path = submitted / f"{notebook_id}.ipynb"
        originals = [
            course / folder / name / f"{notebook_id}.ipynb"
            for folder in ("source", "release")
        ]
        if path.exists():
            try:
                notes.extend(_edited_cells(originals, path))
            except Exception:  # noqa: BLE001 (read errors are reported above)
                pass
    findings = withhold.scan(prepared.notebooks, releases)
    submission_module.stage(prepared, submitted, scratch / "submitted" / student / name)
    request = {
        "course": str(course.resolve()),
        "assignment": name,
        "student": student,
        "submitted": str(scratch / "submitted"),
        "sandbox": mode,
        "db_url": _db_url(course),
    }
    request_path = scratch / "REQUEST"
    request_path.write_text(json.dumps(request))
    process = start_worker(worker_module.child_main, str(request_path))
    deadline = started + _worker_timeout(max(1, len(expected)))
    return _Pending(
        name,
        student,
        expected,
        releases,
        scratch_dir,
        prepared,
        findings,
        notes,
        process,
        started,
        deadline,
    )


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:300]}"


def _unprepared(
    course: Path, name: str, student: str, started: float, error: Exception
) -> SubmissionResult:
    """A submission that could not be read, rebuilt, scanned or staged: 0 points.

    Nothing of it was graded; whatever the gradebook held for it from an
    earlier run is zeroed too, so no stale score stands for this submission.
    """
    _zero_grades(course, name, student)
    return SubmissionResult(
        name,
        student,
        False,
        0.0,
        _max_score(course, name),
        time.monotonic() - started,
        [f"the submission could not be prepared for grading ({_error_text(error)})"],
    )


def _unfinished(course: Path, pending: _Pending, error: Exception) -> SubmissionResult:
    """A submission whose results could not be collected: 0 points, for a look."""
    try:
        pending.scratch.cleanup()
    except OSError:
        pass
    _zero_grades(course, pending.name, pending.student)
    return SubmissionResult(
        pending.name,
        pending.student,
        False,
        0.0,
        _max_score(course, pending.name),
        time.monotonic() - pending.started,
        pending.notes
        + [f"grading could not be completed ({_error_text(error)}); 0 points"],
    )


def _max_score(course: Path, name: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        return float(gradebook.find_assignment(name).max_score)


def _zero_grades(course: Path, name: str, student: str) -> None:
    """Zero a submission's grades in the gradebook and mark them for a look."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(name, student)
        except MissingEntry:
            return
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
        gradebook.db.commit()


def _worker_result(pending: _Pending) -> dict:
    folder = Path(pending.scratch.name)
    result_path = folder / "RESULT"
    if result_path.exists() and not pending.problem:
        result = json.loads(result_path.read_text())
    else:
        log = folder / "worker.log"
        tail = (
            log.read_bytes()[-20_000:].decode(errors="replace") if log.exists() else ""
        )
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
        notes.append(
            f"{len(pending.leftovers)} process(es) left running after "
            "grading were killed: " + "; ".join(pending.leftovers[:3])
        )
    for notebook_id in pending.expected:
        autograded = course / "autograded" / student / name / f"{notebook_id}.ipynb"
        notes.extend(_notes_from_autograded(autograded))
    success = bool(result["success"])
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(name, student)
        except MissingEntry:
            notes.append(
                _failure_reason(result)
                if not success
                else "nbgrader recorded no submission"
            )
            max_score = float(gradebook.find_assignment(name).max_score)
            return SubmissionResult(
                name, student, False, 0.0, max_score, seconds, notes
            )
        if not success:
            notes.append(_failure_reason(result))
            # Whatever ran before the failure does not count: zero every grade
            # and flag it for a human look in the formgrader.
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = True
            gradebook.db.commit()
        withheld = withhold.apply(
            course, gradebook, submission, pending.findings, pending.prepared.notebooks
        )
        score, max_score = float(submission.score), float(submission.max_score)
    return SubmissionResult(
        name, student, success, score, max_score, seconds, notes, withheld
    )


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
                "grade it first with `seglab grade autograde`"
            ) from None
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


def export_grades(course: Path, destination: Path | None = None) -> Path:
    """nbgrader's CSV export of the whole gradebook (``course/grades.csv``)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    destination = Path(destination or Path(course) / GRADES_CSV)
    plugin = CsvExportPlugin(to=str(destination))
    with Gradebook(_db_url(course), COURSE_ID) as gradebook:
        plugin.export(gradebook)
    return destination


REPORT_HEADER = [
    "assignment",
    "student_id",
    "status",
    "score",
    "max_score",
    "seconds",
    "notes",
]


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
            r.assignment,
            r.student,
            r.status,
            f"{r.score:g}",
            f"{r.max_score:g}",
            f"{r.seconds:.1f}",
            " | ".join(([r.withheld] if r.withheld else []) + r.notes),
        ]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_HEADER)
        writer.writerows(rows[key] for key in sorted(rows))
    return path
