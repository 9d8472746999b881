"Checkpoints: complete, atomic, safe to load (chapter 06)."
import json, os, shutil
from unittest import mock

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import dead_process_tag, linux_tags
from gpuvision_nb.files import default_mode
from gpuvision_nb.checkpoint import (LATEST, LOCK, MANIFEST, STATE, WEIGHTS, CheckpointError, FolderInUseError, all_finite,
                                     checkpoints, epoch_of, last_finite_checkpoint, latest_checkpoint, load_checkpoint,
                                     lock_folder, rng_state, save_checkpoint, set_rng_state, sha256, verify_checkpoint,
                                     weights_bytes)


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def trained(steps=3):
    m = tiny(); opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    for _ in range(steps):
        loss = F.cross_entropy(m(torch.randn(16, 4)), torch.randint(0, 2, (16,)))
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    return m, opt, sched


def same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_restores_everything(tmp_path):
    m, opt, sched = trained()
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    save_checkpoint(tmp_path, m, opt, sched, scaler, epoch=3, history=[{"epoch": 1}], meta={"model": "tiny"})
    m2 = tiny(); opt2 = torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=20)
    scaler2 = torch.amp.GradScaler("cpu", enabled=True, init_scale=1.0)
    info = load_checkpoint(tmp_path, m2, opt2, sched2, scaler2)
    assert info["epoch"] == 3 and info["history"] == [{"epoch": 1}] and info["meta"] == {"model": "tiny"}
    assert same(m, m2)                                                   # BatchNorm running stats included
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"]
    assert scaler2.get_scale() == scaler.get_scale()
    mom = [opt.state[p]["momentum_buffer"] for p in m.parameters()]
    mom2 = [opt2.state[p]["momentum_buffer"] for p in m2.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(mom, mom2))


def test_rng_round_trip():
    import random, numpy as np
    s = rng_state(); a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(s); b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_layout_latest_and_keep(tmp_path):
    m, opt, sched = trained()
    for e in range(1, 5): save_checkpoint(tmp_path, m, opt, sched, epoch=e, keep=2)
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-0003", "epoch-0004"]
    assert (tmp_path / LATEST).read_text() == "epoch-0004" and latest_checkpoint(tmp_path).name == "epoch-0004"
    assert sorted(p.name for p in (tmp_path / "epoch-0004").iterdir()) == sorted([MANIFEST, WEIGHTS, STATE])
    assert load_checkpoint(tmp_path / "epoch-0003", tiny())["epoch"] == 3       # a specific one, too
    with pytest.raises(ValueError, match="keep must be"):
        save_checkpoint(tmp_path, m, keep=0)


def test_compiled_model_saves_plain_keys(tmp_path):
    m = tiny(); wrapper = mock.Mock(wraps=m); wrapper._orig_mod = m        # what torch.compile wraps around
    save_checkpoint(tmp_path, wrapper, epoch=1)
    assert load_checkpoint(tmp_path, tiny())["epoch"] == 1


def test_crash_while_writing_keeps_last_good(tmp_path):
    m, opt, sched = trained()
    save_checkpoint(tmp_path, m, opt, sched, epoch=1)
    with mock.patch("torch.save", side_effect=OSError(28, "No space left on device")):
        with pytest.raises(CheckpointError, match="epoch-0002: No space left on device; the previous checkpoint .*epoch-0001 is intact"):
            save_checkpoint(tmp_path, m, opt, sched, epoch=2)
    assert (tmp_path / LATEST).read_text() == "epoch-0001"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder cleaned up
    assert load_checkpoint(tmp_path, tiny())["epoch"] == 1


