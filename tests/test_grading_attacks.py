"""The grader against a clever student: every attack on every assignment.

One scratch copy of the course is released once. A first ``autograde`` run
grades the honest classmates (the solution key and the untouched release of
each assignment); a second grades every attack below, built from the released
notebook of each of the six assignments, in one run. Then, for every attack x
assignment: no unearned point (not even before a flagged score is withheld),
grading completed, the course tree (sources, releases, submissions, config)
and the classmates' gradebook rows are byte-identical, and no process the
attack started is still running.

The table of results is printed (``pytest -s``) and written to
``test-artifacts/grading_attacks.md``.
"""

from __future__ import annotations

import ast
import copy
import csv
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import psutil
import pytest

from seglab import grading
from seglab.grading import autograde, sandbox, withhold
from seglab.grading import release as course_release

pytestmark = [
    pytest.mark.nbgrader,
    pytest.mark.filterwarnings("ignore:Cell is missing an id field"),
]

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ARTIFACT = REPO / "test-artifacts" / "grading_attacks.md"
MARKER = "seglab-attack-marker"
"""Written into every process an attack starts, to find survivors."""

UNTOUCHED = {
    "autograded",
    "feedback",
    "gradebook.db",
    "grades.csv",
    "grading_report.csv",
    withhold.WITHHELD_FILE,
}
"""What grading itself writes in the course; everything else must not change."""


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _answer_cells(notebook) -> list:
    return [
        c
        for c in notebook.cells
        if _nbgrader(c).get("solution") and c.cell_type == "code"
    ]


