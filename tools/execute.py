"""Execute notebooks in place the way the committed notebooks should be stored: outputs, widget state, and static
fallbacks for every widget (see tools/nbwidgets.py), then `nbdev_clean`.

  python tools/execute.py nbs/06_train.ipynb nbs/08_prune.ipynb     execute (cwd nbs/, PYTHONPATH = this checkout)
  python tools/execute.py --fallbacks-only nbs/*.ipynb               only redraw widget fallbacks from stored state

Every widget output is stored as its static picture only (tools/nbwidgets.py draws it; tools/normalize_nbs.py
--static-widgets drops the live widget data): restored without a kernel, live widgets read as broken in JupyterLab.
After `nbdev_clean`, the notebook gets the kernelspec and language_info JupyterLab writes (normalize_nbs.py), so that
opening it untouched does not mark it modified, and `metadata.gpuvision.run` records how long it took and where
(the course site shows it).
Records written while executing go where `GPUVISION_RESULTS` points (default: nbs/results/, as when a chapter is run
by hand). Exits 1 if a notebook fails; the failing notebook is left unchanged.
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbwidgets import add_fallbacks  # noqa: E402
from normalize_nbs import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, nb) -> None:
    "Write `nb` as the repository stores notebooks (1-space indent, UTF-8, trailing newline)."
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def machine() -> str:
    "Where a notebook ran, in words: the GPU's name, else the CPU's core count."
    try:
        import torch
        if torch.cuda.is_available(): return torch.cuda.get_device_name(0)
    except ImportError: pass
    return f"a {os.cpu_count()}-core CPU ({platform.machine()}), no GPU"


def execute(path: Path, timeout: int) -> float:
    "Run every cell of `path` (cwd: its folder; this checkout importable), store widget state; seconds taken."
    nb = nbformat.read(path, as_version=4)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    write(path, nb)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--fallbacks-only", action="store_true", help="don't execute; redraw widget fallbacks only")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = ap.parse_args(argv)
    failed = []
    for path in args.notebooks:
        if not path.is_file(): print(f"execute: {path} does not exist", file=sys.stderr); failed.append(path); continue
        seconds = None
        if not args.fallbacks_only:
            try: seconds = execute(path, args.timeout); print(f"{path}: executed in {seconds:.0f} s", flush=True)
            except Exception as e:                                   # nbclient's CellExecutionError and kernel deaths
                print(f"execute: {path} failed, left unchanged:\n{e}", file=sys.stderr); failed.append(path); continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        n = add_fallbacks(nb)
        if seconds is not None:
            nb["metadata"].setdefault("gpuvision", {})["run"] = {"seconds": round(seconds, 1), "machine": machine()}
        write(path, nb)
        subprocess.run(["nbdev_clean", "--fname", str(path.resolve())], check=True, cwd=ROOT)
        normalize(path, widgets=True)
        print(f"{path}: {n} widget output(s), stored as static pictures")
    return 1 if failed else 0


if __name__ == "__main__": sys.exit(main())
