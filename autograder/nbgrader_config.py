"""nbgrader configuration of the seglab course.

Run nbgrader from this folder (``cd autograder && nbgrader ...``), or use the
course commands, which load this file: ``seglab grade release``,
``seglab grade solutions``, ``seglab grade autograde``.
"""

from seglab import grading

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
c.Execute.timeout_func = grading.cell_timeout
c.Execute.interrupt_on_timeout = True

# A deleted test cell is put back (and run) instead of silently vanishing;
# nbgrader logs it and `seglab grade autograde` reports it.
c.OverwriteCells.add_missing_cells = True

# Keep the grader's memory and the graded notebooks small whatever a
# submission prints.
c.Autograde.autograde_preprocessors = grading.autograde_preprocessors()
c.LimitOutput.max_lines = 200
c.LimitOutputSize.max_chars = 20_000
c.CappedExecute.max_output_chars = 1_000_000  # kept in memory while a cell runs

# Solutions are published without outputs, so regenerating them is
# deterministic (a test checks that solutions/ is in sync).
c.GenerateSolution.preprocessors = grading.solution_preprocessors()

# Graded kernels are stopped at once instead of being asked to shut down
# (one that ignores signals would otherwise hold the run for seconds more).
c.Execute.shutdown_kernel = "immediate"
