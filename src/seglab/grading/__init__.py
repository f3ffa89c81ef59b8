"""Instructor tools for the nbgrader course in ``autograder/``.

The course's commands (``seglab grade ...``, see :mod:`seglab.cli.grade`) run
from the repository root with the environment's ``bin`` on ``PATH``, because
nbgrader calls ``alembic``. The package, floor by floor:

- this module: the course's constants, ``GradingError``, and running one
  nbgrader app in-process (``load_config``, ``run_app``);
- ``hooks``: what ``autograder/nbgrader_config.py`` loads: per-cell time
  limits, output and time limits, the test-cell guard;
- ``release``: generate and validate releases, regenerate ``solutions/``,
  nbgrader's exchange loop (release, collect, feedback), the students' copy;
- ``autograde``: grade ``autograder/submitted/``: each submission rebuilt on
  the released structure (``submission``), scanned (``scan``, ``withhold``),
  graded in a worker process of its own (``worker``) with its kernel in a
  bubblewrap sandbox (``sandbox``); the grades CSV and the report;
- ``guard``: the runtime checks the test cells run; ``feedback``: feedback
  that shows no hidden test.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def run_app(app_class, config, **coursedir_attrs: str) -> dict:
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


def check_result(result: dict, what: str) -> None:
    if not result["success"]:
        detail = result.get("error") or result.get("log") or "no details"
        raise GradingError(f"{what} failed:\n{detail}")


def source_assignments(course: Path) -> list[str]:
    """Names of the assignments under ``course/source`` (sorted)."""
    source = Path(course) / "source"
    if not source.is_dir():
        raise GradingError(f"{source} not found: is {course} the nbgrader course?")
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").exists())


def select_assignments(
    available: Sequence[str], wanted: Iterable[str] | None, where: str
) -> list[str]:
    """``wanted`` (all when empty), each checked to be one of ``available``."""
    if not wanted:
        return list(available)
    wanted = list(wanted)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise GradingError(
            f"unknown assignment(s) {unknown} in {where}; choose from {list(available)}"
        )
    return wanted


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
