"""Execute notebooks in place the way the committed notebooks should be stored: outputs, widget state, and static
fallbacks for every widget (see tools/nbwidgets.py), then `nbdev_clean`.

  python tools/execute.py nbs/06_train.ipynb nbs/08_prune.ipynb     execute (cwd nbs/, PYTHONPATH = this checkout)
  python tools/execute.py --fallbacks-only nbs/*.ipynb               only redraw widget fallbacks from stored state

Every widget output is stored as its static picture only (tools/nbwidgets.py draws it; tools/normalize_nbs.py
--static-widgets drops the live widget data): restored without a kernel, live widgets read as broken in JupyterLab.
After `nbdev_clean`, the notebook gets the kernelspec and language_info JupyterLab writes (normalize_nbs.py), so that
opening it untouched does not mark it modified, and `metadata.gpuvision.run` records how long it took and where
(the course site shows it), with `others_busy`: the share of the machine's CPU time that *other* processes used
meanwhile. A busy machine skews every timing in a notebook (two programs' OpenMP threads on two cores can make a
training step ten times slower), so this tool warns when the share exceeds BUSY, and a test keeps notebooks executed on
a busy machine out of the repository.
Records written while executing go where `GPUVISION_RESULTS` points (default: nbs/results/, as when a chapter is run
by hand). Exits 1 if a notebook fails; the failing notebook is left unchanged.
"""
import argparse, json, os, platform, subprocess, sys, threading, time
from pathlib import Path

import psutil

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbwidgets import add_fallbacks  # noqa: E402
from normalize_nbs import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUSY = 0.15          # most of the CPU that other processes may take while a notebook's timings are measured


class OthersBusy:
    """`with OthersBusy() as load:` samples, every `interval` s, the CPU time used by the whole machine and by this
    process's tree (the kernel and what it starts, finished children included); `load.share` is then the part of all
    cores' time used by other processes: 0 on a quiet machine, 0.5 when another program kept one of two cores busy."""
    def __init__(self, interval: float = 0.5): self.interval, self.others, self.share = interval, 0.0, 0.0

    @staticmethod
    def _machine() -> float:
        t = psutil.cpu_times()
        return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))

    @staticmethod
    def _tree() -> float:
        me = psutil.Process()
        total = 0.0
        for p in [me, *me.children(recursive=True)]:
            try: t = p.cpu_times(); total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error: pass                            # ended between the listing and the reading
        return total

    def _sample(self) -> tuple[float, float]: return self._machine(), self._tree()

    @staticmethod
    def others_between(last: tuple[float, float], now: tuple[float, float]) -> float:
        """CPU seconds other processes used between two (machine, tree) samples; never negative (a finished child's
        time reaches its parent's counters only when it is reaped, possibly an interval late)."""
        return max(0.0, (now[0] - last[0]) - (now[1] - last[1]))

    def _run(self) -> None:
        last = self._sample()
        while not self._stop.wait(self.interval):
            now = self._sample()
            self.others += self.others_between(last, now)
            last = now

    def __enter__(self):
        self._stop, self._t0 = threading.Event(), time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True); self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set(); self._thread.join()
        wall = time.perf_counter() - self._t0
        self.share = self.others / (wall * (psutil.cpu_count() or 1)) if wall > 0 else 0.0


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


def execute(path: Path, timeout: int) -> tuple[float, float]:
    """Run every cell of `path` (cwd: its folder; this checkout importable), store widget state; (seconds taken, the
    share of the CPU other processes used meanwhile)."""
    nb = nbformat.read(path, as_version=4)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    t0 = time.perf_counter()
    with OthersBusy() as load:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    write(path, nb)
    return time.perf_counter() - t0, load.share


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
            try:
                seconds, busy = execute(path, args.timeout)
                print(f"{path}: executed in {seconds:.0f} s; other processes used {busy:.0%} of the CPU", flush=True)
                if busy > BUSY:
                    print(f"execute: warning: {path}'s timings were measured on a busy machine (other processes used "
                          f"{busy:.0%} of the CPU, more than {BUSY:.0%}): run it again on a quiet one before committing it",
                          file=sys.stderr)
            except Exception as e:                                   # nbclient's CellExecutionError and kernel deaths
                print(f"execute: {path} failed, left unchanged:\n{e}", file=sys.stderr); failed.append(path); continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        n = add_fallbacks(nb)
        if seconds is not None:
            nb["metadata"].setdefault("gpuvision", {})["run"] = {"seconds": round(seconds, 1), "machine": machine(),
                                                                 "others_busy": round(busy, 3)}
        write(path, nb)
        subprocess.run(["nbdev_clean", "--fname", str(path.resolve())], check=True, cwd=ROOT)
        normalize(path, widgets=True)
        print(f"{path}: {n} widget output(s), stored as static pictures")
    return 1 if failed else 0


if __name__ == "__main__": sys.exit(main())
