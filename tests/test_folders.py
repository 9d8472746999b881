"""Appendix A8 (folders): a folder made once — written beside its place, flushed, renamed; a cache entry made by one
process while the others wait."""
import ctypes, errno, os, sys
from pathlib import Path

import pytest

import gpuvision_nb.folders as folders
from conftest import dead_process_tag
from gpuvision_nb.folders import CACHE_ENV


# ---- check_new_folder -----------------------------------------------------------------------------------------------

def test_check_new_folder_takes_a_new_or_empty_folder_and_refuses_anything_else(tmp_path):
    assert folders.check_new_folder(tmp_path / "new", "demo") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert folders.check_new_folder(tmp_path / "empty", "demo") == tmp_path / "empty" and (tmp_path / "empty").is_dir()
    (tmp_path / "full").mkdir(); (tmp_path / "full" / "notes.txt").write_text("mine"); (tmp_path / "file").write_text("mine")
    for name in ("full", "file"):
        with pytest.raises(FileExistsError, match=f"^demo: {tmp_path / name} already exists and is not an empty folder; "
                                                  "choose a new or empty folder$"):
            folders.check_new_folder(tmp_path / name, "demo")
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine" and (tmp_path / "file").read_text() == "mine"


def test_check_new_folder_follows_a_link_and_keeps_it_and_expands_the_home(tmp_path, monkeypatch):
    (tmp_path / "target").mkdir(); (tmp_path / "link").symlink_to(tmp_path / "target")
    assert folders.check_new_folder(tmp_path / "link", "demo") == Path(os.path.realpath(tmp_path / "target"))
    assert (tmp_path / "link").is_symlink()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert folders.check_new_folder("~/x", "demo") == tmp_path / "home" / "x"


# ---- sync_tree: the bytes on the disk before the rename ------------------------------------------------------------

def test_sync_tree_without_syncfs_fsyncs_every_file_and_folder(tmp_path, monkeypatch):
    for i in range(4): (tmp_path / "ds" / f"c{i % 2}").mkdir(parents=True, exist_ok=True); (tmp_path / "ds" / f"c{i % 2}" / f"{i}.png").write_bytes(b"x")
    seen = []
    monkeypatch.setattr(folders, "_syncfs", lambda: None)
    monkeypatch.setattr(folders, "fsync_path", lambda p: seen.append(Path(p)))
    folders.sync_tree(tmp_path / "ds")
    assert sorted(seen) == sorted([tmp_path / "ds", *(tmp_path / "ds").rglob("*")]) and len(seen) == 7


def test_sync_tree_calls_syncfs_once_on_the_folder_and_names_it_on_failure(tmp_path, monkeypatch):
    calls = []
    def fake_syncfs(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        return 0
    monkeypatch.setattr(folders, "_syncfs", lambda: fake_syncfs)
    monkeypatch.setattr(folders, "fsync_path", lambda p: pytest.fail("fsynced a file one by one"))
    (tmp_path / "ds").mkdir(); (tmp_path / "ds" / "a").write_bytes(b"x")
    folders.sync_tree(tmp_path / "ds")
    assert calls == [str(tmp_path / "ds")]
    def failing(fd): ctypes.set_errno(errno.EIO); return -1
    monkeypatch.setattr(folders, "_syncfs", lambda: failing)
    with pytest.raises(OSError, match=f"Input/output error: '{tmp_path / 'ds'}'") as e: folders.sync_tree(tmp_path / "ds")
    assert e.value.errno == errno.EIO


def test_sync_tree_closes_its_folder_descriptor_even_when_syncfs_fails(tmp_path, monkeypatch):
    opened, closed = [], []
    real_open, real_close = os.open, os.close
    monkeypatch.setattr(folders.os, "open", lambda *a, **k: opened.append(real_open(*a, **k)) or opened[-1])
    monkeypatch.setattr(folders.os, "close", lambda fd: (closed.append(fd), real_close(fd)))
    def failing(fd): ctypes.set_errno(errno.EIO); return -1
    for syncfs in (lambda fd: 0, failing):
        monkeypatch.setattr(folders, "_syncfs", lambda: syncfs)
        try: folders.sync_tree(tmp_path)
        except OSError: pass
    assert len(opened) == 2 and closed == opened


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM])
def test_a_file_system_that_refuses_syncfs_is_flushed_file_by_file_and_one_that_cant_flush_at_all_is_skipped(tmp_path, monkeypatch, code):
    (tmp_path / "ds").mkdir(); (tmp_path / "ds" / "a").write_bytes(b"x"); (tmp_path / "ds" / "b").write_bytes(b"y")
    def refused(fd): ctypes.set_errno(code); return -1
    seen = []
    def fsync(p):
        seen.append(Path(p).name)
        if Path(p).name == "a": raise OSError(code, os.strerror(code))     # this one can't be flushed: skipped
    monkeypatch.setattr(folders, "_syncfs", lambda: refused)
    monkeypatch.setattr(folders, "fsync_path", fsync)
    folders.sync_tree(tmp_path / "ds")
    assert sorted(seen) == ["a", "b", "ds"]


