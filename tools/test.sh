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
# Every temporary file of the run (tests' tmp_path, notebooks' scratch folders, torchrun's and Chromium's own) goes
# under it too ($TMPDIR), and all of it is removed at the end, whatever happens: a CI machine's disk once filled up.
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/tmp"
export GPUVISION_RESULTS="$scratch/results" MPLBACKEND=Agg PYTHONHASHSEED=0 TMPDIR="$scratch/tmp"
# unit tests and notebooks run two at a time (pytest-xdist); GPUVISION_TEST_WORKERS=1 runs them one by one
workers=${GPUVISION_TEST_WORKERS:-2}

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
      # two workers, one test file each at a time (module fixtures built once); the tests run torch on one thread
      python -m pytest -q --durations=15 -n "$workers" --dist loadfile tests ;;
    nbval)
      banner "4. nbval: every notebook runs on CPU; NBVAL_CHECK_OUTPUT cells match the committed outputs"
      # nbdev_clean nulls execution_count but keeps outputs, which nbval reads as "unrun cell with outputs";
      # so nbval runs on renumbered copies (outputs untouched) of the committed notebooks.
      python tools/nbcopy.py nbs "$scratch/nbs"
      # The pretrained seed CNN that 00, 06, 08, 09, 10 and 14 load is trained once, in the background, while the
      # notebooks that don't need it run; a notebook that asks for it before it is done waits for it (`cache_lock`, A8).
      # Two notebooks at a time (pytest-xdist, a whole notebook per worker), every process on one thread (2-thread
      # processes on 2 cores would fight over them), each group longest first as measured on a 2-core box; 06 trains
      # the digits model that 08 and 09 load, so they come after it. Any other notebook follows.
      # GPUVISION_QUICK=1: the few cells that use `sized` (chapter 02) run smaller.
      OMP_NUM_THREADS=1 python -c "from gpuvision_nb.train import pretrained; pretrained('seed')" > "$scratch/seed.log" 2>&1 &
      seed=$!
      order=(07_amp 13_distributed 12_video 17_deploy A5_launch 11_augment 03_data 16_demo 02_bench 90_cli 04_models
             A1_supervisor A6_runs A7_files A8_folders A9_folderdata 06_train 00_tour 08_prune 14_robust 09_quantize 10_transfer)
      paths=(); for n in "${order[@]}"; do [ -f "$scratch/nbs/$n.ipynb" ] && paths+=("$scratch/nbs/$n.ipynb"); done
      for p in "$scratch"/nbs/*.ipynb; do [[ " ${paths[*]} " == *" $p "* ]] || paths+=("$p"); done
      # chapter 16 commits the full `gpuvision demo` run but runs the quick one here (see that chapter). Cell timeout:
      # over 3x the slowest cell on the 2-core dev box, for a slower, busier CI box.
      rc=0; GPUVISION_QUICK=1 GPUVISION_DEMO_RUN=quick OMP_NUM_THREADS=1 python -m pytest -q -p no:cacheprovider --nbval-lax \
        --nbval-current-env --nbval-cell-timeout=450 -n "$workers" --dist loadfile --no-loadscope-reorder --durations=25 \
        -o "testpaths=" "${paths[@]}" || rc=$?
      if ! wait "$seed"; then echo "FAIL: training the pretrained seed CNN failed:" >&2; cat "$scratch/seed.log" >&2; exit 1; fi
      [ "$rc" -eq 0 ] || exit "$rc" ;;
    nbdev-test)
      banner "5. nbdev_test (skips cells flagged: $(grep -E '^tst_flags' settings.ini | cut -d= -f2))"
      nbdev_test --n_workers 1 --timing ;;
    *) echo "unknown step: $step (expected export-check, docs-check, unit, nbval, nbdev-test)" >&2; exit 2 ;;
  esac
  echo "[$step: $((SECONDS - t0)) s]"
done