@pytest.mark.parametrize("damage, msg", [
    (lambda ck: open(ck / WEIGHTS, "r+b").truncate(64), "does not match its SHA-256"),
    (lambda ck: (ck / STATE).write_bytes((ck / STATE).read_bytes()[:-10] + b"0123456789"), "does not match its SHA-256"),
    (lambda ck: (ck / WEIGHTS).unlink(), "is missing"),
    (lambda ck: (ck / MANIFEST).unlink(), "no manifest.json"),
    (lambda ck: (ck / MANIFEST).write_text("{broken"), "unreadable"),
])
def test_damaged_checkpoints_are_refused_by_name(tmp_path, damage, msg):
    m, opt, sched = trained()
    ck = save_checkpoint(tmp_path, m, opt, sched, epoch=1)
    damage(ck)
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(ck, tiny())


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    ck = save_checkpoint(tmp_path, tiny(), epoch=1)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self): return (os.mkdir, (str(marker),))
    torch.save({"epoch": 1, "rng": Evil()}, ck / STATE)
    man = json.loads((ck / MANIFEST).read_text()); man["sha256"][STATE] = sha256(ck / STATE)
    (ck / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(CheckpointError, match="refused by the safe loader"):
        load_checkpoint(ck, tiny())
    assert not marker.exists()


def test_wrong_model_and_missing_things(tmp_path):
    save_checkpoint(tmp_path, tiny(), epoch=1)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(tmp_path, nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope", tiny())
    empty = tmp_path / "empty"; empty.mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        load_checkpoint(empty, tiny())
    opt = torch.optim.SGD(tiny().parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path, tiny(), optimizer=opt)
    (tmp_path / LATEST).write_text("epoch-9999")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        latest_checkpoint(tmp_path)


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"; blocker.write_text("")
    with pytest.raises(CheckpointError, match="can't create checkpoint folder"):
        save_checkpoint(blocker / "ckpt", tiny())


def test_stale_temp_folders_from_a_killed_save_are_removed(tmp_path):
    (tmp_path / ".epoch-0002-abc12345").mkdir(parents=True)           # what a SIGKILL mid-save leaves (mkdtemp: 8 characters)
    save_checkpoint(tmp_path, tiny(), epoch=2)
    assert not list(tmp_path.glob(".epoch-*"))


def test_files_and_folders_are_fsynced_before_they_are_published(tmp_path):
    "Every file of a checkpoint, its folder, and the run folder reach the disk: a power cut can't publish empty files."
    synced, real_fsync = [], os.fsync
    def spy(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}")); return real_fsync(fd)
    with mock.patch("os.fsync", spy):
        path = save_checkpoint(tmp_path, tiny(), epoch=1)
    names = [os.path.basename(s) for s in synced]
    assert {WEIGHTS, STATE, MANIFEST} <= set(names)                  # each file, while still in the temporary folder
    assert any(os.path.basename(s).startswith(".epoch-0001") for s in synced)   # the temporary folder itself
    assert str(tmp_path) in synced                                   # the run folder, after `latest` moved
    assert (tmp_path / LATEST).read_text() == path.name


def test_checkpoints_are_ordered_and_pruned_by_epoch_number_not_name(tmp_path):
    m = tiny()
    for e in (9998, 9999, 10000): save_checkpoint(tmp_path, m, epoch=e, keep=2)
    assert [p.name for p in checkpoints(tmp_path)] == ["epoch-9999", "epoch-10000"]
    assert latest_checkpoint(tmp_path).name == "epoch-10000" and epoch_of("epoch-10000") == 10000 and epoch_of("x") is None


def test_the_checkpoint_just_written_is_never_pruned(tmp_path):
    "A folder that still holds later epochs (an abandoned continuation): the new checkpoint and `latest` survive."
    m = tiny()
    for e in (5, 6): save_checkpoint(tmp_path, m, epoch=e)
    (tmp_path / LATEST).write_text("epoch-0005")               # resumed from epoch 5: epoch 6 is abandoned
    save_checkpoint(tmp_path, m, epoch=1)
    assert [p.name for p in checkpoints(tmp_path)] == ["epoch-0001"] and load_checkpoint(tmp_path, tiny())["epoch"] == 1


def test_latest_moves_only_after_the_checkpoint_is_in_place(tmp_path):
    "If publishing the new checkpoint fails, `latest` must still name the old one."
    m = tiny(); save_checkpoint(tmp_path, m, epoch=1)
    real = os.replace
    def fail_on_folders(src, dst):
        if os.path.isdir(src): raise OSError(28, "No space left on device")
        return real(src, dst)
    with mock.patch("os.replace", fail_on_folders), pytest.raises(CheckpointError, match="epoch-0001 is intact"):
        save_checkpoint(tmp_path, m, epoch=2)
    assert (tmp_path / LATEST).read_text() == "epoch-0001" and [p.name for p in checkpoints(tmp_path)] == ["epoch-0001"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_latest_update_keeps_the_old_state(tmp_path):
    m = tiny(); save_checkpoint(tmp_path, m, epoch=1)
    with mock.patch("gpuvision_nb.files.os.fdopen", side_effect=OSError(28, "No space left on device")):
        with pytest.raises(CheckpointError, match="latest: No space left on device; the previous checkpoint .*epoch-0001"):
            save_checkpoint(tmp_path, m, epoch=2)
    assert latest_checkpoint(tmp_path).name == "epoch-0001" and [p.name for p in checkpoints(tmp_path)] == ["epoch-0001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", LATEST]


def test_files_and_folders_get_the_usual_permissions(tmp_path):
    ck = save_checkpoint(tmp_path / "run", tiny(), epoch=1)
    assert ck.stat().st_mode & 0o777 == default_mode(folder=True)                 # mkdtemp alone: 0700
    for f in (ck / WEIGHTS, ck / STATE, ck / MANIFEST, tmp_path / "run" / LATEST):
        assert f.stat().st_mode & 0o777 == default_mode(), f                      # mkstemp alone: 0600


def _rehash(ck):
    man = json.loads((ck / MANIFEST).read_text())
    man["sha256"] = {f: sha256(ck / f) for f in (WEIGHTS, STATE)}
    (ck / MANIFEST).write_text(json.dumps(man))


def _edit(ck, fn): (ck / MANIFEST).write_text(json.dumps(fn(json.loads((ck / MANIFEST).read_text()))))


@pytest.mark.parametrize("damage, msg", [
    (lambda ck: _edit(ck, lambda m: {k: v for k, v in m.items() if k != "meta"}), r"manifest.json lacks \['meta'\]"),
    (lambda ck: _edit(ck, lambda m: [m]), "manifest.json is a JSON list, not an object"),
    (lambda ck: _edit(ck, lambda m: {**m, "meta": "x"}), "meta of type str"),
    (lambda ck: _edit(ck, lambda m: {**m, "format": 2}), "format 2"),
    (lambda ck: _edit(ck, lambda m: {**m, "sha256": {WEIGHTS: m["sha256"][WEIGHTS]}}), "exactly model.safetensors and state.pt"),
    (lambda ck: (torch.save({}, ck / STATE), _rehash(ck)), r"state.pt lacks \['epoch', 'history', 'rng'"),
    (lambda ck: (torch.save([1, 2], ck / STATE), _rehash(ck)), "state.pt holds a list, not a training state"),
    (lambda ck: (torch.save({**torch.load(ck / STATE, weights_only=True), "history": 3}, ck / STATE), _rehash(ck)),
     r"state.pt has \['history'\] of the wrong type"),
    (lambda ck: (torch.save({**torch.load(ck / STATE, weights_only=True), "rng": {}}, ck / STATE), _rehash(ck)),
     "random state lacks"),
    (lambda ck: (torch.save({**torch.load(ck / STATE, weights_only=True), "epoch": 7}, ck / STATE), _rehash(ck)),
     "is of epoch 7, but its manifest.json says 1"),
])
def test_hash_valid_but_malformed_checkpoints_are_refused_by_name(tmp_path, damage, msg):
    ck = save_checkpoint(tmp_path, tiny(), epoch=1)
    damage(ck)
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(tmp_path, tiny())


@pytest.mark.parametrize("content, msg", [(b"\xff\xfe\x00", "not UTF-8"), (b"../../etc", "should name a checkpoint folder"),
                                          (b"", "should name a checkpoint folder")])
def test_a_damaged_latest_is_refused_by_name(tmp_path, content, msg):
    save_checkpoint(tmp_path, tiny(), epoch=1)
    (tmp_path / LATEST).write_bytes(content)
    with pytest.raises(CheckpointError, match=f"latest is damaged.*{msg}"):
        load_checkpoint(tmp_path, tiny())


def test_optimizer_state_that_does_not_fit_is_a_checkpoint_error(tmp_path):
    m, opt, sched = trained()
    save_checkpoint(tmp_path, m, opt, epoch=1)
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(CheckpointError, match="its optimizer state does not fit"):
        load_checkpoint(tmp_path, tiny(), optimizer=other)


def test_all_finite_and_last_finite_checkpoint(tmp_path):
    good, bad = tiny(), tiny()
    with torch.no_grad(): bad[0].bias[1] = float("inf")
    assert all_finite(good.state_dict().values()) and not all_finite(bad.state_dict().values())
    assert all_finite([]) and all_finite([torch.arange(3)])
    save_checkpoint(tmp_path, good, epoch=1, keep=5)
    save_checkpoint(tmp_path, bad, epoch=2, keep=5)
    ck3 = save_checkpoint(tmp_path, good, epoch=3, keep=5)
    with open(ck3 / WEIGHTS, "r+b") as f: f.truncate(10)            # newest: damaged
    assert last_finite_checkpoint(tmp_path).name == "epoch-0001"
    assert last_finite_checkpoint(tmp_path / "none") is None


def test_weights_bytes_refuses_non_tensor_state():
    class Odd(nn.Module):
        def get_extra_state(self): return {"x": 1}
        def set_extra_state(self, s): pass
    with pytest.raises(CheckpointError, match="^Odd holds state safetensors can't store"):
        weights_bytes(Odd())


def test_lock_is_exclusive_released_and_survives_a_stale_file(tmp_path):
    with lock_folder(tmp_path / "run") as path:
        assert path.read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(FolderInUseError, match=f"run is in use by another run \\(pid {os.getpid()}"):
            with lock_folder(tmp_path / "run"): pass
    assert not (tmp_path / "run" / LOCK).exists()
    (tmp_path / "run" / LOCK).write_text("pid 4194303 on somewhere")      # left by a process that died
    with lock_folder(tmp_path / "run"): pass
    blocker = tmp_path / "file"; blocker.write_text("")
    with pytest.raises(CheckpointError, match="can't create run folder"):
        with lock_folder(blocker / "run"): pass


@linux_tags
def test_lock_removes_the_temporary_file_of_a_process_killed_while_creating_it(tmp_path):
    "A SIGKILL between _create_lock's mkstemp and its unlink left a hidden .run.lock.*.tmp in the run folder for ever."
    import subprocess, sys
    run = tmp_path / "run"
    kill = ("import os, signal, gpuvision_nb.checkpoint as C\n"
            "C.os.link = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"      # killed inside _create_lock
            f"with C.lock_folder({str(run)!r}): pass\n")
    r = subprocess.run([sys.executable, "-c", kill], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == -9
    left, = [p.name for p in run.iterdir()]
    assert left.startswith(f".{LOCK}.") and left.endswith(".tmp")
    with lock_folder(run): pass
    assert list(run.iterdir()) == []


@linux_tags
def test_lock_removes_only_provably_stale_temporary_files(tmp_path):
    from gpuvision_nb.files import _process_tag, host_tag
    run, dead, host, me = tmp_path / "run", dead_process_tag(), host_tag(), _process_tag(os.getpid())
    ns, pid, start = me.split("-")
    reused = f"{ns}-{pid}-{int(start) + 1}"                         # this process's PID, but not this process: its maker is gone
    run.mkdir()
    stale = [f".{LOCK}.{host}@{dead}.abcd_123.tmp", f".{LOCK}.{host}@{dead}.zzzzzzzz.tmp", f".{LOCK}.{host}@{reused}.abcd1234.tmp"]
    (run / stale[0]).write_text(f"pid {dead.split('-')[1]} on {host}, since 2026-01-01 00:00:00")
    (run / stale[1]).write_text("")                                     # killed before it wrote its line
    (run / stale[2]).write_text(f"pid {pid} on {host}, since 2026-01-01 00:00:00")
    kept = {f".{LOCK}.{host}@{me}.abcd1234.tmp": "pid 1 on x",                # a living process's: it is still at work
            f".{LOCK}.another-host@{dead}.abcd1234.tmp": "pid 1 on x",        # another host's processes can't be seen here
            f".{LOCK}.{host}@{int(ns) + 1}-{dead.split('-', 1)[1]}.abcd1234.tmp": "pid 1 on x",   # another container's
            f".{LOCK}.abcd1234.tmp": "pid 1 on x",                             # no maker in its name
            f".{LOCK}.{host}@{dead}.abcd1234.tmp.keep": "pid 1 on x"}
    for name, text in kept.items(): (run / name).write_text(text)
    (run / f".{LOCK}.{host}@{dead}.dir12345.tmp").mkdir()                      # a folder
    (run / f".{LOCK}.{host}@{dead}.link1234.tmp").symlink_to(run / f".{LOCK}.abcd1234.tmp")
    with lock_folder(run): pass
    assert sorted(p.name for p in run.iterdir()) == sorted([*kept, f".{LOCK}.{host}@{dead}.dir12345.tmp",
                                                           f".{LOCK}.{host}@{dead}.link1234.tmp"])
    assert all((run / n).read_text() == t for n, t in kept.items())


def test_load_of_a_checkpoint_saved_again_while_it_is_read_takes_one_whole_checkpoint(tmp_path, monkeypatch):
    "Saved again (same epoch) after its hashes were checked, before its files were read: manifest and weights of one save."
    import gpuvision_nb.checkpoint as C
    old, new = tiny(), nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    save_checkpoint(tmp_path, old, epoch=1, meta={"which": "old"})
    real, calls = C.torch.load, []
    def load(*a, **kw):
        if not calls: save_checkpoint(tmp_path, new, epoch=1, meta={"which": "new"})
        calls.append(a[0]); return real(*a, **kw)
    monkeypatch.setattr(C.torch, "load", load)
    m = tiny()
    info = load_checkpoint(tmp_path, m, restore_rng=False)
    assert len(calls) == 2 and info["meta"] == {"which": "new"}
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), new.state_dict().values()))


def test_load_of_a_checkpoint_pruned_while_it_is_read_reads_latest_again(tmp_path, monkeypatch):
    "`latest` named epoch 1; a training saved epoch 2 (keep=1: epoch 1 deleted) before its files were hashed."
    import gpuvision_nb.checkpoint as C
    new = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    save_checkpoint(tmp_path, tiny(), epoch=1, keep=1)
    real, calls = C.sha256, []
    def sha256(path):
        if not calls: save_checkpoint(tmp_path, new, epoch=2, keep=1)
        calls.append(path); return real(path)
    monkeypatch.setattr(C, "sha256", sha256)
    assert load_checkpoint(tmp_path, tiny(), restore_rng=False)["epoch"] == 2
    (tmp_path / "epoch-0002" / WEIGHTS).unlink()                          # missing for good: said, not retried away
    with pytest.raises(CheckpointError, match=f"^{tmp_path / 'epoch-0002' / WEIGHTS} is missing$"): load_checkpoint(tmp_path, tiny())


def test_load_restores_the_random_state_only_when_asked(tmp_path):
    import random, numpy as np
    m, m2 = tiny(), tiny()                                  # (tiny() seeds torch: build the models first)
    save_checkpoint(tmp_path, m, epoch=1)
    after_save = (random.random(), np.random.rand(), torch.rand(2))
    load_checkpoint(tmp_path, m2)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert after_save[:2] == again[:2] and torch.equal(after_save[2], again[2])     # the generators continue as saved
    load_checkpoint(tmp_path, m2, restore_rng=False)
    assert not torch.equal(torch.rand(2), after_save[2])


# --------------------------------------------------------------------------- mutants mutmut found alive (issue 21)

def test_keep_1_leaves_only_the_checkpoint_just_written(tmp_path):
    for e in (1, 2, 3): save_checkpoint(tmp_path, tiny(), epoch=e, keep=1)
    assert [p.name for p in checkpoints(tmp_path)] == ["epoch-0003"] and latest_checkpoint(tmp_path).name == "epoch-0003"


@pytest.mark.parametrize("epoch", [-1, 1.0, True, "1"])
def test_save_refuses_an_epoch_that_is_not_an_int_from_0(tmp_path, epoch):
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        save_checkpoint(tmp_path, tiny(), epoch=epoch)
    assert not list(tmp_path.glob("epoch-*"))
    assert save_checkpoint(tmp_path, tiny(), epoch=0).name == "epoch-0000"      # 0 is a valid epoch (before training)


@pytest.mark.parametrize("epoch, ok", [(-1, False), (0, True), (True, False), (1.5, False)])
def test_the_manifest_epoch_must_be_an_int_from_0(tmp_path, epoch, ok):
    ck = save_checkpoint(tmp_path, tiny(), epoch=0)
    m = json.loads((ck / MANIFEST).read_text()); m["epoch"] = epoch; (ck / MANIFEST).write_text(json.dumps(m))
    if ok: assert verify_checkpoint(ck)["epoch"] == 0
    else:
        with pytest.raises(CheckpointError, match=r"manifest.json has epoch .*not an int >= 0"): verify_checkpoint(ck)


def test_epoch_of_reads_only_checkpoint_names():
    assert [epoch_of(n) for n in ("epoch-0012", "epoch-10000", "/a/b/epoch-0000")] == [12, 10000, 0]
    assert [epoch_of(n) for n in ("epoch-12", "epoch-0012x", "xepoch-0012", "epoch-00a1", ".epoch-0012-tmp")] == [None] * 5


def test_unwrap_takes_off_compile_and_data_parallel_wrappers_at_any_depth(tmp_path):
    from gpuvision_nb.checkpoint import unwrap
    m = tiny()
    compiled = torch.compile(m)                                  # wrapping compiles nothing until it is called
    assert unwrap(compiled) is m and unwrap(torch.nn.DataParallel(compiled)) is m and unwrap(m) is m
    assert weights_bytes(torch.nn.DataParallel(compiled)) == weights_bytes(m)          # no `_orig_mod.`/`module.` keys
    save_checkpoint(tmp_path, compiled, epoch=1)
    m2 = tiny(); load_checkpoint(tmp_path, torch.compile(m2)); assert same(m, m2)


def test_weights_of_channels_last_and_tied_models_are_saved(tmp_path):
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1)).to(memory_format=torch.channels_last)
    save_checkpoint(tmp_path / "a", conv, epoch=1)               # non-contiguous weights: safetensors needs copies
    c2 = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1)); load_checkpoint(tmp_path / "a", c2); assert same(conv, c2)
    tied = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)); tied[1].weight = tied[0].weight
    save_checkpoint(tmp_path / "b", tied, epoch=1)               # shared storage: saved as two tensors, not refused
    t2 = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)); load_checkpoint(tmp_path / "b", t2)
    assert torch.equal(t2[0].weight, tied[0].weight) and torch.equal(t2[1].weight, tied[0].weight)


