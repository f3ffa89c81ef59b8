"""Unit tests of the grading pieces that need no kernel: the sandbox's command,
submissions rebuilt on the released structure, feedback scrubbing, withheld
scores and the students' copy."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from seglab import grading
from seglab.grading import (
    autograde,
    feedback,
    hooks,
    sandbox,
    submission,
    withhold,
)
from seglab.grading import release as course_release

REPO = Path(__file__).resolve().parents[1]


def _graded(source, grade_id, **meta):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade_id": grade_id,
        "schema_version": 3,
        "grade": False,
        "solution": False,
        "locked": False,
        **meta,
    }
    return cell


def _release():
    return new_notebook(
        cells=[
            new_markdown_cell("# Assignment"),
            _graded("import numpy as np", "setup", locked=True),
            _graded(
                "# YOUR CODE HERE\nraise NotImplementedError()", "answer", solution=True
            ),
            _graded(
                "assert answer() == 1",
                "test_answer",
                grade=True,
                locked=True,
                points=10,
            ),
            _graded(
                "# YOUR CODE HERE\nraise NotImplementedError()", "other", solution=True
            ),
            _graded(
                "assert other() == 2", "test_other", grade=True, locked=True, points=5
            ),
        ]
    )


def _ids(notebook):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]


def test_normalize_keeps_answers_and_own_cells_in_the_released_order():
    release = _release()
    mine = copy.deepcopy(release)
    mine.cells[2].source = "def answer():\n    return 1"
    mine.cells.insert(3, new_code_cell("helper = 3"))
    rebuilt, notes = submission.normalize(mine, release)
    assert _ids(rebuilt) == [
        None,
        "setup",
        "answer",
        None,
        "test_answer",
        "other",
        "test_other",
    ]
    assert rebuilt.cells[2].source == "def answer():\n    return 1"
    assert rebuilt.cells[3].source == "helper = 3"
    assert notes == []


def test_normalize_restores_deleted_cells_and_drops_second_copies():
    release = _release()
    mine = copy.deepcopy(release)
    del mine.cells[2:4]  # question 1's answer and test
    pasted = copy.deepcopy(mine.cells[-2])
    pasted.source = "def other():\n    return 2"
    mine.cells.insert(len(mine.cells) - 1, pasted)
    rebuilt, notes = submission.normalize(mine, release)
    assert _ids(rebuilt) == [
        None,
        "setup",
        "answer",
        "test_answer",
        "other",
        None,
        "test_other",
    ]
    assert "raise NotImplementedError" in rebuilt.cells[2].source
    assert rebuilt.cells[5].source == "def other():\n    return 2"  # still runs
    assert any("answer cell answer was deleted" in n for n in notes)
    assert any("other appears more than once" in n for n in notes)
    assert len({c["id"] for c in rebuilt.cells}) == len(rebuilt.cells)


def test_normalize_undoes_edited_grading_metadata_and_cell_types():
    release = _release()
    mine = copy.deepcopy(release)
    test = mine.cells[3]
    mine.cells[3] = nbformat.v4.new_markdown_cell(test.source)
    mine.cells[3].metadata = copy.deepcopy(test.metadata)
    mine.cells[5].metadata["nbgrader"]["grade"] = False
    mine.cells[5].metadata["nbgrader"]["points"] = 1000
    fake = _graded("pass", "bonus", grade=True, locked=True, points=1000)
    mine.cells.append(fake)
    rebuilt, notes = submission.normalize(mine, release)
    assert rebuilt.cells[3].cell_type == "code"
    assert rebuilt.cells[5].metadata["nbgrader"]["points"] == 5
    assert rebuilt.cells[5].metadata["nbgrader"]["grade"] is True
    assert "nbgrader" not in rebuilt.cells[-1].metadata  # the fake is ungraded
    points = sum(
        c.metadata.get("nbgrader", {}).get("points", 0) or 0 for c in rebuilt.cells
    )
    assert points == 15
    text = " | ".join(notes)
    assert "type was changed" in text and "bonus is not in the release" in text
    assert "['grade', 'points']" in text


def test_prepare_reads_odd_files_or_says_why(tmp_path):
    release = _release()
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "hw.ipynb").write_text('{"cells": [')
    prepared = submission.prepare(folder, {"hw": release})
    assert prepared.notebooks == {}
    assert "hw.ipynb is not valid JSON" in prepared.notes[0]

    (folder / "hw.ipynb").unlink()
    nbformat.write(release, str(folder / "hw (1).ipynb"))
    (folder / "numpy.py").write_text("x = 1")
    prepared = submission.prepare(folder, {"hw": release})
    assert list(prepared.notebooks) == ["hw"]
    assert "hw (1).ipynb was graded as hw.ipynb" in prepared.notes[0]
    assert prepared.ignored_files == ["numpy.py"]

    (folder / "hw (1).ipynb").unlink()
    nbformat.write(
        nbformat.convert(copy.deepcopy(release), 3), str(folder / "hw.ipynb"), version=3
    )
    prepared = submission.prepare(folder, {"hw": release})
    assert _ids(prepared.notebooks["hw"]) == _ids(release)


def test_oversized_notebooks_are_refused_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(submission, "MAX_NOTEBOOK_BYTES", 100)
    path = tmp_path / "hw.ipynb"
    nbformat.write(_release(), str(path))
    with pytest.raises(submission.UnreadableSubmission, match="clear its outputs"):
        submission.read_notebook(path)


def test_sandbox_command_binds_only_the_submission_and_a_read_only_python():
    manager = sandbox.SandboxedKernelManager(memory_limit=2**30, max_processes=64)
    command = manager.wrap(["python", "-m", "ipykernel_launcher"], Path("/s"))
    text = " ".join(command)
    assert command[0] == "bwrap" and "--unshare-net" in command
    assert "--unshare-pid" in command and "--die-with-parent" in command
    assert "--clearenv" in command and "PYTHONSAFEPATH" in command
    assert "--as=1073741824" in text and "--nproc=64" in text
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    assert writable == ["/s/run"]
    readonly = [command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"]
    # The submission is read-only; the kernel works on a copy in its
    # size-limited home.
    assert "/s/submission" in readonly
    assert command[command.index("/s/submission") + 1] == sandbox.SEED_DIR
    home = command.index(sandbox.KERNEL_HOME, command.index("--tmpfs"))
    assert command[home - 3 : home - 1] == ["--size", str(manager.tmp_size)]
    assert str(REPO / "autograder") not in readonly
    assert not any(path.startswith(str(REPO / "autograder")) for path in readonly)
    assert command[-3:] == ["python", "-m", "ipykernel_launcher"]


def test_python_under_tmp_stays_visible_over_the_private_tmp(monkeypatch):
    """A CI clone under /tmp: its environment is bound after /tmp is mounted."""
    monkeypatch.setattr(sandbox, "_python_paths", lambda: ("/tmp/clone/.venv",))
    manager = sandbox.SandboxedKernelManager(memory_limit=2**30, max_processes=64)
    command = manager.wrap(["python", "-m", "ipykernel_launcher"], Path("/s"))
    private_tmp = command.index("/tmp", command.index("--tmpfs"))
    python_bind = command.index("/tmp/clone/.venv")
    assert command[python_bind - 1] == "--ro-bind" and python_bind > private_tmp


def test_missing_bubblewrap_fails_loudly_with_the_fix(monkeypatch):
    sandbox.probe.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox.sys, "platform", "linux")
    monkeypatch.setattr(sandbox.platform, "system", lambda: "Linux")
    monkeypatch.delenv(sandbox.SANDBOX_ENV, raising=False)
    try:
        with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap"):
            sandbox.require_sandbox()
        with pytest.raises(grading.GradingError, match="--no-sandbox"):
            autograde._sandbox_mode(True)
        with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
            assert autograde._sandbox_mode(False) == "off"
        monkeypatch.setattr(sandbox.sys, "platform", "darwin")
        monkeypatch.setattr(sandbox.platform, "system", lambda: "Darwin")
        with pytest.warns(RuntimeWarning, match="no sandbox for graded kernels"):
            assert sandbox.require_sandbox() is False
    finally:
        sandbox.probe.cache_clear()


def _scratch(tmp_path: Path) -> Path:
    """A scratch folder as the kernel manager makes it: a submission, a run folder."""
    root = tmp_path / "scratch"
    (root / "run").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "submission" / "answers.ipynb").write_text("{}")
    for folder in (tmp_path, root, root / "run"):
        os.chmod(folder, 0o755)
    return root


def _old_sandbox_user() -> list[str]:
    """Run as the user every sandbox shared before each got its own: ``nobody``
    when the grader is root, else the grader's own user."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@pytest.mark.skipif(not sandbox.sys.platform.startswith("linux"), reason="Linux")
