"""Fault injection (issue 13): every way a run was seen to lie or lose work, reproduced. Each case failed on the code
before issue 13 (5b9cfcf); see the closing note. Runs `gpuvision` in this process (`cli.main`) unless the case needs
real processes (two runs on one folder, SIGKILL); CPU only; about a minute on a 2-core box."""
import contextlib, errno, io, json, multiprocessing, os, random, shutil, signal, subprocess, sys, textwrap, time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gpuvision_nb.checkpoint import load_checkpoint, save_checkpoint

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
FAST = ["--model", "seed", "--size", "16", "--batch-size", "8", "--val-frac", "0.25", "--test-frac", "0.25",
        "--device", "cpu", "--no-progress"]


def make_folder(root: Path, classes=("a", "b"), per_class: int = 16, size: int = 16, seed: int = 0) -> Path:
    "A small ImageFolder: class k is a bright square in corner k on noise."
    rng = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            r, q = divmod(k, 2)
            img[r * size // 2:(r + 1) * size // 2, q * size // 2:(q + 1) * size // 2] = 230
            Image.fromarray(img).save(root / c / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data") / "shapes2")


def cli(*args) -> tuple[int, str, str]:
    "Run `gpuvision args` in this process as a user would: (exit status, stdout, stderr); an uncaught exception is a traceback."
    from gpuvision_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in args])
        except Exception as e: code, _ = 1, err.write(f"Traceback (most recent call last):\n{type(e).__name__}: {e}")
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, *needles: str) -> None:
    "A user error or environment fault: exit status 2, no traceback, and the message says what went wrong."
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    for n in needles: assert n in err, (n, err)


def weights_finite(ck: Path) -> bool:
    from safetensors.torch import load_file
    return all(torch.isfinite(t).all() for t in load_file(ck / "model.safetensors").values() if t.is_floating_point())


def epoch_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("epoch-*"))


# --------------------------------------------------------------------------- extreme arguments

@pytest.mark.parametrize("args, flag", [
    (["train", "--lr", "1e39"], "--lr"), (["train", "--lr", "inf"], "--lr"), (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "0"], "--lr"), (["train", "--seed", "-1"], "--seed"), (["train", "--epochs", "0"], "--epochs"),
    (["train", "--batch-size", "0"], "--batch-size"), (["train", "--size", "100000"], "--size"),
    (["train", "--val-frac", "1.5"], "--val-frac"), (["train", "--nproc", "0"], "--nproc"),
    (["data", "shapes", "--out", "x", "--size", "100000"], "--size"), (["bench", "--min-run-time", "0"], "--min-run-time"),
])
def test_extreme_numbers_are_refused_before_any_work_naming_the_argument(args, flag):
    t0 = time.perf_counter()
    code, out, err = cli(*args)
    one_line_error(code, err, f"argument {flag}: ", "must be")
    assert out == "" and time.perf_counter() - t0 < 5


# --------------------------------------------------------------------------- NaN / inf

def test_non_finite_weights_stop_the_run_before_saving_and_name_the_last_finite_checkpoint(tmp_path, data, monkeypatch):
    "The last update of epoch 2 overflows (the weights go inf/NaN; that step's loss was finite): nothing of epoch 2 is saved."
    import gpuvision_nb.train as T
    from gpuvision_nb.folderdata import folder_loaders
    per_epoch = len(folder_loaders(data, 16, 8, "crop", (0.5, 0.25, 0.25), 0, "cpu").train)
    real, calls = T.train_step, []
    def overflowing(model, *a, **k):
        out = real(model, *a, **k); calls.append(1)
        if len(calls) == 2 * per_epoch:
            with torch.no_grad(): next(model.parameters()).fill_(float("inf"))
        return out
    monkeypatch.setattr(T, "train_step", overflowing)
    out = tmp_path / "run"
    code, _, err = cli("train", "--data", data, "--epochs", "3", "--out", out, "--checkpoint-every", "0", *FAST)   # epoch 1 saved
    one_line_error(code, err, "weights became NaN or infinite", "in epoch 2", f"{out / 'checkpoints' / 'epoch-0001'}")
    assert epoch_dirs(out / "checkpoints") == ["epoch-0001"] and weights_finite(out / "checkpoints" / "epoch-0001")
    assert not (out / "metrics.json").exists()


