"""Entry of the per-case process: ``python -m seglab.bench CASE LEVEL OUT``."""

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    name, level, out = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from seglab.bench import LEVELS, run_case

    result = run_case(name, LEVELS[level])
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
