"""Regenerate the Oxford-IIIT Pet sample that seglab ships.

Usage::

    python scripts/make_pets_sample.py RAW_PETS_FOLDER [--out FOLDER]

RAW_PETS_FOLDER is a raw Oxford-IIIT Pet folder (``images/``,
``annotations/trimaps/``, ``annotations/trainval.txt``), e.g. the one
``seglab data download pets`` writes. The default output is the package's own
copy, ``src/seglab/data/pets_sample``; the result is the same bytes every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seglab.data import sample

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "seglab" / "data" / "pets_sample"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="a raw Oxford-IIIT Pet folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    out = sample.make_pets_sample(args.raw, args.out, overwrite=True)
    size = sample.folder_bytes(out)
    print(f"wrote {out}: {size / 1e6:.2f} MB")
    if size > sample.MAX_BYTES:
        print(f"error: over the limit of {sample.MAX_BYTES / 1e6:.2f} MB")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