def test_a_nan_loss_at_any_point_exits_2(tmp_path, data, monkeypatch):
    import gpuvision_nb.train as T
    real = T.train_step
    monkeypatch.setattr(T, "train_step", lambda model, x, *a, **k: real(model, torch.full_like(x, float("nan")), *a, **k))
    code, _, err = cli("train", "--data", data, "--epochs", "2", "--out", tmp_path / "run", *FAST)
    one_line_error(code, err, "training loss became nan in epoch 1", "No finite checkpoint exists")
    assert epoch_dirs(tmp_path / "run" / "checkpoints") == []


# --------------------------------------------------------------------------- one run per folder

def test_reusing_an_out_folder_is_refused_unless_resume_or_overwrite(tmp_path, data):
    out = tmp_path / "run"
    assert cli("train", "--data", data, "--epochs", "3", "--out", out, "--checkpoint-every", "0", *FAST)[0] == 0
    code, _, err = cli("train", "--data", data, "--epochs", "1", "--out", out, *FAST)
    one_line_error(code, err, "already holds a run", "--resume", "--overwrite")
    assert epoch_dirs(out / "checkpoints") == ["epoch-0002", "epoch-0003"]            # untouched
    assert cli("train", "--data", data, "--epochs", "1", "--out", out, "--overwrite", *FAST)[0] == 0
    assert epoch_dirs(out / "checkpoints") == ["epoch-0001"] and json.loads((out / "metrics.json").read_text())["epochs"] == 1
    assert load_checkpoint(out / "checkpoints", _model_for(out))["epoch"] == 1           # `latest` is not dangling
    assert cli("train", "--out", out, "--resume", "--epochs", "2", *FAST[-3:])[0] == 0   # saved settings; extended
    assert epoch_dirs(out / "checkpoints") == ["epoch-0001", "epoch-0002"]


def _model_for(run: Path):
    from gpuvision_nb.models import build_model
    from gpuvision_nb.checkpoint import latest_checkpoint, verify_checkpoint
    return build_model(verify_checkpoint(latest_checkpoint(run / "checkpoints"))["meta"]["model"])


HOLDER = textwrap.dedent('''
    import sys, time, pathlib
    import gpuvision_nb.runs as R
    real = R.fit
    def waiting_fit(*a, **k):                      # hold the folder until the test says so
        print("training", flush=True)
        while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)
        return real(*a, **k)
    R.fit = waiting_fit
    from gpuvision_nb.cli import main
    sys.exit(main(sys.argv[2:]))
''')


def test_two_real_processes_on_one_folder_the_second_fails_at_once(tmp_path, data):
    out, go = tmp_path / "run", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(go), "train", "--data", str(data), "--epochs", "1",
                              "--out", str(out), *FAST], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "training", first.stderr.read()
        # the second run: this process (the first is the real other process that holds the folder)
        code, _, err = cli("train", "--data", data, "--epochs", "1", "--out", out, *FAST)
        one_line_error(code, err, "is in use by another run", f"pid {first.pid}")
        go.touch()
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        first.kill(); first.wait(); first.stdout.close(); first.stderr.close()
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1 and epoch_dirs(out / "checkpoints") == ["epoch-0001"]
    assert not (out / "run.lock").exists()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, data):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "never"), "train", "--data", str(data),
                             "--out", str(out), *FAST], env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "training"
    proc.send_signal(signal.SIGKILL); proc.wait(); proc.stdout.close()
    assert (out / "run.lock").exists()                                          # stale: its process is gone
    assert cli("train", "--data", data, "--epochs", "1", "--out", out, *FAST)[0] == 0


# --------------------------------------------------------------------------- disk full

@pytest.fixture
def small_disk(tmp_path):
    "A 24 MB tmpfs where the test may mount one (root); else None (the write call is made to fail instead)."
    from conftest import tmpfs
    with tmpfs(tmp_path / "disk", "24m") as mnt: yield mnt