def test_an_io_error_of_one_file_is_not_skipped(tmp_path, monkeypatch):
    (tmp_path / "ds").mkdir(); (tmp_path / "ds" / "a").write_bytes(b"x")
    def eio(p): raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(folders, "_syncfs", lambda: None)
    monkeypatch.setattr(folders, "fsync_path", eio)
    with pytest.raises(OSError, match="Input/output error"): folders.sync_tree(tmp_path / "ds")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_syncfs_is_found_on_linux_and_not_elsewhere(monkeypatch):
    assert folders._syncfs() is not None
    folders.sync_tree(Path.cwd())                                   # the real call: returns 0
    monkeypatch.setattr(folders.sys, "platform", "darwin")
    assert folders._syncfs() is None


# ---- write_atomically -------------------------------------------------------------------------------------------------

def test_write_atomically_flushes_the_whole_folder_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    events, real_sync, real_fsync = [], folders.sync_tree, folders.fsync_path
    def fill(tmp):
        for i in range(3): (tmp / f"{i}.txt").write_text(str(i))
    monkeypatch.setattr(folders, "sync_tree", lambda f: (events.append(("sync", Path(f).name.startswith(".ds."),
                                                                        len(os.listdir(f)), (tmp_path / "ds").exists())), real_sync(f)))
    monkeypatch.setattr(folders, "fsync_path", lambda p: (events.append(("fsync", Path(p), (tmp_path / "ds").exists())), real_fsync(p)))
    assert folders.write_atomically(tmp_path / "ds", fill) == tmp_path / "ds"
    assert events == [("sync", True, 3, False), ("fsync", tmp_path, True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"] and sorted(os.listdir(tmp_path / "ds")) == ["0.txt", "1.txt", "2.txt"]


def test_a_failed_flush_of_the_parent_after_the_rename_keeps_the_complete_folder(tmp_path, monkeypatch):
    def eio(p): raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(folders, "fsync_path", eio)
    assert folders.write_atomically(tmp_path / "ds", lambda tmp: (tmp / "a").write_text("x")) == tmp_path / "ds"
    assert (tmp_path / "ds" / "a").read_text() == "x"


def test_a_failed_flush_before_the_rename_publishes_nothing_and_names_the_folder(tmp_path, monkeypatch):
    def eio(f): raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(folders, "sync_tree", eio)
    with pytest.raises(OSError, match=f"^can't write the data set {tmp_path / 'ds'}: Input/output error; nothing was written$"):
        folders.write_atomically(tmp_path / "ds", lambda tmp: (tmp / "a").write_text("x"))
    assert list(tmp_path.iterdir()) == []


def test_write_atomically_leaves_nothing_after_a_full_disk_or_a_ctrl_c(tmp_path):
    def full(tmp): (tmp / "a").write_text("x"); raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match=f"can't write the data set {tmp_path / 'big'}: No space left on device; nothing was written"):
        folders.write_atomically(tmp_path / "big", full)
    def stopped(tmp): (tmp / "a").write_text("x"); raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): folders.write_atomically(tmp_path / "half", stopped)
    assert list(tmp_path.iterdir()) == []


def test_write_atomically_gives_the_umask_modes_and_makes_the_parent(tmp_path):
    from gpuvision_nb.files import default_mode
    root = folders.write_atomically(tmp_path / "a" / "b" / "ds", lambda tmp: (tmp / "f").write_text("x"))
    assert root.stat().st_mode & 0o777 == default_mode(folder=True)


