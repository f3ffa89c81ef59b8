"""Every figure in the course's prose comes from a run or a named source.

A markdown cell may not state a measured figure (a decimal, a percentage, a
duration, a speed-up) that no code produced: numbers a run produces belong in
the cell's output, where they are computed on the reader's machine. The few
figures quoted from publications or set by a recipe are listed in
``CITED`` with their source; an entry that no longer matches anything fails
too, so the list stays short and true.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("lessons/*.ipynb")) + sorted(
    ROOT.glob("autograder/source/*/*.ipynb")
)

NUMBER = r"[-−]?\d+(?:[.,]\d+)*"
# What reads as a measured figure in prose.
FIGURE = re.compile(
    rf"(?<![\w.]){NUMBER}\s*(?:%|×(?!\s*\d)|x(?=\s+(?:faster|slower|as))"
    rf"|\s*(?:ms|s|sec|seconds?|min|minutes?|h|hours?)\b)"
    rf"|(?<![\w.]){NUMBER}\s+times\s+(?:faster|slower|as)"
    rf"|(?<![\w.]){NUMBER}\s*(?:[A-Za-z]+\s*)?/\s*(?:s|sec|second|step|epoch)\b"
    r"|(?<![\w.])[-−]?\d*\.\d+(?![\w]|\.\d)"
    r"|(?<![\w.,])[-−]?\d+,\d{1,2}(?![\d,])"
)
# Not figures: code spans (unless all they hold is a number), version
# numbers and links. LaTeX is read like prose.
EXEMPT = re.compile(
    r"`(?!\s*[-−]?[\d.,]+\s*[%×]?\s*`)[^`]*`"
    r"|(?:TensorFlow|Keras|Python|nbgrader|JupyterLab|tf\.keras|VOC|CC BY-SA)"
    r"\s+\d+(?:\.\d+)+"
    r"|\]\([^)]*\)"
)

# (notebook, pattern, source): figures quoted from a named publication or
# set by a named recipe. Keep this list short; prefer computing a figure.
BOOK = "the book chapter's reported VOC 2012 result (DeepLabV3, ResNet-50)"
KERAS_BN = "Keras MobileNetV2's BatchNorm momentum default"
LESSON_04 = "lessons/04_deeplabv3"
LESSON_05 = "lessons/05_unet_pets"
LESSON_06 = "lessons/06_evaluation"
CITED: list[tuple[str, str, str]] = [
    (LESSON_04, r"62 % test mIoU", BOOK),
    (LESSON_04, r"87 % mean accuracy", BOOK),
    (LESSON_04, r"91 % pixel accuracy", BOOK),
    (LESSON_04, r"45 minutes on an RTX 2070", "the book chapter's run time"),
    (LESSON_04, r"momentum 0\.9 the L2", "the source recipe's SGD momentum"),
    (LESSON_04, r"1 / \(1 − 0\.9\) = 10 times as", "arithmetic on that momentum"),
    (LESSON_06, r"62 % mIoU", BOOK),
    (LESSON_06, r"32\.5 %", "the book chapter's ResNet-50 U-Net result"),
    (LESSON_06, r"~1\.5 k images", "VOC 2012 has 1,464 training masks"),
    (
        "autograder/source/04_deeplabv3/04_deeplabv3",
        r"90 % for training",
        "the exercise's split, from the book chapter",
    ),
    (LESSON_05, r"momentum 0\.999", KERAS_BN),
    (LESSON_05, r"0\.1 % toward each", "1 - 0.999, the default above"),
    (LESSON_05, r"momentum 0\.9\b", "the setting the course uses"),
    (LESSON_05, r"sets 0\.9 on every", "the setting the course uses"),
    (LESSON_06, r"momentum 0\.999", KERAS_BN),
    (LESSON_06, r"\(0\.9; lesson", "the setting the course uses"),
]


def name(path: Path) -> str:
    """``lessons/04_deeplabv3`` or ``autograder/source/04_deeplabv3/04_deeplabv3``."""
    return path.relative_to(ROOT).with_suffix("").as_posix()


def markdown_cells(path: Path):
    """``(index, text)`` of each markdown cell, white space folded to one space."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            yield index, re.sub(r"\s+", " ", "".join(cell["source"]))