def test_the_manifest_is_readable_text(tmp_path):
    ck = save_checkpoint(tmp_path, tiny(), epoch=1, meta={"model": "tiny"})
    text = (ck / MANIFEST).read_text()
    assert text.count("\n") > 5 and json.loads(text)["meta"] == {"model": "tiny"}     # one key a line: diffable


def test_messages_name_the_missing_manifest_and_an_unreadable_latest(tmp_path):
    (tmp_path / "epoch-0001").mkdir()
    with pytest.raises(CheckpointError, match=r"epoch-0001 is not a checkpoint: manifest.json is missing"):
        verify_checkpoint(tmp_path / "epoch-0001")
    (tmp_path / LATEST).mkdir()                                  # `latest` that can't be read as a file
    with pytest.raises(CheckpointError, match=r"can't read .*latest: Is a directory"):
        latest_checkpoint(tmp_path)


def test_cuda_random_states_are_captured_and_restored_where_the_devices_match(monkeypatch):
    fake = [torch.tensor([1, 2, 3], dtype=torch.uint8)]; restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: fake)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    s = rng_state(); assert s["cuda"] is fake
    set_rng_state(s); assert restored == [fake]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)   # another machine: CUDA states left alone
    set_rng_state(s); assert restored == [fake]
    set_rng_state({**s, "cuda": []}); assert restored == [fake]