def test_a_users_empty_folder_is_kept_when_the_write_fails_and_replaced_when_it_works(tmp_path):
    "It used to be removed first: a full disk then cost the user the folder they had made (its place, its mode)."
    mine = tmp_path / "mine"; mine.mkdir(); os.chmod(mine, 0o700)
    def full(tmp): (tmp / "a").write_text("x"); raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match=f"^can't write the data set {mine}: No space left on device; nothing was written$"):
        folders.write_atomically(folders.check_new_folder(mine, "demo"), full)     # (not 'made by another process')
    assert mine.is_dir() and os.listdir(mine) == [] and mine.stat().st_mode & 0o777 == 0o700
    assert folders.write_atomically(folders.check_new_folder(mine, "demo"), lambda tmp: (tmp / "a").write_text("x")) == mine
    assert os.listdir(mine) == ["a"] and sorted(os.listdir(tmp_path)) == ["mine"]


@pytest.mark.parametrize("under", ["file", "file/sub"])
def test_a_file_where_the_data_sets_folder_should_be_is_named(tmp_path, under):
    "mkdir's bare FileExistsError ('File exists') used to reach the user unexplained (mutation run, seed 801)."
    (tmp_path / "file").write_text("mine")
    root = tmp_path / under / "ds"
    with pytest.raises(OSError, match=f"^can't write the data set {root}: {tmp_path / 'file'} is a file, not a folder; "
                                      "nothing was written$"):
        folders.write_atomically(root, lambda tmp: pytest.fail("filled"))
    assert (tmp_path / "file").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["file"]


def test_a_folder_removed_while_the_data_set_was_written_is_said_so(tmp_path):
    import shutil
    def fill(tmp): shutil.rmtree(tmp_path / "parent")
    with pytest.raises(OSError, match=f"its folder {tmp_path / 'parent'} does not exist"):
        folders.write_atomically(tmp_path / "parent" / "ds", fill)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_syncfs_reports_its_errno(tmp_path):
    "Without use_errno, ctypes.get_errno() read 0 after a failed syncfs, and a failed flush passed for a success."
    ctypes.set_errno(0)
    assert folders._syncfs()(-1) == -1 and ctypes.get_errno() == errno.EBADF


# ---- the cache ----------------------------------------------------------------------------------------------------------

def test_cache_dir_prefers_its_variable_stripped(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, f" {tmp_path} ")
    assert folders.cache_dir() == tmp_path
    monkeypatch.setenv(CACHE_ENV, "~/c"); monkeypatch.setenv("HOME", str(tmp_path))
    assert folders.cache_dir() == tmp_path / "c"


def test_cache_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    "mutmut (seed 23): the variable's name `XDG_CACHE_HOME` could change unnoticed."
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert folders.cache_dir() == tmp_path / "xdg" / "gpuvision"
    monkeypatch.setenv("XDG_CACHE_HOME", "  ")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert folders.cache_dir() == tmp_path / "home" / ".cache" / "gpuvision"


# ---- one process at a time fills a cache entry ----------------------------------------------------------------------

def _fill_after(entry: str, log: str, started: str) -> None:
    "Child process: `cached_folder(entry)` whose `make` appends to `log`; `started` is touched just before it asks."
    def make(r: Path):
        with open(log, "a") as f: f.write("made\n")
        r.mkdir()
    Path(started).touch()
    folders.cached_folder(Path(entry), make)


def test_a_second_process_waits_for_the_first_fill_then_uses_it(tmp_path, capfd):
    "The parent holds the entry's lock (as a process making it would); a child asking meanwhile waits, says so, then finds it made."
    import multiprocessing as mp, time
    entry, log, started = tmp_path / "entry", tmp_path / "log", tmp_path / "started"
    ctx = mp.get_context("fork")
    with folders.cache_lock(entry):
        child = ctx.Process(target=_fill_after, args=(str(entry), str(log), str(started)))
        child.start()
        while not started.exists(): time.sleep(0.01)
        child.join(0.3)
        assert child.is_alive()                                   # blocked on the lock (it would have finished at once)
        entry.mkdir()                                             # what the holder was making
    child.join(30)
    assert child.exitcode == 0 and not log.exists()               # it waited, then used ours: never made it again
    assert f"waiting for another process that is making {entry}" in capfd.readouterr().err
    assert not (tmp_path / "entry.lock").exists()                  # removed by its last holder


