"""Run every chapter on the best device under one time budget and say, per chapter, whether it passed and how long
it took. `make gpu-check` calls this; anyone with a GPU can run it (no network needed there: the notebook stack
comes from `.whl/`, see /work/shared/gpu/README.md or the README's "Recording GPU results").

    python tools/gpu_check.py                                 every chapter, 540 s budget, CUDA required
    python tools/gpu_check.py --allow-cpu 01 02               a rehearsal on the CPU with two chapters
    python tools/gpu_check.py --budget 300 --timeout 120 07   one chapter, at most 120 s

Why this shape. A lent GPU comes for minutes, and a run that dies at minute 9 must still hand back everything that
finished: so each notebook runs in its own process (and process group, so its kernel dies with it) under
min(--timeout, the time left), and the tarballs in --out are rewritten after every notebook, as
tools/run_gpu_session.sh does — tools/import_gpu_run.py reads the same files. The chapters that failed on the last
GPU run, or never ran there, go first (ORDER). The committed notebooks are never modified: the executed copies go
to OUT/nbs/ and are packed as `executed-nbs.tar.gz` with the `nbs/` prefix the importer expects.

Sizes: the chapters choose their sizes from the device they find (`on_gpu`); no chapter read an environment
variable for them before this check. `GPUVISION_GPU_CHECK=1` is set for the notebooks: chapter 07 (194 s of the
last H200 run's 433 s) then runs its knob sweep quick and its epochs shorter; other chapters can follow.

Written to --out (default $OUT, else ./gpu-check-out): executed-nbs.tar.gz, results.tar.gz (the records the
notebooks wrote under $GPUVISION_RESULTS, default OUT/results, plus this run's own `gpu-check--<device>.json`
record with provenance), run-notebooks.json (seconds and error per notebook, as run_gpu_session.sh writes it) and
device.txt. Exit status: 0 when every chapter passed, 1 when one failed, timed out or was skipped for lack of time,
2 on bad arguments or no CUDA without --allow-cpu.
"""
from __future__ import annotations

import argparse, json, os, signal, subprocess, sys, tarfile, time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# GPU-first order: the chapters that failed on the 2026-11-28 H200 run (02 03 08 11 13 14), then those that never
# ran there (00 12 15 17 90), then the rest; anything not listed runs last, in name order.
ORDER = ["02", "03", "08", "11", "13", "14", "00", "12", "15", "17", "90",
         "01", "04", "05", "06", "07", "09", "10", "16", "index"]
MIN_LEFT = 20          # seconds: don't start a notebook with less than this left (it could not finish)


class CheckError(ValueError):
    "A bad argument or environment: one line, no traceback."


@dataclass
class Result:
    "One notebook's outcome: 'ok', 'FAIL', 'timeout' or 'skipped'."
    notebook: str
    status: str
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool: return self.status == "ok"


def _key(p: Path) -> tuple:
    prefix = p.stem.split("_")[0]
    return (ORDER.index(prefix) if prefix in ORDER else len(ORDER), p.name)


def select(names: list[str], nbdir: Path) -> list[Path]:
    """The notebooks to run, in ORDER: all of `nbdir` when `names` is empty, else each name as a path, a file name,
    or a chapter prefix ('07' → nbs/07_amp.ipynb). A name matching nothing is an error."""
    every = [p for p in sorted(nbdir.glob("*.ipynb")) if not p.name.startswith("_")]
    if not names: return sorted(every, key=_key)
    picked = []
    for n in names:
        hits = [p for p in every if n in (str(p), p.name, p.stem, p.stem.split("_")[0])]
        if not hits and Path(n).is_file() and Path(n).suffix == ".ipynb": hits = [Path(n).resolve()]
        if not hits: raise CheckError(f"gpu-check: no notebook {n!r} in {nbdir} (give a path, a name or a prefix like 07)")
        picked += [h for h in hits if h not in picked]
    return sorted(picked, key=_key)


def execute_one(src: Path, dst: Path, cell_timeout: int) -> int:
    "Child process: execute `src` (cwd: its folder) into `dst`; print the error's last line; 0 on success."
    import nbclient, nbformat
    nb = nbformat.read(src, as_version=4); err = None
    try:
        nbclient.NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(src.parent)}}).execute()
    except Exception as e:                                       # the notebook's failure is the result, not a crash
        err = f"{type(e).__name__}: {str(e)[-400:]}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    if err: print(err, file=sys.stderr)
    return 1 if err else 0