def test_lock_holder_text_of_a_lock_file_not_yet_written(tmp_path):
    from gpuvision_nb.checkpoint import _holder
    (tmp_path / "l").write_text(""); fd = os.open(tmp_path / "l", os.O_RDONLY)
    try: assert _holder(fd) == "a process that has not yet written its PID"
    finally: os.close(fd)


@pytest.mark.parametrize("meta, says", [
    ({"phases": "abc"}, "meta phases 'abc', not a list of [start, end]"), ({"phases": []}, "meta phases"),
    ({"phases": [[0, "3"]]}, "meta phases"), ({"phases": [[3, 1]]}, "meta phases"), ({"phases": [[0, True]]}, "meta phases"),
    ({"phases": [[0, 2, 4]]}, "meta phases"), ({"data": "abc"}, "meta data of type str"), ({"settings": [1]}, "meta settings of type list"),
    ({"epochs": -1}, "meta epochs -1, not an int >= 0"), ({"steps_per_epoch": "10"}, "meta steps_per_epoch"),
    ({"accumulate": 0}, "meta accumulate 0, not an int >= 1"), ({"size": 0}, "meta size 0, not an int >= 1"),
    ({"in_channels": "3"}, "meta in_channels '3'"), ({"world_size": 1.5}, "meta world_size"),
    ({"classes": "abc"}, "meta classes that are not a list of names"), ({"classes": ["a", 2]}, "meta classes that are not a list of names"), ({"model": 3}, "meta model of type int")])
