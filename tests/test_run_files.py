"""The files of a run folder and of a checkpoint folder, as a hostile tester sees them: a user's own file named like
one we write (`run.lock`, `latest`) is refused and kept, never taken over, replaced or deleted; the run folder's files
agree with each other after a resume that failed; every writer is all-or-nothing."""
import errno, json, os, re
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch.nn as nn

from gpuvision_nb.checkpoint import (LATEST, LOCK, CheckpointError, checkpoints, latest_checkpoint, lock_folder,
                                     save_checkpoint)

FULL = OSError(errno.ENOSPC, "No space left on device")


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


def _users(folder: Path, name: str, kind: str) -> tuple[Path, dict]:
    """Put a user's `kind` of thing named `name` in `folder`; return its path and a snapshot to compare with later."""
    folder.mkdir(parents=True, exist_ok=True)
    p, target = folder / name, folder.parent / f"{folder.name}-precious.txt"
    if kind == "text": p.write_text("my notes\n")
    elif kind == "empty": p.write_bytes(b"")
    elif kind == "folder": p.mkdir(); (p / "inside.txt").write_text("mine")
    elif kind == "link": target.write_text("precious\n"); p.symlink_to(target)
    elif kind == "dangling": p.symlink_to(folder.parent / "nowhere")
    elif kind == "checkpoint-name-in-a-link": target.write_text("epoch-0001"); p.symlink_to(target)
    return p, _snapshot(folder.parent)


def _snapshot(root: Path) -> dict:
    "Every path under `root` with what it is: a link's target, a file's bytes, or 'dir'."
    out = {}
    for p in sorted(root.rglob("*")):
        out[p.relative_to(root)] = (("link", os.readlink(p)) if p.is_symlink() else ("dir",) if p.is_dir()
                                    else ("file", p.read_bytes()))
    return out


# ---- 1. a user's run.lock ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "empty", "folder", "link", "dangling"])
def test_a_users_run_lock_is_refused_and_left_as_it_is(tmp_path, kind):
    lock, before = _users(tmp_path / "run", LOCK, kind)
    with pytest.raises(CheckpointError, match=f"{lock}.*not a lock file"):
        with lock_folder(tmp_path / "run"): pass
    assert _snapshot(tmp_path) == before


def test_a_lock_file_is_never_seen_empty_and_a_stale_one_is_still_taken_over(tmp_path):
    "What only lock_folder writes: a regular file whose text begins 'pid N on ' from the moment it exists."
    seen = []
    real_flock = __import__("fcntl").flock
    def spy(fd, op):                                            # what another process would read when it tries the lock
        seen.append(os.pread(fd, 100, 0)); return real_flock(fd, op)
    with mock.patch("fcntl.flock", spy):
        with lock_folder(tmp_path / "run") as path: inside = path.read_text()
    assert seen and all(s.startswith(b"pid ") for s in seen) and inside.startswith(f"pid {os.getpid()} on ")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []            # no temporary file left either
    (tmp_path / "run" / LOCK).write_text("pid 4194303 on elsewhere, since 2020-01-01 00:00:00")   # a dead run's
    with lock_folder(tmp_path / "run"): pass
    assert not (tmp_path / "run" / LOCK).exists()


def test_a_lock_file_replaced_by_the_user_during_the_run_is_not_deleted(tmp_path):
    with lock_folder(tmp_path / "run") as path:
        path.unlink(); path.write_text("my notes\n")            # the user's own file took the name meanwhile
    assert path.read_text() == "my notes\n"