def run_notebook(src: Path, dst: Path, timeout: float, python: str = sys.executable) -> Result:
    "Run `src` in its own process group under `timeout` seconds; a timeout kills the group (kernel included)."
    t0 = time.monotonic()
    p = subprocess.Popen([python, __file__, "--execute-one", str(src), str(dst), str(max(1, int(timeout)))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.communicate()
        return Result(src.name, "timeout", time.monotonic() - t0, f"timed out after {timeout:.0f} s")
    secs = time.monotonic() - t0
    if p.returncode == 0: return Result(src.name, "ok", secs)
    return Result(src.name, "FAIL", secs, (err.strip().splitlines() or [f"exit status {p.returncode}"])[-1][-400:])


def pack(out: Path, results: Path) -> None:
    "Rewrite OUT's tarballs from what exists now (executed notebooks as nbs/…, records), each atomically."
    for name, folder, arc in (("executed-nbs.tar.gz", out / "nbs", "nbs"), ("results.tar.gz", results, ".")):
        tmp = out / f".{name}.tmp"
        with tarfile.open(tmp, "w:gz") as t:
            if folder.is_dir(): t.add(folder, arcname=arc)
        tmp.replace(out / name)


def table(results: list[Result], device: str) -> str:
    "The per-chapter table: status, seconds, the error's gist; a total line."
    w = max([len(r.notebook) for r in results] + [8])
    lines = [f"gpu-check on {device}", f"{'notebook':<{w}}  status   seconds  error"]
    for r in results:
        lines.append(f"{r.notebook:<{w}}  {r.status:<7} {r.seconds:8.1f}  {(r.error or '')[:100]}")
    n_ok = sum(r.ok for r in results)
    lines.append(f"{n_ok}/{len(results)} passed in {sum(r.seconds for r in results):.0f} s")
    return "\n".join(lines)


def write_log(out: Path, results: list[Result], info: dict) -> None:
    "run-notebooks.json, in the format tools/import_gpu_run.py reads."
    log = {**info, "notebooks": {f"nbs/{r.notebook}": {"seconds": round(r.seconds, 1), "error": r.error,
                                                       "status": r.status} for r in results}}
    tmp = out / ".run-notebooks.json.tmp"; tmp.write_text(json.dumps(log, indent=1)); tmp.replace(out / "run-notebooks.json")


def write_record(results: list[Result], device: str, folder: Path):
    "This run as a `gpu-check` record (bench.record: provenance, atomic write): one Timing per notebook."
    from gpuvision_nb.bench import Timing, record
    ts = [Timing(r.notebook, device, r.seconds, 0.0, [r.seconds], None, "notebook",
                 {"status": r.status, "error": r.error}) for r in results if r.status != "skipped"]
    if ts: return record("gpu-check", ts, "tools/gpu_check.py: every chapter executed, status and seconds", folder)


def check(notebooks: list[Path], out: Path, budget: float, timeout: float, device: str, results_dir: Path,
          runner=run_notebook, clock=time.monotonic, log=print) -> list[Result]:
    """Run `notebooks` in order within `budget` seconds, each under min(`timeout`, time left); pack and log after
    every one. Returns one Result per notebook (those that could not start: 'skipped')."""
    import torch
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}
    deadline, results = clock() + budget, []
    for nb in notebooks:
        left = deadline - clock()
        if left < MIN_LEFT:
            r = Result(nb.name, "skipped", 0.0, f"{max(left, 0):.0f} s of the {budget:.0f} s budget left")
        else:
            r = runner(nb, out / "nbs" / nb.name, min(timeout, left))
        results.append(r)
        log(f"{'ok  ' if r.ok else r.status:<7} {r.seconds:6.1f} s  {nb.name}  {(r.error or '')[:200]}")
        write_log(out, results, info)
        if r.status != "skipped": write_record(results, device, results_dir); pack(out, results_dir)
    return results


def ensure_nbclient(root: Path = ROOT) -> None:
    "The GPU image lacks nbclient: install the carried wheels of `.whl/` into /tmp/site (no network) if needed."
    try:
        import nbclient, nbformat  # noqa: F401
        return
    except ImportError: pass
    wheels = sorted((root / ".whl").glob("*.whl"))
    if not wheels: raise CheckError("gpu-check: nbclient is not installed and there is no .whl/ folder to install it "
                                    "from (see the README, 'Recording GPU results': make-wheelhouse.sh)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--target", "/tmp/site", *map(str, wheels)], check=True)
    sys.path.insert(0, "/tmp/site")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, ["/tmp/site", os.environ.get("PYTHONPATH")]))


def main(argv=None) -> int:
    if argv is None and sys.argv[1:2] == ["--execute-one"]:
        return execute_one(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="paths, names or prefixes (default: every chapter)")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole run (default 540: 9 minutes)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per notebook at most (default 300)")
    ap.add_argument("--allow-cpu", action="store_true", help="run without CUDA (a rehearsal)")
    ap.add_argument("--out", type=Path, default=None, help="where the tarballs and logs go (default $OUT or ./gpu-check-out)")
    args = ap.parse_args(argv)
    try:
        if args.budget <= 0 or args.timeout <= 0: raise CheckError("gpu-check: --budget and --timeout must be > 0")
        import torch
        if not torch.cuda.is_available() and not args.allow_cpu:
            raise CheckError("gpu-check: no CUDA device here; `make gpu-check GPU_CHECK_ALLOW_CPU=1` rehearses on the CPU")
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        notebooks = select(args.notebooks, ROOT / "nbs")
        ensure_nbclient()
        out = (args.out or Path(os.environ.get("OUT") or Path.cwd() / "gpu-check-out")).resolve()
        out.mkdir(parents=True, exist_ok=True)
        results_dir = Path(os.environ.get("GPUVISION_RESULTS") or out / "results").resolve()
        results_dir.mkdir(parents=True, exist_ok=True)
    except (CheckError, OSError, subprocess.CalledProcessError) as e:
        print(e, file=sys.stderr); return 2
    os.environ.update(GPUVISION_RESULTS=str(results_dir), GPUVISION_GPU_CHECK="1", PYTHONUNBUFFERED="1",
                      PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    sys.path.insert(0, str(ROOT))
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU (rehearsal)"
    (out / "device.txt").write_text(gpu + "\n")
    results = check(notebooks, out, args.budget, args.timeout, device, results_dir)
    print("\n" + table(results, f"{gpu} · torch {torch.__version__}"))
    print(f"\nwritten to {out}: executed-nbs.tar.gz, results.tar.gz, run-notebooks.json "
          f"(import with: python tools/import_gpu_run.py {out})")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