def blank(text: str, pattern: re.Pattern) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces (same offsets)."""
    return pattern.sub(lambda match: " " * len(match.group()), text)


def figures_in(path: Path, texts) -> list[str]:
    """Figures in ``texts`` (``(cell index, text)`` pairs of ``path``) that no
    ``CITED`` entry covers."""
    patterns = [re.compile(p) for where, p, _ in CITED if where == name(path)]
    found = []
    for index, text in texts:
        for pattern in patterns:
            text = blank(text, pattern)
        for match in FIGURE.finditer(blank(text, EXEMPT)):
            start = max(0, match.start() - 30)
            context = text[start : match.end() + 10]
            found.append(f"cell {index}: {match.group()!r} in ...{context}...")
    return found


def uncited_figures(path: Path) -> list[str]:
    """Figures in ``path``'s markdown that no ``CITED`` entry covers."""
    return figures_in(path, markdown_cells(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name)
def test_markdown_states_no_figure_that_nothing_computes_or_cites(path):
    found = uncited_figures(path)
    assert not found, (
        f"{path.relative_to(ROOT)} states figures no cell computes and no source "
        "is named for: compute them in a cell, read them from a committed "
        "result file, or cite the publication in tests/test_prose_figures.py:\n"
        + "\n".join(found)
    )


def test_every_cited_figure_is_still_in_its_notebook():
    by_name = {name(path): path for path in NOTEBOOKS}
    stale = []
    for where, pattern, source in CITED:
        texts = [text for _, text in markdown_cells(by_name[where])]
        if not any(re.search(pattern, text) for text in texts):
            stale.append(f"{where}: {pattern!r} ({source})")
    assert not stale, "cited figures no longer in the notebooks:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("a step took 0.30 s on two cores", ["0.30 s"]),
        ("test mIoU 0.46 after training", ["0.46"]),
        ("it reaches 62 % mIoU", ["62 %"]),
        ("about 45 minutes on one GPU", ["45 minutes"]),
        ("the lookup is 264× faster", ["264×"]),
        ("a 3 × 3 conv at rate 2 on a 128 × 128 image", []),
        ("with TensorFlow 2.21 and `momentum=0.9`", []),
        ("photos under CC BY-SA 4.0", []),
        ("lesson 4, batch 8, 21 classes and label 255", []),
        ("the mIoU ends at 0.55.", ["0.55"]),
        ("it scored `0.55` on the test split", ["0.55"]),
        ("a score of $0.55$ on validation", ["0.55"]),
        ("about .55 mIoU", [".55"]),
        ("the loss moved by -0.3 and by −0.25", ["-0.3", "−0.25"]),
        ("une mIoU de 0,55", ["0,55"]),
        ("the pipeline reads 400 images/s", ["400 images/s"]),
        ("VOC 2012 has 1,464 training masks", []),
        ("`keras.layers.Dropout(0.5)` and `momentum=0.9`", []),
        ("$\\frac{1}{2}$ and $3 \\times 3$", []),
    ],
)
def test_figure_pattern_tells_measurements_from_structure(text, flagged):
    found = [m.group().strip() for m in FIGURE.finditer(blank(text, EXEMPT))]
    assert found == flagged


def _strings(source: str) -> list[str]:
    """The text of every string literal of a code cell (f-strings' literal parts)."""
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    ]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    skipped = set()  # format specs ("{:6.1%}") and docstrings print no figure
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            skipped |= {id(part) for part in ast.walk(node.format_spec)}
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skipped.add(id(node.value))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def printed_figures(path: Path) -> list[str]:
    """Figures written into the strings a code cell prints or shows."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    texts = [
        (index, re.sub(r"\s+", " ", text))
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        for text in _strings("".join(cell["source"]))
    ]
    return figures_in(path, texts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name)
def test_code_prints_no_figure_written_into_a_string(path):
    found = printed_figures(path)
    assert not found, (
        f"{path.relative_to(ROOT)} prints figures written into its code instead "
        "of computed:\n" + "\n".join(found)
    )


def test_printed_strings_are_read_for_figures_but_not_format_specs_or_docstrings():
    source = (
        'def f():\n    """Doubles: (B, h, w) -> (B, 2h, 2w)."""\n'
        'print(f"mIoU {score:.3f} after {seconds:5.1f} s")\n'
        'print("it reached 0.55 mIoU in 40 s")\n'
    )
    texts = _strings(source)
    found = [
        m.group().strip() for t in texts for m in FIGURE.finditer(blank(t, EXEMPT))
    ]
    assert found == ["0.55", "40 s"]
