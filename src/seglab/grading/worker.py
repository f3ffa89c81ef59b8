"""Grade one submission in a process of its own: ``python -m seglab.grading.worker
REQUEST.json``.

``seglab grade autograde`` starts one such process per submission, in a new
session, and waits for it with a time limit. The graded kernel is this
process's child (inside the sandbox, it cannot see it); whatever the kernel
does to its parent ends this worker, never the grading run.

The request is a JSON object with ``course``, ``assignment``, ``student``,
``submitted`` (the folder holding ``<student>/<assignment>/``, rebuilt by
``seglab.grading.submission``) and ``sandbox`` (``"on"`` or ``"off"``). The
answer (``success``, ``log``, ``error``) is written to ``RESULT`` next to the
request.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def grade(request: dict) -> dict:
    """Run nbgrader's autograde for the request; returns capture_log's dict."""
    from nbgrader.converters import Autograde

    from seglab.grading import load_config, run_app, sandbox

    os.environ[sandbox.SANDBOX_ENV] = request["sandbox"]
    config = load_config(Path(request["course"]))
    config.CourseDirectory.submitted_directory = str(Path(request["submitted"]))
    if request.get("db_url"):
        config.CourseDirectory.db_url = request["db_url"]
    return run_app(
        Autograde,
        config,
        assignment_id=request["assignment"],
        student_id=request["student"],
    )


def main(argv: list[str]) -> int:
    """Read the request, grade, write the result; exit 0 when the result is written."""
    request_path = Path(argv[0])
    request = json.loads(request_path.read_text())
    try:
        result = grade(request)
    except BaseException as error:  # report everything; the parent decides
        result = {
            "success": False,
            "log": "",
            "error": "".join(traceback.format_exception(error)),
        }
    answer = {key: result.get(key) for key in ("success", "log", "error")}
    answer["log"] = (answer["log"] or "")[-200_000:]
    answer["error"] = (answer["error"] or "")[-50_000:]
    result_path = request_path.with_name("RESULT")
    result_path.write_text(json.dumps(answer))
    return 0


def child_main(request_path: str) -> None:
    """Entry point of a forked worker: own session, output to ``worker.log``,
    and (Linux) killed when the grading process dies."""
    os.setsid()
    # The kernel's scratch copy goes inside the submission's scratch folder,
    # which the grading process removes even when the kernel kills this worker.
    import tempfile

    tempfile.tempdir = str(Path(request_path).parent)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    log = os.open(
        Path(request_path).with_name("worker.log"),
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
        0o600,
    )
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    code = main([request_path])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
