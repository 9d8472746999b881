"""A careless or unlucky user's `gpuvision` runs (found by hostile testing): an output path that is not a file (a
device, a pipe, a link to one), standard output that is closed or full. Each must end in one line naming what is
wrong and a non-zero exit status — never a traceback, never a device node replaced by a file, never exit 0 for
output that went nowhere."""
import os, socket, stat, subprocess, sys
from pathlib import Path

import pytest

from gpuvision_nb.bench import RecordError, write_atomic

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, **kw):
    "`python -m gpuvision_nb.cli ARGS` in a subprocess (stdout/stderr as given in `kw`), running this checkout's package."
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "gpuvision_nb.cli", *map(str, args)], env=env, timeout=300, **kw)


def _special(tmp_path, kind) -> Path:
    "A path in `tmp_path` that is no regular file: a FIFO, a link to one (as /dev/stdout is to a pipe), or a socket."
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    if kind == "fifo": return fifo
    if kind == "link-to-fifo": (tmp_path / "stdout").symlink_to(fifo); return tmp_path / "stdout"
    s = socket.socket(socket.AF_UNIX); s.bind(str(tmp_path / "sock")); s.close()
    return tmp_path / "sock"


@pytest.mark.parametrize("kind", ["fifo", "link-to-fifo", "socket"])
def test_a_file_output_never_replaces_a_device_or_pipe(tmp_path, kind, gpuvision):
    """`report --chart /dev/full` used to say 'chart saved' and exit 0 — having renamed a PNG over the device node
    (as root: /dev/full, /dev/null became files). Every atomic write (`write_files`) and every command's early check
    (`ensure_writable`) now refuses a target that is not a regular file."""
    target = _special(tmp_path, kind)
    mode = os.stat(target).st_mode
    with pytest.raises(RecordError, match="not a file"): write_atomic(target, "data")
    r = gpuvision("report", "--chart", target)
    assert r.returncode == 2 and "not a file" in r.stderr and str(target) in r.stderr and "Traceback" not in r.stderr
    assert os.stat(target).st_mode == mode and not stat.S_ISREG(mode)          # still the pipe (or socket) it was
    assert (tmp_path / "stdout").is_symlink() or kind != "link-to-fifo"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]       # no temporary file left beside it
