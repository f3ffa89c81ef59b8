"""Summarise pytest's JUnit XML files: time per part of the suite, and totals.

Usage: python scripts/junit_summary.py DIR. Prints the seconds spent in the
unit tests, in each lesson and in the nbgrader round trip (summed over their
tests; with two workers they overlap, so they add up to more than the wall
time), then one line 'N passed, N failed, N skipped'.
"""

from __future__ import annotations

import collections
import pathlib
import sys
import xml.etree.ElementTree as ET


def part_of(case: ET.Element) -> str:
    """The part of the suite a test case belongs to."""
    name = case.get("classname") or ""
    if name.startswith("lessons."):
        return "lesson " + name.split(".")[1]
    if name.startswith("tests.test_nbgrader"):
        return "nbgrader"
    if name.startswith("tests.browser"):
        return "browser"
    return "unit"


def main(folder: str) -> None:
    seconds: dict[str, float] = collections.defaultdict(float)
    counts = collections.Counter()
    for path in sorted(pathlib.Path(folder).glob("*.xml")):
        for case in ET.parse(path).getroot().iter("testcase"):
            seconds[part_of(case)] += float(case.get("time") or 0)
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                elif child.tag == "skipped":
                    outcome = "skipped"
            counts[outcome] += 1
    print("\nseconds per part (summed over tests):")
    for part in sorted(seconds):
        print(f"  {part:<28} {seconds[part]:7.0f}")
    print(
        f"{counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped"
    )


if __name__ == "__main__":
    main(sys.argv[1])