def _defined_names(source: str) -> tuple[list[str], list[str]]:
    """Top-level functions and variables an answer cell defines."""
    tree = ast.parse(source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    variables = [
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    ]
    return functions, variables


def _wrong_answers(solution, value: str) -> str:
    """Code defining every answer name of ``solution`` as ``value`` (no knowledge)."""
    lines = []
    for cell in _answer_cells(solution):
        functions, variables = _defined_names(cell.source)
        lines += [
            f"def {name}(*args, **kwargs):\n    return {value}" for name in functions
        ]
        lines += [f"{name} = {value}" for name in variables]
    return "\n".join(lines)


ALWAYS_EQUAL = textwrap.dedent("""
    class Anything(str):
        def __eq__(self, other): return True
        def __ne__(self, other): return False
        def __hash__(self): return 0
        def __contains__(self, item): return True
        def __getattr__(self, name): return Anything()
        def __call__(self, *args, **kwargs): return Anything()
        def __len__(self): return 1
        def __bool__(self): return True
        def __lt__(self, other): return True
        def __le__(self, other): return True
        def __gt__(self, other): return True
        def __ge__(self, other): return True
    """)

PATCH_NUMPY = textwrap.dedent("""
    import numpy as np
    yes = lambda *args, **kwargs: True
    nothing = lambda *args, **kwargs: None
    np.allclose = np.array_equal = np.array_equiv = yes
    np.isclose = lambda *args, **kwargs: np.bool_(True)
    np.issubdtype = yes
    np.testing.assert_allclose = np.testing.assert_array_equal = nothing
    np.testing.assert_equal = np.testing.assert_almost_equal = nothing
    """)

AST_TRANSFORMER = textwrap.dedent("""
    import ast
    class Emptied(ast.NodeTransformer):
        def visit_Module(self, node):
            return ast.Module(body=[], type_ignores=[])
    get_ipython().ast_transformers.append(Emptied())
    """)

INPUT_TRANSFORMER = textwrap.dedent("""
    get_ipython().input_transformers_cleanup.append(lambda lines: [])
    get_ipython().input_transformers_post.append(lambda lines: [])
    """)

CUSTOM_EXCEPTIONS = textwrap.dedent("""
    get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
    """)

PATCH_BUILTINS = textwrap.dedent("""
    import builtins
    builtins.isinstance = lambda *args: True
    builtins.type = lambda *args: object
    builtins.len = lambda *args: 1
    builtins.all = builtins.any = lambda *args: True
    """)


def _read_the_key(course: Path, name: str) -> str:
    """Run the instructor's solutions, found on disk at grading time."""
    places = [
        str(course / "source" / name / f"{name}.ipynb"),
        str(SOLUTIONS / name / f"{name}.ipynb"),
        f"../../../source/{name}/{name}.ipynb",
        f"../../source/{name}/{name}.ipynb",
    ]
    return textwrap.dedent(f"""
        import json
        for place in {places!r}:
            try:
                with open(place) as handle:
                    key = json.load(handle)
            except OSError:
                continue
            for cell in key["cells"]:
                meta = cell.get("metadata", {{}}).get("nbgrader", {{}})
                if meta.get("solution") and cell["cell_type"] == "code":
                    exec("".join(cell["source"]), globals())
            break
        """)


def _write_gradebook(course: Path, name: str) -> str:
    """Full marks for me, zero for a classmate, straight into gradebook.db."""
    return textwrap.dedent(f"""
        import sqlite3
        for place in [{str(course / "gradebook.db")!r}, "../../../gradebook.db"]:
            try:
                db = sqlite3.connect(place)
                db.execute("UPDATE grade SET auto_score = 1000, manual_score = 1000")
                db.execute("CREATE TABLE IF NOT EXISTS pwned (x)")
                db.commit()
            except Exception as error:
                print("gradebook:", error)
        """)


def _edit_config(course: Path, name: str) -> str:
    """Append code to the course config, which the grader loads next time."""
    line = f"\\nopen('/tmp/{MARKER}-config', 'w').write('ran')\\n"
    return textwrap.dedent(f'''
        for place in [{str(course / "nbgrader_config.py")!r},
                      "../../../nbgrader_config.py"]:
            try:
                with open(place, "a") as handle:
                    handle.write("{line}")
            except OSError as error:
                print("config:", error)
        for place in [{str(course / "submitted")!r}, {str(course / "source")!r}]:
            try:
                open(place + "/{MARKER}", "w").write("x")
            except OSError as error:
                print("write:", error)
        ''')


def _outlive_the_kernel(course: Path, name: str) -> str:
    """A detached process that waits for grading to end, then edits grades."""
    later = (
        f"import time, sqlite3  # {MARKER}\\n"
        "time.sleep(8)\\n"
        f"db = sqlite3.connect({str(course / 'gradebook.db')!r})\\n"
        "db.execute('UPDATE grade SET auto_score = 1000'); db.commit()"
    )
    return textwrap.dedent(f"""
        import os, subprocess, sys
        subprocess.Popen([sys.executable, "-c", {later!r}],
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", {later!r}])
            os._exit(0)
        """)


SIGNAL_PARENT = textwrap.dedent("""
    import os, signal
    for pid in (os.getppid(), os.getpgid(0)):
        for send in (os.kill, os.killpg):
            try:
                send(pid, signal.SIGKILL)
            except Exception as error:
                print(error)
    """)

FORK_MANY = textwrap.dedent(f"""
    import os, time
    children = 0
    for _ in range(2000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)  # {MARKER}
            os._exit(0)
        children += 1
    print("children started:", children)
    """)

FILL_DISK = textwrap.dedent("""
    import os
    chunk = b"d" * (16 * 1024**2)
    for place in (".", "/tmp", os.path.expanduser("~"), "/var/tmp", "/dev/shm"):
        written = 0
        try:
            for i in range(128):  # 2 GB
                with open(os.path.join(place, f"fill-{i}"), "wb") as handle:
                    handle.write(chunk)
                written += len(chunk)
        except OSError as error:
            print(place, type(error).__name__)
        print("written", place, written // 1024**2, "MB")
    """)

MEMORY_HOG = "hog = bytearray(32 * 1024**3)\nhog[::4096] = b'x' * len(hog[::4096])"


def _flood(kind: str) -> str:
    if kind == "errors":
        return (
            "from IPython.display import display\n"
            "for i in range(1500):\n"
            "    display({'text/plain': 'E' * 20000}, raw=True)\n"
            "raise ValueError('x' * 1_000_000)"
        )
    return (
        "import sys\nfor i in range(5000):\n"
        "    sys.stderr.write('e' * 5000)\n"
        "    print('o' * 5000)"
    )


# name -> (what it does, builder(course, release, solution, name, folder) -> notebook)
Builder = Callable[[Path, object, object, str, Path], object]


def _in_first_answer(
    code_of: Callable[[Path, str], str], wrong: str = "None"
) -> Builder:
    """The attack code first, then wrong answers for every answer cell."""

    def build(course, release, solution, name, folder):
        notebook = copy.deepcopy(release)
        answers = _answer_cells(notebook)
        answers[0].source = (
            code_of(course, name) + "\n" + _wrong_answers(solution, wrong)
        )
        for cell in answers[1:]:
            cell.source = "pass"
        return notebook

    return build


def _constant(code: str) -> Callable[[Path, str], str]:
    return lambda course, name: code


def _shadow_numpy(course, release, solution, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "numpy.py").write_text(
        "def __getattr__(name):\n    return lambda *args, **kwargs: True\n"
    )
    (folder / "seglab.py").write_text("palette = None\n")
    return _in_first_answer(_constant(""))(course, release, solution, name, folder)


def _edit_tests(course, release, solution, name, folder):
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        if _nbgrader(cell).get("grade") and cell.cell_type == "code":
            cell.source = "pass"
    return notebook


def _tests_made_ungraded(course, release, solution, name, folder):
    """Tests turned to markdown, `grade: false`, 1000 points, a fake graded cell."""
    notebook = copy.deepcopy(release)
    tests = [
        c for c in notebook.cells if _nbgrader(c).get("grade") and c.cell_type == "code"
    ]
    tests[0].cell_type = "markdown"
    tests[0].pop("outputs", None)
    tests[0].pop("execution_count", None)
    for cell in tests[1:]:
        cell.metadata["nbgrader"]["grade"] = False
        cell.metadata["nbgrader"]["points"] = 1000
    fake = nbformat.v4.new_code_cell("pass")
    fake.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "bonus",
        "points": 1000,
        "locked": True,
        "solution": False,
        "schema_version": 3,
    }
    notebook.cells.append(fake)
    return notebook


