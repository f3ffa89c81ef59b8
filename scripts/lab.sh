#!/usr/bin/env bash
# Start JupyterLab on the course, from the environment in .venv.
#
# The server listens on 127.0.0.1 only, serves the whole repository (lessons/,
# autograder/, solutions/, ...) and prints its URL with a token; it opens no
# browser. It runs inside autograder/ so that nbgrader's Formgrader loads
# autograder/nbgrader_config.py and finds the course there.
#
# Usage: bash scripts/lab.sh [--option=value ...] [NOTEBOOK]
#   Options go to `jupyter lab` unchanged (write them as --name=value);
#   NOTEBOOK is a path relative to the repository root, opened on start.
#   Example: bash scripts/lab.sh --port=8888 lessons/01_concepts.ipynb
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$root/.venv/bin/jupyter" ]; then
  echo "lab.sh: $root/.venv has no JupyterLab; run 'make setup' (or bash scripts/setup.sh) first." >&2
  exit 1
fi
export PATH="$root/.venv/bin:$PATH"

args=()
for arg in "$@"; do
  case "$arg" in
    -*) args+=("$arg") ;;
    *)
      if [ ! -e "$root/$arg" ]; then
        echo "lab.sh: no such file in the repository: $arg" >&2
        exit 2
      fi
      args+=("$root/$arg") ;;
  esac
done

# Containers and CI machines often run as root; Jupyter refuses that by default.
if [ "$(id -u)" = 0 ]; then
  args+=(--allow-root)
fi

cd "$root/autograder"
exec jupyter lab --no-browser --ip=127.0.0.1 --ServerApp.root_dir="$root" "${args[@]}"
