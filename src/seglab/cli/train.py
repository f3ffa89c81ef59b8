"""``seglab train deeplabv3``: train DeepLabV3 from the command line.

Only argument parsing lives here; TensorFlow is imported when the command runs,
so ``seglab --help`` stays fast. The work is done by
:func:`seglab.train.train_deeplab`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from seglab.cli import CommandError, command_group


def _train_group(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``seglab train`` group's model sub-commands, created if missing."""
    return command_group(subparsers, "train", "train a segmentation model")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train deeplabv3`` to the ``seglab`` parser."""
    parser = _train_group(subparsers).add_parser(
        "deeplabv3",
        help="train DeepLabV3 on VOC-format data",
        description="Train DeepLabV3; writes model.keras, best.keras, history.csv, "
        "logs/ (TensorBoard) and metrics.json to --out.",
    )
    parser.add_argument(
        "--data", default=None,
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
    parser.add_argument(
        "--loss", choices=("cross_entropy", "dice", "focal", "ce_dice")
    )
    parser.add_argument(
        "--out", type=Path, default=None,
        help="output folder (default: runs/deeplabv3-<profile>)",
    )
    parser.add_argument(
        "--xla", action="store_true",
        help="compile the training step with XLA (often faster on a GPU, "
        "slower on a CPU)",
    )
    parser.add_argument(
        "--resume", action="store_true",
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
    settings = train.deeplab_settings(profile)
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
        result = train.train_deeplab(
            settings, data_root, out, data_description=description,
            resume=args.resume, jit_compile=args.xla, strategy=strategy,
        )
    except DatasetError as error:
        raise CommandError(f"--data: {error}") from None
    summary = {k: result[k] for k in ("pixel_accuracy", "mean_accuracy", "mean_iou")}
    print(f"validation ({settings.profile} profile): {json.dumps(summary)}")
    print(f"wrote {out}/model.keras, history.csv, logs/, metrics.json")
    return 0
