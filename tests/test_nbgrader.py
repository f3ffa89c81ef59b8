"""The nbgrader course in autograder/: generated files in sync, a hardened round trip.

All grading happens in a temporary copy of the course. The round trip releases
every assignment, grades the solutions (every point) and the untouched releases
(no point) as submissions, then grades a class of 20 on assignment 01 that mixes
honest work with hostile submissions.
"""

from __future__ import annotations

import copy
import csv
import shutil
import sqlite3
import time
from pathlib import Path

import nbformat
import pytest

from seglab import grading

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
    grading.release(root, validate=False)  # the graded releases below check it
    print(f"\ngenerate_assignment, 6 assignments: {time.perf_counter() - start:.1f} s")
    return root


def test_each_lesson_has_an_assignment_with_three_autograded_items():
    assert grading.source_assignments(COURSE) == list(grading.ASSIGNMENTS)
    for name in grading.ASSIGNMENTS:
        cells = _read(COURSE / "source" / name / f"{name}.ipynb").cells
        auto = [c for c in cells if _nbgrader(c).get("grade") and c.cell_type == "code"
                and _nbgrader(c).get("points", 0) > 0]
        assert len(auto) >= 3, name
        assert all("### BEGIN HIDDEN TESTS" in c.source for c in auto), name
        assert all(not c.get("outputs") for c in cells if c.cell_type == "code"), name


def test_quiz_keeps_the_course_points_and_a_written_question_six():
    cells = _read(COURSE / "source" / "04_deeplabv3" / "04_deeplabv3.ipynb").cells
    points = {_nbgrader(c)["grade_id"]: _nbgrader(c)["points"]
              for c in cells if _nbgrader(c).get("grade")}
    assert [points[f"test_q{i}"] for i in range(1, 6)] == [20, 20, 20, 20, 20]
    written = _cell(_read(COURSE / "source" / "04_deeplabv3" / "04_deeplabv3.ipynb"),
                    "q6")
    assert written.cell_type == "markdown" and points["q6"] == 0
    assert _nbgrader(written)["solution"], "question 6 is answered in the notebook"


def test_solutions_folder_matches_a_fresh_generate_solution(tmp_path):
    fresh = tmp_path / "solutions"
    written = grading.generate_solutions(COURSE, fresh)
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
        grading.release(root, [CLASS_ASSIGNMENT])


def test_release_check_passes_an_unsolved_release(course):
    assert grading.validate_release_fails(course, [CLASS_ASSIGNMENT]) == [
        CLASS_ASSIGNMENT
    ]


def test_solutions_earn_every_autograded_point_and_the_release_none(course):
    for name in grading.ASSIGNMENTS:
        for student, folder in (("solution_key", SOLUTIONS / name),
                                ("untouched_release", course / "release" / name)):
            (course / "submitted" / student / name).mkdir(parents=True)
            shutil.copy(folder / f"{name}.ipynb", course / "submitted" / student / name)
    start = time.perf_counter()
    results = grading.autograde(
        course, students=["solution_key", "untouched_release"], progress=False
    )
    print(f"\nsolutions and releases, 6 assignments each: "
          f"{time.perf_counter() - start:.1f} s")
    assert len(results) == 2 * len(grading.ASSIGNMENTS)
    for r in results:
        assert r.status == "ok", (r.assignment, r.student, r.notes)
        assert r.max_score > 0, r.assignment
        expected = r.max_score if r.student == "solution_key" else 0.0
        assert r.score == expected, (r.assignment, r.student, r.score)


HOSTILE_ANSWERS = {
    "loops_forever": "while True:\n    pass",
    "exits_the_kernel": "import os\nos._exit(1)",
    "ignores_interrupts": (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:\n    pass"
    ),
    "prints_a_flood": (
        'print("x" * 5_000_000)\nfor line in range(200_000):\n    print(line)'
    ),
}