def test_resume_state_of_the_wrong_type_is_refused_by_the_manifest_check(tmp_path, meta, says):
    ck = save_checkpoint(tmp_path, tiny(), epoch=1, meta={"phases": [[0, 2]], "epochs": 2, "data": {}, "settings": {}})
    m = json.loads((ck / MANIFEST).read_text()); m["meta"].update(meta); (ck / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match=r"manifest.json has meta"): verify_checkpoint(ck)
    with pytest.raises(CheckpointError) as e: load_checkpoint(tmp_path, tiny())
    assert says in str(e.value)


def test_meta_the_resume_check_does_not_know_is_the_callers(tmp_path):
    meta = {"phases": [[0, 2], [2, 5]], "epochs": None, "model": "tiny", "recipe": {"lr": 0.1}, "video_model": [1], "x": "y"}
    assert load_checkpoint(save_checkpoint(tmp_path, tiny(), epoch=1, meta=meta), tiny())["meta"] == meta


def test_sweep_removes_trash_and_load_returns_the_path_and_default_epoch_0(tmp_path):
    from gpuvision_nb.checkpoint import _holder
    ck = save_checkpoint(tmp_path, tiny())                          # the default epoch is 0
    assert ck.name == "epoch-0000" and load_checkpoint(tmp_path, tiny())["path"] == ck
    (tmp_path / ".trash-epoch-0000-1-2").mkdir()                    # left by a kill between rename and delete
    save_checkpoint(tmp_path, tiny(), epoch=1)
    assert not list(tmp_path.glob(".trash-*"))
    (tmp_path / "l").write_bytes(b"pid 1 \xff"); fd = os.open(tmp_path / "l", os.O_RDONLY)
    try: assert _holder(fd) == "pid 1 \ufffd"                       # a damaged lock file still names its holder
    finally: os.close(fd)


