"""Bring a GPU run of the notebooks into the repository, keeping CI (nbval on a CPU) green.

On the lent GPU machine `.gpu/run-notebooks.sh` (see CONTRIBUTING in README.md) writes to its $OUT folder:
executed-nbs.tar.gz, results.tar.gz, run-notebooks.json and device.txt. Point this script at that folder:

    python tools/import_gpu_run.py OUT_DIR [--dry-run]

What it does, and refuses to do:
- A notebook that ran without error replaces the committed one (with static fallbacks for its stored widgets, as
  tools/execute.py adds them, then `nbdev_clean`), so readers see real GPU outputs. A notebook that failed there is
  left as it is and listed.
- CI runs the committed notebooks on a CPU and compares every `# NBVAL_CHECK_OUTPUT` cell with its stored output.
  So each such cell must print the same on the GPU as in the committed CPU run; a notebook where one differs is
  NOT imported, and the cell is shown (make its output device-independent, or mark it `# NBVAL_IGNORE_OUTPUT`).
- Records: only GPU records (`*--<gpu name>.json`) from results.tar.gz go to nbs/results/, each validated with
  `gpuvision_nb.bench.load_record` first. CPU records made on the GPU machine's CPU are skipped: the committed CPU
  records describe the course's 2-core CPU, and mixing machines would make the CPU column meaningless.
Exit status: 0 when everything that ran was imported, 1 when something was skipped or refused, 2 on bad input.
"""
import argparse, json, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbwidgets import add_fallbacks  # noqa: E402
from normalize_nbs import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECK = "# NBVAL_CHECK_OUTPUT"


def _outputs(cell) -> list:
    """A code cell's outputs as nbval compares them: consecutive stream outputs of one stream merged (how a kernel
    chunks printed text varies from run to run), without the fields that legitimately differ between runs."""
    out = []
    for o in cell.outputs:
        o = {k: v for k, v in o.items() if k not in ("execution_count", "metadata")}
        if o["output_type"] == "stream" and out and out[-1]["output_type"] == "stream" and out[-1]["name"] == o["name"]:
            out[-1] = {**out[-1], "text": out[-1]["text"] + o["text"]}
        else: out.append(o)
    return out


def check_cells(cpu_nb, gpu_nb) -> list[str]:
    "The `# NBVAL_CHECK_OUTPUT` cells whose outputs differ between two runs of a notebook (or that don't line up)."
    cpu = [c for c in cpu_nb.cells if c.cell_type == "code"]
    gpu = [c for c in gpu_nb.cells if c.cell_type == "code"]
    if [c.source for c in cpu] != [c.source for c in gpu]:
        return ["the code cells differ from the committed notebook (was it edited after the GPU run?)"]
    bad = []
    for i, (a, b) in enumerate(zip(cpu, gpu)):
        src = a.source
        if src.lstrip().startswith(CHECK) and _outputs(a) != _outputs(b):
            bad.append(f"code cell {i + 1}: " + " | ".join(src.splitlines()[1:3])[:90])
    return bad


def import_notebooks(out: Path, tmp: Path, log: dict, root: Path, dry: bool) -> list[str]:
    "Untar the executed notebooks into `tmp`, import the good ones; return the problems."
    with tarfile.open(out / "executed-nbs.tar.gz") as t: t.extractall(tmp / "nbs-gpu", filter="data")
    problems = []
    for rel, info in sorted(log.get("notebooks", {}).items()):
        if info.get("error"):
            problems.append(f"{rel}: failed on the GPU ({info['error'][:120]}); kept the committed version"); continue
        ran, committed = tmp / "nbs-gpu" / rel, root / rel
        if not ran.exists() or not committed.exists():
            problems.append(f"{rel}: missing from the run or from the repository"); continue
        bad = check_cells(nbformat.read(committed, 4), nbformat.read(ran, 4))
        if bad:
            problems.append(f"{rel}: NBVAL_CHECK_OUTPUT differs on the GPU, not imported:\n    " + "\n    ".join(bad)); continue
        print(f"notebook  {rel}  ({info.get('seconds')} s on {log.get('gpu')})")
        if not dry:
            nb = json.loads(ran.read_text(encoding="utf-8"))
            add_fallbacks(nb)                          # stored widgets readable without a kernel (tools/nbwidgets.py)
            if isinstance(info.get("seconds"), (int, float)):           # the course site shows where and how long it ran
                nb["metadata"].setdefault("gpuvision", {})["run"] = {"seconds": round(info["seconds"], 1), "machine": str(log.get("gpu"))}
            committed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            subprocess.run([str(Path(sys.executable).parent / "nbdev_clean"), "--fname", str(committed)], check=True)
            normalize(committed, widgets=True)         # JupyterLab's metadata (after nbdev_clean, which undoes it)
    return problems


def import_records(out: Path, tmp: Path, root: Path, dry: bool) -> list[str]:
    "Copy the valid GPU records of results.tar.gz into nbs/results/; return the problems."
    from gpuvision_nb.bench import RecordError, load_record
    with tarfile.open(out / "results.tar.gz") as t: t.extractall(tmp / "results", filter="data")
    problems, dest = [], root / "nbs" / "results"
    for p in sorted((tmp / "results").rglob("*.json")):
        try: rec = load_record(p)
        except RecordError as e: problems.append(f"record {p.name}: invalid ({e})"); continue
        if not rec.gpu: print(f"skipped   {p.name} (a CPU record of the GPU machine)"); continue
        print(f"record    {p.name}  ({rec.provenance.get('date', '?')})")
        if not dry: shutil.copyfile(p, dest / p.name)
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the folder with executed-nbs.tar.gz, results.tar.gz, run-notebooks.json")
    ap.add_argument("--dry-run", action="store_true", help="report what would be imported; change nothing")
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this checkout)")
    a = ap.parse_args(argv)
    need = [a.out / f for f in ("executed-nbs.tar.gz", "results.tar.gz", "run-notebooks.json")]
    missing = [str(p) for p in need if not p.is_file()]
    if missing: print(f"import_gpu_run: missing {', '.join(missing)}", file=sys.stderr); return 2
    log = json.loads((a.out / "run-notebooks.json").read_text())
    if not log.get("gpu"): print(f"import_gpu_run: {need[2]} says the run had no GPU; nothing to import", file=sys.stderr); return 2
    with tempfile.TemporaryDirectory() as d:
        problems = (import_notebooks(a.out, Path(d), log, a.root, a.dry_run)
                    + import_records(a.out, Path(d), a.root, a.dry_run))
    for p in problems: print("NOT IMPORTED  " + p)
    if not a.dry_run: print("next: python tools/render.py all (README/docs), make test, commit notebooks + nbs/results")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
