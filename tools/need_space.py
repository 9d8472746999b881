"""Stop early, with a message that says what to do, when the disk can't hold what is about to be installed.

    python tools/need_space.py PATH GIB

Exits 0 when the file system that PATH is on (or would be on: its nearest existing parent) has at least GIB GiB free,
and 1 with a message on stderr otherwise. The Makefile runs it before it creates the virtual environment: torch's CUDA
build and the dev tools take about 6.4 GiB there, and pip, when the disk fills half-way, stops with a bare OSError and
a venv that is half installed."""
import shutil, sys
from pathlib import Path


def free_gib(path: Path) -> float:
    "GiB free to this user on the file system that `path`, or its nearest existing parent, is on."
    path = path.absolute()
    while not path.exists(): path = path.parent
    return shutil.disk_usage(path).free / 2**30


def main(argv: list[str]) -> int:
    if len(argv) != 2: print(__doc__, file=sys.stderr); return 2
    path, need = Path(argv[0]), float(argv[1])
    free = free_gib(path)
    if free >= need: return 0
    print(f"error: not enough disk space for {path}: {free:.1f} GiB free there, about {need:g} GiB needed "
          f"(torch's CUDA build and the dev tools). Free some space, or put the environment on another disk: "
          f"make test VENV=/other/disk/venv", file=sys.stderr)
    return 1


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