def _delete_all_tests(course, release, solution, name, folder):
    notebook = copy.deepcopy(release)
    notebook.cells = [
        c
        for c in notebook.cells
        if not (_nbgrader(c).get("grade") and c.cell_type == "code")
    ]
    return notebook


def _sleepers(course, release, solution, name, folder):
    notebook = copy.deepcopy(release)
    for _ in range(3):
        notebook.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(9)"))
    return notebook


CONTENT_ATTACKS: dict[str, tuple[str, Builder]] = {
    "always_equal": (
        "answers whose __eq__ is always True",
        _in_first_answer(_constant(ALWAYS_EQUAL), "Anything()"),
    ),
    "patch_numpy": (
        "np.allclose & co. always True",
        _in_first_answer(_constant(PATCH_NUMPY)),
    ),
    "patch_builtins": (
        "isinstance, type, len, all patched in builtins",
        _in_first_answer(_constant(PATCH_BUILTINS)),
    ),
    "ast_transformer": (
        "an AST transformer empties every later cell",
        _in_first_answer(_constant(AST_TRANSFORMER)),
    ),
    "input_transformer": (
        "input transformers empty every later cell",
        _in_first_answer(_constant(INPUT_TRANSFORMER)),
    ),
    "custom_exceptions": (
        "set_custom_exc swallows failing tests",
        _in_first_answer(_constant(CUSTOM_EXCEPTIONS)),
    ),
    "read_the_key": (
        "reads source/ or solutions/ from disk and runs them",
        _in_first_answer(_read_the_key),
    ),
    "write_gradebook": (
        "writes grades into gradebook.db (own and classmates')",
        _in_first_answer(_write_gradebook),
    ),
    "shadow_numpy": (
        "numpy.py and seglab.py handed in beside the notebook",
        _shadow_numpy,
    ),
    "edit_tests": ("every test cell replaced by `pass`", _edit_tests),
    "delete_tests": ("every test cell deleted", _delete_all_tests),
    "ungrade_tests": (
        "test cell to markdown, grade: false, 1000 points, fake graded cell",
        _tests_made_ungraded,
    ),
}
"""Attacks on the tests and the grading data: on every assignment."""

SANDBOX_ATTACKS: dict[str, tuple[str, Builder]] = {
    "edit_config": (
        "appends code to nbgrader_config.py, writes in the course",
        _in_first_answer(_edit_config),
    ),
    "outlive_kernel": (
        "detached processes edit the gradebook after grading",
        _in_first_answer(_outlive_the_kernel),
    ),
    "signal_parent": (
        "SIGKILL to the parent and its process group",
        _in_first_answer(_constant(SIGNAL_PARENT)),
    ),
    "fork_many": (
        "starts processes until it cannot",
        _in_first_answer(_constant(FORK_MANY)),
    ),
    "memory_hog": ("allocates 32 GB", _in_first_answer(_constant(MEMORY_HOG))),
    "fill_disk": (
        "writes 2 GB into its folder, home, /tmp, /var/tmp, /dev/shm",
        _in_first_answer(_constant(FILL_DISK)),
    ),
    "flood_outputs": (
        "1500 display outputs (30 MB) and a 1 MB error",
        _in_first_answer(_constant(_flood("errors"))),
    ),
    "flood_streams": (
        "25 MB on stdout and stderr",
        _in_first_answer(_constant(_flood("streams"))),
    ),
    "widget_state": (
        "1000 widgets with 30 MB of state",
        _in_first_answer(
            _constant(
                "import ipywidgets\n"
                "widgets = [ipywidgets.Textarea(value='w' * 30_000)\n"
                "           for _ in range(1000)]\nwidgets[0]"
            )
        ),
    ),
}
"""Attacks on the machine and the grader's limits: on every assignment."""

ALL_ATTACKS: dict[str, tuple[str, Builder]] = {}

SPOOFING = {"always_equal", "patch_numpy", "patch_builtins"}
"""Attacks that fool a comparison inside the hidden tests: whether the kernel
earns points with them depends on the tests (checked on their own below); the
static scan flags each one, so the final score is 0 in any case."""

