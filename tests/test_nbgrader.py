"""The nbgrader course in autograder/: generated files in sync, a hardened round trip.

All grading happens in a temporary copy of the course. The round trip releases
every assignment, puts one in the course's exchange, fetches and submits it as a
student, collects, autogrades and writes feedback. Grading honest, odd and
hostile submissions of every assignment is in test_grading_attacks.py.
"""

from __future__ import annotations

import html as html_module
import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from seglab import grading
from seglab.grading import autograde
from seglab.grading import release as course_release

pytestmark = pytest.mark.nbgrader

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "autograder"
SOLUTIONS = REPO / "solutions"
CLASS_ASSIGNMENT = "01_concepts"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _write(notebook, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(folder / f"{name}.ipynb"))


def _cell(notebook, grade_id: str):
    return next(c for c in notebook.cells if _nbgrader(c).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course with every assignment released."""
    root = tmp_path_factory.mktemp("course") / "autograder"
    root.mkdir()
    shutil.copytree(COURSE / "source", root / "source")
    shutil.copy(COURSE / "nbgrader_config.py", root)
    start = time.perf_counter()
    course_release.release(root, validate=False)  # the graded releases below check it
    print(f"\ngenerate_assignment, 6 assignments: {time.perf_counter() - start:.1f} s")
    return root


def test_each_lesson_has_an_assignment_with_three_autograded_items():
    assert grading.source_assignments(COURSE) == list(grading.ASSIGNMENTS)
    for name in grading.ASSIGNMENTS:
        cells = _read(COURSE / "source" / name / f"{name}.ipynb").cells
        auto = [
            c
            for c in cells
            if _nbgrader(c).get("grade")
            and c.cell_type == "code"
            and _nbgrader(c).get("points", 0) > 0
        ]
        assert len(auto) >= 3, name
        assert all("### BEGIN HIDDEN TESTS" in c.source for c in auto), name
        assert all(not c.get("outputs") for c in cells if c.cell_type == "code"), name


def test_quiz_keeps_the_course_points_and_a_written_question_six():
    cells = _read(COURSE / "source" / "04_deeplabv3" / "04_deeplabv3.ipynb").cells
    points = {
        _nbgrader(c)["grade_id"]: _nbgrader(c)["points"]
        for c in cells
        if _nbgrader(c).get("grade")
    }
    assert [points[f"test_q{i}"] for i in range(1, 6)] == [20, 20, 20, 20, 20]
    written = _cell(
        _read(COURSE / "source" / "04_deeplabv3" / "04_deeplabv3.ipynb"), "q6"
    )
    assert written.cell_type == "markdown" and points["q6"] == 0
    assert _nbgrader(written)["solution"], "question 6 is answered in the notebook"


def test_solutions_folder_matches_a_fresh_generate_solution(tmp_path):
    fresh = tmp_path / "solutions"
    written = course_release.generate_solutions(COURSE, fresh)
    assert len(written) == len(grading.ASSIGNMENTS)
    committed = sorted(p.relative_to(SOLUTIONS) for p in SOLUTIONS.rglob("*.ipynb"))
    regenerated = sorted(p.relative_to(fresh) for p in fresh.rglob("*.ipynb"))
    assert committed == regenerated, "run `seglab grade solutions` and commit"
    for relative in regenerated:
        assert (SOLUTIONS / relative).read_bytes() == (fresh / relative).read_bytes(), (
            f"solutions/{relative} is stale: run `seglab grade solutions` and commit"
        )


def test_release_hides_solutions_and_hidden_tests(course):
    for name in grading.ASSIGNMENTS:
        text = (course / "release" / name / f"{name}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, name
        assert "raise NotImplementedError()" in text, name


def test_release_check_catches_a_release_that_passes_its_tests(tmp_path):
    root = tmp_path / "autograder"
    shutil.copytree(COURSE / "source", root / "source")
    shutil.copy(COURSE / "nbgrader_config.py", root)
    # A broken source: an answer in a locked cell ships with the release.
    path = root / "source" / CLASS_ASSIGNMENT / f"{CLASS_ASSIGNMENT}.ipynb"
    notebook = _read(path)
    _cell(notebook, "setup").source += '\nunet_skip_answer = "B"'
    nbformat.write(notebook, str(path))
    with pytest.raises(grading.GradingError, match="unet_skip_answer"):
        course_release.release(root, [CLASS_ASSIGNMENT])


def test_release_check_passes_an_unsolved_release(course):
    assert course_release.validate_release_fails(course, [CLASS_ASSIGNMENT]) == [
        CLASS_ASSIGNMENT
    ]


def _as_student(exchange_class, exchange: Path, home: Path, name: str) -> None:
    """Run a student's side of the exchange (fetch or submit) from ``home``."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.Exchange.root = str(exchange)
    config.Exchange.assignment_dir = str(home)
    config.CourseDirectory.course_id = grading.COURSE_ID
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = name
    app = exchange_class(
        coursedir=coursedir, authenticator=Authenticator(config=config), config=config
    )
    app.start()


@pytest.mark.filterwarnings("ignore:Cell is missing an id field")
def test_release_fetch_submit_collect_autograde_feedback_end_to_end(course, tmp_path):
    """The whole loop through the course's exchange; feedback shows no hidden test."""
    import getpass

    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit

    name = CLASS_ASSIGNMENT
    exchange = course_release.release_to_exchange(course, [name])
    assert exchange == (course / "exchange").resolve()  # the course's own by default
    home = tmp_path / "student"
    home.mkdir()
    _as_student(ExchangeFetchAssignment, exchange, home, name)
    fetched = home / name / f"{name}.ipynb"
    notebook = _read(fetched)
    solution = _read(SOLUTIONS / name / f"{name}.ipynb")
    for grade_id in ("scores_to_labels", "unet_skip"):  # two answers of four
        _cell(notebook, grade_id).source = _cell(solution, grade_id).source
    nbformat.write(notebook, str(fetched))
    _as_student(ExchangeSubmit, exchange, home, name)

    student = getpass.getuser()
    assert course_release.collect(course, [name])[name] == [student]
    results = autograde.autograde(course, [name], [student], progress=False)
    assert [(r.status, r.score) for r in results] == [("ok", 20.0)], results
    written = course_release.generate_feedback(course, [name], [student])
    assert [p.name for p in written] == [f"{name}.html"]
    html = written[0].read_text()
    source = _read(COURSE / "source" / name / f"{name}.ipynb")
    hidden = set()
    for cell in source.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            block = cell.source.split("### BEGIN HIDDEN TESTS")[1]
            block = block.split("### END HIDDEN TESTS")[0]
            hidden |= {
                line.strip() for line in block.splitlines() if len(line.strip()) > 12
            }
    visible = (course / "release" / name / f"{name}.ipynb").read_text()
    hidden = {line for line in hidden if json.dumps(line)[1:-1] not in visible}
    text = html_module.unescape(html)
    assert hidden and not [line for line in hidden if line in text]
    assert "NotImplementedError" in text  # the student still sees why tests failed
