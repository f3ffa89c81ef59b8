"""Feedback that leaks nothing: HTML per student without hidden tests.

nbgrader's ``generate_feedback`` turns each autograded notebook into HTML.
The autograded notebook holds the instructor's test cells, hidden tests
included, and the traceback of a failing test shows the lines around the one
that failed. Before the HTML is written, ``ScrubHiddenTracebacks`` removes
every hidden-test line from tracebacks (and the message of an assertion that
failed on a hidden line), then nbgrader's ``ClearHiddenTests`` removes the
hidden tests from the cells.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Unicode

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CODE_LINE = re.compile(r"^(\s*-*>?\s*)(\d+)( .*)?$")
HIDDEN_MESSAGE = "a hidden test failed (its code is not shown)"


def hidden_lines(
    source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS"
) -> set[str]:
    """The stripped, non-empty lines between the hidden-test delimiters."""
    lines, inside = set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
            continue
        if end in line:
            inside = False
            continue
        if inside and line.strip():
            lines.add(line.strip())
    return lines


def scrub_traceback(frames: list[str], hidden: set[str]) -> tuple[list[str], bool]:
    """Frames without code lines that are hidden tests; and whether the
    failing line (``--->``) was one of them."""
    failed_hidden = False
    scrubbed = []
    for frame in frames:
        kept = []
        for line in frame.split("\n"):
            match = CODE_LINE.match(ANSI.sub("", line))
            code = (match.group(3) or "").strip() if match else None
            if code and (code in hidden or "HIDDEN TESTS" in code):
                if "->" in match.group(1):
                    failed_hidden = True
                    kept.append(match.group(1) + match.group(2) + " [hidden test]")
                continue
            kept.append(line)
        scrubbed.append("\n".join(kept))
    return scrubbed, failed_hidden


class ScrubHiddenTracebacks(NbGraderPreprocessor):
    """Remove hidden-test lines from the tracebacks of every cell."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        """Scrub one cell's error outputs using its own hidden tests."""
        if cell.cell_type != "code":
            return cell, resources
        hidden = hidden_lines(
            cell.source, self.begin_test_delimeter, self.end_test_delimeter
        )
        if not hidden:
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            frames, failed_hidden = scrub_traceback(
                list(output.get("traceback", [])), hidden
            )
            if failed_hidden:
                output["evalue"] = HIDDEN_MESSAGE
                last = output.get("ename", "Error") + ":"
                frames = [
                    f for f in frames if not ANSI.sub("", f).strip().startswith(last)
                ]
                frames.append(f"{output.get('ename', 'Error')}: {HIDDEN_MESSAGE}")
            output["traceback"] = frames
        return cell, resources


def feedback_preprocessors() -> list:
    """nbgrader's feedback steps, hidden tests and their traceback lines removed."""
    from nbgrader.converters import GenerateFeedback

    defaults = GenerateFeedback.class_traits()["preprocessors"].make_dynamic_default()
    return [ScrubHiddenTracebacks, ClearHiddenTests, *defaults]