def test_a_damaged_random_state_is_refused_by_name(tmp_path):
    from gpuvision_nb.checkpoint import sha256
    ck = save_checkpoint(tmp_path, tiny(), epoch=1)
    state = torch.load(ck / STATE, weights_only=True); state["rng"]["python"] = "x"
    torch.save(state, ck / STATE)
    m = json.loads((ck / MANIFEST).read_text()); m["sha256"][STATE] = sha256(ck / STATE); (ck / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match=r"state.pt: its random state is damaged"): load_checkpoint(tmp_path, tiny())
    assert load_checkpoint(tmp_path, tiny(), restore_rng=False)["epoch"] == 1


def test_save_creates_nested_folders_and_keeps_two_by_default(tmp_path):
    for e in (1, 2, 3): save_checkpoint(tmp_path / "a" / "b", tiny(), epoch=e)
    assert [p.name for p in checkpoints(tmp_path / "a" / "b")] == ["epoch-0002", "epoch-0003"]


def test_more_details_of_save_and_load(tmp_path, monkeypatch):
    import tempfile
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match=r"can't create checkpoint folder .*file/x: Not a directory"):
        save_checkpoint(tmp_path / "file" / "x", tiny())
    seen = []; real = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda **k: seen.append(k.get("dir")) or real(**k))
    save_checkpoint(tmp_path / "run", tiny(), epoch=1)
    assert seen == [tmp_path / "run"]                               # beside the checkpoint: the rename stays atomic
    bigger = nn.Sequential(*tiny(), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match=r"does not fit this model: missing \['4.bias', '4.weight'\], unexpected \[\]"):
        load_checkpoint(tmp_path / "run", bigger)
    meta = {"steps_per_epoch": 0, "epochs": 0}                        # a run planned for 0 epochs: valid
    assert load_checkpoint(save_checkpoint(tmp_path / "z", tiny(), meta=meta), tiny())["meta"] == meta


