"""Shared fixtures: every test writes its records to a private folder, never into nbs/results/.

GPU-only failure classes, caught on the CPU: with GPUVISION_REDUCED_PRECISION=1 (or =tf32 / =bf16) every test runs
under `ReducedPrecision`, which rounds the float32 operands of convolutions and matmuls the way an Ampere+ GPU's
tensor cores do under TF32 — convolutions whenever `torch.backends.cudnn.allow_tf32` is on (PyTorch's default, so
on a GPU "fp32" convolutions are TF32 unless a block says `tf32(False)`), matmuls when
`torch.backends.cuda.matmul.allow_tf32` is on. A tolerance that holds only in true fp32 then fails here too, as it
did on the H200 (`torch.set_float32_matmul_precision` has no effect on a CPU, hence the emulation). The
`reduced_precision` fixture gives the same context to a single test."""
import contextlib, io, os, random, sys, traceback, warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

REDUCED_ENV = "GPUVISION_REDUCED_PRECISION"
CONVS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution"}
MATMULS = {"mm", "matmul", "bmm", "addmm", "baddbmm", "addmv", "mv", "linear", "einsum", "__matmul__", "__rmatmul__"}


def round_mantissa(x, bits: int):
    "A float32 tensor rounded (to nearest, ties to even) to `bits` mantissa bits, still float32: 10 = TF32, 7 = bf16."
    if not (isinstance(x, torch.Tensor) and x.dtype == torch.float32): return x
    drop = 23 - bits
    i = x.view(torch.int32)                       # same item size: a view whatever the strides (channels_last kept)
    i = (i + ((1 << (drop - 1)) - 1) + ((i >> drop) & 1)) & ~((1 << drop) - 1)
    return torch.where(x.isfinite(), i.view(torch.float32), x)


class ReducedPrecision(TorchFunctionMode):
    """Round float32 inputs of convolutions (when cuDNN's TF32 flag is on) and matmuls (when cuBLAS's is) to `bits`
    mantissa bits before the op; accumulation stays float32, as on a tensor core. Forward ops only (autograd's
    backward matmuls are not torch functions)."""
    def __init__(self, bits: int = 10):
        super().__init__(); self.bits = bits; self.rounded = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        on = (name in CONVS and torch.backends.cudnn.allow_tf32) or (name in MATMULS and torch.backends.cuda.matmul.allow_tf32)
        if on:
            r = lambda a: round_mantissa(a, self.bits) if isinstance(a, torch.Tensor) else \
                (type(a)(round_mantissa(t, self.bits) for t in a) if isinstance(a, (list, tuple)) else a)
            args, kwargs = tuple(r(a) for a in args), {k: r(v) for k, v in kwargs.items()}
            self.rounded += 1
        return func(*args, **kwargs)


def _bits() -> int | None:
    v = os.environ.get(REDUCED_ENV, "").strip().lower()
    if v in ("", "0", "false", "no"): return None
    if v in ("1", "tf32", "true", "yes"): return 10
    if v == "bf16": return 7
    raise pytest.UsageError(f"{REDUCED_ENV}={v!r}: use 1/tf32 (10 mantissa bits) or bf16 (7)")


if os.environ.get("PYTEST_XDIST_WORKER"):      # under pytest-xdist: the workers share the cores, one torch thread each
    torch.set_num_threads(1)


@dataclass
class Ran:
    "What a `gpuvision` run left: the fields of `subprocess.CompletedProcess(..., text=True)` that the tests read."
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _process_state():
    """Restore what a command may change in this process: os.environ (all of it, e.g. `run_nproc` sets
    GPUVISION_NPROC_WORKER), the working folder, torch's threads, random states, deterministic-kernel and TF32 flags,
    and the warnings filters."""
    env, cwd, threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    rng = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
    try:
        with warnings.catch_warnings(): yield
    finally:
        os.environ.clear(); os.environ.update(env); os.chdir(cwd); torch.set_num_threads(threads)
        random.setstate(rng[0]); np.random.set_state(rng[1]); torch.random.set_rng_state(rng[2])
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = flags[2:6]
        torch.set_float32_matmul_precision(flags[6])