SLOW_ATTACKS: dict[str, tuple[str, Builder]] = {
    "sleepers": ("three added cells sleep 9 s each", _sleepers),
    "loops_forever": (
        "an answer loops forever",
        _in_first_answer(_constant("while True:\n    pass")),
    ),
    "ignores_interrupts": (
        "ignores SIGINT, then loops",
        _in_first_answer(
            _constant(
                "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "while True:\n    pass"
            )
        ),
    ),
}
"""Attacks on the time limits: on every assignment (they mostly wait, so the
attack run grades several submissions at once)."""
SLOW_ASSIGNMENT = "01_concepts"
"""Where the shapes that do not depend on the assignment are tried."""
ASSIGNMENTS = tuple(
    name
    for name in grading.ASSIGNMENTS
    if name in os.environ.get("SEGLAB_ATTACK_ASSIGNMENTS", name).split(",")
)
"""All six; ``SEGLAB_ATTACK_ASSIGNMENTS=01_concepts,...`` runs a subset locally."""
ALL_ATTACKS.update(CONTENT_ATTACKS)
ALL_ATTACKS.update(SANDBOX_ATTACKS)
ALL_ATTACKS.update(SLOW_ATTACKS)


def _attacks_for(name: str) -> dict[str, tuple[str, Builder]]:
    """Every attack, on every assignment."""
    return dict(ALL_ATTACKS)


JOBS = 2
"""Honest submissions graded at once (each with its own worker and sandbox)."""
ATTACK_JOBS = 3
"""Attack submissions graded at once (many of them only wait: on a time limit,
a sleep, a killed kernel; a third worker uses that idle time)."""
TIME_BUDGET = 20
"""The test course's time budget per notebook (the course default is 60 s)."""


# Honest work in an odd shape: graded against the released structure.
# name -> (what, builder(release, solution, name, folder) -> None, expected(max,
# points of question 1) -> score)
def _write(notebook, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(folder / f"{name}.ipynb"))


def _last_question_ids(notebook) -> tuple[str, str]:
    """Grade ids of the last auto-graded answer and its test (later answers of
    some assignments call earlier ones, so the last one is deleted)."""
    answer = _answer_cells(notebook)[-1]
    answer_id = _nbgrader(answer)["grade_id"]
    index = notebook.cells.index(answer)
    test = next(c for c in notebook.cells[index + 1 :] if _nbgrader(c).get("grade"))
    return answer_id, _nbgrader(test)["grade_id"]


def _without_a_question(release, solution, name, folder):
    notebook = copy.deepcopy(solution)
    drop = set(_last_question_ids(notebook))
    notebook.cells = [
        c for c in notebook.cells if _nbgrader(c).get("grade_id") not in drop
    ]
    _write(notebook, folder, name)


def _pasted_answer(release, solution, name, folder):
    notebook = copy.deepcopy(solution)
    answer = _answer_cells(notebook)[0]
    pasted = copy.deepcopy(answer)
    pasted["id"] = "pasted-copy"
    notebook.cells.insert(notebook.cells.index(answer) + 1, pasted)
    _write(notebook, folder, name)