def test_train_into_a_folder_with_a_users_run_lock_is_one_line_and_keeps_it(tmp_path, gpuvision):
    from test_run_folder import _folder
    data = _folder(tmp_path / "data")
    lock, before = _users(tmp_path / "run", LOCK, "link")
    r = gpuvision("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run", "--size", "16", "--batch-size", "8",
                  "--augment", "none", "--device", "cpu", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(lock) in r.stderr
    assert {k: v for k, v in _snapshot(tmp_path).items() if k.parts[0] != "data"} == \
           {k: v for k, v in before.items() if k.parts[0] != "data"}


# ---- 1. a user's latest ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "empty", "folder", "link", "dangling", "checkpoint-name-in-a-link"])
def test_a_users_latest_is_refused_before_any_work_and_left_as_it_is(tmp_path, kind):
    latest, before = _users(tmp_path / "ck", LATEST, kind)
    with pytest.raises(CheckpointError, match=f"{latest}.*not written by save_checkpoint"):
        save_checkpoint(tmp_path / "ck", tiny(), epoch=1)
    assert _snapshot(tmp_path) == before


def test_fit_refuses_a_users_latest_before_training(tmp_path):
    from gpuvision_nb.train import fit
    latest, before = _users(tmp_path / "ck", LATEST, "link")
    batches = [(torch.randn(2, 4), torch.tensor([0, 1]))]
    with mock.patch("gpuvision_nb.train.train_step", side_effect=AssertionError("trained")):
        with pytest.raises(CheckpointError, match=f"{latest}"):
            fit(tiny(), batches, epochs=1, device="cpu", ckpt_dir=tmp_path / "ck", progress=False)
    assert _snapshot(tmp_path) == before


def test_our_own_latest_is_still_replaced(tmp_path):
    save_checkpoint(tmp_path, tiny(), epoch=1)
    save_checkpoint(tmp_path, tiny(), epoch=2)
    assert (tmp_path / LATEST).read_text() == "epoch-0002" and latest_checkpoint(tmp_path).name == "epoch-0002"


# ---- save_checkpoint's own leftovers and a failed save of an epoch saved before ----------------------------------
def test_the_sweep_of_leftovers_spares_a_users_hidden_folders(tmp_path):
    save_checkpoint(tmp_path, tiny(), epoch=1)
    for name in (".epoch-notes", ".trash-can", ".epoch-0001-mine"):
        (tmp_path / name).mkdir(); (tmp_path / name / "x.txt").write_text("mine")
    (tmp_path / ".epoch-0002-abcd1234").mkdir(); (tmp_path / ".trash-epoch-0001-77-123").mkdir()   # a killed save's
    save_checkpoint(tmp_path, tiny(), epoch=2)
    assert sorted(p.name for p in tmp_path.glob(".*")) == [".epoch-0001-mine", ".epoch-notes", ".trash-can"]


@pytest.mark.parametrize("fails", ["publish", "latest"])
def test_a_failed_save_of_an_epoch_saved_before_keeps_the_old_one(tmp_path, fails):
    "Saving epoch 1 again (a resumed run that redoes it): a failure leaves the first epoch-0001 and `latest` as they were."
    from safetensors.torch import load_file
    first = tiny(); save_checkpoint(tmp_path, first, epoch=1)
    before = _snapshot(tmp_path)
    other = tiny(); other[1].weight.data += 1
    target = "gpuvision_nb.checkpoint.os.replace" if fails == "publish" else "gpuvision_nb.checkpoint.write_atomic"
    real = os.replace
    def replace(a, b):
        if Path(b).name == "epoch-0001": raise FULL
        return real(a, b)
    with mock.patch(target, replace if fails == "publish" else mock.Mock(side_effect=CheckpointError("latest: full"))):
        with pytest.raises(CheckpointError, match="previous checkpoint .*epoch-0001 is intact"):
            save_checkpoint(tmp_path, other, epoch=1)
    assert _snapshot(tmp_path) == before
    assert torch.equal(load_file(latest_checkpoint(tmp_path) / "model.safetensors")["1.weight"], first[1].weight)


# ---- 2. a resume that fails leaves a run folder whose files agree --------------------------------------------------
REPORT = ("metrics.json", "splits.csv", "predictions.csv", "confusion.png", "misclassified.png", "skipped.csv")
RUN = dict(device="cpu", progress=False, size=16, batch_size=8, augment="none")


def _agree(out: Path) -> None:
    """The run folder's files describe one state: a metrics.json (if any) is that of the newest checkpoint and of the
    best model in best/; the other report files exist only beside it; best/ holds a checkpoint."""
    from gpuvision_nb.checkpoint import verify_checkpoint
    best = verify_checkpoint(latest_checkpoint(out / "best"))["meta"]["best"]
    if not (out / "metrics.json").exists():
        assert not [f for f in REPORT if (out / f).exists()], "report files without the metrics.json they belong to"
        return
    m = json.loads((out / "metrics.json").read_text())
    assert (m["epochs"], m["best_epoch"]) == (verify_checkpoint(latest_checkpoint(out / "checkpoints"))["epoch"], best["epoch"])


@pytest.mark.parametrize("fails", ["in an epoch", "at a checkpoint", "in the report"])
def test_a_resume_that_fails_leaves_files_that_agree_and_the_earlier_best_model(tmp_path, monkeypatch, fails):
    import gpuvision_nb.runs as R, gpuvision_nb.train as T
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    first = R.run_training(str(data), epochs=2, out=out, **RUN)
    best_before = (out / "best" / f"epoch-{first['best_epoch']:04d}" / "model.safetensors").read_bytes()
    report_before = {f: (out / f).read_bytes() for f in REPORT if (out / f).exists()}
    monkeypatch.setattr(R, "_better", lambda h, best: best is None)      # the resumed epochs are no better: best/ stays
    if fails == "in an epoch":                                        # e.g. Ctrl-C inside epoch 4 (epoch 3 is saved)
        real, calls = T.train_step, []
        def step(*a, **k):
            calls.append(1)
            if len(calls) > 1.5 * first["updates_per_epoch"]: raise KeyboardInterrupt
            return real(*a, **k)
        monkeypatch.setattr(T, "train_step", step); expected = KeyboardInterrupt
    elif fails == "at a checkpoint":                                  # the disk fills at epoch 4's checkpoint
        import gpuvision_nb.checkpoint as C
        real_write = C._write_file
        def write(path, b):
            if "epoch-0004" in path.parent.name: raise FULL
            return real_write(path, b)
        monkeypatch.setattr(C, "_write_file", write); expected = CheckpointError
    else:                                                             # every epoch saved, then the disk fills in the report
        import tempfile
        from gpuvision_nb.files import WriteError
        real_mkstemp = tempfile.mkstemp
        def mkstemp(*a, prefix="", **k):
            if prefix.startswith(".confusion.png."): raise FULL
            return real_mkstemp(*a, prefix=prefix, **k)
        monkeypatch.setattr(tempfile, "mkstemp", mkstemp); expected = WriteError
    with pytest.raises(expected):
        R.run_training(out=out, resume=True, epochs=4, device="cpu", progress=False)
    _agree(out)
    report_now = {f: (out / f).read_bytes() for f in REPORT if (out / f).exists()}
    assert report_now in ({}, report_before), "a report of one evaluation with files of another"
    assert (out / "best" / f"epoch-{first['best_epoch']:04d}" / "model.safetensors").read_bytes() == best_before
    monkeypatch.undo()
    m = R.run_training(out=out, resume=True, epochs=4, device="cpu", progress=False)      # and it can be finished
    assert m["epochs"] == 4 and all((out / f).exists() for f in ("metrics.json", "splits.csv", "predictions.csv"))
    _agree(out)


@pytest.mark.parametrize("every", [0, 10])
def test_an_interruption_between_an_epochs_checkpoint_and_its_best_model_is_caught_up_on_resume(tmp_path, monkeypatch, every):
    """Ctrl-C while KeepBest saves a better epoch (its checkpoint is already written): the resumed run's best/ and
    metrics.json must still name the best epoch of the history by BEST_RULE, not the one before it. `every`: the
    run's checkpoint_every — 0, or 10 s with epochs of 20 s (every epoch saved; KeepBest writes best/ deferred)."""
    import gpuvision_nb.runs as R
    from gpuvision_nb.checkpoint import verify_checkpoint
    from test_run_folder import _folder
    from test_train import Clock
    if every: Clock(monkeypatch, tick=20)
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    monkeypatch.setattr(R, "_better", lambda h, best: best is None or h["epoch"] == 2)    # epoch 2 is the best
    real_save = R.save_checkpoint
    def save(folder, *a, **k):
        if Path(folder).name == "best" and k.get("epoch") == 2: raise KeyboardInterrupt     # (KeepBest passes it by name)
        return real_save(folder, *a, **k)
    monkeypatch.setattr(R, "save_checkpoint", save)
    with pytest.raises(KeyboardInterrupt): R.run_training(str(data), epochs=3, out=out, **RUN, checkpoint_every=every)
    assert verify_checkpoint(latest_checkpoint(out / "checkpoints"))["epoch"] == 2          # saved before the best
    monkeypatch.setattr(R, "save_checkpoint", real_save)
    m = R.run_training(out=out, resume=True, device="cpu", progress=False)
    assert m["best_epoch"] == 2 and verify_checkpoint(latest_checkpoint(out / "best"))["epoch"] == 2
    _agree(out)


@pytest.mark.parametrize("kill", ["in epoch 5", "right after checkpoint 3"])
def test_a_run_killed_between_checkpoints_resumes_to_the_uninterrupted_run_and_its_best_model(tmp_path, monkeypatch, kill):
    """checkpoint_every=10 with epochs of 4 s (a fake clock): checkpoints after epochs 3 and 6 only. Epoch 2 is the
    best, held back by KeepBest: it must reach best/ before checkpoint 3 — written after it, a kill in between would
    lose it for good (the resumed run starts after epoch 3). Killed in epoch 5 or right after checkpoint 3, the
    resumed run redoes the unsaved epochs and ends as the uninterrupted one: same history, best epoch, weights."""
    import gpuvision_nb.runs as R, gpuvision_nb.train as T
    from test_run_folder import _folder
    from test_train import Clock
    data = _folder(tmp_path / "data")
    monkeypatch.setattr(R, "_better", lambda h, best: best is None or h["epoch"] == 2)
    train = lambda out, **k: R.run_training(**({} if k.get("resume") else {"data": str(data)}), epochs=6, out=out,
                                            checkpoint_every=10, **RUN, **k)
    weights = lambda out, d: (latest_checkpoint(out / d) / "model.safetensors").read_bytes()
    Clock(monkeypatch); ref = train(tmp_path / "ref")
    assert [p.name for p in checkpoints(tmp_path / "ref" / "checkpoints")] == ["epoch-0003", "epoch-0006"]
    Clock(monkeypatch); out = tmp_path / "run"
    if kill == "in epoch 5":
        real, steps = T.train_step, []
        def step(*a, **k):
            steps.append(1)
            if len(steps) > 4.5 * ref["updates_per_epoch"]: raise KeyboardInterrupt
            return real(*a, **k)
        monkeypatch.setattr(T, "train_step", step)
    else:
        real_save = T.save_checkpoint
        def save(folder, *a, **k):
            real_save(folder, *a, **k)
            if a[4] == 3: raise KeyboardInterrupt
        monkeypatch.setattr(T, "save_checkpoint", save)
    with pytest.raises(KeyboardInterrupt): train(out)
    assert latest_checkpoint(out / "checkpoints").name == "epoch-0003"
    monkeypatch.setattr(T, "train_step", real if kill == "in epoch 5" else T.train_step)
    monkeypatch.setattr(T, "save_checkpoint", real_save if kill != "in epoch 5" else T.save_checkpoint)
    Clock(monkeypatch); m = train(out, resume=True)
    strip = lambda hist: [{k: v for k, v in h.items() if k not in ("seconds", "images_per_second")} for h in hist]
    assert strip(m["history"]) == strip(ref["history"]) and m["best_epoch"] == ref["best_epoch"] == 2
    assert weights(out, "best") == weights(tmp_path / "ref", "best") and weights(out, "checkpoints") == weights(tmp_path / "ref", "checkpoints")
    _agree(out)


# ---- 3. the writers: all or nothing, no folder left that they made, nothing deleted that they did not make ----------
def _export(path): from gpuvision_nb.modelfile import export_model; export_model(tiny(), path)
def _record(path):
    from gpuvision_nb.bench import Timing, record
    record("exp", [Timing("x", "cpu", 1.0, 0.1, [1.0], 1, "img", {})], "a test", path=path)
def _video(path):
    av = pytest.importorskip("av")
    if "libx264" not in av.codecs_available: pytest.skip("no libx264 in this PyAV build")
    from gpuvision_nb.videofile import bar_frames, write_video
    write_video(path, bar_frames(4, 16))
def _save_model(path):
    from gpuvision_nb.deploy import Preprocess, save_model
    from gpuvision_nb.models import get_model
    save_model(get_model("seed", 2, size=16), path, Preprocess(16, (.5,) * 3, (.5,) * 3, 3, ("a", "b")))
def _torchscript(path):
    from gpuvision_nb.deploy import Preprocess, export
    from gpuvision_nb.models import get_model
    export(get_model("seed", 2, size=16), path, "torchscript", Preprocess(16, (.5,) * 3, (.5,) * 3, 3, ("a", "b")), overwrite=True)
def _figure(path):
    import matplotlib.pyplot as plt
    from gpuvision_nb.runs import save_figure
    save_figure(plt.figure(), path)


@pytest.mark.parametrize("write, name", [(_export, "m.safetensors"), (_record, "r.json"), (_figure, "f.png"), (_video, "v.mp4"),
                                         (_save_model, "m.safetensors"), (_torchscript, "m.pt")])   # 17's writers: helper's find
@pytest.mark.parametrize("fault", [FULL, KeyboardInterrupt()])
def test_a_writer_that_fails_keeps_the_old_file_and_leaves_nothing_it_made(tmp_path, write, name, fault):
    (tmp_path / "old").mkdir(); write(tmp_path / "old" / name)   # an earlier version, which a failed write must keep
    before = _snapshot(tmp_path)
    with mock.patch("gpuvision_nb.files.os.replace", side_effect=fault):
        for target in (tmp_path / "old" / name, tmp_path / "new" / "deeper" / name):
            with pytest.raises((type(fault), OSError, CheckpointError, __import__("gpuvision_nb.files").files.WriteError,
                                __import__("gpuvision_nb.bench").bench.RecordError)):
                write(target)
    assert _snapshot(tmp_path) == before                      # no new/deeper/, no temporary file, the old file whole


@pytest.mark.parametrize("write, name", [(_export, "m.safetensors"), (_record, "r.json"), (_figure, "f.png"), (_video, "v.mp4")])
def test_a_writer_replaces_a_link_it_is_given_never_the_file_behind_it(tmp_path, write, name):
    (tmp_path / "precious.txt").write_text("precious\n"); (tmp_path / name).symlink_to(tmp_path / "precious.txt")
    write(tmp_path / name)
    assert (tmp_path / "precious.txt").read_text() == "precious\n" and not (tmp_path / name).is_symlink()


def test_overwrite_never_deletes_a_users_folders_beside_the_run(tmp_path):
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    for name in (".run.new", ".run.old"):                     # a user's hidden folders that happen to bear these names
        (tmp_path / name).mkdir(); (tmp_path / name / "notes.txt").write_text("mine")
    before = {k: v for k, v in _snapshot(tmp_path).items() if k.parts[0].startswith(".run.")}
    (tmp_path / ".run.new-abcd1234" / "checkpoints").mkdir(parents=True)      # what an --overwrite killed outright left
    (tmp_path / ".run.new-abcd1234").chmod(0o700)
    R.run_training(str(data), epochs=1, out=out, overwrite=True, **RUN)
    assert {k: v for k, v in _snapshot(tmp_path).items() if k.parts[0].startswith(".run.")} == before



def test_ctrl_c_during_the_overwrite_swap_waits_until_the_new_run_is_in(tmp_path, monkeypatch, request):
    """A Ctrl-C that lands between two of the swap's renames: without holding it the folder kept part of each run and
    the old one's rest in a hidden sibling. Now it is delivered after the swap: the new run whole, nothing beside it.
    Python's own Ctrl-C handler for the test's length: a runner that ignores SIGINT (mutmut's workers) would keep it
    ignored, rightly, and no KeyboardInterrupt would come."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    import gpuvision_nb.runs as R
    from gpuvision_nb.checkpoint import verify_checkpoint
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    real_replace, calls = Path.replace, []
    def replace(self, target):                                 # Ctrl-C right after the swap's first rename
        r = real_replace(self, target); calls.append((self, Path(target)))
        if len(calls) == 1: signal.raise_signal(signal.SIGINT)
        return r
    monkeypatch.setattr(Path, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        R.run_training(str(data), epochs=2, out=out, overwrite=True, **RUN)
    monkeypatch.undo()
    assert len(calls) > 2                                      # the swap went on after the signal
    assert calls[0][0].parent == out and calls[0][1].parent.name.startswith(".run.old-")   # moved aside where _warn_killed_swaps looks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    assert verify_checkpoint(latest_checkpoint(out / "checkpoints"))["epoch"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_uninterrupted_delivers_the_first_signal_after_the_block_to_the_handler_in_place():
    import signal
    from gpuvision_nb.runs import _uninterrupted
    got = []
    before = signal.signal(signal.SIGTERM, lambda n, _: got.append(n))
    try:
        with _uninterrupted():
            signal.raise_signal(signal.SIGTERM); signal.raise_signal(signal.SIGINT)
            assert got == []                                   # held inside
        assert got == [signal.SIGTERM]                         # the first one, once, after; SIGINT's is dropped with it
    finally: signal.signal(signal.SIGTERM, before)


def test_an_old_sibling_left_by_a_killed_swap_is_named_in_a_warning_and_kept(tmp_path):
    """Only a SIGKILL mid-swap leaves `.NAME.old-XXXXXXXX`: it may be the only copy of the old run. The next run on the
    folder says so, naming it; a user's folder of a similar name is not taken for one."""
    import re, tempfile, warnings
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    left = Path(tempfile.mkdtemp(prefix=".run.old-", dir=tmp_path)); (left / "metrics.json").write_text("{}")
    (tmp_path / ".run.old-notes").mkdir()                      # a user's: not 8 characters of mkdtemp's
    said = (f"{left} holds files of a run that --overwrite was replacing when it was killed: {out} may mix the old run and "
            "the new one; check both, then delete that folder")
    with pytest.warns(UserWarning, match=re.escape(said)) as caught:
        R.run_training(out=out, resume=True, epochs=2, device="cpu", progress=False)
    assert len([w for w in caught if "--overwrite was replacing" in str(w.message)]) == 1
    assert (left / "metrics.json").read_text() == "{}" and (tmp_path / ".run.old-notes").is_dir()
    left.rename(tmp_path / "elsewhere")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        R.run_training(out=out, resume=True, epochs=3, device="cpu", progress=False)

# ---- 4. two runs into one checkpoint folder, a read-only run folder, a user's files beside a run, Ctrl-C ------------
def test_fit_into_a_checkpoint_folder_another_run_holds_fails_at_once(tmp_path):
    "flock locks belong to an open file: a second open in this process conflicts as another process's would."
    from gpuvision_nb.checkpoint import FolderInUseError
    from gpuvision_nb.train import fit
    batches = [(torch.randn(2, 4), torch.tensor([0, 1]))]
    with lock_folder(tmp_path / "ck"):
        with mock.patch("gpuvision_nb.train.train_step", side_effect=AssertionError("trained")):
            with pytest.raises(FolderInUseError, match=f"pid {os.getpid()}"):
                fit(tiny(), batches, epochs=1, device="cpu", ckpt_dir=tmp_path / "ck", progress=False)
    fit(tiny(), batches, epochs=1, device="cpu", ckpt_dir=tmp_path / "ck", progress=False)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch-0001", "latest"]       # its lock removed


CLI_FAST = ["--size", "16", "--batch-size", "8", "--augment", "none", "--device", "cpu", "--no-progress"]


def test_a_read_only_run_folder_is_one_line_and_nothing_is_trained(tmp_path, gpuvision, monkeypatch):
    "As root a chmod does not stop writes: the file system's refusal (EROFS) is made by the call that would meet it."
    import tempfile
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    out.mkdir()
    real = tempfile.mkstemp
    def mkstemp(*a, dir=None, **k):
        if dir is not None and Path(dir) == out: raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr("gpuvision_nb.train.train_step", mock.Mock(side_effect=AssertionError("trained")))
    r = gpuvision("train", "--data", data, "--epochs", "1", "--out", out, *CLI_FAST)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"{out / LOCK}: Read-only file system" in r.stderr and list(out.iterdir()) == []


def test_a_users_files_beside_a_run_survive_train_resume_and_overwrite(tmp_path, gpuvision):
    "Beside the run's files and inside its checkpoints/ folder: --resume and --overwrite replace only what a run wrote."
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    assert gpuvision("train", "--data", data, "--epochs", "1", "--out", out, *CLI_FAST).returncode == 0
    (out / "notes.txt").write_text("mine"); (out / "plots").mkdir(); (out / "plots" / "a.png").write_bytes(b"x")
    (out / "checkpoints" / "README").write_text("mine too")
    users = lambda: {k: v for k, v in _snapshot(out).items() if k.name in ("notes.txt", "plots", "a.png", "README")}
    mine = users()
    for extra in (["--resume", "--epochs", "2"], ["--overwrite", "--epochs", "1"]):
        r = gpuvision("train", "--data", data, "--out", out, *extra, *CLI_FAST)
        assert r.returncode == 0 and users() == mine, (extra, r.stderr)


STAGES = {"lock": "gpuvision_nb.checkpoint._create_lock", "data": "gpuvision_nb.runs._data",
          "training": "gpuvision_nb.train.train_step", "checkpoint": "gpuvision_nb.checkpoint._write_file",
          "best model": "gpuvision_nb.runs.KeepBest._keep", "report": "gpuvision_nb.runs.figure_png"}


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("how", ["new", "resume"])
def test_ctrl_c_at_each_stage_is_one_line_and_leaves_a_consistent_folder(tmp_path, gpuvision, monkeypatch, stage, how):
    from gpuvision_nb.runs import previous_run
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    if how == "resume": assert gpuvision("train", "--data", data, "--epochs", "1", "--out", out, *CLI_FAST).returncode == 0
    before = _snapshot(tmp_path)
    monkeypatch.setattr(STAGES[stage], mock.Mock(side_effect=KeyboardInterrupt))
    r = gpuvision("train", "--data", data, "--out", out, *(["--resume", "--epochs", "2"] if how == "resume" else ["--epochs", "1"]), *CLI_FAST)
    assert r.returncode == 130 and r.stderr.count("\n") == 1 and r.stderr.startswith("gpuvision train: interrupted"), r.stderr
    kept, said = previous_run(out) if out.exists() else None, re.search(r"keeps epoch (\d+) of (\d+)", r.stderr)   # what the line says is there
    if said:                                                      # an extension cut short says its --epochs again
        target = 2 if how == "resume" else 1
        more = "" if kept["settings"]["epochs"] == target else f" --epochs {target}"
        assert kept["epoch"] == int(said[1]) and r.stderr.endswith(f"of {target} (its last checkpoint): continue with gpuvision "
                                                                   f"train --out {out} --resume{more}\n"), r.stderr
    elif "nothing was kept" in r.stderr: assert how == "new" and not (kept and "epoch" in kept)
    else: assert r.stderr == "gpuvision train: interrupted\n" and stage in ("lock", "data")    # before the run began
    left = [p.name for p in tmp_path.rglob("*") if p.name == LOCK or p.name.endswith(".tmp") or p.name.startswith((".epoch-", ".trash-", ".run."))]
    assert left == []
    if how == "new": assert not out.exists() or stage in ("best model", "report") and previous_run(out) is not None
    else:
        _agree(out)
        if stage in ("lock", "data"): assert _snapshot(tmp_path) == before       # nothing changed before training began


def test_a_resume_refused_for_its_arguments_keeps_the_report(tmp_path):
    "A user error found when the resumed training starts (a schedule cut short) must not cost the finished run its report."
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=2, out=out, **RUN)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match="cut its schedule short"):
        R.run_training(out=out, resume=True, epochs=1, device="cpu", progress=False)
    assert _snapshot(tmp_path) == before


