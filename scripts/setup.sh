#!/usr/bin/env bash
# Set up the course on this machine: a virtual environment at .venv with the
# pinned packages, the seglab package (editable), and the built-in datasets.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "setup.sh: unknown option $arg (known: --browser)" >&2; exit 2 ;;
  esac
done

pick_python() {
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "setup.sh: seglab needs Python 3.11 or 3.12 (found: $(python3 --version 2>&1))." >&2
  echo "Install one, or use conda: conda env create -f environment.yml" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(pick_python)
  echo "== creating .venv with $python"
  "$python" -m venv .venv
fi
stamp=.venv/.seglab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing pinned packages (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

echo "== built-in datasets"
.venv/bin/python - <<'PY'
from seglab.data import synthetic
print("VOC format :", synthetic.ensure_voc())
print("Pets format:", synthetic.ensure_pets())
PY

# apt_install PACKAGE WHAT_FAILS: a Debian package, as root or through sudo;
# without either, say what will not work.
apt_install() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then :
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt=(sudo "${apt[@]}")
  else
    echo "setup.sh: cannot install $1 here (no apt-get/root): $2" >&2
    return 0
  fi
  "${apt[@]}" update -qq && "${apt[@]}" install -y -qq "$1" >/dev/null
}

# Graded kernels run in a bubblewrap sandbox (seglab.grading.sandbox); grading
# refuses to start on Linux without it.
if [ "$(uname -s)" = Linux ] && ! command -v bwrap >/dev/null 2>&1; then
  echo "== installing bubblewrap (the sandbox for graded notebooks)"
  apt_install bubblewrap "install it with your package manager, or grading will stop and say how."
fi

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "== installing Chromium for the browser tests"
  apt_install chromium "the browser tests will fail with instructions."
fi
