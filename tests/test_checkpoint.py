"Checkpoints: complete, atomic, safe to load (chapter 06)."
import json, os, shutil
from unittest import mock

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gpuvision_nb.checkpoint import (LATEST, MANIFEST, STATE, WEIGHTS, CheckpointError, latest_checkpoint, load_checkpoint,
                                     rng_state, save_checkpoint, set_rng_state, sha256, verify_checkpoint)


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
        with pytest.raises(OSError):
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
    (tmp_path / ".epoch-0002-abc123").mkdir(parents=True)             # what a SIGKILL mid-save leaves behind
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
