"""Grading metadata of the wrong type or range stops nobody's grading.

A submitted notebook may carry any JSON in its ``nbgrader`` cell metadata
and in its notebook metadata: lists, mappings, numbers, booleans, null, NaN,
infinity, negative numbers, megabyte strings. Each field is checked by type
and range when the notebook is read; a wrong one counts as edited metadata
(the release's is used, the report says so). The fast tests prepare every
field x value for the parent process, where such a notebook once stopped
the whole run; a fuzz test mutates the released notebooks at random; one
real ``autograde`` run grades the worst of them (with correct answers) between
two honest classmates, then feedback, clear and collect handle them too.
"""

from __future__ import annotations

import copy
import csv
import getpass
import json
import random
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from seglab import grading
from seglab.grading import autograde, submission, withhold
from seglab.grading import release as course_release

pytestmark = [
    pytest.mark.nbgrader,
    pytest.mark.filterwarnings("ignore:Cell is missing an id field"),
]

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
NAME = "01_concepts"

CELL_FIELDS = [
    "grade_id",
    "cell_type",
    "points",
    "solution",
    "grade",
    "locked",
    "task",
    "schema_version",
    "checksum",
]
NOTEBOOK_FIELDS = ["kernelspec", "language_info"]
BAD_VALUES = {
    "list": ["a", "b"],
    "dict": {"a": {"b": 1}},
    "number": 7,
    "bool": True,
    "null": None,
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -5,
    "huge_string": "x" * 1_000_000,
}


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def _write_raw(notebook: dict, folder: Path) -> None:
    """JSON as a hostile student writes it: NaN and Infinity included."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NAME}.ipynb").write_text(json.dumps(notebook))


def _with_bad(notebook: dict, fields: list[str], value) -> dict:
    """``notebook`` with each field set to ``value`` in every graded cell (or
    in the notebook metadata)."""
    bad = copy.deepcopy(notebook)
    for field in fields:
        if field in NOTEBOOK_FIELDS:
            bad["metadata"][field] = copy.deepcopy(value)
            continue
        for cell in bad["cells"]:
            if "nbgrader" in cell["metadata"]:
                cell["metadata"]["nbgrader"][field] = copy.deepcopy(value)
    return bad


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course with every assignment released."""
    root = tmp_path_factory.mktemp("metadata") / "autograder"
    root.mkdir()
    shutil.copytree(REPO / "autograder" / "source", root / "source")
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root)
    course_release.release(root, validate=False)
    return root


def _release(course: Path, name: str = NAME):
    return nbformat.read(str(course / "release" / name / f"{name}.ipynb"), 4)


def _assert_rebuilt_on_the_release(prepared, release, solution) -> None:
    """One copy of every released graded cell, with the released metadata,
    the answers of ``solution`` and the released locked sources."""
    rebuilt = prepared.notebooks[NAME]
    answers = {
        _nbgrader(c)["grade_id"]: c.source
        for c in solution.cells
        if _nbgrader(c).get("solution")
    }
    for cell in release.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if not grade_id:
            continue
        copies = [c for c in rebuilt.cells if _nbgrader(c).get("grade_id") == grade_id]
        assert len(copies) == 1, grade_id
        assert copies[0].metadata["nbgrader"] == cell.metadata["nbgrader"], grade_id
        assert copies[0].cell_type == cell.cell_type, grade_id
        wanted = answers.get(grade_id, cell.source)
        assert copies[0].source == wanted, grade_id
    assert rebuilt.metadata == release.metadata
    nbformat.validate(rebuilt)


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
@pytest.mark.parametrize("field", CELL_FIELDS + NOTEBOOK_FIELDS)
def test_a_wrong_metadata_value_is_restored_from_the_release(
    course, tmp_path, field, kind
):
    value = BAD_VALUES[kind]
    solution = _raw(SOLUTIONS / NAME / f"{NAME}.ipynb")
    folder = tmp_path / "submitted" / "student" / NAME
    _write_raw(_with_bad(solution, [field], value), folder)
    release = _release(course)
    prepared = submission.prepare(folder, {NAME: release})
    _assert_rebuilt_on_the_release(
        prepared, release, nbformat.reads(json.dumps(solution), 4)
    )
    valid = (
        submission.NBGRADER_FIELDS[field](value)
        if field in submission.NBGRADER_FIELDS
        else False
    )
    if not valid:
        assert any(f"'{field}'" in note for note in prepared.notes), prepared.notes
    # the rest of the parent's work on it: the scan, staging, the report
    withhold.scan(prepared.notebooks, {NAME: release})
    submission.stage(prepared, folder, tmp_path / "staged")
    assert " | ".join(prepared.notes).isprintable()


