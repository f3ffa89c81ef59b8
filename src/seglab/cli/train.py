"""``seglab train deeplabv3`` and ``seglab train unet``.

Arguments are parsed here, into the model's settings dataclass, once; the
work is done by :func:`seglab.train.deeplab.train` and
:func:`seglab.train.unet.train`. The parsers of ``--data`` and
``--class-weights`` live here, beside the commands that use them. TensorFlow is
imported when a command runs, so ``seglab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from seglab.cli import CommandError


def register(models: argparse._SubParsersAction) -> None:
    """Add ``deeplabv3`` and ``unet`` to the ``seglab train`` group."""
    _register_deeplabv3(models)
    _register_unet(models)


# --- seglab train deeplabv3 --------------------------------------------------


def _register_deeplabv3(models: argparse._SubParsersAction) -> None:
    parser = models.add_parser(
        "deeplabv3",
        help="train DeepLabV3 on VOC-format data",
        description="Train DeepLabV3; writes model.keras, best.keras, history.csv, "
        "logs/ (TensorBoard) and metrics.json to --out.",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="'synthetic' (built-in, the quick default) or 'voc:DIR' (a folder "
        "holding VOCdevkit/VOC2012)",
    )
    parser.add_argument("--profile", default=None, help="quick, full or auto")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--backbone", choices=("resnet50", "mobilenetv2"))
    parser.add_argument("--backbone-weights", choices=("imagenet", "none"))
    parser.add_argument("--optimizer", choices=("sgd", "adam"))
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--loss", choices=("cross_entropy", "dice", "focal", "ce_dice"))
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/deeplabv3-<profile>)",
    )
    parser.add_argument(
        "--xla",
        action="store_true",
        help="compile the training step with XLA (often faster on a GPU, "
        "slower on a CPU)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run from its last finished epoch in --out",
    )
    parser.set_defaults(func=run_train_deeplabv3)


def resolve_data(spec: str | None, synthetic_default: bool) -> tuple[Path, str]:
    """``--data`` -> (VOC root, description for the banner and metrics.json)."""
    from seglab import config

    if spec is None:
        spec = "synthetic" if synthetic_default else f"voc:{config.data_home() / 'voc'}"
    if spec == "synthetic":
        from seglab.data.synthetic import ensure_voc

        return ensure_voc(), "built-in synthetic VOC-format data"
    if spec.startswith("voc:") and len(spec) > 4:
        root = Path(spec[4:]).expanduser()
        if not root.exists():
            raise CommandError(
                f"--data {spec}: folder {root} does not exist; download VOC 2012 "
                "with `seglab data download voc DIR` or use --data synthetic"
            )
        return root, f"PASCAL VOC 2012 at {root}"
    raise CommandError(
        f"--data {spec!r}: expected 'synthetic' or 'voc:DIR' (e.g. voc:~/data/voc)"
    )


def run_train_deeplabv3(args: argparse.Namespace) -> int:
    """Train, write the outputs, print the final validation scores."""
    from seglab import config, train

    # several machines (TF_CONFIG): the strategy must exist before TensorFlow
    # starts, i.e. before the banner lists the devices
    strategy = train.select_strategy() if os.environ.get("TF_CONFIG") else None
    try:
        profile = config.get_profile(args.profile)
    except config.ProfileError as error:
        raise CommandError(str(error)) from None
    settings = train.deeplab.deeplab_settings(profile)
    changes = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "backbone": args.backbone,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "loss": args.loss,
    }
    if args.image_size is not None:
        changes["image_size"] = args.image_size
        if settings.profile != "full":  # keep the rates fitted to the feature map
            from seglab.models import atrous_rates_for

            changes["atrous_rates"] = atrous_rates_for(
                args.image_size, settings.output_stride
            )
    if args.backbone_weights is not None:
        changes["backbone_weights"] = (
            None if args.backbone_weights == "none" else "imagenet"
        )
    for name, value in list(changes.items()):
        if value is None and name != "backbone_weights":
            del changes[name]
    for name in ("epochs", "batch_size", "image_size"):
        if name in changes and changes[name] < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
    settings = dataclasses.replace(settings, **changes)
    data_root, description = resolve_data(args.data, profile.synthetic_data)
    weights = settings.backbone_weights or "none (random initialisation)"
    config.banner(profile, data=description, weights=f"{settings.backbone}: {weights}")
    config.configure_devices()
    out = args.out or Path("runs") / f"deeplabv3-{settings.profile}"
    from seglab.data.voc import DatasetError

    try:
        result = train.deeplab.train(
            settings,
            data_root,
            out,
            data_description=description,
            resume=args.resume,
            jit_compile=args.xla,
            strategy=strategy,
        )
    except DatasetError as error:
        raise CommandError(f"--data: {error}") from None
    summary = {k: result[k] for k in ("pixel_accuracy", "mean_accuracy", "mean_iou")}
    print(f"validation ({settings.profile} profile): {json.dumps(summary)}")
    print(f"wrote {out}/model.keras, history.csv, logs/, metrics.json")
    return 0


# --- seglab train unet -------------------------------------------------------


def _register_unet(models: argparse._SubParsersAction) -> None:
    parser = models.add_parser(
        "unet", help="U-Net (MobileNetV2 encoder) on Oxford-IIIT Pet"
    )
    parser.add_argument(
        "--data",
        default=None,
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
        "1,1,3, 'auto' (inverse pixel frequency) or 'none'; default: the "
        "profile's recipe (quick 1,1,2, full none)",
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
    from seglab.train import unet as train_unet

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
    class_weights = parse_class_weights(args.class_weights)
    if class_weights == "auto":
        class_weights = train_unet.auto_class_weights(settings, source)
        print(f"class weights from pixel frequencies: {class_weights}")
    return dataclasses.replace(settings, class_weights=class_weights)


def run_train_unet(args: argparse.Namespace) -> int:
    """``seglab train unet``: train, write outputs, print the test scores."""
    from seglab import config
    from seglab.data import pets
    from seglab.data.voc import DatasetError
    from seglab.train import unet as train_unet

    try:
        profile = config.get_profile(args.profile)
        source = (
            train_unet.default_pets_source(profile)
            if args.data is None
            else pets_source(args.data)
        )
        settings = _unet_settings_from_args(args, source)
        weights = (
            "random initialisation"
            if settings.encoder_weights is None
            else (f"{settings.encoder_weights} (random if it cannot be loaded)")
        )
        description = pets.describe_source(source)
        config.banner(profile, data=description, weights=weights)
        result = train_unet.train(
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


def pets_source(data: str) -> str:
    """``--data`` -> a :func:`seglab.data.pets_dataset` source.

    ``sample``, ``synthetic`` and ``tfds`` pass through; ``pets:DIR`` and a
    plain existing folder give the folder.
    """
    from seglab.data import pets

    if data in pets.SOURCES:
        return data
    folder = data[len("pets:") :] if data.startswith("pets:") else data
    if not folder or not Path(folder).expanduser().is_dir():
        raise ValueError(
            f"--data {data!r}: use sample, synthetic, tfds or pets:DIR where DIR "
            "is a raw Oxford-IIIT Pet folder (images/ and annotations/trimaps/)"
        )
    return str(Path(folder).expanduser())


def parse_class_weights(text: str | None) -> tuple[float, ...] | str | None:
    """``--class-weights``: ``"2,2,1"`` -> floats; ``"auto"``; ``None``/``"none"``."""
    from seglab import class_weights as weighting
    from seglab.palette import PETS_CLASSES

    if text is None or text.lower() == "none":
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as error:
        raise ValueError(
            f"--class-weights {text!r}: give one number per class "
            f"({', '.join(PETS_CLASSES)}), e.g. 1,1,3, or 'auto'"
        ) from error
    if len(values) != len(PETS_CLASSES):
        raise ValueError(
            f"--class-weights {text!r} has {len(values)} values; expected "
            f"{len(PETS_CLASSES)} ({', '.join(PETS_CLASSES)})"
        )
    weighting.normalise_class_weights(values)  # rejects negatives and zeros
    return values
