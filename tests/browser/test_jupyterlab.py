"""A student and an instructor use the course in JupyterLab, in a real browser.

The first lesson is run from JupyterLab's Run menu in the quick profile, and
lesson 5 up to its first figure, which must show real Oxford-IIIT Pet photos
(the sample that ships with the course); then nbgrader's Assignment List
(student) and Formgrader (instructor) are opened from the Nbgrader menu.
Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
LESSON = "lessons/01_concepts.ipynb"
LESSON_SECONDS = 240
PROFILE_LINE = re.compile(r"seglab profile\s*:\s*quick")

# State of the notebook in the current tab, read from JupyterLab's own model
# (the server was started with LabApp.expose_app_in_browser).
NOTEBOOK_STATE_JS = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) { return null; }
  const cells = [];
  const models = panel.content.model.cells;
  for (let i = 0; i < models.length; i++) {
    const cell = models.get(i);
    if (cell.type !== 'code') { continue; }
    const outputs = cell.outputs.toJSON();
    const errors = outputs.filter(o => o.output_type === 'error')
                          .map(o => `${o.ename}: ${o.evalue}`);
    cells.push({index: i, count: cell.executionCount, errors: errors});
  }
  const kernel = panel.sessionContext.session?.kernel;
  return {cells: cells, kernel: kernel ? kernel.status : 'none'};
}
"""

# True once the notebook's kernel is connected and idle: "Run All Cells"
# clicked earlier is silently lost. (Read from the model, not from the
# toolbar's execution indicator: a narrow toolbar shows that indicator twice,
# once hidden in its overflow menu.)
KERNEL_READY_JS = """
() => {
  const context = window.jupyterapp.shell.currentWidget?.sessionContext;
  const kernel = context?.session?.kernel;
  return Boolean(context?.isReady && kernel && kernel.status === 'idle'
                 && kernel.connectionStatus === 'connected');
}
"""


# Lesson 5 runs up to (and including) its first figure: a grid of real Pets
# photos and their masks from the shipped sample. No training runs before it.
PETS_LESSON = "lessons/05_unet_pets.ipynb"
PETS_LESSON_SECONDS = 180
REAL_DATA_LINE = re.compile(r"data\s*:.*real photos")
MIN_PHOTO_COLOURS = 2000

# True once the current notebook's model holds all its cells (the argument is
# the number of cells in the file: JupyterLab fills the model in steps).
NOTEBOOK_LOADED_JS = """
expected => {
  const widget = window.jupyterapp.shell.currentWidget;
  const model = widget && widget.content && widget.content.model;
  return !!model && widget.context.isReady && model.cells.length >= expected;
}
"""

# Index of the first code cell that draws a grid (or -1).
FIRST_GRID_CELL_JS = """
() => {
  const models = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (let i = 0; i < models.length; i++) {
    const cell = models.get(i);
    if (cell.type === 'code' && cell.sharedModel.getSource().includes('show_grid(')) {
      return i;
    }
  }
  return -1;
}
"""

# Index of the current notebook's active (selected) cell.
ACTIVE_CELL_JS = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"

# True once the kernel has started running something in the current notebook.
RUN_STARTED_JS = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session?.kernel;
  const models = panel.content.model.cells;
  for (let i = 0; i < models.length; i++) {
    const cell = models.get(i);
    if (cell.type === 'code' && cell.executionCount !== null) { return true; }
  }
  return Boolean(kernel && kernel.status === 'busy');
}
"""

# Text of every output in the current notebook, read from its model (the page
# holds only the cells near the viewport).
OUTPUT_TEXT_JS = """
() => {
  const models = window.jupyterapp.shell.currentWidget.content.model.cells;
  const texts = [];
  for (let i = 0; i < models.length; i++) {
    const cell = models.get(i);
    if (cell.type !== 'code') { continue; }
    for (const output of cell.outputs.toJSON()) {
      if (output.text) { texts.push([].concat(output.text).join('')); }
      const plain = output.data && output.data['text/plain'];
      if (plain) { texts.push([].concat(plain).join('')); }
    }
  }
  return texts.join('\\n');
}
"""

# Scroll the current notebook until the cell at the given index is in view.
SCROLL_TO_CELL_JS = """
async index => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  await notebook.scrollToItem(index, 'center');
  return true;
}
"""

# Distinct colours of a figure <img>, counted on a canvas: a photo has
# thousands, a synthetic blob image a handful (plus antialiasing).
IMAGE_COLOURS_JS = """
img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4) {
    seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return seen.size;
}
"""


def file_digest(path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_menu_item(page, menu: str, item: str) -> None:
    """Click a top menu, then one of its items (both by their visible label)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$"))
    label.click()


