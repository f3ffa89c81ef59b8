"""``seglab bench``: measure the pipeline, label conversion, training and
prediction against what they replace (see :mod:`seglab.bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seglab.bench import CASES, RESULTS_DIR, run, save, table


def _parse_cases(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown case(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(CASES)}"
        )
    return names


def run_bench(args: argparse.Namespace) -> int:
    """``seglab bench``: run, print the table (or JSON), save full runs."""
    level = "quick" if args.quick else "full"
    say = None if args.json else (lambda text: print(text, file=sys.stderr))
    report = run(level, args.cases, isolate=not args.in_process, progress=say)
    saved = None
    if level == "full" and not args.no_save:
        saved = save(report, Path(args.results_dir))
        report["saved_to"] = str(saved)
    if args.json:
        print(json.dumps(report))
    else:
        print(table(report))
        if saved:
            print(f"\nsaved {saved} and {saved.with_suffix('.txt')}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``bench`` to the top-level commands."""
    parser = commands.add_parser(
        "bench",
        help="measure the data pipeline, label conversion, training and prediction",
        description="Measure the data pipeline, colour -> label conversion, "
        "training steps and prediction latency, against the approaches they "
        "replace. Full runs are saved under benchmarks/results/.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small settings, a few minutes on 2 cores (what CI runs)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    parser.add_argument(
        "--cases",
        type=_parse_cases,
        default=list(CASES),
        help=f"comma-separated subset of {','.join(CASES)}",
    )
    parser.add_argument(
        "--results-dir",
        default=str(RESULTS_DIR),
        help="where full runs are saved (default: %(default)s)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not save the results of a full run"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run all cases in this process (peak RSS then accumulates over the cases)",
    )
    parser.set_defaults(func=run_bench)