def test_a_resume_whose_report_cannot_be_written_is_refused_before_training(tmp_path):
    "A folder where the report's metrics.json goes: refused by name before the resumed training, not after it."
    import gpuvision_nb.runs as R, gpuvision_nb.train as T
    from gpuvision_nb.files import WriteError
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    (out / "confusion.png").unlink(); (out / "confusion.png").mkdir()
    with mock.patch.object(T, "train_step", side_effect=AssertionError("trained")):
        with pytest.raises(WriteError, match=f"{out / 'confusion.png'}: it is a folder"):
            R.run_training(out=out, resume=True, epochs=2, device="cpu", progress=False)
    assert (out / "metrics.json").exists() and (out / "confusion.png").is_dir()


def _stopped_at(monkeypatch, epoch, stop=KeyboardInterrupt):
    "runs.fit stopped by `stop` (Ctrl-C, or the CLI's SIGTERM) right after epoch `epoch`'s end (after its checkpoint, if due)."
    import gpuvision_nb.runs as R
    real = R.fit
    def fit(*a, on_epoch=None, **k):
        def stop_then(history):
            if on_epoch is not None: on_epoch(history)
            if len(history) >= epoch: raise stop()
        return real(*a, on_epoch=stop_then, **k)
    monkeypatch.setattr(R, "fit", fit)