def missing_texts(locator, names: list[str], seconds: float = 30) -> list[str]:
    """Wait until the element shows every name; returns those still missing."""
    deadline = time.monotonic() + seconds
    while True:
        shown = locator.inner_text() if locator.count() else ""
        missing = [name for name in names if name not in shown]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def accept_kernel_dialog(page) -> None:
    """Accept the kernel JupyterLab proposes if it asks (notebook without one)."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.is_visible():
        dialog.locator(".jp-mod-accept").click()


def wait_for_run_start(page, artifacts, item: str) -> None:
    """Fail clearly (with a screenshot) if a Run menu item started nothing."""
    try:
        page.wait_for_function(RUN_STARTED_JS, timeout=30_000)
    except PlaywrightTimeout:
        page.screenshot(path=str(artifacts / "run-not-started.png"))
        pytest.fail(f"Run > {item} did not start the kernel within 30 s", pytrace=False)


def wait_for_run_all(
    page, seconds: float, lesson: str = LESSON, before: int | None = None
) -> dict:
    """Poll the notebook until every code cell (every one before cell index
    ``before`` if given) ran or one failed, and the kernel is idle again;
    returns the final notebook state, its cells limited to those."""
    deadline = time.monotonic() + seconds
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(NOTEBOOK_STATE_JS)
        if state and before is not None:
            state["cells"] = [c for c in state["cells"] if c["index"] < before]
        if state and state["kernel"] == "idle":
            ran_all = all(cell["count"] is not None for cell in state["cells"])
            failed = any(cell["errors"] for cell in state["cells"])
            if ran_all or failed:
                return state
        time.sleep(1)
    pending = [
        c["index"] for c in (state or {"cells": []})["cells"] if c["count"] is None
    ]
    pytest.fail(
        f"{lesson} did not finish within {seconds} s in the browser; "
        f"cells not run yet: {pending}",
        pytrace=False,
    )


def open_lesson(page, lab_server, lesson: str) -> None:
    """Open a lesson in JupyterLab and wait until its kernel is idle."""
    page.goto(lab_server.lab_url(f"lab/tree/{lesson}"))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    accept_kernel_dialog(page)
    page.wait_for_function(KERNEL_READY_JS, timeout=90_000)


def test_lesson_01_runs_in_jupyterlab_with_figures_and_quick_banner(
    page, lab_server, artifacts
):
    lesson = REPO / LESSON
    assert lesson.is_file(), f"{LESSON} is missing from the repository"
    digest_before = file_digest(lesson)

    open_lesson(page, lab_server, LESSON)
    open_menu_item(page, "Run", "Run All Cells")
    wait_for_run_start(page, artifacts, "Run All Cells")
    state = wait_for_run_all(page, LESSON_SECONDS)
    page.wait_for_function(KERNEL_READY_JS, timeout=60_000)

    errors = [f"cell {c['index']}: {e}" for c in state["cells"] for e in c["errors"]]
    assert not errors, f"{LESSON} shows errors in JupyterLab: {errors}"
    not_run = [c["index"] for c in state["cells"] if c["count"] is None]
    assert not not_run, f"{LESSON}: code cells {not_run} never ran"

    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    text = "\n".join(outputs.all_inner_texts())
    assert PROFILE_LINE.search(text), (
        f"the banner in {LESSON} does not show 'seglab profile : quick'"
    )

    figures = page.locator(".jp-Notebook .jp-OutputArea-output img")
    assert figures.count() >= 1, f"{LESSON} rendered no figure"
    first = figures.first
    first.scroll_into_view_if_needed()
    width = first.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 0, f"the first figure of {LESSON} did not load"
    page.screenshot(path=str(artifacts / "01_concepts-figure.png"))
    page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "01_concepts-top.png"))

    assert file_digest(lesson) == digest_before, (
        f"running {LESSON} in JupyterLab changed the file: it must stay without outputs"
    )


def test_lesson_05_shows_real_pet_photos_from_the_shipped_sample(
    page, lab_server, artifacts
):
    lesson = REPO / PETS_LESSON
    digest_before = file_digest(lesson)
    open_lesson(page, lab_server, PETS_LESSON)
    cells = len(json.loads(lesson.read_text(encoding="utf-8"))["cells"])
    page.wait_for_function(NOTEBOOK_LOADED_JS, arg=cells, timeout=60_000)
    figure_cell = page.evaluate(FIRST_GRID_CELL_JS)
    assert figure_cell >= 0, f"{PETS_LESSON} has no code cell calling show_grid("
    # Select the cell after the figure with a click, as a student would, then
    # run everything above it from the Run menu.
    stop = figure_cell + 1
    panel = "#" + page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
    page.evaluate(SCROLL_TO_CELL_JS, stop)
    page.locator(
        f'{panel} .jp-Cell[data-windowed-list-index="{stop}"] .jp-InputPrompt'
    ).click()
    page.wait_for_function(f"() => ({ACTIVE_CELL_JS})() === {stop}", timeout=10_000)
    open_menu_item(page, "Run", "Run All Above Selected Cell")
    wait_for_run_start(page, artifacts, "Run All Above Selected Cell")
    state = wait_for_run_all(page, PETS_LESSON_SECONDS, PETS_LESSON, stop)
    page.wait_for_function(KERNEL_READY_JS, timeout=60_000)
    errors = [f"cell {c['index']}: {e}" for c in state["cells"] for e in c["errors"]]
    assert not errors, f"{PETS_LESSON} shows errors in JupyterLab: {errors}"

    text = page.evaluate(OUTPUT_TEXT_JS)
    assert PROFILE_LINE.search(text) and REAL_DATA_LINE.search(text), (
        f"the banner of {PETS_LESSON} does not say quick profile and real "
        f"photos; it reads: {text[:400]!r}"
    )
    # JupyterLab keeps only the cells near the viewport in the page: scroll
    # the figure's cell into view, then find it by its index in the notebook.
    page.evaluate(SCROLL_TO_CELL_JS, figure_cell)
    figure = page.locator(
        f'{panel} .jp-Cell[data-windowed-list-index="{figure_cell}"]'
    ).locator(".jp-OutputArea-output img")
    try:
        figure.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(
            f"cell {figure_cell} of {PETS_LESSON} drew no figure", pytrace=False
        )
    assert figure.count() == 1, (
        f"cell {figure_cell} of {PETS_LESSON} drew {figure.count()} figures"
    )
    figure.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=figure.element_handle()
    )
    colours = figure.evaluate(IMAGE_COLOURS_JS)
    page.screenshot(path=str(artifacts / "05_unet_pets-photos.png"))
    assert colours >= MIN_PHOTO_COLOURS, (
        f"the first figure of {PETS_LESSON} has {colours} colours: not photos "
        f"(a real photo grid has thousands; synthetic images a few)"
    )
    assert file_digest(lesson) == digest_before, (
        f"running {PETS_LESSON} in JupyterLab changed the file"
    )


def test_assignment_list_shows_the_released_course_assignments(
    page, lab_server, course_assignments, artifacts
):
    page.goto(lab_server.lab_url("lab", reset=True))
    open_menu_item(page, "Nbgrader", "Assignment List")
    released = page.locator("#released_assignments_list")
    missing = missing_texts(released, course_assignments)
    page.screenshot(path=str(artifacts / "assignment-list.png"))
    assert not missing, (
        f"the Assignment List does not show {missing} (released into "
        f"{lab_server.exchange}); it says: {released.inner_text()[:300]!r}"
    )


def test_a_student_fetches_and_submits_and_the_instructor_grades_it(
    page, lab_server, artifacts
):
    """Fetch and Submit in the Assignment List, then collect, autograde and
    feedback on the instructor's side."""
    from seglab import grading
    from seglab.grading import autograde
    from seglab.grading import release as course_release

    name = "01_concepts"
    page.goto(lab_server.lab_url("lab", reset=True))
    open_menu_item(page, "Nbgrader", "Assignment List")
    row = ".list_item:not(.nested_list_item)"
    released = page.locator(f"#released_assignments_list {row}", has_text=name)
    released.locator("button", has_text="Fetch").click()
    fetched = page.locator(f"#fetched_assignments_list {row}", has_text=name)
    fetched.wait_for()
    assert (lab_server.student_dir / name / f"{name}.ipynb").is_file()
    fetched.locator("button", has_text="Submit").first.click()
    submitted = page.locator(f"#submitted_assignments_list {row}", has_text=name)
    submitted.first.wait_for()
    page.screenshot(path=str(artifacts / "assignment-list-submitted.png"))
    inbound = list(
        (lab_server.exchange / grading.COURSE_ID / "inbound").glob(f"*+{name}+*")
    )
    assert len(inbound) == 1, f"no submission of {name} in {lab_server.exchange}"

    found = course_release.collect(lab_server.course, [name], lab_server.exchange)
    assert len(found[name]) == 1
    results = autograde.autograde(lab_server.course, [name], progress=False)
    assert [(r.status, r.score) for r in results] == [("ok", 0.0)]
    written = course_release.generate_feedback(lab_server.course, [name])
    assert len(written) == 1
    text = written[0].read_text()
    assert "HIDDEN TESTS" not in text and "default_rng(1)" not in text


def test_formgrader_lists_every_assignment_of_the_course(
    page, lab_server, course_assignments, artifacts
):
    page.goto(lab_server.lab_url("lab", reset=True))
    open_menu_item(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    table = frame.locator("table")
    missing = missing_texts(table, course_assignments)
    page.screenshot(path=str(artifacts / "formgrader.png"))
    assert not missing, (
        f"the Formgrader does not list {missing} from autograder/source; it "
        f"shows: {frame.locator('body').inner_text()[:300]!r}"
    )