def test_grading_metadata_that_is_not_a_mapping_is_replaced(course, tmp_path):
    solution = _raw(SOLUTIONS / NAME / f"{NAME}.ipynb")
    for cell in solution["cells"]:
        if "nbgrader" in cell["metadata"]:
            cell["metadata"]["nbgrader"] = ["grade_id", 1000]
    solution["cells"][0]["metadata"]["nbgrader"] = "1000 points"  # a prose cell
    folder = tmp_path / "submitted" / "student" / NAME
    _write_raw(solution, folder)
    release = _release(course)
    prepared = submission.prepare(folder, {NAME: release})
    _assert_rebuilt_on_the_release(
        prepared, release, nbformat.read(str(SOLUTIONS / NAME / f"{NAME}.ipynb"), 4)
    )
    assert any("not a mapping" in note for note in prepared.notes)


def test_wrong_sources_ids_tags_and_attachments_are_cleaned(course, tmp_path):
    solution = _raw(SOLUTIONS / NAME / f"{NAME}.ipynb")
    prose = solution["cells"][0]
    prose["source"] = [1, {"a": 2}]
    prose["id"] = ["not", "text"]
    prose["metadata"]["tags"] = 5
    prose["metadata"]["editable"] = "yes"
    prose["attachments"] = {"image.png": ["not", "a", "mapping"]}
    folder = tmp_path / "submitted" / "student" / NAME
    _write_raw(solution, folder)
    prepared = submission.prepare(folder, {NAME: _release(course)})
    rebuilt = prepared.notebooks[NAME]
    nbformat.validate(rebuilt)
    first = rebuilt.cells[0]
    assert first.source == "" and isinstance(first.id, str)
    assert "tags" not in first.metadata and "editable" not in first.metadata
    assert "attachments" not in first
    assert any("source" in note for note in prepared.notes)
    assert any("attachments" in note for note in prepared.notes)


# --------------------------------------------------------------------------
# Fuzzing: random mutations of the released notebooks' metadata

FUZZ_VALUES = [
    *BAD_VALUES.values(),
    "",
    "q1",
    -0.0,
    1e308,
    [[[[[]]]]],
    {"grade_id": "q1", "points": 1000},
    "../../gradebook.db",
]
FUZZ_TARGETS = CELL_FIELDS + ["nbgrader", "metadata", "id", "tags", "source"]


def _fuzzed(notebook: dict, rng: random.Random) -> dict:
    """``notebook`` with one to four random metadata mutations."""
    bad = copy.deepcopy(notebook)
    for _ in range(rng.randint(1, 4)):
        value = copy.deepcopy(rng.choice(FUZZ_VALUES))
        if rng.random() < 0.15:
            bad["metadata"][rng.choice(NOTEBOOK_FIELDS + ["nbgrader"])] = value
            continue
        cell = rng.choice(bad["cells"])
        target = rng.choice(FUZZ_TARGETS)
        if target in ("metadata", "id", "source"):
            cell[target] = value
        elif target in ("nbgrader", "tags"):
            cell.setdefault("metadata", {})[target] = value
        elif isinstance(cell.get("metadata"), dict) and isinstance(
            cell["metadata"].get("nbgrader"), dict
        ):
            cell["metadata"]["nbgrader"][target] = value
    return bad


FUZZ_SEED = 20261207
FUZZ_COUNT = 600
FUZZ_SECONDS = 60


def test_fuzzed_metadata_never_stops_preparing_and_keeps_the_released_cells(
    course, tmp_path
):
    rng = random.Random(FUZZ_SEED)
    releases = {name: _release(course, name) for name in grading.ASSIGNMENTS}
    bases = {
        name: _raw(course / "release" / name / f"{name}.ipynb") for name in releases
    }
    deadline = time.monotonic() + FUZZ_SECONDS
    done = 0
    while done < FUZZ_COUNT and time.monotonic() < deadline:
        name = rng.choice(sorted(releases))
        folder = tmp_path / str(done) / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(_fuzzed(bases[name], rng)))
        prepared = submission.prepare(folder, {name: releases[name]})
        if name in prepared.notebooks:  # else unreadable, which the notes say
            rebuilt = prepared.notebooks[name]
            nbformat.validate(rebuilt)
            for cell in releases[name].cells:
                grade_id = _nbgrader(cell).get("grade_id")
                if grade_id:
                    copies = [
                        c
                        for c in rebuilt.cells
                        if _nbgrader(c).get("grade_id") == grade_id
                    ]
                    assert len(copies) == 1 and (
                        copies[0].metadata["nbgrader"] == cell.metadata["nbgrader"]
                    ), (done, grade_id)
            withhold.scan(prepared.notebooks, {name: releases[name]})
            submission.stage(prepared, folder, tmp_path / "staged" / str(done))
        else:
            assert prepared.notes, done
        done += 1
    assert done >= 100, f"only {done} fuzzed notebooks in {FUZZ_SECONDS} s"


