"""Tune the quick-profile U-Net recipe on the Pets sample's *validation* split.

Each run trains the U-Net of ``seglab.train.unet`` for 15 epochs at 128 x 128
with a random encoder, on the sample's ``train`` split, and scores it in
inference mode on ``val`` (never on ``test``: that split is kept for the
final report). One JSON line per run is appended to ``--results``::

    python benchmarks/unet_recipe.py NAME '{"batch_size": 8, "loss": "ce_dice"}'

The keys of the JSON object are fields of ``seglab.train.unet.UNetSettings``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

from seglab import config, evaluate, train
from seglab.bench import report
from seglab.train import unet as train_unet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("changes", nargs="?", default="{}")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--source", default="sample")
    parser.add_argument("--results", default="unet-recipe.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    changes = json.loads(args.changes)
    for key in ("decoder_filters", "class_weights"):
        if changes.get(key) is not None:
            changes[key] = tuple(changes[key])
    config.configure_devices()
    settings = dataclasses.replace(
        train_unet.unet_settings("quick"), epochs=args.epochs, **changes
    )
    config.set_seed(args.seed)
    train_data, val_data, _ = train_unet.pets_data(settings, args.source, args.seed)
    steps = int(train_data.cardinality())
    model = train_unet.build_unet(settings, steps_per_epoch=steps)
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        history = train.fit(
            model,
            train_data,
            val_data,
            epochs=settings.epochs,
            out_dir=out,
            resume=False,
            verbose=0,
        )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = evaluate.evaluate_model(model, val_data)
    row = {
        "name": args.name,
        "changes": changes,
        "seed": args.seed,
        "val_mean_iou": round(float(scores["mean_iou"]), 4),
        "val_per_class_iou": dict(
            zip(
                evaluate.class_names_for(settings.num_classes),
                (round(float(v), 4) for v in scores["per_class_iou"]),
                strict=True,
            )
        ),
        "epochs": len(history["loss"]),
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
    }
    report.append_record(row, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
