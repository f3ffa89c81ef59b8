"""Releases, solutions and nbgrader's exchange loop: ``generate``,
``release`` (proved to fail unsolved), ``generate_solutions``,
``release_to_exchange``, ``collect``, ``generate_feedback``, ``student_copy``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

from seglab.grading import (
    DEFAULT_COURSE,
    DEFAULT_SOLUTIONS,
    GradingError,
    check_result,
    load_config,
    run_app,
    select_assignments,
    source_assignments,
    submissions,
)


def generate(course: Path, assignments: Iterable[str] | None = None) -> list[str]:
    """``nbgrader generate_assignment`` for each assignment; returns their names."""
    from nbgrader.converters import GenerateAssignment

    course = Path(course)
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
    config = load_config(course)
    for name in names:
        result = run_app(GenerateAssignment, config, assignment_id=name)
        check_result(result, f"generate_assignment {name}")
    return names


def validate_release_fails(
    course: Path, assignments: Iterable[str] | None = None
) -> list[str]:
    """Run each released notebook unsolved; raise if any test cell passes."""
    from nbgrader.validator import Validator

    course = Path(course)
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
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
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
    destination = Path(destination)
    written = []
    with tempfile.TemporaryDirectory(prefix="seglab-solutions-") as scratch:
        scratch_course = Path(scratch) / "course"
        shutil.copytree(course / "source", scratch_course / "source")
        shutil.copy(course / "nbgrader_config.py", scratch_course)
        config = load_config(scratch_course)
        for name in names:
            check_result(
                run_app(GenerateAssignment, config, assignment_id=name),
                f"generate_assignment {name}",
            )
            check_result(
                run_app(GenerateSolution, config, assignment_id=name),
                f"generate_solution {name}",
            )
            target = destination / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(scratch_course / "solution" / name, target)
            written.extend(sorted(target.rglob("*.ipynb")))
    return written


def _exchange_config(course: Path, exchange: Path | None):
    config = load_config(course)
    if exchange is not None:
        config.Exchange.root = str(Path(exchange).resolve())
    Path(config.Exchange.root).mkdir(parents=True, exist_ok=True)
    return config


def release_to_exchange(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    exchange: Path | None = None,
) -> Path:
    """``nbgrader release_assignment`` for each assignment; the exchange folder."""
    from nbgrader.apps import NbGraderAPI

    course = Path(course)
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
    config = _exchange_config(course, exchange)
    api = NbGraderAPI(config=config)
    for name in names:
        if not (course / "release" / name).is_dir():
            generate(course, [name])
        result = api.release_assignment(name)
        check_result(result, f"release_assignment {name}")
    return Path(config.Exchange.root)


def collect(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    exchange: Path | None = None,
) -> dict[str, list[str]]:
    """``nbgrader collect``: copy submissions from the exchange to ``submitted/``."""
    from nbgrader.apps import NbGraderAPI

    course = Path(course)
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
    api = NbGraderAPI(config=_exchange_config(course, exchange))
    for name in names:
        check_result(api.collect(name), f"collect {name}")
    return {
        name: students
        for name, students in submissions(course).items()
        if name in names
    }


def generate_feedback(
    course: Path = DEFAULT_COURSE,
    assignments: Iterable[str] | None = None,
    students: Iterable[str] | None = None,
    release_feedback: bool = False,
    exchange: Path | None = None,
    failures: list[str] | None = None,
) -> list[Path]:
    """HTML feedback per student (``feedback/<student>/<assignment>/*.html``).

    Hidden tests and the traceback lines that show them are removed (see
    ``seglab.grading.feedback``). A withheld score shows as 0 until cleared.
    With ``release_feedback``, the HTML also goes to the exchange, where
    students fetch it from the Assignment List.

    One student's feedback that cannot be made stops nobody else's: the
    reason goes to ``failures`` (when given) and the others are written; with
    ``failures=None`` a ``GradingError`` lists them after everyone else's.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import GenerateFeedback

    course = Path(course)
    names = select_assignments(
        source_assignments(course), assignments, f"{course}/source"
    )
    config = (
        _exchange_config(course, exchange) if release_feedback else load_config(course)
    )
    wanted = set(students) if students else None
    autograded = course / "autograded"
    written: list[Path] = []
    failed: list[str] = []
    for name in names:
        students_of = sorted(
            p.parent.name
            for p in autograded.glob(f"*/{name}")
            if p.is_dir() and (wanted is None or p.parent.name in wanted)
        )
        for student in students_of:
            try:
                check_result(
                    run_app(
                        GenerateFeedback, config, assignment_id=name, student_id=student
                    ),
                    f"generate_feedback {name} for {student}",
                )
                html = (course / "feedback" / student / name).glob("*.html")
                written.extend(sorted(html))
                if release_feedback:
                    api = NbGraderAPI(config=config)
                    check_result(
                        api.release_feedback(name, student),
                        f"release_feedback {name} for {student}",
                    )
            except Exception as error:  # noqa: BLE001 (this student only)
                failed.append(f"{student} ({name}): {str(error)[-300:]}")
    if failures is not None:
        failures.extend(failed)
    elif failed:
        raise GradingError(
            f"feedback written for everyone else ({len(written)} file(s)); it "
            "failed for " + "; ".join(failed)
        )
    return written


STUDENT_COPY_PARTS = (
    "lessons",
    "src",
    "img",
    "README.md",
    "pyproject.toml",
    "environment.yml",
    "Makefile",
    "scripts",
    "LICENSE",
    "NOTICE",
    "data_sources",
)
"""What students get of this repository (when it exists), besides the
released assignments: never ``autograder/source`` (hidden tests), never
``solutions/``."""


def student_copy(
    destination: Path, course: Path = DEFAULT_COURSE, repository: Path | None = None
) -> list[Path]:
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
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.egg-info", ".ipynb_checkpoints", "*.pyc"
    )
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
        shutil.copytree(
            course / "release" / name, destination / "assignments" / name, ignore=ignore
        )
    written.append(destination / "assignments")
    leaks = [
        str(p)
        for p in destination.rglob("*.ipynb")
        if "BEGIN HIDDEN TESTS" in p.read_text(errors="replace")
        or "BEGIN SOLUTION" in p.read_text(errors="replace")
    ]
    if leaks:
        shutil.rmtree(destination)
        raise GradingError(
            f"the student copy would hold hidden tests or solutions: "
            f"{leaks}; nothing was written"
        )
    return written
