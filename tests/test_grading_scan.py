"""seglab.grading.scan: every rule flags its trick; honest answers are never flagged."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import nbformat
import pytest

from seglab import grading
from seglab.grading import scan as grading_scan

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ASSIGNMENTS = grading.source_assignments(REPO / "autograder")

# One attack per rule, as a student would write it in an answer cell.
ATTACKS = {
    "ipython-internals": [
        "get_ipython().ast_transformers.append(Empty())",
        "ip = exit._ip\nip.input_transformers_post.append(lambda lines: [])",
        "from IPython import get_ipython",
        "get_ipython().events.register('pre_run_cell', cheat)",
    ],
    "ast-module": ["import ast\nclass Empty(ast.NodeTransformer):\n    pass"],
    "dunder-override": [
        "class Always:\n    def __eq__(self, other):\n        return True",
        "class Same(str):\n    __hash__ = str.__hash__\n"
        "    __ne__ = lambda s, o: False",
        "Answer = type('Answer', (), {'__eq__': lambda s, o: True})",
    ],
    "module-patch": [
        "np.allclose = lambda *a, **k: True",
        "setattr(np, 'array_equal', lambda *a: True)",
        "np.testing.assert_allclose = print",
        "m = np\nm.isclose = lambda *a, **k: True",
        "np = FakeNumpy()",
        "del palette.IGNORE_LABEL",
    ],
    "sys-internals": [
        "import sys\nsys.modules['numpy'] = fake",
        "import sys\nsys.displayhook = lambda value: None",
        "import sys\nsys.settrace(skip_asserts)",
    ],
    "builtins": [
        "import builtins\nbuiltins.isinstance = lambda *a: True",
        "__builtins__.len = lambda x: 3",
        "def type(x):\n    return str",
    ],
    "file-outside": [
        "source = open('../../../source/01_concepts/01_concepts.ipynb').read()",
        "from pathlib import Path\nPath.cwd().parent.joinpath('gradebook.db')",
        "import os\nos.chdir('/')",
        "text = open('/etc/passwd').read()",
        "open(name).read()",
    ],
    "sqlite3": ["import sqlite3\nsqlite3.connect('grades.db')"],
    "subprocess": [
        "import subprocess\nsubprocess.run(['ls'])",
        "import os\nos.system('ls')",
        "from os import popen",
    ],
    "process-control": [
        "import os\nif os.fork() == 0:\n    pass",
        "import os\nos.kill(os.getppid(), 9)",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
        "import threading\nthreading.Thread(target=patch).start()",
    ],
    "ctypes": ["import ctypes\nctypes.pythonapi.PyFrame_LocalsToFast"],
    "gc": ["import gc\nrefs = gc.get_referrers(np.allclose)"],
    "inspect": [
        "import inspect\ninspect.currentframe().f_back.f_globals['x'] = 1",
        "globals()['scores_to_labels'] = cheat",
        "np.allclose.__code__ = (lambda *a, **k: True).__code__",
        "np.allclose.__defaults__ = (1e9, 1e9, False)",
    ],
    "dynamic-import": [
        "import importlib\nimportlib.import_module('numpy')",
        "numpy = __import__('numpy')",
    ],
    "exec-eval": [
        "exec(open_source)",
        "answer = eval('1 + 1')",
        "code = compile('x = 1', 'cell', 'exec')",
    ],
    "grader-internals": [
        "_seglab_guard.check = lambda *a: None",
        "from seglab import grading_guard",
        "from seglab.grading import guard",
        "import seglab.grading.guard as g",
        "from seglab.grading.autograde import clear",
        "import nbgrader",
    ],
    "magic": [
        "%load ../../../source/01_concepts/01_concepts.ipynb",
        "!cat /etc/passwd",
        "%%capture\nx = 1",
        "files = !ls ..",
    ],
    "network": ["import socket\nsocket.create_connection(('example.com', 80))"],
}


def _notebook(
    answer: str, setup: str = "import numpy as np\n\nfrom seglab import palette"
) -> nbformat.NotebookNode:
    """A two-cell assignment: a locked set-up cell and one answer cell."""
    nb = nbformat.v4.new_notebook()
    locked = nbformat.v4.new_code_cell(setup)
    locked.metadata["nbgrader"] = {
        "grade_id": "setup",
        "locked": True,
        "solution": False,
        "grade": False,
    }
    answer_cell = nbformat.v4.new_code_cell(answer)
    answer_cell.metadata["nbgrader"] = {
        "grade_id": "answer",
        "locked": False,
        "solution": True,
        "grade": False,
    }
    nb.cells = [locked, answer_cell]
    return nb


def _rules(findings) -> set[str]:
    return {f.rule for f in findings}


def test_every_rule_has_an_attack():
    assert set(ATTACKS) == set(grading_scan.RULES)


@pytest.mark.parametrize(
    ("rule", "code"),
    [(rule, code) for rule, codes in ATTACKS.items() for code in codes],
)
def test_each_rule_flags_its_attack(rule, code):
    findings = grading_scan.scan_notebook(_notebook(code))
    assert rule in _rules(findings), (code, findings)
    assert all(f.cell_id == _notebook(code).cells[1].id or f.cell_id for f in findings)


def test_a_finding_names_the_cell_and_line():
    nb = _notebook("x = 1\ny = 2\nnp.allclose = lambda *a, **k: True")
    (finding,) = grading_scan.scan_notebook(nb)
    assert finding == grading_scan.Finding(
        nb.cells[1].id, 3, "module-patch", finding.message
    )
    assert "np.allclose" in finding.message and "line 3" in str(finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.rule = "other"  # type: ignore[misc]


def test_a_cell_the_student_added_is_scanned():
    nb = _notebook("x = 1")
    nb.cells.append(nbformat.v4.new_code_cell("import sqlite3"))
    assert _rules(grading_scan.scan_notebook(nb)) == {"sqlite3"}


def test_locked_instructor_cells_are_not_scanned():
    nb = _notebook("x = 1", setup="import sys\nsys.modules['numpy']")
    assert grading_scan.scan_notebook(nb) == []


def test_a_cell_made_to_look_locked_is_scanned_against_the_source_ids():
    nb = _notebook("x = 1")
    fake = nbformat.v4.new_code_cell("import ctypes")
    fake.metadata["nbgrader"] = {
        "grade_id": "not_in_source",
        "locked": True,
        "solution": False,
        "grade": False,
    }
    nb.cells.append(fake)
    assert grading_scan.scan_notebook(nb) == []  # metadata alone is trusted
    findings = grading_scan.scan_notebook(nb, instructor_ids={"setup"})
    assert _rules(findings) == {"ctypes"}


def test_a_cell_that_does_not_parse_is_searched_as_text():
    findings = grading_scan.scan_notebook(
        _notebook("def broken(:\n    get_ipython().ast_transformers.clear()")
    )
    assert _rules(findings) == {"ipython-internals"}
    assert findings[0].line == 2 and "does not parse" in findings[0].message


def test_magic_lines_are_flagged_and_the_rest_still_parsed():
    findings = grading_scan.scan_notebook(_notebook("%time x = 1\nimport gc"))
    assert {(f.line, f.rule) for f in findings} == {(1, "magic"), (2, "gc")}


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\nfrom seglab import palette",  # importing again
        "def f(x):\n    type = 3\n    return np.asarray(x)",  # a local, not a rebinding
        "class Upsample(keras.layers.Layer):\n    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n        self.scale = 2\n"
        "    def call(self, x):\n        return x",
        "ratio = 3 / 4\nname = 'a/b'\ntext = 'spatial pyramid pooling'",
        "labels = np.where(mask == 255, 0, mask)\nlayers = keras.layers\n"
        "conv = layers.Conv2D(8, 3)",
    ],
)
def test_honest_code_is_not_flagged(code):
    assert grading_scan.scan_notebook(_notebook(code)) == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_solutions_are_not_flagged(name):
    nb = nbformat.read(str(SOLUTIONS / name / f"{name}.ipynb"), as_version=4)
    answers = list(grading_scan.student_cells(nb))
    assert answers, "the solution has answer cells"
    assert grading_scan.scan_notebook(nb) == []
    # The same answers pasted into unmarked (student-added) cells pass too.
    added = copy.deepcopy(nb)
    for cell in added.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get(
            "solution"
        ):
            del cell.metadata["nbgrader"]
    assert grading_scan.scan_notebook(added) == []


def test_malformed_cells_do_not_crash_the_scan():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        {"cell_type": "code", "source": ["import ", "sqlite3"], "metadata": {}},
        {"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": "locked"}},
        {"cell_type": "markdown", "source": "import ctypes", "metadata": {}},
        "not a cell",
    ]
    assert [(f.cell_id, f.rule) for f in grading_scan.scan_notebook(nb)] == [
        ("#0", "sqlite3")
    ]


def test_locked_ids_lists_the_instructor_cells_of_a_source():
    source_path = REPO / "autograder" / "source" / "01_concepts" / "01_concepts.ipynb"
    ids = grading_scan.locked_ids(nbformat.read(str(source_path), as_version=4))
    assert ids == {
        "setup",
        "test_scores_to_labels",
        "test_instances_to_semantic",
        "test_class_pixel_share",
        "test_unet_skip",
    }
