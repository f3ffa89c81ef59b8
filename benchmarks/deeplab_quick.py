"""Tune the quick-profile DeepLabV3 on synthetic VOC's held-out *val* split.

Each run trains ``seglab.train.deeplab.train`` with the quick profile's
settings, changed by a JSON object of ``DeepLabSettings`` fields, and records
the final validation mIoU (inference mode), wall and CPU seconds, the load
and the machine as one JSON line in ``--results``::

    SEGLAB_PROFILE=quick python benchmarks/deeplab_quick.py NAME '{"epochs": 18}'

``--seed`` repeats a run with another data order, augmentation and
initialisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import tempfile
import time
from pathlib import Path

from seglab import config
from seglab.bench import report
from seglab.data import synthetic
from seglab.train import deeplab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("changes", nargs="?", default="{}")
    parser.add_argument("--results", default="deeplab-quick.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    changes = json.loads(args.changes)
    if changes.get("atrous_rates") is not None:
        changes["atrous_rates"] = tuple(changes["atrous_rates"])
    settings = dataclasses.replace(deeplab.deeplab_settings("quick"), **changes)
    root = synthetic.ensure_voc()
    config.configure_devices()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deeplab-quick-") as out:
        result = deeplab.train(settings, root, Path(out), seed=args.seed, verbose=2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = {
        "name": args.name,
        "changes": changes,
        "seed": args.seed,
        "val_mean_iou": round(result["mean_iou"], 4),
        "wall_s": round(time.perf_counter() - start),
        "cpu_s": round(usage.ru_utime + usage.ru_stime),
    }
    report.append_record(line, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
