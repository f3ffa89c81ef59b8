"""``seglab`` / ``python -m seglab``: long runs outside the notebooks.

Each command module exposes ``register(commands)``; :func:`build_parser`
creates each top-level group (``data``, ``train``, ``grade``) once and hands
its sub-commands to the module that fills it. A handler, ``run_<command>``,
turns the parsed arguments into the settings of one function below ``cli/``
(``train``, ``evaluate``, ``export``, ``grading``, ``bench``)
and calls it; nothing below ``cli/`` imports this package. Errors a user can
fix become :class:`CommandError`: one message, exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys


class CommandError(Exception):
    """A problem the user can fix: printed as one message, exit code 1."""


def _group(
    commands: argparse._SubParsersAction,
    name: str,
    dest: str,
    metavar: str,
    **parser_options: str,
) -> argparse._SubParsersAction:
    """A new top-level command ``name`` and its (required) sub-commands."""
    parser = commands.add_parser(name, **parser_options)
    group = parser.add_subparsers(dest=dest, metavar=metavar)
    group.required = True
    return group


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every command included."""
    from seglab.cli import bench, data, grade, model, train

    parser = argparse.ArgumentParser(
        prog="seglab",
        description="Semantic segmentation course tools: data, training, "
        "evaluation, export.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    data.register_info(commands)
    data.register(
        _group(
            commands,
            "data",
            "action",
            "ACTION",
            help="write, download, check or convert datasets",
        )
    )
    train.register(
        _group(
            commands,
            "train",
            "model",
            "MODEL",
            help="train a segmentation model",
        )
    )
    grade.register(
        _group(
            commands,
            "grade",
            "grade_command",
            "ACTION",
            help="nbgrader course: release assignments, solutions, autograding",
            description="Instructor commands for the nbgrader course in autograder/.",
        )
    )
    model.register(commands)
    bench.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CommandError as error:
        print(f"seglab {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
