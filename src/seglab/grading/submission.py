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
import math
import re
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


GRADE_ID = re.compile(r"[A-Za-z0-9_\-]{1,100}")
"""What a ``grade_id`` may be (nbgrader's letters, digits, ``_`` and ``-``)."""

CELL_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
"""What nbformat 4.5 allows as a cell id."""

MAX_POINTS = 1e6
"""More points than any cell of any course carries."""


def _is_bool(value) -> bool:
    return isinstance(value, bool)


def _is_points(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_POINTS
    )


def _is_short_text(pattern: str, limit: int):
    compiled = re.compile(pattern)

    def check(value) -> bool:
        return (
            isinstance(value, str)
            and len(value) <= limit
            and compiled.fullmatch(value) is not None
        )

    return check


NBGRADER_FIELDS = {
    "grade_id": lambda value: (
        isinstance(value, str) and GRADE_ID.fullmatch(value) is not None
    ),
    "cell_type": lambda value: value in ("code", "markdown"),
    "points": _is_points,
    "solution": _is_bool,
    "grade": _is_bool,
    "locked": _is_bool,
    "task": _is_bool,
    "schema_version": lambda value: type(value) is int and 1 <= value <= 3,
    "checksum": _is_short_text(r"[0-9a-f]*", 128),
}
"""Each field of a cell's ``nbgrader`` metadata and the check its value must pass."""