def test_sweep_of_a_temporary_latest_and_a_scheduler_restored_without_an_optimizer(tmp_path):
    save_checkpoint(tmp_path, tiny(), epoch=1)
    (tmp_path / ".latest.123.tmp").write_text("epoch-0001")         # left by a kill inside write_atomic
    m, opt, sched = trained(); save_checkpoint(tmp_path, m, opt, sched, epoch=2)
    assert not list(tmp_path.glob(".latest.*"))
    m2, opt2, sched2 = trained(0)
    load_checkpoint(tmp_path, m2, None, sched2)                      # no optimizer: the scheduler is still restored
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"] == 3


# ---- make mutate (checkpoint, seed 23, sample 40, session of 2026-12-07) ------------------------------------------
def test_a_failed_first_save_says_no_checkpoint_was_written(tmp_path):
    "mutmut (seed 23): the message of a failed save with no previous checkpoint ('; no checkpoint was written') survived."
    with mock.patch("torch.save", side_effect=OSError(28, "No space left on device")):
        with pytest.raises(CheckpointError, match=r"epoch-0001: No space left on device; no checkpoint was written$"):
            save_checkpoint(tmp_path, tiny(), epoch=1)
    assert list(tmp_path.iterdir()) == []


def test_lock_holder_text_is_read_from_the_start_and_bounded(tmp_path):
    "mutmut (checkpoint, unseen seed 31): the 300-byte bound on a lock file's text (a junk file is not printed whole) survived."
    from gpuvision_nb.checkpoint import _holder
    (tmp_path / "l").write_text("pid 12 on host " + "x" * 1000); fd = os.open(tmp_path / "l", os.O_RDONLY)
    try:
        os.read(fd, 50)                                                    # wherever the offset was: from the start
        assert _holder(fd) == ("pid 12 on host " + "x" * 1000)[:300]
    finally: os.close(fd)


# ---- make mutate (checkpoint, unseen seed 47, sample 40) -----------------------------------------------------------
class _NotData:
    "An object a plain-data checkpoint never holds: the safe loader (weights_only=True) must refuse to unpickle it."


def _restamp(ck, name):
    "Make the manifest's SHA-256 of file `name` match its (edited) bytes, as a forger would."
    from gpuvision_nb.checkpoint import sha256
    m = json.loads((ck / MANIFEST).read_text()); m["sha256"][name] = sha256(ck / name); (ck / MANIFEST).write_text(json.dumps(m))


def test_state_is_loaded_by_the_safe_loader_on_the_asked_device(tmp_path):
    """mutmut (seed 47): `weights_only=True` and `map_location` dropped from torch.load survived. torch >= 2.6 defaults
    to weights_only=True, but TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 turns that default off: only the explicit argument
    keeps a forged state.pt from running code."""
    ck = save_checkpoint(tmp_path, tiny(), epoch=1)
    state = torch.load(ck / STATE, weights_only=True); state["history"] = [_NotData()]
    torch.save(state, ck / STATE); _restamp(ck, STATE)
    with pytest.raises(CheckpointError, match=r"(?s)state.pt refused by the safe loader \(weights_only=True\): .*_NotData"):
        load_checkpoint(ck, tiny())
    ck2 = save_checkpoint(tmp_path / "b", tiny(), epoch=1)
    with mock.patch("torch.load", wraps=torch.load) as spy:
        load_checkpoint(ck2, tiny(), map_location="cpu")
    assert spy.call_args.kwargs == {"map_location": "cpu", "weights_only": True}


def test_weights_of_another_shape_are_refused_by_name(tmp_path):
    "mutmut (seed 47): the message of weights that don't fit (a shape mismatch: `CheckpointError(None)`) survived."
    save_checkpoint(tmp_path, nn.Linear(2, 3), epoch=1)
    with pytest.raises(CheckpointError, match=r"(?s)epoch-0001/model.safetensors does not fit this model: .*size mismatch for weight"):
        load_checkpoint(tmp_path, nn.Linear(2, 4))


def test_numpy_random_state_is_stored_as_int64():
    "mutmut (seed 47): `keys.astype(np.int64)` → `astype(None)` (float64 keys in every checkpoint) survived."
    import numpy as np
    keys = rng_state()["numpy"][1]
    assert keys.dtype == torch.int64 and torch.equal(keys, torch.from_numpy(np.random.get_state()[1].astype(np.int64)))


def test_sweep_removes_only_what_a_save_leaves_and_never_fails_on_it(tmp_path, monkeypatch):
    "mutmut (seed 47): `and` → `or` (any user's *.tmp file deleted) and `ignore_errors=True` dropped (a stuck leftover stops the save) survived."
    save_checkpoint(tmp_path, tiny(), epoch=1)
    (tmp_path / ".notes.tmp").write_text("mine"); (tmp_path / ".latest.old").write_text("mine")
    (tmp_path / ".latest.77.tmp").write_text("epoch-0001"); (tmp_path / ".epoch-0002-abc_1234").mkdir()
    real = shutil.rmtree
    def stubborn(path, ignore_errors=False, **kw):
        if not ignore_errors: raise PermissionError(13, "Permission denied", str(path))
        return real(path, ignore_errors=True, **kw)
    monkeypatch.setattr(shutil, "rmtree", stubborn)
    save_checkpoint(tmp_path, tiny(), epoch=2)
    assert sorted(p.name for p in tmp_path.glob(".*")) == [".latest.old", ".notes.tmp"]
    with mock.patch("os.replace", side_effect=OSError(28, "No space left on device")):   # the failed save's own cleanup, too
        with pytest.raises(CheckpointError, match="epoch-0003: No space left on device; the previous checkpoint .*epoch-0002 is intact"):
            save_checkpoint(tmp_path, tiny(), epoch=3)
    assert (tmp_path / LATEST).read_text() == "epoch-0002"