@pytest.mark.parametrize("every, said", [(0, "{out} keeps epoch 2 of 4 (its last checkpoint): continue with gpuvision train --out {out} --resume"),
                                         (3600, "nothing was kept: it stopped before its first checkpoint, written after 3600 s "
                                                "(--checkpoint-every) or at the last epoch")])
def test_an_interrupted_run_says_what_it_kept_and_how_to_go_on(tmp_path, monkeypatch, gpuvision, every, said):
    """Ctrl-C in `gpuvision train` said only 'interrupted': whether any epoch was kept, and what to type next, the user
    had to find out. Now the line says so — and what it says is true: the run resumes from that epoch, or there is none."""
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    _stopped_at(monkeypatch, 2)
    r = gpuvision("train", "--data", data, "--out", out, "--epochs", "4", "--size", "16", "--batch-size", "8", "--augment",
                  "none", "--device", "cpu", "--no-progress", "--checkpoint-every", every)
    assert r.returncode == 130 and r.stderr.splitlines()[-1] == f"gpuvision train: interrupted; {said.format(out=out)}", r.stderr
    import gpuvision_nb.runs as R
    kept = R.previous_run(out)
    assert (kept or {}).get("epoch") == (2 if every == 0 else None)      # what the line says is what is there
    if every: assert not out.exists()                                    # (a run with nothing kept leaves no folder)


