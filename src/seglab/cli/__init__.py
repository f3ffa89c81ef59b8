"""``seglab`` / ``python -m seglab``: long runs outside the notebooks.

Each command group lives in its own module, which exposes
``register(subparsers)``; this file only assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Modules that add sub-commands; each defines ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "seglab.cli.data",
    "seglab.cli.train",
    "seglab.cli.grade",
    "seglab.cli.model",
    "seglab.cli.bench",
)


class CommandError(Exception):
    """A problem the user can fix: printed as one message, exit code 1."""


def command_group(
    subparsers: argparse._SubParsersAction,
    name: str,
    help: str,
    *,
    dest: str = "model",
    metavar: str = "MODEL",
) -> argparse._SubParsersAction:
    """The sub-commands of group ``name`` (e.g. ``train``), created if missing.

    Lets several modules add commands to one group: ``train deeplabv3`` and
    ``train unet`` live in different modules; whichever registers first
    creates the group.
    """
    existing = subparsers.choices.get(name)
    if existing is None:
        existing = subparsers.add_parser(name, help=help)
        group = existing.add_subparsers(dest=dest, metavar=metavar)
        group.required = True
        return group
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"the `seglab {name}` parser has no sub-commands")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every registered command included."""
    parser = argparse.ArgumentParser(
        prog="seglab",
        description="Semantic segmentation course tools: data, training, "
        "evaluation, export.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
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
