"""``seglab grade ...``: the nbgrader course's instructor commands."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from seglab.cli import CommandError
from seglab.grading import (
    DEFAULT_COURSE,
    DEFAULT_SOLUTIONS,
    GRADES_CSV,
    REPORT_CSV,
    GradingError,
)
from seglab.grading.autograde import autograde, clear
from seglab.grading.release import (
    collect,
    generate_feedback,
    generate_solutions,
    release,
    release_to_exchange,
    student_copy,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the actions of the ``seglab grade`` group."""

    def common(sub):
        sub.add_argument(
            "--course",
            type=Path,
            default=DEFAULT_COURSE,
            help="nbgrader course folder (default: autograder)",
        )
        sub.add_argument(
            "assignments", nargs="*", help="assignment names (default: all)"
        )

    sub = commands.add_parser(
        "release", help="generate_assignment for all, then validate --invert"
    )
    common(sub)
    sub.add_argument(
        "--no-validate", action="store_true", help="skip running the releases unsolved"
    )
    sub.set_defaults(func=run_grade_release)

    sub = commands.add_parser("solutions", help="regenerate solutions/ from source")
    common(sub)
    sub.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_SOLUTIONS,
        help="where to write the solutions (default: solutions)",
    )
    sub.set_defaults(func=run_grade_solutions)

    sub = commands.add_parser(
        "autograde", help="grade everything in submitted/ and export grades.csv"
    )
    common(sub)
    sub.add_argument(
        "--student",
        action="append",
        default=None,
        help="grade only this student (repeatable)",
    )
    sub.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="submissions graded at once (default 1; each has its "
        "own worker and sandbox)",
    )
    sub.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run graded kernels WITHOUT the bubblewrap sandbox "
        "(trusted submissions only; warns)",
    )
    sub.set_defaults(func=run_grade_autograde)

    sub = commands.add_parser(
        "clear", help="give a withheld (flagged) submission its points back"
    )
    sub.add_argument("student", help="student id")
    sub.add_argument("assignment", help="assignment name")
    sub.add_argument(
        "--course",
        type=Path,
        default=DEFAULT_COURSE,
        help="nbgrader course folder (default: autograder)",
    )
    sub.set_defaults(func=run_grade_clear)

    sub = commands.add_parser(
        "exchange", help="release_assignment: put releases in the exchange"
    )
    common(sub)
    sub.add_argument(
        "--exchange",
        type=Path,
        default=None,
        help="exchange folder (default: the course config's, autograder/exchange)",
    )
    sub.set_defaults(func=run_grade_exchange)

    sub = commands.add_parser(
        "collect", help="collect submissions from the exchange into submitted/"
    )
    common(sub)
    sub.add_argument(
        "--exchange",
        type=Path,
        default=None,
        help="exchange folder (default: the course config's)",
    )
    sub.set_defaults(func=run_grade_collect)

    sub = commands.add_parser(
        "feedback", help="HTML feedback per student, hidden tests removed"
    )
    common(sub)
    sub.add_argument(
        "--student",
        action="append",
        default=None,
        help="only this student (repeatable)",
    )
    sub.add_argument(
        "--release",
        action="store_true",
        help="also release the feedback to the exchange",
    )
    sub.add_argument(
        "--exchange",
        type=Path,
        default=None,
        help="exchange folder (default: the course config's)",
    )
    sub.set_defaults(func=run_grade_feedback)

    sub = commands.add_parser(
        "student-copy",
        help="write the students' copy: lessons, package, released assignments",
    )
    sub.add_argument("destination", type=Path, help="new (or empty) folder")
    sub.add_argument(
        "--course",
        type=Path,
        default=DEFAULT_COURSE,
        help="nbgrader course folder (default: autograder)",
    )
    sub.set_defaults(func=run_grade_student_copy)


def _command_error(error: GradingError) -> CommandError:
    return CommandError(str(error))


def run_grade_release(args: argparse.Namespace) -> int:
    try:
        names = release(args.course, args.assignments, validate=not args.no_validate)
    except GradingError as error:
        raise _command_error(error) from error
    checked = "" if args.no_validate else " (each fails its tests unsolved)"
    print(f"released {len(names)} assignment(s) to {args.course / 'release'}{checked}")
    return 0


def run_grade_solutions(args: argparse.Namespace) -> int:
    try:
        written = generate_solutions(args.course, args.output, args.assignments)
    except GradingError as error:
        raise _command_error(error) from error
    for path in written:
        print(f"wrote {path}")
    return 0


def run_grade_autograde(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        results = autograde(
            args.course,
            args.assignments,
            args.student,
            sandboxed=not args.no_sandbox,
            jobs=args.jobs,
        )
    except GradingError as error:
        raise _command_error(error) from error
    seconds = time.perf_counter() - start
    students = len({r.student for r in results})
    print(
        f"graded {len(results)} submission(s) of {students} student(s) in "
        f"{seconds:.1f} s; grades: {args.course / GRADES_CSV}, "
        f"report: {args.course / REPORT_CSV}"
    )
    for r in results:
        if r.status != "ok":
            print(f"{r.status.upper()}: {r.assignment} / {r.student}")
            for note in ([r.withheld] if r.withheld else []) + r.notes:
                print(f"    {note}")
    return 0


def run_grade_clear(args: argparse.Namespace) -> int:
    try:
        entry = clear(args.course, args.assignment, args.student)
    except GradingError as error:
        raise _command_error(error) from error
    print(
        f"cleared {args.assignment} / {args.student}: score {entry['score']:g} "
        f"(was withheld for {len(entry['findings'])} finding(s)); "
        f"{args.course / GRADES_CSV} updated"
    )
    return 0


def run_grade_exchange(args: argparse.Namespace) -> int:
    try:
        root = release_to_exchange(args.course, args.assignments, args.exchange)
    except GradingError as error:
        raise _command_error(error) from error
    print(
        f"released to the exchange {root}; students fetch them in the Assignment List"
    )
    return 0


def run_grade_collect(args: argparse.Namespace) -> int:
    try:
        found = collect(args.course, args.assignments, args.exchange)
    except GradingError as error:
        raise _command_error(error) from error
    for name, students in found.items():
        print(f"{name}: {len(students)} submission(s) in {args.course / 'submitted'}")
    return 0


def run_grade_feedback(args: argparse.Namespace) -> int:
    failures: list[str] = []
    try:
        written = generate_feedback(
            args.course,
            args.assignments,
            args.student,
            args.release,
            args.exchange,
            failures=failures,
        )
    except GradingError as error:
        raise _command_error(error) from error
    for path in written:
        print(f"wrote {path}")
    if args.release:
        print("released to the exchange: students fetch it in the Assignment List")
    for failure in failures:
        print(f"seglab: no feedback for {failure}", file=sys.stderr)
    return 1 if failures else 0


def run_grade_student_copy(args: argparse.Namespace) -> int:
    try:
        written = student_copy(args.destination, args.course)
    except GradingError as error:
        raise _command_error(error) from error
    print(
        f"wrote the students' copy to {args.destination}: "
        + ", ".join(p.name for p in written)
    )
    return 0