def test_an_overwrite_stopped_by_sigterm_says_the_earlier_run_is_kept(tmp_path, monkeypatch, gpuvision):
    "`--overwrite` interrupted: the new run is discarded and the earlier one stays — the line says so (SIGTERM: status 143)."
    import gpuvision_nb.cli as cli
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    args = ["train", "--data", data, "--out", out, "--epochs", "1", "--size", "16", "--batch-size", "8", "--augment", "none",
            "--device", "cpu", "--no-progress"]
    assert gpuvision(*args).returncode == 0
    before = (out / "metrics.json").read_bytes()
    _stopped_at(monkeypatch, 1, lambda: cli.Terminated("SIGTERM"))
    r = gpuvision(*args, "--overwrite")
    assert r.returncode == 143 and r.stderr.splitlines()[-1] == \
        f"gpuvision train: terminated (SIGTERM); the new run was discarded; {out} holds the earlier run, as it was", r.stderr
    assert (out / "metrics.json").read_bytes() == before


def test_an_interruption_outside_a_run_adds_nothing_to_the_line():
    "`_kept`: only an interruption that says what it kept (run_training's) gets more than 'interrupted'."
    import gpuvision_nb.cli as cli
    assert cli._kept(KeyboardInterrupt()) == "" and cli._kept(cli.Terminated("SIGTERM")) == ""
    e = KeyboardInterrupt(); e.kept = "x kept"
    assert cli._kept(e) == "; x kept"


