"""nbgrader configuration of the seglab course.

Run nbgrader from this folder (``cd autograder && nbgrader ...``), or use the
course commands, which load this file: ``seglab grade release``,
``seglab grade solutions``, ``seglab grade autograde``, ``seglab grade collect``,
``seglab grade feedback``.
"""

import os
from pathlib import Path

from seglab import grading
from seglab.grading import hooks, sandbox

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = grading.COURSE_ID

# What a student sees where the solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Per-cell time limits. Instructor set-up cells (locked, not graded: the
# imports) may take long on a cold machine; every other cell (answers, tests,
# cells a student added) runs on tiny tensors in well under a second, so a
# short limit stops an endless loop quickly. A timed-out cell is interrupted
# and the rest of the notebook still runs.
c.Execute.timeout = grading.CELL_TIMEOUT
c.Execute.timeout_func = hooks.cell_timeout
c.Execute.interrupt_on_timeout = True

# A deleted test cell is put back (and run) instead of silently vanishing;
# nbgrader logs it and `seglab grade autograde` reports it.
c.OverwriteCells.add_missing_cells = True

# Keep the grader's memory and the graded notebooks small whatever a
# submission prints.
c.Autograde.autograde_preprocessors = hooks.autograde_preprocessors()
c.LimitOutput.max_lines = 200
c.LimitOutputSize.max_chars = 20_000
c.CappedExecute.max_output_chars = 1_000_000  # kept in memory while a cell runs

# Solutions are published without outputs, so regenerating them is
# deterministic (a test checks that solutions/ is in sync).
c.GenerateSolution.preprocessors = hooks.solution_preprocessors()

# Every graded kernel runs in a bubblewrap sandbox: it sees only a scratch
# copy of its own submission and a read-only Python, no network, no course
# folder, no gradebook, under memory, process and file-size limits, and is
# killed with everything it started. Without bubblewrap on Linux, grading
# stops with the fix; SEGLAB_GRADING_SANDBOX=off turns the sandbox off
# (trusted submissions only). See README.md.
c.Execute.kernel_manager_class = sandbox.SandboxedKernelManager

# Limits that hold: output per cell and per notebook, a total time budget for
# the cells students influence, and no stored widget state.
c.CappedExecute.max_outputs = 100
c.CappedExecute.max_notebook_chars = 4_000_000
c.CappedExecute.max_notebook_outputs = 1_000
c.CappedExecute.time_budget = 60
c.Execute.store_widget_state = False

# Feedback never shows hidden tests, nor the lines around them in tracebacks.
c.GenerateFeedback.preprocessors = hooks.feedback_preprocessors()

# The exchange: a folder of this course unless SEGLAB_EXCHANGE names another
# (e.g. /srv/nbgrader/exchange on a shared JupyterHub).
c.Exchange.root = os.environ.get(
    "SEGLAB_EXCHANGE", str(Path(__file__).resolve().parent / "exchange")
)

# Graded kernels are stopped at once instead of being asked to shut down
# (one that ignores signals would otherwise hold the run for seconds more).
c.Execute.shutdown_kernel = "immediate"