# --- mutants of tools/mutate.py checkpoint --sample 28 --seed 303 (81 %) ---

def test_a_run_lock_that_is_a_folder_or_a_pipe_is_left_and_named(tmp_path):
    "A user's run.lock that is no regular file is refused by name (a pipe is opened: read/write never blocks on Linux)."
    (tmp_path / "a" / LOCK).mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"run\.lock is a folder, not a lock file of gpuvision's"):
        with lock_folder(tmp_path / "a"): pass
    (tmp_path / "b").mkdir(); os.mkfifo(tmp_path / "b" / LOCK)
    with pytest.raises(CheckpointError, match=r"run\.lock is not a regular file, not a lock file of gpuvision's"):
        with lock_folder(tmp_path / "b"): pass
    assert (tmp_path / "a" / LOCK).is_dir() and (tmp_path / "b" / LOCK).exists()


def test_a_latest_that_is_not_save_checkpoints_is_refused_by_kind(tmp_path):
    "A `latest` of bytes that are not UTF-8 names no checkpoint (no decoding error); a pipe is not a regular file."
    (tmp_path / "a").mkdir(); (tmp_path / "a" / LATEST).write_bytes(b"\xff\xfeepoch-0001")
    with pytest.raises(CheckpointError, match=r"latest is a file that names no checkpoint, not written by save_checkpoint"):
        save_checkpoint(tmp_path / "a", tiny(), epoch=1)
    (tmp_path / "b").mkdir(); os.mkfifo(tmp_path / "b" / LATEST)
    with pytest.raises(CheckpointError, match=r"latest is not a regular file, not written by save_checkpoint"):
        save_checkpoint(tmp_path / "b", tiny(), epoch=1)


def test_the_manifest_is_indented_one_space_and_a_quantized_model_is_told_what_to_do(tmp_path):
    ck = save_checkpoint(tmp_path, tiny(), epoch=1)
    assert (ck / MANIFEST).read_text().splitlines()[:2] == ["{", ' "format": 1,']
    class Odd(nn.Module):
        def get_extra_state(self): return {"x": 1}
        def set_extra_state(self, s): pass
    with pytest.raises(CheckpointError, match=r"\(a quantized model\? save the float model and quantize after loading\)$"):
        weights_bytes(Odd())


def test_a_run_lock_of_other_text_is_left_and_named(tmp_path):
    "Unseen sample seed 403 (96 %): the message for a user's run.lock file of other text."
    (tmp_path / LOCK).write_text("my notes")
    with pytest.raises(CheckpointError, match=r"run\.lock is a file that holds other text, not a lock file of gpuvision's"):
        with lock_folder(tmp_path): pass
    assert (tmp_path / LOCK).read_text() == "my notes"


# ---- tools/mutate.py checkpoint --sample 25 --seed 915: the survivors, each killed -------------------------------
def test_an_epoch_saved_again_whose_latest_can_not_be_written_keeps_the_first_save(tmp_path, monkeypatch):
    """Saving an epoch that is already saved sets the first save aside; if `latest` then can't be written (a full disk)
    the first save is put back whole (mutmut: `_put_back`'s rename to None was reached by no test)."""
    import gpuvision_nb.checkpoint as C
    first, _, _ = trained(3)
    save_checkpoint(tmp_path, first, epoch=1)
    def full(*a, **k): raise CheckpointError("can't write latest: No space left on device")
    monkeypatch.setattr(C, "write_atomic", full)
    with pytest.raises(CheckpointError, match="No space left on device"): save_checkpoint(tmp_path, trained(1)[0], epoch=1)
    monkeypatch.undo()
    back = tiny(); load_checkpoint(tmp_path / "epoch-0001", back)
    assert same(back, first) and sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", LATEST]


def test_a_lock_file_on_a_file_system_without_hard_links_is_created_with_the_usual_permissions(tmp_path, monkeypatch):
    """Where `os.link` fails (FAT, some network file systems) the lock file is created in place, with `default_mode()`
    and this process's line (mutmut: the mode → None survived: no test took that branch)."""
    import gpuvision_nb.checkpoint as C
    monkeypatch.setattr(C.os, "link", lambda *a: (_ for _ in ()).throw(OSError(1, "Operation not permitted")))
    with lock_folder(tmp_path):
        lock = tmp_path / LOCK
        assert lock.read_text().startswith(f"pid {os.getpid()} on ") and (lock.stat().st_mode & 0o777) == default_mode()
    assert not lock.exists() and [p.name for p in tmp_path.iterdir()] == []          # nor its temporary file