def test_train_fast_is_a_setting_of_the_run_passed_to_fit_and_kept_on_resume(tmp_path, monkeypatch, gpuvision):
    """`gpuvision train --fast` gives fit its fast path (the library's, chapter 06: on a GPU bf16, CUDA graphs, the
    compiled fused update); it is recorded with the run's settings, and a resume keeps it: asking to change it is
    refused by name, as for the other settings. On a CPU it changes nothing: the same weights as without it."""
    import gpuvision_nb.runs as R
    from safetensors.torch import load_file
    from test_run_folder import _folder
    data = _folder(tmp_path / "data")
    asked, real = [], R.fit
    monkeypatch.setattr(R, "fit", lambda *a, **k: asked.append(k["fast"]) or real(*a, **k))
    args = ["--data", data, "--epochs", "1", "--size", "16", "--batch-size", "8", "--augment", "none", "--device", "cpu", "--no-progress"]
    assert gpuvision("train", *args, "--out", tmp_path / "fast", "--fast").returncode == 0
    assert gpuvision("train", *args, "--out", tmp_path / "plain").returncode == 0
    assert asked == [True, False]
    metrics = lambda run: json.loads((tmp_path / run / "metrics.json").read_text())
    assert (metrics("fast")["settings"]["fast"], metrics("plain")["settings"]["fast"]) == (True, False)
    weights = lambda run: load_file(next((tmp_path / run / "best").rglob("*.safetensors")))
    a, b = weights("fast"), weights("plain")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)       # a CPU: the same run, bit for bit
    r = gpuvision("train", "--out", tmp_path / "fast", "--resume", "--epochs", "2", "--no-progress")
    assert r.returncode == 0 and asked[-1] is True, r.stderr                          # kept without being given again
    r = gpuvision("train", "--out", tmp_path / "plain", "--resume", "--epochs", "2", "--fast", "--no-progress")
    assert r.returncode == 2 and "these differ: fast True (the run has False)" in r.stderr, r.stderr


def test_a_run_saved_before_a_setting_existed_resumes_with_its_default():
    "A run's saved settings from before `fast` existed: resuming it compares a new setting with its default, not None."
    from gpuvision_nb.runs import TRAIN_DEFAULTS, run_settings
    saved = {**TRAIN_DEFAULTS, "lr": 0.1, "batch_size": 8, "epochs": 1}; del saved["fast"]
    assert run_settings({"fast": False}, saved)["fast"] is False
    with pytest.raises(ValueError, match=r"fast True \(the run has False\)"): run_settings({"fast": True}, saved)


# ---- survivors of tools/mutate.py runs --sample 25 --seed 902 -------------------------------------------------------

def test_resuming_a_run_whose_latest_is_damaged_names_the_folder_and_the_damage(tmp_path):
    "--resume on a run whose `latest` points outside its folder: a CheckpointError naming the run folder and what is wrong."
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data", {"a": 2, "b": 2}), tmp_path / "run"
    save_checkpoint(out / "checkpoints", tiny(), epoch=1)
    (out / "checkpoints" / LATEST).write_text("../../etc")
    with pytest.raises(CheckpointError) as e:
        R.run_training(str(data), epochs=2, out=out, resume=True, **RUN)
    assert str(e.value).startswith(f"can't resume the run in {out}: ") and LATEST in str(e.value)


