#!/usr/bin/env bash
# One lent-GPU session in one command, with a deadline: whatever finished comes back even if time runs out.
# Runs ON the GPU machine from the project root, with .whl and .gpu carried (see README, "Recording GPU results"):
#   BUDGET=500 bash tools/run_gpu_session.sh nbs/07_amp.ipynb nbs/06_train.ipynb ...
# Like .gpu/run-notebooks.sh (same $OUT files, so tools/import_gpu_run.py reads them), but each notebook runs in
# its own process under the time left, the tarballs are rewritten after every notebook, and at the end it runs
# the CLI checks (`bench --device cuda`, the video-decode probe, `demo --device cuda`) with what time remains.
set -uo pipefail
export PYTHONUNBUFFERED=1
start=$(date +%s); deadline=$((start + ${BUDGET:-500}))
left() { echo $((deadline - $(date +%s))); }
export OUT=${OUT:-/tmp/gpuout}; mkdir -p "$OUT"
if [ -z "${SKIP_WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}; export PATH=/tmp/site/bin:$PATH
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export GPUVISION_RESULTS=${GPUVISION_RESULTS:-/tmp/gpuvision-results}; mkdir -p "$GPUVISION_RESULTS"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU") | tee "$OUT/device.txt"
pack() {
  find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | tar czf "$OUT/executed-nbs.tar.gz" -T -
  tar czf "$OUT/results.tar.gz" -C "$GPUVISION_RESULTS" .
}
python3 - <<'PY'
import json, os, torch
json.dump({"torch": torch.__version__, "cuda": torch.version.cuda,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "notebooks": {}},
          open(os.path.join(os.environ["OUT"], "run-notebooks.json"), "w"), indent=1)
PY
for nb in "$@"; do
  t=$(left); [ "$t" -lt 60 ] && { echo "skip $nb: ${t}s left"; continue; }
  s0=$(date +%s)
  timeout -k 5 "$t" python3 - "$nb" <<'PY'
import sys, os, nbformat, nbclient
p = sys.argv[1]; nb = nbformat.read(p, as_version=4); err = None
try:
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(p) or "."}}).execute()
except Exception as e:
    err = f"{type(e).__name__}: {str(e)[-400:]}"
nbformat.write(nb, p)
open("/tmp/nb-error.txt", "w").write(err or "")
sys.exit(1 if err else 0)
PY
  rc=$?; secs=$(( $(date +%s) - s0 ))
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then git checkout -- "$nb" 2>/dev/null; err="timed out after ${secs}s (deadline)"
  else err=$(cat /tmp/nb-error.txt 2>/dev/null); fi
  python3 - "$nb" "$secs" "$err" <<'PY'
import json, os, sys
f = os.path.join(os.environ["OUT"], "run-notebooks.json"); log = json.load(open(f))
log["notebooks"][sys.argv[1]] = {"seconds": float(sys.argv[2]), "error": sys.argv[3] or None}
json.dump(log, open(f, "w"), indent=1)
PY
  echo "$([ -z "$err" ] && echo 'ok  ' || echo FAIL) ${secs}s $nb ${err:0:300}"
  pack
done
t=$(left); if [ "$t" -gt 20 ]; then
  timeout -k 5 $((t < 60 ? t : 60)) python3 -m gpuvision_nb.cli bench --device cuda > "$OUT/cli.txt" 2>&1; echo "bench rc=$?" >> "$OUT/cli.txt"; fi
t=$(left); if [ "$t" -gt 20 ]; then
  timeout -k 5 $((t < 60 ? t : 60)) python3 tools/probe_video_decode.py "$GPUVISION_RESULTS/probe-video-decode.json" >> "$OUT/cli.txt" 2>&1; echo "probe rc=$?" >> "$OUT/cli.txt"; fi
t=$(left); if [ "$t" -gt 30 ]; then
  timeout -k 5 "$t" python3 -m gpuvision_nb.cli demo --device cuda --no-progress --out /tmp/demo >> "$OUT/cli.txt" 2>&1; echo "demo rc=$?" >> "$OUT/cli.txt"
  tar czf "$OUT/demo.tar.gz" -C /tmp demo 2>/dev/null; fi
pack; ls -la "$OUT"; cat "$OUT/cli.txt" | tail -40
