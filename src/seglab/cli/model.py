"""``seglab evaluate``, ``seglab export``, ``seglab predict``: use a trained model.

Only argument parsing lives here; TensorFlow is imported when a command runs,
so ``seglab --help`` stays fast. The work is done by :mod:`seglab.evaluate`
and :mod:`seglab.export`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seglab.cli import CommandError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``export`` and ``predict`` to the top-level commands."""
    _register_evaluate(commands)
    _register_export(commands)
    _register_predict(commands)


# --- seglab evaluate ---------------------------------------------------------


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained model on a dataset split"
    )
    parser.add_argument("model", type=Path, help="a model.keras written by training")
    parser.add_argument(
        "--data",
        default=None,
        help="sample | synthetic | tfds | pets:DIR | voc:DIR | voc:synthetic "
        "(default: the profile's Pets data for a 3-class model, synthetic VOC "
        "for a 21-class one)",
    )
    parser.add_argument(
        "--split", default="test", help="train, val, trainval (Pets) or test"
    )
    _add_image_size(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_evaluate)


def _add_image_size(parser: argparse.ArgumentParser) -> None:
    """``--image-size``: only for old models with no stored trained size."""
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="only for an old model of any input size with no stored trained "
        "size (model_info.json); otherwise it must equal the stored size",
    )


SCORING = {
    "letterbox": "letterbox: aspect ratio kept (longest side = trained size, grey "
    "padding cropped off), logits resized to each image's original size, label "
    "255 ignored",
    "squash": "squash: resized to the trained size as in training (aspect ratio "
    "not kept), logits resized to each image's original size, label 255 ignored",
}
"""How ``seglab evaluate`` prepares and scores images, per stored resize mode."""


def run_evaluate(args: argparse.Namespace) -> int:
    """``seglab evaluate``: print the report (or JSON) of one model on one split."""
    from seglab import config, evaluate, model_info
    from seglab.data.voc import DatasetError

    try:
        model = evaluate.load_model(args.model)
        num_classes = int(model.output_shape[-1])
        profile = config.get_profile()
        data = args.data
        if data is None:
            from seglab.palette import VOC_CLASSES
            from seglab.train.unet import default_pets_source

            pets_model = num_classes != len(VOC_CLASSES)
            data = default_pets_source(profile) if pets_model else "synthetic"
            if data not in ("sample", "tfds", "synthetic"):
                data = f"pets:{data}"
        spec = evaluate.parse_data(data, num_classes)
        size = model_info.trained_size(
            args.model, model.input_shape[1:3], args.image_size
        )
        resize = model_info.trained_resize(args.model)
        pairs = evaluate.original_pairs(spec, args.split)
        result = evaluate.evaluate_original_size(
            model,
            pairs,
            size,
            num_classes,
            batch_size=args.batch_size,
            resize=resize,
        )
    except (FileNotFoundError, ValueError, DatasetError) as error:
        raise CommandError(str(error)) from error
    names = evaluate.class_names_for(num_classes)
    if args.json:
        report = {
            "model": str(args.model),
            "data": spec.describe(),
            "split": args.split,
            "image_size": list(size),
            "resize": resize,
            "scoring": SCORING[resize],
            **evaluate.to_json(result, names),
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"model: {args.model}\ndata : {spec.describe()}, split {args.split}")
        print(f"scored: {SCORING[resize]}, trained size {size[0]} x {size[1]}")
        print(evaluate.format_report(result, names))
    return 0


# --- seglab export / predict -------------------------------------------------


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a SavedModel that serves encoded image bytes"
    )
    parser.add_argument("model", type=Path, help="a model.keras written by training")
    parser.add_argument("out_dir", type=Path, help="the SavedModel folder to write")
    _add_image_size(parser)
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR")
    parser.set_defaults(func=run_export)


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="segment image files: <stem>_label.png and <stem>_overlay.png"
    )
    parser.add_argument("model", type=Path, help="model.keras or a SavedModel folder")
    parser.add_argument("images", type=Path, nargs="+", help="image files")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="only for an old .keras model of any input size with no stored "
        "trained size (model_info.json); otherwise it must equal the stored size",
    )
    parser.set_defaults(func=run_predict)


def run_export(args: argparse.Namespace) -> int:
    """``seglab export``: ``.keras`` -> SavedModel with the image-bytes signature."""
    from seglab import evaluate, export, model_info

    out = args.out_dir
    if out.exists() and not args.force and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(
            f"{out} already exists; choose another folder or pass --force to replace it"
        )
    try:
        model = evaluate.load_model(args.model)
        size = model_info.trained_size(
            args.model, model.input_shape[1:3], args.image_size
        )
        out = export.export_saved_model(
            model,
            out,
            image_size=size,
            force=args.force,
            resize=model_info.trained_resize(args.model),
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(
        f"wrote SavedModel {out} (signature {export.SIGNATURE}: "
        "encoded images -> class maps at each image's size)"
    )
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``seglab predict``: write label and overlay PNGs; exit 1 if any input failed."""
    from seglab import export

    if not args.model.exists():
        raise CommandError(
            f"model {args.model} does not exist; pass a model.keras or a folder "
            "written by `seglab export`"
        )
    try:
        serve, num_classes = export.serving_function_for(args.model, args.image_size)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from error
    report = export.predict_files(serve, args.images, args.out, num_classes=num_classes)
    for path in report.written:
        print(path)
    for path, reason in report.failed.items():
        print(f"seglab predict: error: {path}: {reason}; skipped", file=sys.stderr)
    if report.failed:
        print(
            f"seglab predict: {len(report.failed)} of {len(args.images)} inputs failed",
            file=sys.stderr,
        )
    return 1 if report.failed else 0
