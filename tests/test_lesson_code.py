"""Lesson code a student can run, kept identical to the package.

A lesson defines a teaching piece in a code cell that starts with
``# mirrors seglab.<module>.<name>``; the definition in that cell must have
the same code (the same AST, docstring included) as the package's, and any
module-level constant the cell sets must equal the package module's
(names bound to other expressions, such as aliases, are not compared). Long
functions are shown as excerpts instead: a fenced block in a markdown cell
that starts with ``# excerpt of src/seglab/<file>.py``, whose lines must
appear in that file in the same order (``...`` skips lines). No lesson
prints package source as text.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))
MIRROR = re.compile(r"^# mirrors (seglab(?:\.\w+)+)\s*$")
EXCERPT = re.compile(
    r"```python\n# excerpt of (src/seglab/\S+\.py)[^\n]*\n(.*?)```", re.S
)

# The teaching pieces lessons define in runnable cells (not as text): the
# mirrored cells must be exactly these.
REQUIRED = {
    "seglab.atrous.effective_kernel_size",
    "seglab.atrous.receptive_field",
    "seglab.atrous.degenerate_rate_demo",
    "seglab.models.deeplab.atrous_spatial_pyramid_pooling",
    "seglab.models.deeplab.atrous_rates_for",
    "seglab.models.deeplab.conv_bn_relu",
    "seglab.models.deeplab.dilated_bottleneck",
    "seglab.models.deeplab.ResizeLike",
    "seglab.models.layers.all_layers",
    "seglab.models.unet.upsample_block",
    "seglab.class_weights.sample_weights_from_masks",
    "seglab.data.augment.PairedRandomFlip",
    "seglab.palette.voc_colormap",
}


def _cells(kind: str):
    for path in LESSONS:
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == kind:
                yield path.name, index, "".join(cell["source"])


def mirrored_cells() -> list[tuple[str, int, str, str]]:
    found = []
    for name, index, source in _cells("code"):
        first = source.split("\n", 1)[0]
        match = MIRROR.match(first)
        if match:
            found.append((name, index, match.group(1), source))
    return found


def excerpts() -> list[tuple[str, int, str, str]]:
    return [
        (name, index, *match.groups())
        for name, index, source in _cells("markdown")
        for match in EXCERPT.finditer(source)
    ]


def resolve(dotted: str):
    """The module and the object a dotted name points at."""
    module_name, _, attribute = dotted.rpartition(".")
    module = importlib.import_module(module_name)
    return module, getattr(module, attribute)


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_no_lesson_prints_package_source():
    offenders = [
        f"{name} cell {index}"
        for name, index, source in _cells("code")
        if "getsource" in source or "import inspect" in source
    ]
    assert offenders == [], "lessons define or excerpt code instead: " + ", ".join(
        offenders
    )


def test_lessons_use_no_private_api_outside_mirrored_cells():
    """``model._flatten_layers()`` and the like: not what a student should copy."""
    private = re.compile(r"\.\_[a-z]\w*")
    offenders = [
        f"{name} cell {index}: {private.search(source).group()}"
        for name, index, source in _cells("code")
        if not MIRROR.match(source.split("\n", 1)[0]) and private.search(source)
    ]
    assert offenders == [], offenders


def test_the_mirrored_cells_are_exactly_the_teaching_pieces():
    mirrored = {dotted for _, _, dotted, _ in mirrored_cells()}
    assert mirrored == REQUIRED, (
        f"not mirrored: {sorted(REQUIRED - mirrored)}; "
        f"mirrored but not listed in REQUIRED: {sorted(mirrored - REQUIRED)}"
    )


def package_definitions() -> dict[str, list[str]]:
    """Every public function and class of seglab by name -> where it lives."""
    import pkgutil

    import seglab

    found: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(seglab.__path__, "seglab."):
        if ".grading" in info.name or ".cli" in info.name or "__main__" in info.name:
            continue  # never taught in a lesson; they import nbgrader
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            if (
                not attribute.startswith("_")
                and (inspect.isfunction(value) or inspect.isclass(value))
                and getattr(value, "__module__", "") == info.name
            ):
                found.setdefault(attribute, []).append(f"{info.name}.{attribute}")
    return found


def test_every_lesson_definition_named_like_a_package_one_mirrors_it():
    """A lesson's ``def``/``class`` with a package name must say it mirrors it.

    Otherwise a copy (or a renamed header) could drift from the package with
    no test comparing the two.
    """
    package = package_definitions()
    unmarked = []
    for name, index, source in _cells("code"):
        match = MIRROR.match(source.split("\n", 1)[0])
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for short in _definitions(tree):
            if short in package and not (match and match.group(1) in package[short]):
                unmarked.append(f"{name} cell {index}: {short} ({package[short]})")
    assert unmarked == [], unmarked


def test_a_renamed_header_is_noticed():
    """A cell whose header no longer names its definition fails the check."""
    cells = mirrored_cells()
    name, index, dotted, source = cells[0]
    renamed = source.replace("# mirrors ", "# copied from ", 1)
    package = package_definitions()
    tree = ast.parse(renamed)
    short = dotted.rsplit(".", 1)[1]
    assert short in _definitions(tree) and short in package
    assert not MIRROR.match(renamed.split("\n", 1)[0])


@pytest.mark.parametrize(
    "name, index, dotted, source",
    mirrored_cells(),
    ids=[f"{n}:{i}:{d.rsplit('.', 1)[1]}" for n, i, d, _ in mirrored_cells()],
)
def test_mirrored_cell_has_the_package_code(name, index, dotted, source):
    module, target = resolve(dotted)
    package = ast.parse(textwrap.dedent(inspect.getsource(target)))
    cell = ast.parse(source)
    short = dotted.rsplit(".", 1)[1]
    definitions = _definitions(cell)
    assert short in definitions, f"{name} cell {index} does not define {short}"
    expected = _definitions(package)[short]
    assert ast.dump(definitions[short]) == ast.dump(expected), (
        f"{name} cell {index} differs from {dotted}: copy the package's code "
        "into the cell (or change both)"
    )
    for node in cell.body:
        if isinstance(node, ast.Assign):
            for target_node in node.targets:
                if isinstance(target_node, ast.Name) and hasattr(
                    module, target_node.id
                ):
                    try:
                        value = ast.literal_eval(node.value)
                    except ValueError:  # an alias, e.g. helper = module.helper
                        continue
                    assert value == getattr(module, target_node.id), (
                        f"{name} cell {index}: {target_node.id} differs from "
                        f"{module.__name__}.{target_node.id}"
                    )


@pytest.mark.parametrize(
    "name, index, path, body",
    excerpts(),
    ids=[f"{n}:{i}:{Path(p).name}" for n, i, p, _ in excerpts()],
)
def test_excerpt_lines_appear_in_the_named_file_in_order(name, index, path, body):
    lines = [line.strip() for line in (ROOT / path).read_text().splitlines()]
    position = 0
    for wanted in (line.strip() for line in body.splitlines()):
        if not wanted or wanted == "...":
            continue
        try:
            position = lines.index(wanted, position) + 1
        except ValueError:
            pytest.fail(f"{name} cell {index}: {wanted!r} is not in {path} (in order)")


def test_the_sync_check_notices_a_changed_cell():
    """One more statement in a mirrored definition must fail the comparison."""
    cells = mirrored_cells()
    assert cells, "no mirrored cells found"
    name, index, dotted, source = cells[0]
    _, target = resolve(dotted)
    changed = source.rstrip() + "\n    pass\n"  # into the last definition's body
    short = dotted.rsplit(".", 1)[1]
    package = _definitions(ast.parse(textwrap.dedent(inspect.getsource(target))))
    assert ast.dump(_definitions(ast.parse(changed))[short]) != ast.dump(package[short])
