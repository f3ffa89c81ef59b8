"""Withhold the auto-graded score of a flagged submission until a person clears it.

Before grading, every cell a student wrote is scanned
(``seglab.grading.scan.scan_notebook``) for constructs an honest answer to
these assignments never needs. A submission with findings is graded as
usual, but its auto-graded points are set to 0 in the gradebook (so
``grades.csv`` shows 0) and marked for manual grading; what was found and the
points it earned are kept in ``withheld.json`` in the course folder.

``seglab grade clear STUDENT ASSIGNMENT`` gives the points back after an
instructor has looked. The clearance holds for that exact submission: if the
student's cells change and are graded again, the scan decides afresh.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nbformat import NotebookNode

WITHHELD_FILE = "withheld.json"


def _key(assignment: str, student: str) -> str:
    return f"{assignment}/{student}"


def load(course: Path) -> dict:
    """The course's withheld-score records (empty when there are none)."""
    path = Path(course) / WITHHELD_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def save(course: Path, records: dict) -> None:
    """Write the records (sorted, so the file diffs well)."""
    path = Path(course) / WITHHELD_FILE
    path.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")


def scan(
    notebooks: dict[str, NotebookNode], releases: dict[str, NotebookNode]
) -> list[str]:
    """Findings of the static scan for each notebook, as report lines."""
    from seglab.grading.scan import scan_notebook

    lines = []
    for notebook_id, notebook in notebooks.items():
        release = releases.get(notebook_id)
        instructor_ids = None
        if release is not None:
            instructor_ids = [
                cell.metadata["nbgrader"]["grade_id"]
                for cell in release.cells
                if cell.get("metadata", {}).get("nbgrader", {}).get("locked")
                and cell.metadata["nbgrader"].get("grade_id")
                and not cell.metadata["nbgrader"].get("solution")
            ]
        for finding in scan_notebook(notebook, instructor_ids):
            lines.append(f"{notebook_id}: {finding}")
    return lines


def fingerprint(notebooks: dict[str, NotebookNode]) -> str:
    """A hash of the sources of every cell of the prepared notebooks."""
    digest = hashlib.sha256()
    for notebook_id in sorted(notebooks):
        digest.update(notebook_id.encode())
        for cell in notebooks[notebook_id].cells:
            digest.update(b"\0" + cell.get("cell_type", "").encode() + b"\0")
            digest.update(cell.get("source", "").encode())
    return digest.hexdigest()


def apply(
    course: Path,
    gradebook,
    submission,
    findings: list[str],
    notebooks: dict[str, NotebookNode],
) -> str:
    """Withhold the submission's points when there are findings; the reason or ''.

    A submission an instructor cleared (same fingerprint) keeps its points.
    """
    records = load(course)
    key = _key(submission.assignment.name, submission.student.id)
    print_ = fingerprint(notebooks)
    entry = records.get(key)
    if not findings:
        if entry is not None:
            del records[key]
            save(course, records)
        return ""
    if entry and entry.get("cleared") and entry.get("fingerprint") == print_:
        return ""
    scores: dict[str, dict[str, float | None]] = {}
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            scores.setdefault(notebook.name, {})[grade.name] = grade.auto_score
            if grade.auto_score:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
    gradebook.db.commit()
    records[key] = {
        "findings": findings,
        "fingerprint": print_,
        "scores": scores,
        "cleared": False,
    }
    save(course, records)
    shown = "; ".join(findings[:5]) + (" ..." if len(findings) > 5 else "")
    return (
        f"score withheld: {len(findings)} finding(s) of the static scan: {shown}. "
        f"After a look: seglab grade clear {submission.student.id} "
        f"{submission.assignment.name}"
    )


def clear(course: Path, gradebook, assignment: str, student: str) -> dict:
    """Give a withheld submission its auto-graded points back; returns its record.

    Raises ``KeyError`` with a message when nothing is withheld for it.
    """
    records = load(course)
    key = _key(assignment, student)
    entry = records.get(key)
    if entry is None or entry.get("cleared"):
        withheld = sorted(k for k, v in records.items() if not v.get("cleared"))
        raise KeyError(
            f"no withheld score for student {student!r} on {assignment!r}; "
            f"withheld now: {withheld or 'none'}"
        )
    submission = gradebook.find_submission(assignment, student)
    for notebook in submission.notebooks:
        saved = entry["scores"].get(notebook.name, {})
        for grade in notebook.grades:
            if saved.get(grade.name) is not None:
                grade.auto_score = saved[grade.name]
                grade.needs_manual_grade = False
    gradebook.db.commit()
    entry["cleared"] = True
    save(course, records)
    return entry
