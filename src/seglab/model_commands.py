"""``seglab train unet``, ``seglab evaluate``, ``seglab export``, ``seglab predict``.

Only argument parsing lives here; TensorFlow is imported when a command runs,
so ``seglab --help`` stays fast. The work is done by :mod:`seglab.train_unet`,
:mod:`seglab.evaluate` and :mod:`seglab.export`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from seglab.cli import CommandError, command_group


def train_subparsers(subparsers: argparse._SubParsersAction):
    """The ``seglab train`` group's sub-command action, created if missing.

    ``train deeplabv3`` and ``train unet`` live in different modules; whichever
    registers first creates the group, the other adds to it.
    """
    return command_group(subparsers, "train", "train a segmentation model")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train unet``, ``evaluate``, ``export`` and ``predict``."""
    _register_train_unet(train_subparsers(subparsers))
    _register_evaluate(subparsers)
    _register_export(subparsers)
    _register_predict(subparsers)


# --- seglab train unet -------------------------------------------------------


def _register_train_unet(models: argparse._SubParsersAction) -> None:
    parser = models.add_parser(
        "unet", help="U-Net (MobileNetV2 encoder) on Oxford-IIIT Pet"
    )
    parser.add_argument(
        "--data", default=None,
        help="sample (300 real photos shipped with seglab; the quick profile's "
        "default) | pets:DIR (a raw Oxford-IIIT Pet folder; the full profile's "
        "default is <data home>/pets) | tfds | synthetic (drawn stand-ins)",
    )
    parser.add_argument("--profile", default=None, help="quick, full or auto")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None, help="multiple of 32")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--backbone-weights", default=None, help="imagenet or none")
    parser.add_argument(
        "--train-encoder",
        action="store_true",
        help="also train an ImageNet encoder (fine-tuning)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="MobileNetV2 width multiplier (ImageNet: 0.35 to 1.4)",
    )
    parser.add_argument(
        "--class-weights",
        default=None,
        help="one weight per class (pet,background,border), e.g. "
        "1,1,3, or 'auto' (inverse pixel frequency)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/unet"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run after its last finished epoch",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(func=run_train_unet)


def _unet_settings_from_args(args: argparse.Namespace, source: str):
    from seglab import train_unet

    settings = train_unet.unet_settings(args.profile)
    changes: dict = {}
    for field, value in (
        ("epochs", args.epochs),
        ("image_size", args.image_size),
        ("batch_size", args.batch_size),
        ("alpha", args.alpha),
    ):
        if value is not None:
            if value <= 0:
                raise ValueError(f"--{field.replace('_', '-')} must be positive")
            changes[field] = value
    if args.backbone_weights is not None:
        weights = args.backbone_weights
        changes["encoder_weights"] = None if weights.lower() == "none" else weights
    if args.train_encoder:
        changes["trainable_encoder"] = True
    settings = dataclasses.replace(settings, **changes)
    if args.class_weights is None:  # the profile's recipe decides
        return settings
    class_weights = train_unet.parse_class_weights(args.class_weights)
    if class_weights == "auto":
        class_weights = train_unet.auto_class_weights(settings, source)
        print(f"class weights from pixel frequencies: {class_weights}")
    return dataclasses.replace(settings, class_weights=class_weights)


def run_train_unet(args: argparse.Namespace) -> int:
    """``seglab train unet``: train, write outputs, print the test scores."""
    from seglab import config, train_unet
    from seglab.data import pets
    from seglab.data.voc import DatasetError

    try:
        profile = config.get_profile(args.profile)
        source = (
            train_unet.default_pets_source(profile)
            if args.data is None
            else train_unet.pets_source(args.data)
        )
        settings = _unet_settings_from_args(args, source)
        weights = (
            "random initialisation"
            if settings.encoder_weights is None
            else (f"{settings.encoder_weights} (random if it cannot be loaded)")
        )
        description = pets.describe_source(source)
        config.banner(profile, data=description, weights=weights)
        result = train_unet.train_unet(
            settings,
            source,
            args.out,
            data_description=description,
            resume=args.resume,
            seed=args.seed,
        )
    except (ValueError, FileNotFoundError, DatasetError, config.ProfileError) as error:
        raise CommandError(str(error)) from error
    ious = ", ".join(
        f"{name} {'-' if value is None else f'{value:.3f}'}"
        for name, value in result["per_class_iou"].items()
    )
    print(
        f"test mIoU {result['mean_iou']:.3f} ({ious}); pixel accuracy "
        f"{result['pixel_accuracy']:.3f}; encoder weights {result['weights']}; "
        f"outputs in {args.out}"
    )
    return 0


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
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="only for an old model of any input size with no stored trained "
        "size (model_info.json); otherwise it must equal the stored size",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_evaluate)


SCORING = (
    "aspect ratio kept (longest side = trained size, grey padding cropped off), "
    "logits resized to each image's original size, label 255 ignored"
)


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
            from seglab.train_unet import default_pets_source

            pets_model = num_classes != len(VOC_CLASSES)
            data = default_pets_source(profile) if pets_model else "synthetic"
            if data not in ("sample", "tfds", "synthetic"):
                data = f"pets:{data}"
        spec = evaluate.parse_data(data, num_classes)
        size = model_info.trained_size(
            args.model, model.input_shape[1:3], args.image_size
        )
        pairs = evaluate.original_pairs(spec, args.split)
        result = evaluate.evaluate_original_size(
            model, pairs, size, num_classes, batch_size=args.batch_size
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
            "scoring": SCORING,
            **evaluate.to_json(result, names),
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"model: {args.model}\ndata : {spec.describe()}, split {args.split}")
        print(f"scored: {SCORING}, trained size {size[0]} x {size[1]}")
        print(evaluate.format_report(result, names))
    return 0


# --- seglab export / predict -------------------------------------------------


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a SavedModel that serves encoded image bytes"
    )
    parser.add_argument("model", type=Path, help="a model.keras written by training")
    parser.add_argument("out_dir", type=Path, help="the SavedModel folder to write")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="only for an old model of any input size with no stored trained "
        "size (model_info.json); otherwise it must equal the stored size",
    )
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
            model, out, image_size=size, force=args.force
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