def _fill(folder: Path, leave: int) -> None:
    "Fill the file system of `folder` until about `leave` bytes are free."
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "ballast", "wb") as f:
        while free > 0:
            n = f.write(b"\0" * min(free, 1 << 20)); free -= n


def test_disk_full_during_training_is_one_clear_line_and_keeps_the_last_checkpoint(tmp_path, data, small_disk, monkeypatch):
    if small_disk is None:                                 # no tmpfs: the second checkpoint's write fails as a full disk would
        import gpuvision_nb.checkpoint as C
        real, n = C._write_file, []
        def full(path, b):
            n.append(path)
            if len(n) > 3: raise OSError(errno.ENOSPC, "No space left on device")
            return real(path, b)
        monkeypatch.setattr(C, "_write_file", full)
    out = (small_disk or tmp_path) / "run"                 # each checkpoint ~14 MB: the second does not fit in 24 MB
    code, _, err = cli("train", "--data", data, "--epochs", "3", "--out", out, "--checkpoint-every", "0", *FAST)
    one_line_error(code, err, "No space left on device", f"{out / 'checkpoints' / 'epoch-0001'} is intact")
    assert len(err.strip().splitlines()) == 1
    ck = out / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["epoch-0001", "latest"]        # no temporary litter
    assert load_checkpoint(ck, _model_for(out))["epoch"] == 1