def _describe(value) -> str:
    """A short description of a metadata value for the report."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)[:40]
    return f"a {type(value).__name__}"


def _valid_nbgrader(meta, where: str, notes: list[str]) -> dict:
    """The cell's ``nbgrader`` metadata with every invalid field dropped.

    Empty when it is not a mapping at all. Each dropped field is noted; a
    graded cell gets the released metadata back later in any case (found by
    its cell id when its ``grade_id`` was dropped).
    """
    if not isinstance(meta, dict):
        notes.append(
            f"{where}: its nbgrader metadata is {_describe(meta)}, not a mapping; "
            "the released metadata was used"
        )
        return {}
    kept = {}
    for key, value in meta.items():
        check = NBGRADER_FIELDS.get(key)
        if check is None or check(value):
            if check is not None:
                kept[key] = value
            continue
        notes.append(
            f"{where}: nbgrader metadata '{key}' was {_describe(value)}; the "
            "released metadata was used"
        )
    return kept


NOTEBOOK_FIELDS = {
    "kernelspec": (("name", "display_name"), ("language",)),
    "language_info": (("name",), ("version",)),
}
"""Notebook metadata checked: (required text fields, optional text fields)."""


def _valid_notebook_metadata(metadata, name: str, notes: list[str]) -> dict:
    """The notebook metadata without a kernelspec or language_info of the wrong
    shape, each noted (grading uses the release's in any case)."""
    if not isinstance(metadata, dict):
        notes.append(f"{name}: the notebook metadata is not a mapping; ignored")
        return {}
    metadata = dict(metadata)

    def text(value) -> bool:
        return isinstance(value, str) and len(value) <= 200

    for key, (required, optional) in NOTEBOOK_FIELDS.items():
        if key not in metadata:
            continue
        value = metadata[key]
        if not (
            isinstance(value, dict)
            and all(text(value.get(field)) for field in required)
            and all(text(value[field]) for field in optional if field in value)
        ):
            notes.append(
                f"{name}: notebook metadata '{key}' was malformed "
                f"({_describe(value)}); the released {key} was used"
            )
            del metadata[key]
    return metadata


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


def read_notebook(path: Path, notes: list[str] | None = None) -> NotebookNode:
    """Read any nbformat version as version 4; raise ``UnreadableSubmission``.

    Every cell is rebuilt from what grading uses (:func:`_clean_cell`), and
    metadata of the wrong type or range is dropped; what was dropped is
    appended to ``notes``.
    """
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
    notes = [] if notes is None else notes
    # Cleaned before nbformat reads it (its own repair of odd sources or
    # attachments raises), and again after (a version 3 notebook's cells).
    data["metadata"] = _valid_notebook_metadata(data.get("metadata"), path.name, notes)
    if data["nbformat"] == 4 and isinstance(data.get("cells"), list):
        data["cells"] = _clean_cells(data["cells"], path.name, notes)
    text = json.dumps(data)
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises many kinds on odd input
        raise UnreadableSubmission(
            f"{path.name} could not be read as a notebook: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not isinstance(notebook.get("cells"), list):
        raise UnreadableSubmission(f"{path.name} has no list of cells")
    notebook.cells = _clean_cells(notebook.cells, path.name, notes)
    return notebook


def _clean_cells(cells: list, name: str, notes: list[str]) -> list[NotebookNode]:
    """Every cell through :func:`_clean_cell`; raise on a cell of no known type."""
    cleaned = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in {
            "code",
            "markdown",
            "raw",
        }:
            raise UnreadableSubmission(f"{name}: cell {index} is malformed")
        cleaned.append(_clean_cell(cell, f"{name} cell {index}", notes))
    return cleaned


def _is_source(source) -> bool:
    """Text, or a list of text lines (nbformat's two ways to store a source)."""
    return isinstance(source, str) or (
        isinstance(source, list) and all(isinstance(line, str) for line in source)
    )


def _clean_cell(cell: dict, where: str, notes: list[str]) -> NotebookNode:
    """The cell rebuilt from its type, source, id, attachments and valid metadata.

    Outputs and execution counts are dropped (grading runs every cell again).
    A source that is neither text nor a list of text, or an id that is not
    text, cannot be graded; it is emptied or renumbered, with a note.
    """
    source = cell.get("source", "")
    if not _is_source(source):
        notes.append(f"{where}: its source is {_describe(source)}; it was emptied")
        source = ""
    elif isinstance(source, list):
        source = "".join(source)
    metadata = cell.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    for key in ("editable", "deletable"):
        if key in metadata and not isinstance(metadata[key], bool):
            del metadata[key]
    if "tags" in metadata and not (
        isinstance(metadata["tags"], list)
        and all(isinstance(tag, str) for tag in metadata["tags"])
    ):
        del metadata["tags"]
    if "nbgrader" in metadata:
        metadata["nbgrader"] = _valid_nbgrader(metadata["nbgrader"], where, notes)
    clean = _as_type(NotebookNode(metadata=metadata), cell["cell_type"], source)
    clean.metadata = NotebookNode(metadata)
    if isinstance(cell.get("id"), str) and CELL_ID.fullmatch(cell["id"]):
        clean["id"] = cell["id"]
    attachments = cell.get("attachments")
    if cell["cell_type"] != "code" and _valid_attachments(attachments):
        clean["attachments"] = attachments
    elif attachments:
        notes.append(f"{where}: its attachments were malformed and were dropped")
    return clean


def _valid_attachments(attachments) -> bool:
    """``{name: {mime type: base64 text}}``, as nbformat stores pasted images."""
    return isinstance(attachments, dict) and all(
        isinstance(name, str)
        and isinstance(data, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
        for name, data in attachments.items()
    )


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
    by_cell_id = {c.get("id"): _nbgrader(c)["grade_id"] for c in released}
    order = [_nbgrader(c)["grade_id"] for c in released]
    notes: list[str] = []
    kept: dict[str, NotebookNode] = {}
    followers: dict[str | None, list[NotebookNode]] = {None: []}
    anchor: str | None = None
    for cell in submitted.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id is None and "nbgrader" in cell.get("metadata", {}):
            # grading metadata whose grade_id was invalid (see read_notebook):
            # the released cell with the same cell id, if there is one
            grade_id = by_cell_id.get(cell.get("id"))
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
            found: list[str] = []
            readable[stem] = read_notebook(path, found)
            if stem in releases:
                prepared.notes.extend(found)
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