def test_overwrite_of_a_run_whose_checkpoint_folders_were_deleted(tmp_path):
    "A user who deleted an old run's checkpoints/ and best/ to free space (metrics.json kept) can still --overwrite it."
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    out.mkdir(); (out / "metrics.json").write_text(json.dumps({"history": []}))
    R.run_training(str(data), epochs=1, out=out, overwrite=True, **RUN)
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1 and latest_checkpoint(out / "checkpoints")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_users_files_named_like_a_runs_are_refused_and_kept_even_with_overwrite(tmp_path, overwrite):
    "--out holding a user's own metrics.json and best/ (no run's): a FileExistsError naming them; both left as they were."
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data", {"a": 2, "b": 2}), tmp_path / "mine"
    (out / "best").mkdir(parents=True); (out / "best" / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text('{"my": "numbers"}')
    before = _snapshot(out)
    with pytest.raises(FileExistsError, match=r"holds best, metrics\.json, named like a run's files, but no run"):
        R.run_training(str(data), epochs=1, out=out, overwrite=overwrite, **RUN)
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["data", "mine"]


def test_a_run_into_a_path_with_a_tilde_goes_into_the_home_folder(tmp_path, monkeypatch):
    """`train --out=~/runs/a` trained into ./~/runs/a and said 'wrote ~/runs/a/metrics.json' (see test_files_faults:
    every writer takes '~' as the home folder)."""
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, home, work = _folder(tmp_path / "data"), tmp_path / "home", tmp_path / "work"; home.mkdir(); work.mkdir()
    monkeypatch.setenv("HOME", str(home)); monkeypatch.chdir(work)
    m = R.run_training(str(data), epochs=1, out="~/runs/a", **RUN)
    assert m["out"] == str(home / "runs" / "a") and (home / "runs" / "a" / "metrics.json").is_file() and list(work.iterdir()) == []


def test_a_report_csv_keeps_every_file_name_as_it_is():
    """The decision on CSV formula injection (`runs._csv`): a name that a spreadsheet would run ('=1+1', '-x', '@y')
    or that holds a comma, a quote or a newline is written so that a CSV reader reads back exactly that name."""
    import csv, io
    from gpuvision_nb.runs import _csv
    names = ["=HYPERLINK(\"http://x\")", "+1", "-rf", "@sum", "a,b.png", 'say "hi".png', "two\nlines.png", "é.png"]
    rows = list(csv.reader(io.StringIO(_csv([(n, "test") for n in names], ("path", "split")))))
    assert rows == [["path", "split"]] + [[n, "test"] for n in names]


@pytest.fixture
def mount_point(tmp_path):
    "A folder that is a file system of its own (a small tmpfs): needs root and a system that lets it mount; else skipped."
    from conftest import tmpfs
    with tmpfs(tmp_path / "disk", "64m") as point:
        if point is None: pytest.skip("mounting a tmpfs needs root and a system that permits it")
        yield point


def test_overwrite_of_a_run_on_a_mount_point_swaps_it_in(tmp_path, mount_point):
    """`train --out /mnt/disk --overwrite` (a disk mounted where the runs go) trained the whole run, then failed with
    '[Errno 18] Invalid cross-device link': the new run was made beside the mount point, on the other file system,
    and could not be renamed in; both sibling folders (a whole run) were left on that other disk. It is now made
    inside the mount point, and swapped in; the user's notes stay."""
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data = _folder(tmp_path / "data")
    R.run_training(str(data), epochs=1, out=mount_point, **RUN)
    (mount_point / "notes.txt").write_text("mine")
    m = R.run_training(str(data), epochs=1, out=mount_point, overwrite=True, **RUN)
    assert m["out"] == str(mount_point) and (mount_point / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "disk"]           # nothing left beside the disk
    assert not [p for p in mount_point.iterdir() if p.name.startswith(".")]          # nor in it


def test_overwrite_of_a_run_whose_parent_folder_is_not_ours_swaps_it_in(tmp_path, monkeypatch):
    """`train --out /data/me --overwrite`, /data not writable for the user (only their run folder is): 'Permission
    denied' on a hidden sibling '.me.new-…' the user never named. The new run is now made inside the run folder.
    (The parent's permission is mocked: root may write any folder.)"""
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "parent" / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == out.parent else real(p, mode, **k))
    swapped, swap_in = [], R._swap_in
    monkeypatch.setattr(R, "_swap_in", lambda new, out_: swapped.append(new.parent) or swap_in(new, out_))
    R.run_training(str(data), epochs=1, out=out, overwrite=True, **RUN)
    assert swapped == [out] and sorted(p.name for p in out.parent.iterdir()) == ["run"]     # the new run was made in it


def _failing_swap(monkeypatch, fail: set, seen: list):
    """Make the renames (`Path.replace`) of `runs._swap_in` fail with EIO at the calls numbered in `fail` (1 = first;
    the renames that undo a failed swap count on), the rest of the run untouched; `seen` gets each call's source."""
    import gpuvision_nb.runs as R
    swap_in, real = R._swap_in, Path.replace
    def flaky(self, target):
        seen.append(self)
        if len(seen) in fail: raise OSError(errno.EIO, "Input/output error")
        return real(self, target)
    def swap(new, out):
        with mock.patch.object(Path, "replace", flaky): swap_in(new, out)
    monkeypatch.setattr(R, "_swap_in", swap)