def test_disk_full_for_records_and_exports_keeps_the_old_files(tmp_path, small_disk):
    from unittest import mock
    from gpuvision_nb.bench import RecordError, Timing, record
    from gpuvision_nb.robust import export_model, load_exported
    from gpuvision_nb.checkpoint import CheckpointError
    folder = small_disk or tmp_path
    net = torch.nn.Linear(512, 512)
    export_model(net, folder / "m.safetensors")
    record("x", [Timing("t", "cpu", 1.0, 0.0, [1.0])], "x", folder=folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with contextlib.ExitStack() as full:
        if small_disk is not None: _fill(folder, 4096)
        else: full.enter_context(mock.patch("os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")))
        with pytest.raises(CheckpointError, match="No space left on device"):
            export_model(torch.nn.Linear(512, 512), folder / "m.safetensors")
        with pytest.raises(RecordError, match="No space left on device"):
            record("x", [Timing("t", "cpu", 2.0, 0.0, [2.0])] * 200, "x", folder=folder)
    (folder / "ballast").unlink(missing_ok=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before          # old files intact, no temp files
    load_exported(folder / "m.safetensors", net)


# --------------------------------------------------------------------------- malformed checkpoints

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("base") / "run"
    assert cli("train", "--data", data, "--epochs", "1", "--out", out, *FAST)[0] == 0
    return out


def _edit_manifest(fn):
    def damage(ck):
        m = json.loads((ck / "manifest.json").read_text()); (ck / "manifest.json").write_text(json.dumps(fn(m)))
    return damage


def _empty_state(ck):
    from gpuvision_nb.checkpoint import sha256
    torch.save({}, ck / "state.pt")
    m = json.loads((ck / "manifest.json").read_text()); m["sha256"]["state.pt"] = sha256(ck / "state.pt")
    (ck / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("damage, says", [
    (_edit_manifest(lambda m: {k: v for k, v in m.items() if k != "meta"}), "manifest.json lacks ['meta']"),
    (_edit_manifest(lambda m: [m]), "manifest.json is a JSON list"),
    (_empty_state, "state.pt lacks ['epoch'"),
    (lambda ck: (ck.parent / "latest").write_bytes(b"\xff\xfe\x00"), "latest is damaged: not UTF-8"),
    (_edit_manifest(lambda m: {**m, "meta": {**m["meta"], "phases": "abc"}}), "has meta phases 'abc'"),     # was an IndexError
    (_edit_manifest(lambda m: {**m, "meta": {**m["meta"], "data": "abc"}}), "has meta data of type str"),   # was an AttributeError
    (_edit_manifest(lambda m: {**m, "meta": {**m["meta"], "settings": "x"}}), "has meta settings of type str"),
    (_edit_manifest(lambda m: {**m, "meta": {**m["meta"], "phases": [[0, -1]]}}), "has meta phases"),
])
def test_malformed_checkpoints_are_refused_naming_the_file(tmp_path, finished_run, damage, says):
    out = tmp_path / "run"; shutil.copytree(finished_run, out)
    damage(out / "checkpoints" / "epoch-0001")
    code, _, err = cli("train", "--out", out, "--resume", "--epochs", "2", *FAST[-3:])
    one_line_error(code, err, says)


# --------------------------------------------------------------------------- resume and determinism

def test_resume_refuses_changed_settings_and_other_data(tmp_path, finished_run, data):
    out = tmp_path / "run"; shutil.copytree(finished_run, out)
    code, _, err = cli("train", "--out", out, "--resume", "--lr", "0.1", *FAST[-3:])
    one_line_error(code, err, "lr 0.1 (the run has 0.002)")
    other = make_folder(tmp_path / "other", per_class=20, seed=1)                   # the same classes, other images
    code, _, err = cli("train", "--out", out, "--resume", "--epochs", "2", "--data", other, *FAST[-3:])
    one_line_error(code, err, "the data differs", "--force-resume")
    assert cli("train", "--out", out, "--resume", "--epochs", "2", "--data", other, "--force-resume", *FAST[-3:])[0] == 0
    three = make_folder(tmp_path / "three", classes=("a", "b", "c"))
    code, _, err = cli("train", "--out", out, "--resume", "--epochs", "3", "--data", three, "--force-resume", *FAST[-3:])
    one_line_error(code, err, "can't continue on it")


def test_the_same_command_twice_gives_the_same_run_bit_for_bit(tmp_path, data):
    runs = [tmp_path / "a", tmp_path / "b"]
    torch.manual_seed(123); assert cli("train", "--data", data, "--epochs", "2", "--out", runs[0], *FAST)[0] == 0
    torch.manual_seed(456); assert cli("train", "--data", data, "--epochs", "2", "--out", runs[1], *FAST)[0] == 0
    timing = {"train_seconds", "wall_seconds", "images_per_second", "seconds"}
    strip = lambda m: {k: ([{kk: vv for kk, vv in h.items() if kk not in timing} for h in v] if k == "history" else v)
                       for k, v in m.items() if k not in timing}
    a, b = (strip(json.loads((r / "metrics.json").read_text())) for r in runs)
    assert a == b
    from safetensors.torch import load_file
    wa, wb = (load_file(r / "checkpoints" / "epoch-0002" / "model.safetensors") for r in runs)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# --------------------------------------------------------------------------- files others can read

def test_everything_a_run_writes_is_readable_by_others(tmp_path, finished_run):
    from gpuvision_nb.bench import Timing, record
    from gpuvision_nb.robust import export_model
    mask = os.umask(0o022)
    try:
        files = [p for p in finished_run.rglob("*") if p.is_file()]
        files += [record("m", [Timing("t", "cpu", 1.0, 0.0, [1.0])], "x", folder=tmp_path).path]
        e = export_model(torch.nn.Linear(2, 2), tmp_path / "e.safetensors"); files += [e, Path(f"{e}.manifest.json")]
        assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: "0o644" for p in files}
        dirs = [finished_run, *(p for p in finished_run.rglob("*") if p.is_dir())]
        assert {str(p): oct(p.stat().st_mode & 0o777) for p in dirs} == {str(p): "0o755" for p in dirs}
    finally: os.umask(mask)


# --------------------------------------------------------------------------- SIGKILL in a save loop

_KILL_POINTS = ("_write_file", "fsync_path", "write_atomic", "_discard", "_prune", "_sweep")   # checkpoint's steps
_OS_POINTS = ("replace", "rename", "unlink", "fsync")                                            # and the OS calls


def _save_until(folder: str, stop_at: int, fd: int) -> None:
    """A child process: resume from the newest checkpoint, then save back to back (weights = epoch). Every step of a
    save (checkpoint's helpers and the os calls they make) counts as two points, before and after; at point `stop_at`
    the child writes to pipe `fd` and waits there to be killed: the parent kills it at a chosen point, not a chosen time."""
    torch.set_num_threads(1)
    import gpuvision_nb.checkpoint as C
    seen = [0]
    def point():
        seen[0] += 1
        if seen[0] == stop_at:
            os.write(fd, b"!")
            while True: time.sleep(60)
    def hooked(f):
        def g(*a, **k):
            point(); r = f(*a, **k); point(); return r
        return g
    for n in _KILL_POINTS: setattr(C, n, hooked(getattr(C, n)))
    for n in _OS_POINTS: setattr(os, n, hooked(getattr(os, n)))     # a forked child: patches nothing in the parent
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 64))
    epoch = load_checkpoint(folder, model, restore_rng=False)["epoch"] if C.latest_checkpoint(folder) else 0
    while True:
        epoch += 1
        with torch.no_grad():
            for p in model.parameters(): p.fill_(epoch)
        save_checkpoint(folder, model, epoch=epoch, keep=2)


