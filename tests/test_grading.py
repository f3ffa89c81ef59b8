"""Unit tests of seglab.grading's pieces that need no kernel (the round trip is in
test_nbgrader.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from seglab import grading
from seglab.cli import build_parser
from seglab.grading import autograde, hooks
from seglab.grading import release as course_release


def _cell(**nbgrader):
    cell = new_code_cell("x = 1")
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def test_only_locked_ungraded_instructor_cells_get_the_long_timeout():
    setup = _cell(grade_id="setup", locked=True, grade=False, solution=False)
    assert hooks.cell_timeout(setup) == grading.SETUP_TIMEOUT
    tests = _cell(grade_id="test_x", locked=True, grade=True, solution=False)
    answer = _cell(grade_id="x", locked=False, grade=False, solution=True)
    forged = _cell(locked=True, grade=False, solution=False)  # id removed by nbgrader
    for cell in (tests, answer, forged, _cell()):
        assert hooks.cell_timeout(cell) == grading.CELL_TIMEOUT
    assert grading.CELL_TIMEOUT < grading.SETUP_TIMEOUT


def test_output_limiter_cuts_long_lines_and_keeps_short_ones():
    limiter = hooks.LimitOutputSize(max_chars=100, max_lines=10)
    cell = new_code_cell("print()")
    cell.outputs = [
        new_output("stream", name="stdout", text="x" * 10_000),
        new_output("execute_result", data={"text/plain": "short"}, execution_count=1),
        new_output("error", ename="E", evalue="v" * 500, traceback=["t" * 500]),
    ]
    cell, _ = limiter.preprocess_cell(cell, {}, 0)
    stream, result, error = cell.outputs
    assert len(stream.text) < 150 and stream.text.endswith("Output truncated ...")
    assert result.data["text/plain"] == "short"
    assert len(error.evalue) < 150 and len(error.traceback[0]) < 150


def test_autograde_uses_the_capped_executor_and_the_output_limiter():
    from nbgrader.preprocessors import Execute, LimitOutput, SaveAutoGrades

    steps = hooks.autograde_preprocessors()
    assert hooks.LimitOutputSize in steps and LimitOutput not in steps
    assert hooks.CappedExecute in steps and Execute not in steps
    assert steps.index(hooks.CappedExecute) < steps.index(hooks.LimitOutputSize)
    assert steps.index(hooks.LimitOutputSize) < steps.index(SaveAutoGrades)
    assert Execute not in hooks.solution_preprocessors()


def _message(msg_type, **content):
    return {
        "msg_type": msg_type,
        "content": content,
        "parent_header": {"msg_id": "m"},
        "header": {"msg_type": msg_type},
    }


def test_capped_executor_stops_storing_a_flood_but_keeps_errors_and_stderr():
    executor = hooks.CappedExecute(max_output_chars=100)
    executor.reset_counters()
    executor.clear_before_next_output = False
    outputs = []
    for _ in range(1000):
        executor.output(
            outputs, _message("stream", name="stdout", text="x" * 60), None, 0
        )
    for _ in range(3):
        executor.output(outputs, _message("stream", name="stderr", text="w"), None, 0)
    executor.output(
        outputs, _message("error", ename="E", evalue="v", traceback=[]), None, 0
    )
    kinds = [(o.output_type, o.get("name")) for o in outputs]
    assert kinds == [("stream", "stdout")] * 2 + [
        ("stream", "stdout"),
        ("stream", "stderr"),
        ("error", None),
    ]
    assert outputs[2].text == outputs[3].text == hooks.TRUNCATED_MARKER


def _notebook_with(tmp_path: Path, name: str, sources: dict[str, str]) -> Path:
    notebook = new_notebook()
    for grade_id, source in sources.items():
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": True}
        notebook.cells.append(cell)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, str(path))
    return path


def test_edited_cells_are_those_matching_neither_source_nor_release(tmp_path):
    source = _notebook_with(tmp_path, "source", {"t1": "visible\nhidden", "t2": "b"})
    release = _notebook_with(tmp_path, "release", {"t1": "visible", "t2": "b"})
    solution_like = _notebook_with(tmp_path, "s1", {"t1": "visible\nhidden", "t2": "b"})
    released_copy = _notebook_with(tmp_path, "s2", {"t1": "visible", "t2": "b"})
    edited = _notebook_with(tmp_path, "s3", {"t1": "pass", "t2": "b"})
    assert autograde._edited_cells([source, release], solution_like) == []
    assert autograde._edited_cells([source, release], released_copy) == []
    notes = autograde._edited_cells([source, release], edited)
    assert len(notes) == 1 and "t1 was edited" in notes[0]


def test_failure_reasons_name_the_cause():
    died = {"success": False, "error": "DeadKernelError: Kernel died"}
    assert "kernel died" in autograde._failure_reason(died)
    stuck = {"success": False, "error": "CellTimeoutError: Timeout waiting for IOPub"}
    assert "time limit" in autograde._failure_reason(stuck)
    other = {"success": False, "error": "Traceback\nValueError: bad json"}
    assert autograde._failure_reason(other) == "ValueError: bad json"


def test_missing_course_folder_is_a_clear_error(tmp_path):
    with pytest.raises(grading.GradingError, match="nbgrader_config.py"):
        grading.load_config(tmp_path)
    with pytest.raises(grading.GradingError, match="source"):
        grading.source_assignments(tmp_path)


def test_autograde_without_submissions_says_where_they_go(tmp_path):
    course = tmp_path / "autograder"
    (course / "source" / "01_concepts").mkdir(parents=True)
    with pytest.raises(grading.GradingError, match="submitted/<student_id>"):
        autograde.autograde(course)


def test_unknown_assignment_names_list_the_valid_ones():
    course = Path(__file__).resolve().parents[1] / "autograder"
    with pytest.raises(grading.GradingError, match="01_concepts"):
        course_release.release(course, ["99_nothing"], validate=False)


def test_cli_has_the_instructor_commands():
    parser = build_parser()
    for action in (
        "release",
        "solutions",
        "autograde",
        "exchange",
        "collect",
        "feedback",
    ):
        args = parser.parse_args(["grade", action])
        assert args.grade_command == action and args.course == Path("autograder")
    args = parser.parse_args(
        [
            "grade",
            "autograde",
            "--student",
            "a",
            "--student",
            "b",
            "02_data_preparation",
        ]
    )
    assert args.student == ["a", "b"] and args.assignments == ["02_data_preparation"]
    assert args.no_sandbox is False and args.jobs == 1
    assert parser.parse_args(["grade", "autograde", "--jobs", "3"]).jobs == 3
    assert parser.parse_args(["grade", "autograde", "--no-sandbox"]).no_sandbox
    args = parser.parse_args(["grade", "clear", "ann", "01_concepts"])
    assert (args.student, args.assignment) == ("ann", "01_concepts")
    args = parser.parse_args(["grade", "student-copy", "out"])
    assert args.destination == Path("out")
    assert parser.parse_args(["grade", "feedback", "--release"]).release


# --------------------------------------------------------------------------
# Limits: a per-notebook budget of outputs and of time


def test_capped_executor_keeps_one_error_per_cell_past_the_notebook_limit():
    executor = hooks.CappedExecute(max_notebook_outputs=5, max_outputs=3)
    executor.reset_counters()
    executor.clear_before_next_output = False
    outputs = []
    for cell in range(4):
        for _ in range(50):
            executor.output(
                outputs,
                _message("error", ename="E", evalue="v", traceback=["t" * 100]),
                None,
                cell,
            )
            executor.output(
                outputs,
                _message("display_data", data={"text/plain": "d"}, metadata={}),
                None,
                cell,
            )
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) >= 4  # the first error of every cell decides its grade
    assert len(outputs) <= 5 + 4 + 4  # the limit, one error and one marker per cell


def test_time_budget_skips_budgeted_cells_with_an_error_once_spent():
    executor = hooks.CappedExecute(time_budget=5, timeout_func=hooks.cell_timeout)
    executor.reset_counters()
    executor._budget_used = 5.0
    answer = _cell(grade_id="x", locked=False, grade=False, solution=True)
    cell, _ = executor.preprocess_cell(answer, {}, 0)
    assert cell.outputs[0].ename == hooks.BUDGET_ENAME
    executor._budget_used = 4.5
    assert executor._get_timeout(answer) == 1  # never more than what is left
    setup = _cell(grade_id="setup", locked=True, grade=False, solution=False)
    assert executor._get_timeout(setup) == grading.SETUP_TIMEOUT


def test_failure_reason_digs_out_the_real_exception_from_the_log():
    result = {
        "success": False,
        "error": "NbGraderException: Please see the above traceback",
        "log": "[ERROR] While processing ...\nTraceback (most "
        "recent call last):\n  File x\nsqlite3.OperationalError: database is "
        "locked\n",
    }
    assert autograde._failure_reason(result) == (
        "sqlite3.OperationalError: database is locked"
    )