def _class_of_20(course: Path) -> dict[str, float]:
    """Write 20 submissions of assignment 01; returns the score each must get."""
    name = CLASS_ASSIGNMENT
    release = _read(course / "release" / name / f"{name}.ipynb")
    solution = _read(SOLUTIONS / name / f"{name}.ipynb")
    submitted = course / "submitted"
    expected = {}

    def submit(student, notebook, score):
        _write(notebook, submitted / student / name, name)
        expected[student] = score

    submit("untouched_release", release, 0.0)

    edited = copy.deepcopy(release)
    for cell in edited.cells:  # every test cell "passes" now
        if _nbgrader(cell).get("grade") and cell.cell_type == "code":
            cell.source = "pass"
    submit("edits_tests_to_pass", edited, 0.0)

    deleted = copy.deepcopy(release)
    deleted.cells = [c for c in deleted.cells
                     if _nbgrader(c).get("grade_id") != "test_scores_to_labels"]
    submit("deletes_a_test", deleted, 0.0)

    for student, code in HOSTILE_ANSWERS.items():
        hostile = copy.deepcopy(release)
        _cell(hostile, "scores_to_labels").source = code
        submit(student, hostile, 0.0)

    answer_ids = ["scores_to_labels", "instances_to_semantic", "class_pixel_share",
                  "unet_skip"]
    for index in range(13):  # honest students: the first k answers solved
        solved = index % 5
        notebook = copy.deepcopy(release)
        for grade_id in answer_ids[:solved]:
            _cell(notebook, grade_id).source = _cell(solution, grade_id).source
        submit(f"student_{index:02d}", notebook, 10.0 * solved)
    assert len(expected) == 20
    return expected


# nbgrader writes the test cell it puts back without a cell id; nbformat warns.
@pytest.mark.filterwarnings("ignore:Cell is missing an id field")
def test_a_class_with_hostile_submissions_is_graded_safely(course):
    expected = _class_of_20(course)
    start = time.perf_counter()
    results = grading.autograde(
        course, [CLASS_ASSIGNMENT], students=list(expected), progress=False
    )
    seconds = time.perf_counter() - start
    print(f"\nclass of {len(results)} students, {CLASS_ASSIGNMENT}: {seconds:.1f} s "
          f"({seconds / len(results):.1f} s per submission)")

    by_student = {r.student: r for r in results}
    assert set(by_student) == set(expected)
    for student, score in expected.items():
        assert by_student[student].score == score, (student, by_student[student])

    def notes(student):
        return " | ".join(by_student[student].notes)

    assert "test_unet_skip was edited" in notes("edits_tests_to_pass")
    assert "test_scores_to_labels was deleted" in notes("deletes_a_test")
    assert "timed out" in notes("loops_forever")
    assert by_student["exits_the_kernel"].status == "failed"
    assert "kernel died" in notes("exits_the_kernel")
    assert by_student["ignores_interrupts"].status in {"failed", "flagged"}
    honest = [s for s in expected if s.startswith("student")]
    assert all(by_student[s].status == "ok" for s in honest)

    # The restored test cell ran, and the flood of output was cut.
    autograded = course / "autograded"
    restored = _read(autograded / "deletes_a_test" / CLASS_ASSIGNMENT /
                     f"{CLASS_ASSIGNMENT}.ipynb")
    assert _cell(restored, "test_scores_to_labels").outputs, "restored test ran"
    flood = autograded / "prints_a_flood" / CLASS_ASSIGNMENT
    flood = flood / f"{CLASS_ASSIGNMENT}.ipynb"
    assert flood.stat().st_size < 200_000
    assert "output cut" in notes("prints_a_flood")

    # The gradebook is intact and the exports list every submission.
    database = sqlite3.connect(course / "gradebook.db")
    try:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        database.close()
    with open(course / grading.GRADES_CSV, newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["assignment"] == CLASS_ASSIGNMENT]
    scores = {r["student_id"]: float(r["score"]) for r in rows}
    assert {s: scores[s] for s in expected} == expected
    with open(course / grading.REPORT_CSV, newline="") as handle:
        report = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert report["deletes_a_test"]["status"] == "flagged"
    assert "deleted" in report["deletes_a_test"]["notes"]