def test_sigkill_at_every_step_of_a_save_loop_never_breaks_latest(tmp_path):
    "Deterministic (issue 21.7): the child says when it reached the chosen point, so a slow machine changes nothing."
    import select
    from gpuvision_nb.checkpoint import verify_checkpoint
    folder, rng, ctx = tmp_path / "ck", random.Random(0), multiprocessing.get_context("fork")
    newest, stops = 0, [1, 2, 3] + [rng.randrange(1, 120) for _ in range(27)]
    for stop_at in stops:
        r, w = os.pipe()
        child = ctx.Process(target=_save_until, args=(str(folder), stop_at, w)); child.start(); os.close(w)
        ready, _, _ = select.select([r], [], [], 300)        # a guard against a hang, not a timing assumption
        reached = bool(ready) and os.read(r, 1) == b"!"; os.close(r)
        os.kill(child.pid, signal.SIGKILL); child.join()
        assert reached, f"the child died or hung before point {stop_at} (exit code {child.exitcode})"
        m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 64))
        if newest or (folder / "latest").exists():
            info = load_checkpoint(folder, m, restore_rng=False)    # `latest` always names a complete, verified checkpoint
            assert info["epoch"] >= newest and all(torch.all(p == info["epoch"]) for p in m.parameters())
            newest = info["epoch"]
        for ck in folder.glob("epoch-*"): verify_checkpoint(ck)     # and no checkpoint is ever half there
    assert newest > 10                                        # the kills landed inside saves, at many different steps
    save_checkpoint(folder, m, epoch=newest + 1)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*epoch_dirs(folder), "latest"])   # litter swept


# --------------------------------------------------------------------------- records and data folders

def test_report_skips_a_corrupt_record_with_one_warning(tmp_path, monkeypatch):
    from gpuvision_nb.bench import Timing, record
    results = tmp_path / "results"
    record("goodexp", [Timing("t", "cpu", 1.0, 0.0, [1.0], 10, "img")], "x", folder=results)
    (results / "broken--cpu.json").write_text("{not json")
    (results / "binary--cpu.json").write_bytes(b"\xff\xfe")
    monkeypatch.setenv("GPUVISION_RESULTS", str(results))
    code, out, err = cli("report")
    assert code == 0 and "goodexp" in out and "Traceback" not in err
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("gpuvision report: warning: skipped record file") for w in warnings)
    assert "broken--cpu.json" in err and "binary--cpu.json" in err


def test_directory_symlink_loops_are_not_followed(tmp_path):
    from gpuvision_nb.data import load_folder
    root = make_folder(tmp_path / "d", per_class=4)
    (root / "a" / "loop").symlink_to("..", target_is_directory=True)               # a/loop -> d: every image again
    ds = load_folder(root, size=16)
    assert len(ds) == 8 and len({Path(p).resolve() for p, _ in ds.samples}) == 8