def test_each_sandbox_counts_only_its_own_processes(tmp_path):
    """RLIMIT_NPROC counts a user's processes machine-wide: with 100 processes of
    the user sandboxes used to share, a sandbox capped at 64 still starts 20
    threads and a child, because it runs as a user of its own."""
    assert sandbox.sandbox_uid(1) != sandbox.sandbox_uid(2)
    assert sandbox.sandbox_uid() == sandbox.SANDBOX_UID_BASE + os.getpid()
    crowd = subprocess.Popen(
        _old_sandbox_user()
        + [
            "/bin/sh",
            "-c",
            "for i in $(seq 100); do sleep 120 & done; echo ready; wait",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert crowd.stdout.readline().strip() == "ready"
        manager = sandbox.SandboxedKernelManager(memory_limit=2**31, max_processes=64)
        code = (
            "import os, subprocess, sys, threading, time\n"
            "threads = [threading.Thread(target=time.sleep, args=(1,)) "
            "for _ in range(20)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "subprocess.run(['true'], check=True)\n"
            "print('uid', os.getuid(), sorted(os.listdir('.')))"
        )
        done = subprocess.run(
            manager.wrap([sys.executable, "-c", code], _scratch(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.killpg(crowd.pid, signal.SIGKILL)
        crowd.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    uid = sandbox.sandbox_uid() if os.geteuid() == 0 else os.getuid()
    assert done.stdout.split() == ["uid", str(uid), "['answers.ipynb']"]


@pytest.mark.skipif(not sandbox.sys.platform.startswith("linux"), reason="Linux")
def test_a_kernel_cannot_fill_the_disk(tmp_path):
    """Writing 2 GB into the working folder, home or /tmp stops at the sandbox's
    size limit, the kernel goes on, and nothing reaches the grader's disk."""
    root = _scratch(tmp_path)
    manager = sandbox.SandboxedKernelManager(
        memory_limit=2**31, max_processes=64, tmp_size=32 * 1024**2
    )
    code = (
        "import os\n"
        "chunk = b'd' * 1024**2\n"
        "for place in ('.', '/tmp', os.path.expanduser('~'), '/var/tmp',\n"
        "              '/dev/shm', '" + str(root) + "'):\n"
        "    written = 0\n"
        "    try:\n"
        "        for i in range(2048):\n"
        "            with open(os.path.join(place, f'fill-{i}'), 'wb') as f:\n"
        "                f.write(chunk)\n"
        "            written += len(chunk)\n"
        "    except OSError as error:\n"
        "        pass\n"
        "    print(place, written // 1024**2)\n"
        "print('still running')"
    )
    done = subprocess.run(
        manager.wrap([sys.executable, "-c", code], root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "still running"
    written = {
        line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in lines[:-1]
    }
    assert written["."] + written[sandbox.KERNEL_HOME] <= 32
    assert written["/tmp"] <= 32 and written["."] >= 16
    assert written["/var/tmp"] == written["/dev/shm"] == written[str(root)] == 0
    assert sorted(p.name for p in root.rglob("*")) == [
        "answers.ipynb",
        "run",
        "submission",
    ]


@pytest.mark.skipif(not sandbox.sys.platform.startswith("linux"), reason="Linux")
def test_bubblewrap_runs_here():
    """setup.sh installs bubblewrap; grading refuses to run without it."""
    sandbox.probe.cache_clear()
    assert sandbox.probe() == ""


def test_traceback_scrubbing_removes_hidden_lines_and_their_message():
    source = (
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'want 4'\n"
        "assert f(3) == 9\n### END HIDDEN TESTS"
    )
    assert feedback.hidden_lines(source) == {
        "assert f(2) == 4, 'want 4'",
        "assert f(3) == 9",
    }
    frame = (
        "\x1b[0;31mAssertionError\x1b[0m Traceback\nCell In[3], line 3\n"
        "      1 assert f(1) == 1\n      2 ### BEGIN HIDDEN TESTS\n"
        "\x1b[0;32m----> 3\x1b[0m assert f(2) == 4, 'want 4'\n"
        "      4 assert f(3) == 9\n"
    )
    cell = new_code_cell(source)
    cell.outputs = [
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="want 4",
            traceback=[frame, "AssertionError: want 4"],
        )
    ]
    scrubber = feedback.ScrubHiddenTracebacks()
    cell, _ = scrubber.preprocess_cell(cell, {}, 0)
    text = "\n".join(cell.outputs[0].traceback)
    assert "f(2)" not in text and "f(3)" not in text and "want 4" not in text
    assert "HIDDEN" not in text
    assert "assert f(1) == 1" in text and "[hidden test]" in text
    assert cell.outputs[0].evalue == feedback.HIDDEN_MESSAGE


def test_feedback_steps_clear_hidden_tests_after_scrubbing():
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    steps = hooks.feedback_preprocessors()
    assert (
        steps.index(feedback.ScrubHiddenTracebacks)
        < steps.index(ClearHiddenTests)
        < steps.index(GetGrades)
    )


def test_withheld_fingerprint_follows_the_cells():
    release = _release()
    other = copy.deepcopy(release)
    assert withhold.fingerprint({"a": release}) == withhold.fingerprint({"a": other})
    other.cells[2].source = "x = 1"
    assert withhold.fingerprint({"a": release}) != withhold.fingerprint({"a": other})


def test_student_copy_has_lessons_package_and_releases_but_no_key(tmp_path):
    course = tmp_path / "autograder"
    repo_like = tmp_path
    (repo_like / "lessons").mkdir()
    (repo_like / "lessons" / "01.ipynb").write_text("{}")
    (repo_like / "src" / "seglab").mkdir(parents=True)
    (repo_like / "solutions").mkdir()
    (repo_like / "README.md").write_text("read me")
    release = course / "release" / "01_x"
    release.mkdir(parents=True)
    (course / "source" / "01_x").mkdir(parents=True)
    (course / "source" / "01_x" / "01_x.ipynb").write_text("### BEGIN SOLUTION")
    nbformat.write(_release(), str(release / "01_x.ipynb"))
    target = tmp_path / "out"
    course_release.student_copy(target, course)
    names = sorted(p.name for p in target.iterdir())
    assert names == ["README.md", "assignments", "lessons", "src"]
    assert (target / "assignments" / "01_x" / "01_x.ipynb").is_file()
    assert not list(target.rglob("source")) and not (target / "solutions").exists()
    with pytest.raises(grading.GradingError, match="not empty"):
        course_release.student_copy(target, course)


def test_clear_without_a_withheld_score_says_what_is_withheld(tmp_path):
    withhold.save(
        tmp_path,
        {
            "01_x/ann": {
                "cleared": False,
                "findings": ["f"],
                "scores": {},
                "fingerprint": "0",
            }
        },
    )
    with pytest.raises(KeyError, match="01_x/ann"):
        withhold.clear(tmp_path, None, "01_x", "bob")
    assert json.loads((tmp_path / withhold.WITHHELD_FILE).read_text())


def test_worker_timeout_covers_set_up_and_budget():
    assert autograde._worker_timeout(1) > 2 * grading.SETUP_TIMEOUT
    assert os.environ.get(sandbox.SANDBOX_ENV, "on") in {"on", "off", "1", "0"}


def test_report_keeps_rows_of_submissions_graded_earlier(tmp_path):
    path = tmp_path / "grading_report.csv"
    first = autograde.SubmissionResult("01_x", "ann", True, 10, 40, 1.0, ["note"])
    second = autograde.SubmissionResult("01_x", "bob", True, 0, 40, 1.0, [], "withheld")
    autograde.write_report([first, second], path)
    again = autograde.SubmissionResult("01_x", "bob", True, 40, 40, 1.0, [])
    autograde.write_report([again], path)
    import csv

    with open(path, newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert rows["ann"]["score"] == "10" and rows["ann"]["notes"] == "note"
    assert rows["bob"]["status"] == "ok" and rows["bob"]["score"] == "40"


# A parent that trained Keras models and iterated tf.data datasets, with its
# garbage not yet collected (as in a notebook or a long test session), then
# forks a grading worker whose garbage collector runs.
_FORK_AFTER_TENSORFLOW = """
import gc, os
import numpy as np
import keras
import tensorflow as tf
from seglab.grading import autograde

gc.disable()
for _ in range(3):
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32), keras.layers.Dense(4)]
    )
    model.compile("adam", "mse")
    model.fit(np.zeros((64, 16)), np.zeros((64, 4)), epochs=1, verbose=0)
    for _ in tf.data.Dataset.range(100).map(lambda x: x * 2).batch(8):
        pass
    del model


def child():
    gc.enable()
    junk = [[{} for _ in range(50)] for _ in range(2000)]
    gc.collect()
    os._exit(0)


worker = autograde.start_worker(child)
worker.join()
print("worker exit code", worker.exitcode)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")
def test_a_worker_forked_from_a_tensorflow_session_survives_its_collector():
    """Without ``gc.freeze`` around the fork this child dies with SIGSEGV (-11):
    an honest submission graded from such a session failed with 0."""
    result = subprocess.run(
        [sys.executable, "-c", _FORK_AFTER_TENSORFLOW],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == "0", result.stdout


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="child subreaper is Linux only"
)
def test_the_reaper_kills_and_reports_only_strays_that_outlive_its_grace():
    """A stray that ends by itself within the grace (a kernel's process tree
    still shutting down as its worker exits) is no leftover: an honest
    submission was once flagged for one. A stray that keeps running is killed
    and named; a running worker's tree is spared."""
    with autograde._orphans_reaped() as reaper:
        reaper.grace = 2.0
        worker = subprocess.Popen(["sleep", "62"])
        detacher = subprocess.Popen(["/bin/sh", "-c", "sleep 0.3 & sleep 61 & exit 0"])
        detacher.wait()
        killed = reaper.sweep([worker.pid])
        assert worker.poll() is None
        worker.kill()
        worker.wait()
    assert killed == ["sleep 61"]
    import psutil

    names = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)]
    assert "sleep 61" not in names and "sleep 0.3" not in names