# --------------------------------------------------------------------------
# One grading run: garbage between two honest classmates

GARBAGE = ["list", "nan", "bool"]
FUZZED_GRADED = 3
KINDS = sorted(BAD_VALUES)


def _every_kind_in(notebook: dict, field: str) -> dict:
    """``field`` set to a different wrong value in each nbgrader cell, cycling
    through every kind of ``BAD_VALUES`` (the release's graded and locked
    cells are at least as many as the kinds)."""
    bad = copy.deepcopy(notebook)
    cells = [c for c in bad["cells"] if "nbgrader" in c["metadata"]]
    assert len(cells) >= len(KINDS)
    for index, cell in enumerate(cells):
        cell["metadata"]["nbgrader"][field] = copy.deepcopy(
            BAD_VALUES[KINDS[index % len(KINDS)]]
        )
    return bad


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
    from test_nbgrader import _as_student  # the student's side of the exchange

    solution = _raw(SOLUTIONS / NAME / f"{NAME}.ipynb")
    submitted = course / "submitted"
    every_field = CELL_FIELDS + NOTEBOOK_FIELDS
    # every field with every kind of wrong value, one submission per field
    for field in CELL_FIELDS:
        _write_raw(_every_kind_in(solution, field), submitted / f"field_{field}" / NAME)
    for kind in KINDS:
        notebook = _with_bad(solution, NOTEBOOK_FIELDS, BAD_VALUES[kind])
        _write_raw(notebook, submitted / f"notebook_{kind}" / NAME)
    # every field of every cell wrong at once
    for kind in GARBAGE:
        notebook = _with_bad(solution, every_field, BAD_VALUES[kind])
        _write_raw(notebook, submitted / f"garbage_{kind}" / NAME)
    withheld = _with_bad(solution, every_field, BAD_VALUES["list"])
    withheld["cells"].append(
        nbformat.v4.new_code_cell("import subprocess  # flagged by the scan")
    )
    _write_raw(withheld, submitted / "garbage_withheld" / NAME)
    rng = random.Random(FUZZ_SEED + 1)
    for index in range(FUZZED_GRADED):
        _write_raw(_fuzzed(solution, rng), submitted / f"fuzzed_{index}" / NAME)
    for student in ("aa_honest", "zz_honest"):
        (submitted / student / NAME).mkdir(parents=True)
        shutil.copy(SOLUTIONS / NAME / f"{NAME}.ipynb", submitted / student / NAME)

    # One more through the exchange: fetched, filled with garbage, submitted
    # and collected as this machine's user.
    exchange = course_release.release_to_exchange(course, [NAME])
    home = tmp_path_factory.mktemp("student-home")
    _as_student(ExchangeFetchAssignment, exchange, home, NAME)
    garbage = _with_bad(solution, every_field, BAD_VALUES["dict"])
    (home / NAME / f"{NAME}.ipynb").write_text(json.dumps(garbage))
    _as_student(ExchangeSubmit, exchange, home, NAME)
    collected = course_release.collect(course, [NAME])[NAME]

    results = autograde.autograde(course, [NAME], progress=False, jobs=2)
    return {
        "results": {r.student: r for r in results},
        "collected": collected,
        "user": getpass.getuser(),
    }


def test_the_run_grades_everyone_and_the_honest_classmates_keep_full_marks(graded):
    results = graded["results"]
    expected = {"aa_honest", "zz_honest", "garbage_withheld", graded["user"]}
    expected |= {f"garbage_{kind}" for kind in GARBAGE}
    expected |= {f"fuzzed_{index}" for index in range(FUZZED_GRADED)}
    expected |= {f"field_{field}" for field in CELL_FIELDS}
    expected |= {f"notebook_{kind}" for kind in KINDS}
    assert set(results) == expected
    top = results["aa_honest"].max_score
    assert top > 0
    for student in ("aa_honest", "zz_honest"):
        assert (results[student].status, results[student].score) == ("ok", top)


