"""``python -m seglab``: the command-line interface."""

from seglab.cli import main

raise SystemExit(main())