@pytest.mark.parametrize("where", ["the first file moved aside", "the first file moved in", "the last file moved in"])
def test_an_overwrite_whose_swap_fails_puts_the_earlier_run_back_and_names_the_new_one(tmp_path, monkeypatch, where):
    """A rename of `_swap_in` that fails (a disk error): it left the run folder holding part of each run and printed a
    raw '[Errno 5] Input/output error: A -> B'. Now the renames before it are undone — the earlier run is back, byte
    for byte — and a WriteError names the file, the reason and the folder holding the complete new run."""
    import gpuvision_nb.runs as R
    from gpuvision_nb.files import WriteError
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    before, n = _snapshot(out), len(R._present(out, R.RUN_FILES))
    seen = []
    _failing_swap(monkeypatch, {{"the first file moved aside": 1, "the first file moved in": n + 1,
                                 "the last file moved in": 2 * n}[where]}, seen)
    with pytest.raises(WriteError) as e: R.run_training(str(data), epochs=1, out=out, overwrite=True, **RUN)
    assert _snapshot(out) == before
    said = str(e.value)
    new = Path(re.search(r"the new one, complete, in (\S+) \(", said)[1])
    assert said.startswith(f"can't move the new run into {out}: ") and "Input/output error" in said, said
    assert f"Nothing was replaced: the earlier run is in {out} as it was" in said, said
    assert R._is_run(new) and sorted(R._present(new, R.RUN_FILES)) == sorted(R._present(out, R.RUN_FILES))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", "run", new.name])    # no 'old' folder left


def test_a_swap_that_fails_and_can_not_be_undone_says_where_each_runs_files_are(tmp_path, monkeypatch):
    "The undo fails too (the disk is gone): nothing deleted, and the message names the folder of each run's files."
    import gpuvision_nb.runs as R
    from gpuvision_nb.files import WriteError
    from test_run_folder import _folder
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    R.run_training(str(data), epochs=1, out=out, **RUN)
    n = len(R._present(out, R.RUN_FILES))
    seen = []
    _failing_swap(monkeypatch, {n + 2, n + 3}, seen)          # the second file moved in, then the first undo
    with pytest.raises(WriteError) as e: R.run_training(str(data), epochs=1, out=out, overwrite=True, **RUN)
    said = str(e.value)
    m = re.search(r"Putting back what was moved failed too \((\S+) → (\S+): Input/output error\): (\S+) may mix the two runs; "
                  r"the earlier run's other files are in (\S+), the new run's in (\S+)$", said)
    assert m and m[3] == str(out), said
    old, new = Path(m[4]), Path(m[5])
    assert old.is_dir() and new.is_dir() and old.name.startswith(".run.old-") and new.name.startswith(".run.new-")
    names = lambda d: sorted(R._present(d, R.RUN_FILES))
    assert len(names(out)) + len(names(old)) + len(names(new)) == 2 * n      # every file of both runs is somewhere


# ---- tools/mutate.py runs --sample 25 --seed 923: the survivors, each killed -------------------------------------
def test_the_shapes_data_set_of_a_run_is_the_course_s_shapes(monkeypatch):
    "mutmut: _data's 'shapes' → lambda: None survived: no test of these files trains on the shapes (10,000 images)."
    import gpuvision_nb.runs as R
    from gpuvision_nb.train import SHAPES
    asked = []
    class Stop(Exception): pass
    def root(**kw): asked.append(kw); raise Stop
    monkeypatch.setattr(R, "shapes_root", root)
    with pytest.raises(Stop): R._data(R.run_settings({"data": "shapes"}), "cpu")
    assert asked == [{k: v for k, v in SHAPES.items() if k != "size"}]


def test_the_misclassified_figure_names_itself_and_file_names_it_can_not_draw(undrawable):
    "mutmut: drawable_names' figure name and kind='file' (→ None: 'the None name(s)') in plot_misclassified survived."
    import matplotlib.pyplot as plt
    import gpuvision_nb.runs as R
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.warns(UserWarning) as caught:
        fig = R.plot_misclassified(x, torch.tensor([0, 1]), torch.tensor([1, 0]), ["a", "b\ue000"], names=["x.png", "y\ue000.png"])
    said = [str(w.message) for w in caught]
    assert said == ["the misclassified images: no installed font draws the class name(s) 'b\\ue000': drawn as #1 (the index in "
                    "the class list); install a font that has them (Debian: fonts-noto-cjk, fonts-noto-color-emoji) to see them",
                    "the misclassified images: no installed font draws the file name(s) 'y\\ue000.png': drawn as y?.png; install "
                    "a font that has them (Debian: fonts-noto-cjk, fonts-noto-color-emoji) to see them"], said
    plt.close(fig)


def test_resume_of_a_folder_that_is_not_there_says_so(tmp_path):
    "mutmut: the message's ' + (\"no such folder\" …)' → ' - (…)' (a TypeError instead of the message) survived."
    import gpuvision_nb.runs as R
    with pytest.raises(FileNotFoundError, match=re.escape(f"--resume: {tmp_path / 'nope'} holds no run to resume (no such folder)")):
        R.run_training(out=tmp_path / "nope", resume=True, **RUN)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape("holds no run to resume (no checkpoint in it)")):
        R.run_training(out=tmp_path / "empty", resume=True, **RUN)


def test_an_out_inside_the_model_or_the_data_of_a_resumed_run_is_named_as_out(tmp_path):
    """mutmut: both check_output labels '--out' → None survived: the refusal must name the option. A run inside the
    run it fine-tunes from (--from); a run moved into its own data folder, then resumed (the saved data is checked)."""
    import gpuvision_nb.runs as R
    from test_run_folder import _folder
    data, first = _folder(tmp_path / "data"), tmp_path / "first"
    R.run_training(str(data), epochs=1, out=first, **RUN)
    with pytest.raises(ValueError, match=re.escape(f"--out {first / 'tuned'} lies inside the input folder {first}")):
        R.run_training(str(data), epochs=1, out=first / "tuned", start_from=str(first), **RUN)
    moved = data / "run"; first.rename(moved)
    with pytest.raises(ValueError, match=re.escape(f"--out {moved} lies inside the input folder {data}")):
        R.run_training(out=moved, resume=True, epochs=2, **RUN)