@pytest.mark.parametrize("kind", GARBAGE)
def test_garbage_metadata_with_right_answers_is_graded_like_the_release(graded, kind):
    """Every field of every graded cell wrong: released metadata, full marks."""
    result = graded["results"][f"garbage_{kind}"]
    assert result.status == "flagged", result.notes
    assert result.score == result.max_score == graded["results"]["aa_honest"].score
    assert any("released metadata was used" in note for note in result.notes)


@pytest.mark.parametrize(
    "student",
    [f"field_{field}" for field in CELL_FIELDS] + [f"notebook_{k}" for k in KINDS],
)
def test_each_field_with_every_wrong_value_is_graded_like_the_release(graded, student):
    """Right answers, one field wrong in every cell (or the notebook's
    kernelspec and language_info): full marks, and the report says why."""
    result = graded["results"][student]
    assert result.status in {"ok", "flagged"}, result.notes
    assert result.score == result.max_score == graded["results"]["aa_honest"].score
    field = student.split("_", 1)[1]
    if student.startswith("notebook_"):
        assert any("'kernelspec'" in note for note in result.notes), result.notes
        assert any("'language_info'" in note for note in result.notes)
    else:
        assert any(f"'{field}'" in note for note in result.notes), result.notes


def test_fuzzed_submissions_are_graded_within_the_release(graded):
    for index in range(FUZZED_GRADED):
        result = graded["results"][f"fuzzed_{index}"]
        assert result.status in {"ok", "flagged", "failed"}, result
        assert 0 <= result.score <= result.max_score
        if result.status == "failed":
            assert result.notes, result


def test_a_garbage_submission_collected_from_the_exchange_is_graded(graded):
    assert graded["user"] in graded["collected"]
    result = graded["results"][graded["user"]]
    assert result.status == "flagged" and result.score == result.max_score


def test_feedback_is_written_for_garbage_and_one_failure_stops_nobody(graded, course):
    written = course_release.generate_feedback(course, [NAME])
    students = {path.parent.parent.name for path in written}
    assert set(graded["results"]) <= students
    broken = course / "autograded" / "garbage_list" / NAME / f"{NAME}.ipynb"
    broken.write_text("{ not json")
    failures: list[str] = []
    again = course_release.generate_feedback(course, [NAME], failures=failures)
    assert len(failures) == 1 and failures[0].startswith("garbage_list")
    assert {p.parent.parent.name for p in again} == students - {"garbage_list"}
    with pytest.raises(grading.GradingError, match="failed for garbage_list"):
        course_release.generate_feedback(course, [NAME])


def test_clear_gives_a_withheld_garbage_submission_its_points(graded, course):
    result = graded["results"]["garbage_withheld"]
    assert result.status == "withheld" and result.score == 0
    with pytest.raises(grading.GradingError, match="no withheld score"):
        autograde.clear(course, NAME, "garbage_list")
    entry = autograde.clear(course, NAME, "garbage_withheld")
    assert entry["score"] == graded["results"]["aa_honest"].score
    with open(course / grading.GRADES_CSV, newline="") as handle:
        rows = {
            row["student_id"]: float(row["score"])
            for row in csv.DictReader(handle)
            if row["assignment"] == NAME
        }
    assert rows["garbage_withheld"] == rows["zz_honest"] == entry["score"]


def test_a_submission_that_breaks_preparation_fails_alone(course, monkeypatch):
    """Whatever goes wrong with one submission in the parent: failed, 0, next."""
    real = submission.prepare

    def prepare(folder, releases):
        if folder.parent.name == "aa_honest":
            raise TypeError("unhashable type: 'list'")
        return real(folder, releases)

    monkeypatch.setattr(submission, "prepare", prepare)
    results = autograde.autograde(
        course, [NAME], ["aa_honest", "zz_honest"], progress=False
    )
    by_student = {r.student: r for r in results}
    assert by_student["aa_honest"].status == "failed"
    assert by_student["aa_honest"].score == 0
    assert "could not be prepared" in by_student["aa_honest"].notes[0]
    assert by_student["zz_honest"].status == "ok"
    assert by_student["zz_honest"].score == by_student["zz_honest"].max_score
