#!/usr/bin/env bash
# The whole test suite, stage by stage, with the time each stage took.
# Every stage runs even when an earlier one fails; the exit code is non-zero
# when any test failed or a stage collected no tests (pytest's exit code 5).
set -uo pipefail
cd "$(dirname "$0")/.."

overall_start=$SECONDS
start=$SECONDS
bash scripts/setup.sh --browser || { echo "set-up failed"; exit 1; }
setup_seconds=$((SECONDS - start))

export PATH="$PWD/.venv/bin:$PATH"
export SEGLAB_PROFILE=quick
export PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL=2
reports=test-artifacts/junit
rm -rf "$reports"; mkdir -p "$reports"

names=(); seconds=(); codes=()
stage() {  # stage NAME COMMAND...
  local name=$1; shift
  echo; echo "================ stage: $name ================"
  local begin=$SECONDS
  "$@"
  local code=$?
  if [ "$code" = 5 ]; then
    echo "stage $name collected no tests: that is a failure"
  fi
  names+=("$name"); seconds+=($((SECONDS - begin))); codes+=("$code")
}

lint() {  # ruff's lint rules and its formatter (lessons: 80 columns)
  local paths=(src tests lessons autograder/source scripts benchmarks img)
  ruff check "${paths[@]}" && ruff format --check "${paths[@]}"
}
stage lint lint
# Unit tests, every lesson (nbval) and the nbgrader round trip share one run on
# both cores; --dist loadfile keeps each file (and each notebook's cells, which
# share one kernel) on one worker. Files start longest first (the order
# tests/conftest.py gives them; --no-loadscope-reorder keeps it), so that both
# workers finish close together.
stage tests pytest -n 2 --dist loadfile --no-loadscope-reorder --nbval-lax \
  -m "not browser" \
  --durations=10 --junitxml="$reports/tests.xml" lessons tests --ignore=tests/browser
stage browser pytest --junitxml="$reports/browser.xml" tests/browser

echo; echo "================ summary ================"
printf '%-10s %8s  %s\n' stage seconds result
printf '%-10s %8s  %s\n' setup "$setup_seconds" ok
failed=0
for i in "${!names[@]}"; do
  result=ok
  if [ "${codes[$i]}" != 0 ]; then result="FAILED (exit ${codes[$i]})"; failed=1; fi
  printf '%-10s %8s  %s\n' "${names[$i]}" "${seconds[$i]}" "$result"
done
printf '%-10s %8s\n' total $((SECONDS - overall_start))
python scripts/junit_summary.py "$reports"
if [ -f test-artifacts/grading_attacks.md ]; then
  echo; echo "================ grading attacks ================"
  cat test-artifacts/grading_attacks.md
fi
exit $failed
