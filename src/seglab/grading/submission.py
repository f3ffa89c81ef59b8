"""Read a submitted notebook whatever shape it is in, and rebuild it on the
released structure before nbgrader sees it.

A submission may be invalid JSON, an old nbformat, saved under another name,
hold a graded cell twice (JupyterLab copies the grading metadata with a
pasted cell), miss answer or test cells, or carry edited grading metadata
(points, ``grade: false`` on a test, a test cell turned into markdown).
``normalize`` rebuilds it from the release: every released graded or locked
cell appears once, in the released order, with the released metadata and
cell type; answers keep the student's source; the student's own cells stay
where they were written; everything else is reported in notes. No
submission can carry more points than the release gives.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")
"""Files nbgrader's exchange adds to every submission."""

GRADING_KEYS = ("grade", "solution", "locked", "points", "task")
"""nbgrader metadata that decides how a cell is graded (checksums change with
every answer and are not compared)."""

MAX_NOTEBOOK_BYTES = 20 * 1024**2
"""A submitted notebook larger than this is not graded (outputs are dropped
anyway; the assignments are a few kilobytes of code)."""


class UnreadableSubmission(Exception):
    """The notebook cannot be graded; the message says why, for the report."""


@dataclass
class Prepared:
    """A submission rebuilt for grading: notebooks by id, and what was changed."""

    notebooks: dict[str, NotebookNode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def read_notebook(path: Path) -> NotebookNode:
    """Read any nbformat version as version 4; raise ``UnreadableSubmission``."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise UnreadableSubmission(
            f"{path.name} is {size / 1024**2:.0f} MB (limit "
            f"{MAX_NOTEBOOK_BYTES // 1024**2} MB); clear its outputs and resubmit"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableSubmission(f"{path.name} is not UTF-8 text: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableSubmission(
            f"{path.name} is not valid JSON ({error}); it was not graded"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise UnreadableSubmission(f"{path.name} is not a Jupyter notebook")
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises many kinds on odd input
        raise UnreadableSubmission(
            f"{path.name} could not be read as a notebook: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not isinstance(notebook.get("cells"), list):
        raise UnreadableSubmission(f"{path.name} has no list of cells")
    for index, cell in enumerate(notebook.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in {
            "code",
            "markdown",
            "raw",
        }:
            raise UnreadableSubmission(f"{path.name}: cell {index} is malformed")
        if not isinstance(cell.get("source", ""), str):
            cell["source"] = "".join(cell.get("source") or [])
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
    return notebook


def _as_type(cell: NotebookNode, cell_type: str, source: str) -> NotebookNode:
    """A fresh cell of ``cell_type`` with ``source`` and the old cell's metadata."""
    maker = {
        "code": nbformat.v4.new_code_cell,
        "markdown": nbformat.v4.new_markdown_cell,
        "raw": nbformat.v4.new_raw_cell,
    }[cell_type]
    fresh = maker(source)
    fresh.metadata = copy.deepcopy(cell.get("metadata", {}))
    if cell.get("id"):
        fresh["id"] = cell["id"]
    return fresh


def normalize(
    submitted: NotebookNode, release: NotebookNode
) -> tuple[NotebookNode, list[str]]:
    """The submission on the release's structure, and notes on what changed.

    Released cells with a ``grade_id`` are the skeleton: each appears once,
    in released order, with released metadata and type. A student's answer
    keeps its source; locked cells get the released source (nbgrader puts the
    instructor's version, hidden tests included, in their place anyway). A
    second copy of a graded cell and cells with grading metadata the release
    does not have become ordinary cells. Missing cells come back from the
    release.
    """
    released = [c for c in release.cells if _nbgrader(c).get("grade_id")]
    by_id = {_nbgrader(c)["grade_id"]: c for c in released}
    order = [_nbgrader(c)["grade_id"] for c in released]
    notes: list[str] = []
    kept: dict[str, NotebookNode] = {}
    followers: dict[str | None, list[NotebookNode]] = {None: []}
    anchor: str | None = None
    for cell in submitted.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in by_id and grade_id not in kept:
            original = by_id[grade_id]
            meta = _nbgrader(original)
            if meta.get("locked") or not meta.get("solution"):
                source = original.source
            else:
                source = cell.get("source", "")
            if cell.get("cell_type") != original.cell_type:
                notes.append(
                    f"cell {grade_id}: type was changed to "
                    f"{cell.get('cell_type')}; the released type was graded"
                )
            changed = []
            if meta.get("locked") and cell.get("source", "") != original.source:
                pass  # reported by the caller, which knows the hidden tests too
            else:
                mine = _nbgrader(cell)
                changed = sorted(k for k in GRADING_KEYS if meta.get(k) != mine.get(k))
            if changed:
                notes.append(
                    f"cell {grade_id}: grading metadata {changed} was "
                    "edited; the released metadata was used"
                )
            fresh = _as_type(cell, original.cell_type, source)
            fresh.metadata["nbgrader"] = copy.deepcopy(meta)
            for key in ("editable", "deletable"):
                if key in original.metadata:
                    fresh.metadata[key] = original.metadata[key]
            kept[grade_id] = fresh
            anchor = grade_id
            followers.setdefault(anchor, [])
            continue
        plain = copy.deepcopy(cell)
        if "nbgrader" in plain.get("metadata", {}):
            if grade_id in kept:
                notes.append(
                    f"cell {grade_id} appears more than once; the first "
                    "copy was graded, later copies ran as ordinary cells"
                )
            elif grade_id:
                notes.append(
                    f"cell {grade_id} is not in the release; it ran as an ordinary cell"
                )
            del plain.metadata["nbgrader"]
        followers.setdefault(anchor, []).append(plain)
    cells = list(followers[None])
    for grade_id in order:
        if grade_id in kept:
            cells.append(kept[grade_id])
        else:
            restored = copy.deepcopy(by_id[grade_id])
            kind = "answer" if _nbgrader(restored).get("solution") else "locked"
            notes.append(
                f"{kind} cell {grade_id} was deleted; the released version was put back"
            )
            cells.append(restored)
        cells.extend(followers.get(grade_id, []))
    rebuilt = copy.deepcopy(release)
    rebuilt.cells = cells
    seen: set[str] = set()
    for index, cell in enumerate(cells):  # nbformat 4.5 wants unique cell ids
        if not isinstance(cell.get("id"), str) or cell["id"] in seen:
            cell["id"] = f"cell-{index}"
            while cell["id"] in seen:
                cell["id"] += "x"
        seen.add(cell["id"])
    for key in ("widgets",):
        rebuilt.metadata.pop(key, None)
    return rebuilt, notes


def _grade_ids(notebook: NotebookNode) -> set[str]:
    return {_nbgrader(c).get("grade_id") for c in notebook.cells} - {None}


def prepare(folder: Path, releases: dict[str, NotebookNode]) -> Prepared:
    """Read and normalize the notebooks of one submission folder.

    ``releases`` maps each expected notebook id to its released notebook. A
    notebook saved under another name is graded when its cells match the
    release. Other files are listed in ``ignored_files``.
    """
    prepared = Prepared()
    files = sorted(p for p in folder.iterdir()) if folder.is_dir() else []
    notebooks = {
        p.stem: p
        for p in files
        if p.suffix == ".ipynb" and p.is_file() and not p.is_symlink()
    }
    used: set[str] = set()
    readable: dict[str, NotebookNode] = {}
    for stem, path in notebooks.items():
        try:
            readable[stem] = read_notebook(path)
        except UnreadableSubmission as error:
            if stem in releases:
                prepared.notes.append(str(error))
                used.add(stem)
    for notebook_id, release in releases.items():
        notebook = readable.get(notebook_id)
        if notebook is None and notebook_id not in used:
            wanted = _grade_ids(release)
            candidates = sorted(
                (len(_grade_ids(nb) & wanted), stem)
                for stem, nb in readable.items()
                if stem not in releases and stem not in used
            )
            if candidates and candidates[-1][0] > 0:
                stem = candidates[-1][1]
                notebook = readable[stem]
                used.add(stem)
                prepared.notes.append(
                    f"{stem}.ipynb was graded as {notebook_id}.ipynb (renamed file)"
                )
            else:
                prepared.notes.append(f"notebook {notebook_id}.ipynb was not submitted")
        if notebook is None:
            continue
        used.add(notebook_id)
        rebuilt, notes = normalize(notebook, release)
        prepared.notebooks[notebook_id] = rebuilt
        prepared.notes.extend(notes)
    prepared.ignored_files = [
        p.name for p in files if p.stem not in used and p.name not in NBGRADER_FILES
    ]
    return prepared


def stage(prepared: Prepared, source_folder: Path, target: Path) -> None:
    """Write the prepared notebooks (and the timestamp) to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for notebook_id, notebook in prepared.notebooks.items():
        nbformat.write(notebook, str(target / f"{notebook_id}.ipynb"))
    timestamp = source_folder / "timestamp.txt"
    if timestamp.is_file() and not timestamp.is_symlink():
        shutil.copyfile(timestamp, target / "timestamp.txt")