def _invalid_json(release, solution, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(solution)
    (folder / f"{name}.ipynb").write_text(text[: len(text) // 2])


def _nbformat_3(release, solution, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    old = nbformat.convert(copy.deepcopy(solution), 3)
    nbformat.write(old, str(folder / f"{name}.ipynb"), version=3)


def _renamed(release, solution, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(solution, str(folder / f"{name} (1).ipynb"))


def _exits_the_kernel(release, solution, name, folder):
    notebook = copy.deepcopy(solution)
    _answer_cells(notebook)[0].source += "\nimport os\nos._exit(1)"
    _write(notebook, folder, name)


def _question_points(course: Path, name: str) -> float:
    source = nbformat.read(str(course / "source" / name / f"{name}.ipynb"), 4)
    test_id = _last_question_ids(source)[1]
    return float(
        next(
            _nbgrader(c)["points"]
            for c in source.cells
            if _nbgrader(c).get("grade_id") == test_id
        )
    )


MALFORMED = {
    "deleted_question": (
        "answer and test of the last question deleted",
        _without_a_question,
        lambda top, q: top - q,
    ),
    "pasted_answer": (
        "an answer cell pasted twice (grade id twice)",
        _pasted_answer,
        lambda top, q1: top,
    ),
}
"""Honest work in an odd shape, on every assignment."""
MALFORMED_ONCE = {
    "invalid_json": ("a notebook cut in half", _invalid_json, lambda top, q1: 0.0),
    "nbformat_3": ("saved as nbformat 3", _nbformat_3, lambda top, q1: top),
    "renamed": ("saved as `<name> (1).ipynb`", _renamed, lambda top, q1: top),
    "exits_the_kernel": (
        "a correct notebook that ends with os._exit",
        _exits_the_kernel,
        lambda top, q1: 0.0,
    ),
}
"""Shapes that do not depend on the assignment: assignment 01 only."""


def _tree_digest(root: Path, skip: set[str]) -> dict[str, str]:
    digest = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or not path.is_file():
            continue
        digest[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def _gradebook_rows(course: Path, students: set[str]) -> list[tuple]:
    database = sqlite3.connect(course / "gradebook.db")
    try:
        rows = database.execute(
            "SELECT submitted_assignment.student_id, grade.id, grade.auto_score, "
            "grade.manual_score, grade.needs_manual_grade FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = "
            "submitted_assignment.id ORDER BY grade.id"
        ).fetchall()
        tables = {
            r[0]
            for r in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
    finally:
        database.close()
    assert "pwned" not in tables
    return [row for row in rows if row[0] in students]


def _marked_processes() -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(MARKER in part for part in process.info["cmdline"] or []):
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'])}")
        except psutil.Error:
            pass
    return found


def _crowd_of_the_old_sandbox_user() -> subprocess.Popen:
    """300 sleeping processes of ``nobody`` (the grader is root) or of the
    grader's own user: more than ``SandboxedKernelManager.max_processes``."""
    limit = sandbox.SandboxedKernelManager.max_processes.default_value
    become = (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        if os.geteuid() == 0
        else []
    )
    crowd = subprocess.Popen(
        become
        + [
            "/bin/sh",
            "-c",
            f"for i in $(seq {limit + 44}); do sleep 900 & done; echo ready; wait",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert crowd.stdout.readline().strip() == "ready"
    return crowd


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release once, grade the honest classmates, then every attack in one run."""
    root = tmp_path_factory.mktemp("attacks") / "autograder"
    root.mkdir()
    shutil.copytree(REPO / "autograder" / "source", root / "source")
    config = (REPO / "autograder" / "nbgrader_config.py").read_text()
    config += f"\nc.CappedExecute.time_budget = {TIME_BUDGET}\n"
    (root / "nbgrader_config.py").write_text(config)
    timings = {}
    start = time.perf_counter()
    course_release.release(root, validate=False)
    timings["release"] = time.perf_counter() - start

    honest = {}
    for name in ASSIGNMENTS:
        for student, folder in (
            ("solution_key", SOLUTIONS / name),
            ("untouched_release", root / "release" / name),
        ):
            target = root / "submitted" / student / name
            target.mkdir(parents=True)
            shutil.copy(folder / f"{name}.ipynb", target)
            honest[(student, name)] = True
    start = time.perf_counter()
    flagged = nbformat.read(
        str(SOLUTIONS / SLOW_ASSIGNMENT / f"{SLOW_ASSIGNMENT}.ipynb"), 4
    )
    flagged.cells.append(nbformat.v4.new_code_cell("import subprocess"))
    _write(
        flagged,
        root / "submitted" / "flagged_but_honest" / SLOW_ASSIGNMENT,
        SLOW_ASSIGNMENT,
    )
    # Processes of the user every sandbox used to share, more than a sandbox
    # may run: each sandbox has a user of its own, so they do not count.
    crowd = _crowd_of_the_old_sandbox_user()
    try:
        honest_results = autograde.autograde(
            root,
            students=["solution_key", "untouched_release", "flagged_but_honest"],
            progress=False,
            jobs=JOBS,
        )
    finally:
        os.killpg(crowd.pid, signal.SIGKILL)
        crowd.wait()
    timings["honest"] = time.perf_counter() - start
    classmates = {"solution_key", "untouched_release"}
    rows_before = _gradebook_rows(root, classmates)

    attacks = {}
    for name in ASSIGNMENTS:
        release = nbformat.read(str(root / "release" / name / f"{name}.ipynb"), 4)
        solution = nbformat.read(str(SOLUTIONS / name / f"{name}.ipynb"), 4)
        for attack, (_, build) in _attacks_for(name).items():
            folder = root / "submitted" / attack / name
            notebook = build(root, release, solution, name, folder)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, str(folder / f"{name}.ipynb"))
            attacks[(attack, name)] = True
    expected_scores = {}
    for name in ASSIGNMENTS:
        release = nbformat.read(str(root / "release" / name / f"{name}.ipynb"), 4)
        solution = nbformat.read(str(SOLUTIONS / name / f"{name}.ipynb"), 4)
        top = sum(
            float(_nbgrader(c).get("points") or 0)
            for c in release.cells
            if _nbgrader(c).get("grade")
        )
        chosen = dict(MALFORMED)
        if name == SLOW_ASSIGNMENT:
            chosen.update(MALFORMED_ONCE)
        for shape, (_, build, score) in chosen.items():
            build(release, solution, name, root / "submitted" / shape / name)
            expected_scores[(shape, name)] = score(top, _question_points(root, name))
    tree_before = _tree_digest(root, UNTOUCHED)
    outside_before = _tree_digest(REPO / "src", set()) | {
        "solutions/" + k: v for k, v in _tree_digest(SOLUTIONS, set()).items()
    }
    start = time.perf_counter()
    everyone = sorted({a for a, _ in attacks} | {s for s, _ in expected_scores})
    # The grader's scratch folders (and the kernels' copies) go in a folder of
    # their own, to see that nothing is left behind.
    scratch = root.parent / "grader-tmp"
    scratch.mkdir()
    tempfile.tempdir = str(scratch)
    try:
        results = autograde.autograde(
            root, students=everyone, progress=False, jobs=ATTACK_JOBS
        )
    finally:
        tempfile.tempdir = None
    timings["attacks"] = time.perf_counter() - start
    left_behind = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    survivors = _marked_processes()
    time.sleep(10)  # an escaped process would edit the gradebook by now
    return {
        "course": root,
        "expected_scores": expected_scores,
        "results": [r for r in results if (r.student, r.assignment) in attacks],
        "malformed": [
            r for r in results if (r.student, r.assignment) in expected_scores
        ],
        "honest": honest_results,
        "timings": timings,
        "rows_before": rows_before,
        "rows_after": _gradebook_rows(root, classmates),
        "tree_before": tree_before,
        "tree_after": _tree_digest(root, UNTOUCHED),
        "outside_before": outside_before,
        "outside_after": _tree_digest(REPO / "src", set())
        | {"solutions/" + k: v for k, v in _tree_digest(SOLUTIONS, set()).items()},
        "survivors": survivors,
        "survivors_later": _marked_processes(),
        "left_behind": left_behind,
        "withheld": withhold.load(root),
    }


def _raw_points(graded, result) -> float:
    """Points the kernel earned before any withholding."""
    entry = graded["withheld"].get(f"{result.assignment}/{result.student}")
    if entry is None:
        return result.score
    return sum(
        score or 0.0
        for notebook in entry["scores"].values()
        for score in notebook.values()
    )


def test_honest_solution_earns_every_point_and_the_release_none(graded):
    honest = [r for r in graded["honest"] if r.student != "flagged_but_honest"]
    assert len(honest) == 2 * len(ASSIGNMENTS)
    for r in honest:
        assert r.status == "ok", (r.assignment, r.student, r.notes, r.withheld)
        expected = r.max_score if r.student == "solution_key" else 0.0
        assert r.max_score > 0 and r.score == expected, (r.assignment, r.student)


def test_every_attack_on_every_assignment_earns_no_point(graded):
    table = _table(graded)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(table)
    print("\n" + table)
    expected = {(a, n) for n in ASSIGNMENTS for a in _attacks_for(n)}
    found = {(r.student, r.assignment) for r in graded["results"]}
    assert found == expected
    assert [
        (r.student, r.assignment, r.score) for r in graded["results"] if r.score != 0
    ] == []
    # Before any withholding, too: the sandbox, the rebuilt structure and the
    # test-cell guard leave nothing to earn.
    earned = [
        (r.student, r.assignment, _raw_points(graded, r))
        for r in graded["results"]
        if r.student not in SPOOFING and _raw_points(graded, r) != 0
    ]
    assert earned == []


def test_spoofed_comparisons_earn_nothing_even_before_withholding(graded):
    """The hidden tests check types strictly and compare with references taken
    before student code ran (seglab.grading.guard)."""
    earned = [
        (r.student, r.assignment, _raw_points(graded, r))
        for r in graded["results"]
        if r.student in SPOOFING and _raw_points(graded, r) != 0
    ]
    assert earned == []


def test_odd_shapes_of_honest_work_are_graded_on_the_released_structure(graded):
    by_key = {(r.student, r.assignment): r for r in graded["malformed"]}
    assert set(by_key) == set(graded["expected_scores"])
    wrong = {
        key: (r.score, graded["expected_scores"][key], r.status, r.notes)
        for key, r in by_key.items()
        if r.score != graded["expected_scores"][key]
    }
    assert wrong == {}
    for name in ASSIGNMENTS:
        notes = " | ".join(by_key[("deleted_question", name)].notes)
        assert "was deleted; the released version was put back" in notes
        assert "more than once" in " | ".join(by_key[("pasted_answer", name)].notes)
    once = {shape: by_key[(shape, SLOW_ASSIGNMENT)] for shape in MALFORMED_ONCE}
    assert "not valid JSON" in " | ".join(once["invalid_json"].notes)
    assert "renamed" in " | ".join(once["renamed"].notes)
    assert once["exits_the_kernel"].status == "failed"
    assert "kernel died" in " | ".join(once["exits_the_kernel"].notes)


def test_the_course_and_the_classmates_grades_are_untouched(graded):
    assert graded["tree_after"] == graded["tree_before"]
    assert graded["outside_after"] == graded["outside_before"]
    assert graded["rows_after"] == graded["rows_before"]
    assert not Path(f"/tmp/{MARKER}-config").exists()
    database = sqlite3.connect(graded["course"] / "gradebook.db")
    try:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        database.close()


def test_a_flagged_score_is_withheld_until_an_instructor_clears_it(graded):
    course = graded["course"]
    flagged = next(r for r in graded["honest"] if r.student == "flagged_but_honest")
    assert flagged.status == "withheld" and flagged.score == 0
    assert "[subprocess]" in flagged.withheld
    assert "seglab grade clear flagged_but_honest" in flagged.withheld

    def grades_csv():
        with open(course / grading.GRADES_CSV, newline="") as handle:
            return {
                (r["student_id"], r["assignment"]): float(r["score"])
                for r in csv.DictReader(handle)
            }

    key = ("flagged_but_honest", SLOW_ASSIGNMENT)
    assert grades_csv()[key] == 0
    entry = autograde.clear(course, SLOW_ASSIGNMENT, "flagged_but_honest")
    assert entry["score"] == flagged.max_score == grades_csv()[key]
    with open(course / grading.REPORT_CSV, newline="") as handle:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(handle)}
    assert rows[key]["status"] == "cleared"
    with pytest.raises(grading.GradingError, match="no withheld score"):
        autograde.clear(course, SLOW_ASSIGNMENT, "flagged_but_honest")


def test_no_process_outlives_grading(graded):
    assert graded["survivors"] == []
    assert graded["survivors_later"] == []


def test_grading_completed_for_every_attack_with_reasons(graded):
    by_key = {(r.student, r.assignment): r for r in graded["results"]}
    for (attack, name), r in by_key.items():
        assert r.max_score > 0, (attack, name)
    with open(graded["course"] / grading.REPORT_CSV, newline="") as handle:
        report = {
            (row["student_id"], row["assignment"]): row
            for row in csv.DictReader(handle)
        }
    assert set(report) >= set(by_key)
    for name in ASSIGNMENTS:
        assert report[("ungrade_tests", name)]["status"] != "ok"
        assert "type was changed" in report[("ungrade_tests", name)]["notes"]
        assert "deleted" in report[("delete_tests", name)]["notes"]
        assert "numpy.py" in report[("shadow_numpy", name)]["notes"]
        for attack in (
            "ast_transformer",
            "read_the_key",
            "write_gradebook",
            "patch_numpy",
        ):
            # withheld; or failed (0, for a person to look at) when the attack
            # also killed its kernel
            row = report[(attack, name)]
            assert row["status"] in {"withheld", "failed"}, (attack, name)
            assert "score withheld" in row["notes"], (attack, name)
    for name in ASSIGNMENTS:
        # it can only kill its own kernel; the next submission is graded
        notes = " | ".join(by_key[("signal_parent", name)].notes)
        assert by_key[("signal_parent", name)].status == "failed", notes
        assert "kernel died" in notes, notes
        slow = {a: by_key[(a, name)] for a in SLOW_ATTACKS}
        assert "time budget" in " ".join(slow["sleepers"].notes) or any(
            "timed out" in n for n in slow["sleepers"].notes
        ), (name, slow)
        assert any("timed out" in n for n in slow["loops_forever"].notes), name


def test_outputs_stay_small_whatever_is_printed(graded):
    autograded = graded["course"] / "autograded"
    floods = ("flood_outputs", "flood_streams", "widget_state")
    sizes = {
        path.parts[-3:-1]: path.stat().st_size
        for path in autograded.glob("*/*/*.ipynb")
        if path.parts[-3] in floods
    }
    assert max(sizes.values()) < 2_000_000, sizes
    # Each flood was stored, capped, on some assignment; where it was not, the
    # flood ran past the cell's time limit (a busy machine) and the kernel was
    # stopped: failed, no point.
    assert {kind for kind, _ in sizes} == set(floods), sizes
    by_key = {(r.student, r.assignment): r for r in graded["results"]}
    for kind in floods:
        for name in ASSIGNMENTS:
            if (kind, name) not in sizes:
                r = by_key[(kind, name)]
                assert r.status == "failed" and r.score == 0, (kind, name, r.notes)
    for path in autograded.glob("*/*/*.ipynb"):
        notebook = json.loads(path.read_text())
        assert "widgets" not in notebook.get("metadata", {}), path


def _attack_output(graded, attack: str, name: str) -> str:
    """The text outputs of an attack's autograded notebook."""
    path = graded["course"] / "autograded" / attack / name / f"{name}.ipynb"
    notebook = json.loads(path.read_text())
    return "".join(
        "".join(output.get("text", ""))
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


def test_the_forked_processes_were_capped(graded):
    """The count of children stays under the cap; a kernel whose own threads
    (TensorFlow's) no longer fit under it stops answering and is failed."""
    by_key = {(r.student, r.assignment): r for r in graded["results"]}
    limit = sandbox.SandboxedKernelManager.max_processes.default_value
    counted = 0
    for name in ASSIGNMENTS:
        path = graded["course"] / "autograded" / "fork_many" / name
        if not path.exists():
            r = by_key[("fork_many", name)]
            assert r.status == "failed" and r.score == 0, (name, r.notes)
            continue
        text = _attack_output(graded, "fork_many", name)
        count = int(text.split("children started: ")[1].split()[0])
        assert count < limit, (name, count)
        counted += 1
    assert counted > 0


def test_a_submission_cannot_fill_the_disk_and_leaves_nothing_behind(graded):
    """2 GB written into the working folder, home and /tmp stop at the
    sandbox's in-memory size limits; /var/tmp and /dev/shm are read-only; the
    grader's scratch folder is empty after grading."""
    limit = sandbox.SandboxedKernelManager.tmp_size.default_value // 1024**2
    for name in ASSIGNMENTS:
        written = {}
        for line in _attack_output(graded, "fill_disk", name).splitlines():
            if line.startswith("written "):
                _, place, megabytes, _ = line.split()
                written[place] = int(megabytes)
        assert set(written) == {".", "/tmp", "/home/student", "/var/tmp", "/dev/shm"}, (
            name,
            written,
        )
        assert written["."] + written["/home/student"] <= limit, (name, written)
        assert written["/tmp"] <= limit and written["."] > 0, (name, written)
        assert written["/var/tmp"] == written["/dev/shm"] == 0, (name, written)
    assert graded["left_behind"] == []


def _table(graded) -> str:
    by_key = {(r.student, r.assignment): r for r in graded["results"]}
    names = list(ASSIGNMENTS)
    short = [n.split("_")[0] for n in names]
    lines = [
        "Attack x assignment: points earned before withholding / final points "
        "(max), status. Graded in one `seglab grade autograde` run "
        f"({len(by_key)} submissions, {graded['timings']['attacks']:.0f} s; "
        f"honest classmates {graded['timings']['honest']:.0f} s).",
        "",
        "| attack | what it does | " + " | ".join(short) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for attack, (what, _) in ALL_ATTACKS.items():
        cells = []
        for name in names:
            r = by_key.get((attack, name))
            if r is None:
                cells.append("-")
                continue
            cells.append(
                f"{_raw_points(graded, r):g}/{r.score:g} ({r.max_score:g}) {r.status}"
            )
        lines.append(f"| {attack} | {what} | " + " | ".join(cells) + " |")
    # Where the grading time goes: each submission's seconds (its worker,
    # kernel and sandbox; several submissions run at once).
    lines += [
        "",
        "Seconds per submission (graded "
        f"{ATTACK_JOBS} at a time, the malformed honest shapes included):",
        "",
        "| submission | " + " | ".join(short) + " | total |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    everyone = graded["results"] + graded["malformed"]
    rows = dict.fromkeys(r.student for r in everyone)
    seconds = {(r.student, r.assignment): r.seconds for r in everyone}
    for student in rows:
        cells = [seconds.get((student, name)) for name in names]
        total = sum(c for c in cells if c is not None)
        shown = ["-" if c is None else f"{c:.0f}" for c in cells]
        lines.append(f"| {student} | " + " | ".join(shown) + f" | {total:.0f} |")
    totals = [
        sum(seconds.get((student, name), 0.0) for student in rows) for name in names
    ]
    lines.append(
        "| total | "
        + " | ".join(f"{t:.0f}" for t in totals)
        + f" | {sum(totals):.0f} |"
    )
    return "\n".join(lines) + "\n"


def test_without_the_sandbox_a_kernel_that_kills_its_parent_stops_only_itself(graded):
    """Where there is no sandbox (macOS, --no-sandbox), each submission still
    has a worker process of its own: killing it ends that submission only."""
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        results = autograde.autograde(
            graded["course"],
            [SLOW_ASSIGNMENT],
            ["signal_parent", "solution_key"],
            export=False,
            progress=False,
            sandboxed=False,
        )
    by_student = {r.student: r for r in results}
    assert by_student["signal_parent"].score == 0
    assert by_student["signal_parent"].status == "failed"
    key = by_student["solution_key"]
    assert key.status == "ok" and key.score == key.max_score
