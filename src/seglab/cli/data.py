"""``seglab info`` and ``seglab data ...``: the banner and dataset tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seglab.cli import CommandError

DATASETS = ("voc", "pets")


def register_info(commands: argparse._SubParsersAction) -> None:
    """Add ``info`` to the top-level commands."""
    info = commands.add_parser(
        "info", help="print the banner: versions, devices, profile"
    )
    info.add_argument("--profile", default=None, help="quick, full or auto")
    info.set_defaults(func=run_info)


def register(actions: argparse._SubParsersAction) -> None:
    """Add the actions of the ``seglab data`` group."""
    synth = actions.add_parser(
        "synth", help="write the built-in dataset in the real format"
    )
    synth.add_argument("dataset", choices=DATASETS)
    synth.add_argument("folder", type=Path)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--count", type=int, default=None, help="training images")
    synth.add_argument("--min-size", type=int, default=160)
    synth.add_argument("--max-size", type=int, default=256)
    synth.add_argument("--force", action="store_true", help="rewrite an existing one")
    synth.set_defaults(func=run_synth)

    sample = actions.add_parser(
        "sample",
        help="write the shipped Oxford-IIIT Pet sample (300 real photos) to a folder",
    )
    sample.add_argument("dataset", choices=("pets",))
    sample.add_argument("folder", type=Path)
    sample.add_argument("--force", action="store_true", help="replace a non-empty one")
    sample.set_defaults(func=run_sample)

    download = actions.add_parser("download", help="download the official archives")
    download.add_argument("dataset", choices=DATASETS)
    download.add_argument("folder", type=Path)
    download.set_defaults(func=run_download)

    check = actions.add_parser("check", help="check a dataset folder; exit 1 on errors")
    check.add_argument("dataset", choices=DATASETS)
    check.add_argument("folder", type=Path)
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=run_check)

    convert = actions.add_parser(
        "convert-labels", help="VOC masks -> single-channel label PNGs (once)"
    )
    convert.add_argument("folder", type=Path)
    convert.set_defaults(func=run_convert)


def run_info(args: argparse.Namespace) -> int:
    from seglab import config

    try:
        config.banner(args.profile)
    except config.ProfileError as error:
        raise CommandError(str(error)) from error
    return 0


def run_synth(args: argparse.Namespace) -> int:
    from seglab.data import synthetic

    options = dict(
        seed=args.seed,
        min_size=args.min_size,
        max_size=args.max_size,
        overwrite=args.force,
    )
    try:
        if args.dataset == "voc":
            if args.count:
                options.update(num_train=args.count, num_val=max(2, args.count // 2))
            root = synthetic.write_voc(args.folder, **options)
        else:
            if args.count:
                options.update(
                    num_trainval=args.count, num_test=max(2, args.count // 3)
                )
            root = synthetic.write_pets(args.folder, **options)
    except FileExistsError as error:
        raise CommandError(str(error)) from error
    print(f"wrote built-in {args.dataset} data to {root}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from seglab.data import sample

    try:
        root = sample.write_sample(args.folder, overwrite=args.force)
    except (FileExistsError, FileNotFoundError) as error:
        raise CommandError(str(error)) from error
    print(
        f"wrote the Oxford-IIIT Pet sample to {root} (licence and attribution: "
        f"{root / sample.LICENSE_FILE}); train on it with "
        f"`seglab train unet --data pets:{root}`"
    )
    return 0


def run_download(args: argparse.Namespace) -> int:
    from seglab.data.download import DownloadError, download

    try:
        root = download(args.dataset, args.folder)
    except DownloadError as error:
        raise CommandError(str(error)) from error
    print(f"{args.dataset} is ready in {root}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from seglab.data import check
    from seglab.data.voc import DatasetError

    checker = check.check_voc if args.dataset == "voc" else check.check_pets
    try:
        report = checker(args.folder, progress=not args.json)
    except DatasetError as error:
        if args.json:
            print(json.dumps({"usable": False, "error": str(error)}))
            return 1
        raise CommandError(str(error)) from error
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
    return 0 if report.usable else 1


def run_convert(args: argparse.Namespace) -> int:
    from seglab.data.voc import DatasetError, convert_labels

    try:
        out = convert_labels(args.folder)
    except DatasetError as error:
        raise CommandError(str(error)) from error
    print(f"labels written to {out}")
    return 0
