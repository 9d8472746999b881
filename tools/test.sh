#!/usr/bin/env bash
# The whole test suite (called by `make test`, which .ci/run calls). Steps can be run alone:
#   bash tools/test.sh [export-check|docs-check|unit|nbval|nbdev-test] ...
# Expects the project's venv on PATH (the Makefile does that).
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole suite must fit CI's 30-minute budget on a slow 2-core box, so every notebook runs once (nbval, which also
# compares the NBVAL_CHECK_OUTPUT cells); `nbdev-test` runs them a second time and is left to be called by hand.
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(export-check docs-check unit nbval)

# Notebooks record what they measure; during tests those records go to a scratch folder, not into nbs/results/.
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
export GPUVISION_RESULTS="$scratch/results" MPLBACKEND=Agg PYTHONHASHSEED=0

banner() { printf '\n=== %s ===\n' "$1"; }
for step in "${steps[@]}"; do
  t0=$SECONDS
  case $step in
    export-check)
      banner "1. nbdev_export: gpuvision_nb/ must be exactly what the notebooks export"
      cp -r gpuvision_nb "$scratch/before"
      nbdev_export
      find gpuvision_nb "$scratch/before" -name __pycache__ -prune -exec rm -rf {} +
      if ! diff -r "$scratch/before" gpuvision_nb; then
        echo "FAIL: gpuvision_nb/ was out of sync with nbs/ (diff above). Run nbdev_export and commit the result." >&2
        exit 1
      fi
      echo "exports in sync" ;;
    docs-check)
      banner "2. README.md and docs/ must be what tools/render.py makes of the notebooks"
      python tools/render.py check ;;
    unit)
      banner "3. pytest tests/"
      # the 15 slowest tests are listed at the end, so that a suite growing past its budget shows where
      python -m pytest -q --durations=15 tests ;;
    nbval)
      banner "4. nbval: every notebook runs on CPU; NBVAL_CHECK_OUTPUT cells match the committed outputs"
      # nbdev_clean nulls execution_count but keeps outputs, which nbval reads as "unrun cell with outputs";
      # so nbval runs on renumbered copies (outputs untouched) of the committed notebooks.
      python tools/nbcopy.py nbs "$scratch/nbs"
      # chapter 16 commits the full `gpuvision demo` run but runs the quick one here (see that chapter)
      GPUVISION_DEMO_RUN=quick python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
        -o "testpaths=" "$scratch/nbs" ;;
    nbdev-test)
      banner "5. nbdev_test (skips cells flagged: $(grep -E '^tst_flags' settings.ini | cut -d= -f2))"
      nbdev_test --n_workers 1 --timing ;;
    *) echo "unknown step: $step (expected export-check, docs-check, unit, nbval, nbdev-test)" >&2; exit 2 ;;
  esac
  echo "[$step: $((SECONDS - t0)) s]"
done