def test_cache_fill_says_missing_only_to_the_process_that_must_make_it(tmp_path):
    entry = tmp_path / "sub" / "e"
    with folders.cache_fill(entry, entry.is_dir) as missing:
        assert missing and entry.parent.is_dir()                  # the lock's folder is made
        entry.mkdir()
    with folders.cache_fill(entry, entry.is_dir) as missing: assert not missing
    made = []
    assert folders.cached_folder(tmp_path / "f", lambda r: (made.append(r), r.mkdir())) == tmp_path / "f"
    assert folders.cached_folder(tmp_path / "f", lambda r: made.append(r)) == tmp_path / "f" and made == [tmp_path / "f"]


def test_cached_folder_uses_a_folder_another_process_finished_but_reraises_a_real_failure(tmp_path):
    def raced(r: Path):
        r.mkdir(); raise FileExistsError(r)                       # another process (without a lock) renamed it in first
    assert folders.cached_folder(tmp_path / "r", raced) == tmp_path / "r"
    def disk_full(r: Path): raise OSError(28, "No space left on device")
    with pytest.raises(OSError, match="No space left"): folders.cached_folder(tmp_path / "full", disk_full)


def _try_lock(lock_file: str, q) -> None:
    "Child process: whether a non-blocking lock of `lock_file` succeeds (what a second process asking would get)."
    import fcntl, os
    fd = os.open(lock_file, os.O_RDWR)
    try: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); q.put("free")
    except OSError: q.put("held")
    finally: os.close(fd)


def _take(entry: str, q) -> None:
    "Child process: take `cache_lock(entry)` and report what it said on stderr (a line if it had to wait)."
    import contextlib, io
    with contextlib.redirect_stderr(io.StringIO()) as err:
        with folders.cache_lock(Path(entry)): pass
    q.put(err.getvalue())


def test_a_process_forked_while_the_lock_is_held_does_not_keep_it(tmp_path):
    "A holder's data-loader workers (forked, alive after it lets go) must not keep the entry locked (flock's pitfall)."
    import multiprocessing as mp
    ctx, entry = mp.get_context("fork"), tmp_path / "entry"
    q, gate = ctx.Queue(), ctx.Event()
    with folders.cache_lock(entry):
        worker = ctx.Process(target=gate.wait, args=(60,)); worker.start()     # forked while the lock is held
        probe = ctx.Process(target=_try_lock, args=(str(tmp_path / "entry.lock"), q)); probe.start(); probe.join(30)
        assert q.get(timeout=30) == "held"
    probe = ctx.Process(target=_take, args=(str(entry), q)); probe.start(); probe.join(30)
    try: assert worker.is_alive() and q.get(timeout=30) == ""                    # taken at once: no "waiting" line
    finally: gate.set(); worker.join(30)


def test_a_data_set_half_written_by_a_killed_process_is_removed_by_the_next_one(tmp_path):
    "A SIGKILL during `gpuvision data` left its hidden temporary folder (a half-generated data set, megabytes) for ever."
    from gpuvision_nb.files import host_tag
    left = tmp_path / f".shapes.{host_tag()}@{dead_process_tag()}.0123abcd.tmp"
    (left / "circle").mkdir(parents=True); (left / "circle" / "circle_00000.png").write_bytes(b"half")
    folders.write_atomically(tmp_path / "shapes", lambda tmp: (tmp / "circle").mkdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]




def test_a_cache_folder_that_is_a_file_is_named_with_its_variable(tmp_path, monkeypatch):
    "gpuvision train --from seed said 'can't read F/pretrained/…/latest: Not a directory', not naming the variable."
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "f"))
    with pytest.raises(NotADirectoryError, match=f"^can't use the cache folder {tmp_path / 'f'} \\(it is a file\\): set {CACHE_ENV} to a writable folder$"):
        folders.cache_dir()
    monkeypatch.delenv(CACHE_ENV); monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path)); (tmp_path / "gpuvision").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"set GPUVISION_CACHE to a writable folder \(or remove the file\)$"): folders.cache_dir()