def run_cli(*args, stdin: bytes | None = None, **env) -> Ran:
    """`gpuvision ARGS` run in this process (`gpuvision_nb.cli.main`, what the console script calls), with `env`
    added to the environment and `stdin` as its standard input: a `Ran` like the subprocess's, without the ~3 s
    start-up. As in the real process, `SystemExit` gives its status and an uncaught exception status 1 and a
    traceback on stderr (so "no Traceback" assertions still mean something). For tests where the process boundary is
    not the point; a console-script, signal or import test runs the real executable."""
    from gpuvision_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with _process_state():
        os.environ.update({k: str(v) for k, v in env.items()})
        saved_stdin = sys.stdin
        if stdin is not None: sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try: code = main([str(a) for a in args])
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
                    if not isinstance(e.code, (int, type(None))): print(e.code, file=sys.stderr)
                except Exception:
                    code = 1; traceback.print_exc()
        finally: sys.stdin = saved_stdin
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture
def gpuvision():
    "`run_cli`: call `gpuvision(*args, stdin=None, **env)` for a `Ran` (returncode, stdout, stderr)."
    return run_cli


@pytest.fixture(autouse=True)
def _scratch_results(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUVISION_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("GPUVISION_DEVICE", raising=False)


@pytest.fixture
def undrawable(monkeypatch):
    "A character no installed font draws (`bench.fonts_for` answers so), for tests of what a figure does with such names."
    from gpuvision_nb import bench
    monkeypatch.setattr(bench, "fonts_for", lambda names: (["DejaVu Sans"], {"\ue000"}))
    return "\ue000"


@pytest.fixture
def auto_is_unavailable(monkeypatch):
    """'auto' names a device this machine lacks (GPUVISION_DEVICE=cuda): a function that drops the `device=` it was given
    and falls back to 'auto' then fails, instead of silently running where 'auto' happens to point."""
    if torch.cuda.is_available(): pytest.skip("'auto' is a real GPU here: a dropped device= would go unnoticed")
    monkeypatch.setenv("GPUVISION_DEVICE", "cuda")


@pytest.fixture(autouse=True)
def _reduced_precision_everywhere():
    "Under GPUVISION_REDUCED_PRECISION, every test runs as a GPU's TF32 (or bf16) tensor cores would compute it."
    bits = _bits()
    if bits is None: yield; return
    with ReducedPrecision(bits): yield


@pytest.fixture
def reduced_precision():
    "A factory of `ReducedPrecision` contexts (bits=10: TF32), for a test that checks a tolerance against it."
    return ReducedPrecision


# torch 2.14's Inductor emits at::vec code (transposes, 16-lane loads) that does not compile when
# ATEN_CPU_CAPABILITY=default forces ATen's scalar kernels: a CppCompileError in torch's generated C++, not in this
# package (seen for a conv model and for a 2-layer MLP). A real CPU picks its own ISA, so this only skips the forced check.
inductor_needs_a_real_isa = pytest.mark.skipif(os.environ.get("ATEN_CPU_CAPABILITY") == "default",
                                               reason="Inductor's C++ does not compile under ATEN_CPU_CAPABILITY=default (torch bug)")


# --- charts a reader can read (test_bench, test_evidence): no two drawn labels on top of each other ---

def drawn_texts(fig) -> list:
    """(text, box in pixels) of every label drawn on `fig`: tick labels inside the view, axis labels, titles,
    annotations."""
    import matplotlib.text
    fig.canvas.draw()
    r, out = fig.canvas.get_renderer(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * (hi - lo)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if tick.label1.get_visible() and tick.label1.get_text() and lo - tol <= tick.get_loc() <= hi + tol:
                    out.append(tick.label1)
        out += [t for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label] if t.get_text()]
    return [(t.get_text(), t.get_window_extent(r)) for t in out if isinstance(t, matplotlib.text.Text)]


def overlapping_labels(fig) -> list:
    "Pairs of drawn labels of `fig` whose boxes overlap (by more than half a pixel)."
    from itertools import combinations
    boxes = drawn_texts(fig)
    return [(a, b) for (a, ba), (b, bb) in combinations(boxes, 2)
            if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 0.5 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 0.5]


def dead_process_tag() -> str:
    "The process tag (`files._process_tag`: pid namespace, pid, start time) of a process that has exited and been reaped."
    import subprocess
    from gpuvision_nb.files import _process_tag
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try: tag = _process_tag(p.pid)
    finally: p.communicate()
    assert tag is not None and _process_tag(p.pid) != tag
    return tag


linux_tags = pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="process tags are read from Linux's /proc")


@contextlib.contextmanager
def tmpfs(folder, size: str):
    """`folder` (made here) as a file system of its own for the block — a tmpfs of `size` ('24m'), unmounted after —
    or None where one can't be mounted (not root, or a system that forbids it): the caller fakes the fault or skips."""
    import subprocess
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        yield None; return
    try: yield folder
    finally: subprocess.run(["umount", "-l", str(folder)], capture_output=True)
