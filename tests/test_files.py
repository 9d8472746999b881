"Appendix A7 (files): a file written whole or not at all, only over a file of its own kind, never over an input; scratch folders and temporary files that a killed writer leaves are swept."
import errno, os, sys
from unittest import mock
from pathlib import Path

import pytest

from conftest import dead_process_tag, linux_tags
from gpuvision_nb import files
from gpuvision_nb.files import WriteError, default_mode, ensure_writable, too_long, write_atomic


def test_write_atomic_modes_and_failures(tmp_path):
    p = write_atomic(tmp_path / "f.json", "{}")
    assert p.stat().st_mode & 0o777 == default_mode() and default_mode(folder=True) == default_mode() | 0o111
    with mock.patch("os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")):
        with pytest.raises(WriteError, match="can't write .*f.json: No space left on device"):
            write_atomic(p, "[1, 2]")
    assert p.read_text() == "{}" and [q.name for q in tmp_path.iterdir()] == ["f.json"]
    with pytest.raises(KeyboardInterrupt), mock.patch("os.replace", side_effect=KeyboardInterrupt):
        write_atomic(p, "[3]")
    assert [q.name for q in tmp_path.iterdir()] == ["f.json"]


def test_check_output_refuses_an_input_or_a_path_inside_one_and_returns_the_resolved_out(tmp_path):
    "mutmut: check_output's resolved target (`target = None`) had no test in test_bench/test_records reaching it."
    from gpuvision_nb.files import OutputOverlapError, check_output
    data = tmp_path / "data"; data.mkdir(); (data / "a.png").write_bytes(b"x")
    (tmp_path / "link").symlink_to(data, target_is_directory=True)
    with pytest.raises(OutputOverlapError, match=r"^--out .*a\.png is the input .*a\.png: writing it would destroy it"):
        check_output(data / "a.png", [None, data / "a.png"])
    with pytest.raises(OutputOverlapError, match=r"^--save .* lies inside the input folder .*data: its files would be read"):
        check_output(tmp_path / "link" / "run", [data], "--save")
    assert check_output(tmp_path / "x" / ".." / "run", [data]) == (tmp_path / "run").resolve()


def test_scratch_dir_is_removed_by_the_process_that_made_it_only(tmp_path):
    "A scratch folder outlives a forked child that exits normally, and not the process that made it (even on an error)."
    import subprocess, textwrap
    child = textwrap.dedent("""
        import os, sys
        from gpuvision_nb.files import scratch_dir
        d = scratch_dir("t-"); (d / "f").write_text("x")
        pid = os.fork()
        if pid == 0: sys.exit(0)
        os.waitpid(pid, 0)
        print(d, (d / "f").exists(), flush=True)
        raise SystemExit("an uncaught error")""")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env)
    folder, kept = out.stdout.split()
    assert out.returncode == 1 and kept == "True" and folder.startswith(str(tmp_path) + os.sep)
    assert list(tmp_path.iterdir()) == []


def test_scratch_dir_default_name_and_owner(tmp_path, monkeypatch):
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    d = files.scratch_dir()
    assert d.parent == tmp_path and d.name.startswith("gpuvision-") and d.is_dir() and list(d.iterdir()) == []
    files._remove_if_owner(d, os.getpid() + 1)          # another process's hook: leaves it
    assert d.is_dir()
    files._remove_if_owner(d, os.getpid())
    assert not d.exists()


def _killed_maker(tmp_path, prefix="t-"):
    "Run a Python that makes a scratch folder in `tmp_path` (its TMPDIR) and is then SIGKILLed: its exit hooks never run."
    import subprocess, signal
    code = (f"import os, signal; from gpuvision_nb.bench import scratch_dir; d = scratch_dir({prefix!r}); "
            "(d / 'f').write_text('x'); print(d, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "TMPDIR": str(tmp_path)})
    assert r.returncode == -signal.SIGKILL
    return Path(r.stdout.strip())


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="the process tag is read from Linux's /proc")
def test_scratch_dir_sweeps_the_folders_of_killed_processes_and_nothing_else(tmp_path, monkeypatch):
    "A folder whose maker was SIGKILLed is removed by the next scratch_dir; a live process's, a user's look-alikes stay."
    dead = _killed_maker(tmp_path)
    assert (dead / "f").exists() and dead.name.startswith("t-")
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    mine = files.scratch_dir("mine-")                                 # this (living) process's own folder
    namespace, pid, start = files._process_tag(os.getpid()).split("-")
    reused = tmp_path / f"old-abc.{namespace}-{pid}-{int(start) - 1}"  # same pid, an earlier process: it is dead
    other_ns = tmp_path / f"ns-abc.{int(namespace) + 1}-999999-1"      # another container's: can't tell, kept
    public = tmp_path / f"pub-abc.{namespace}-999999-1"                # not private (0o755): not ours, kept
    for d in (reused, other_ns, public): d.mkdir(mode=0o700); (d / "f").write_text("x")
    public.chmod(0o755)
    a_file = tmp_path / f"file.{namespace}-999999-1"; a_file.write_text("x")
    link = tmp_path / f"link.{namespace}-999999-1"; link.symlink_to(other_ns)
    assert files._process_tag(999999) is None                          # (no such process: pid_max is below this)
    newer = files.scratch_dir()
    assert not dead.exists() and not reused.exists()
    assert all(p.exists() for p in (mine / ".", other_ns / "f", public / "f", a_file, link, newer))
    assert (other_ns / "f").read_text() == "x" and link.is_symlink()


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="the process tag is read from Linux's /proc")
def test_process_tag_reads_the_start_time_past_a_command_name_with_spaces_and_parentheses(tmp_path):
    "The 22nd field of /proc/PID/stat is found even when the command name (field 2) holds ') ' and spaces."
    import subprocess
    odd = tmp_path / "a) b c d"; odd.symlink_to(sys.executable)
    p = subprocess.Popen([str(odd), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        tag = files._process_tag(p.pid)
        stat_line = Path(f"/proc/{p.pid}/stat").read_text()
        assert "(a) b c d)" in stat_line
        import psutil
        ticks = os.sysconf("SC_CLK_TCK")
        namespace, pid, start = tag.split("-")
        assert (int(namespace), int(pid)) == (os.stat("/proc/self/ns/pid").st_ino, p.pid)
        boot = psutil.boot_time()
        assert abs(boot + int(start) / ticks - psutil.Process(p.pid).create_time()) < 0.05   # ticks are 1/100 s
    finally:
        p.communicate(b""); p.wait()
    assert files._process_tag(p.pid) is None                          # reaped: gone


@linux_tags
def test_write_atomic_removes_the_temporary_file_of_a_writer_killed_outright(tmp_path):
    "A SIGKILL between write_files' mkstemp and its rename left a hidden .NAME.*.tmp beside the file for ever (an export's: a whole model)."
    import subprocess
    kill = ("import os, signal, gpuvision_nb.bench as B\n"
            "B.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"B.write_atomic({str(tmp_path / 'r.json')!r}, 'new')\n")
    (tmp_path / "r.json").write_text("old")
    r = subprocess.run([sys.executable, "-c", kill], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == -9
    left, = [p for p in tmp_path.iterdir() if p.name != "r.json"]
    assert left.name.startswith(".r.json.") and left.read_text() == "new" and (tmp_path / "r.json").read_text() == "old"
    write_atomic(tmp_path / "r.json", "newer")
    assert list(tmp_path.iterdir()) == [tmp_path / "r.json"] and (tmp_path / "r.json").read_text() == "newer"


@linux_tags
def test_sweep_beside_removes_only_the_leftovers_of_dead_writers_of_that_target(tmp_path):
    host, dead, me = files.host_tag(), dead_process_tag(), files._process_tag(os.getpid())
    ns, pid, start = me.split("-")
    gone = [tmp_path / f".out.bin.{host}@{dead}.abcd1234.tmp", tmp_path / f".out.bin.{host}@{ns}-{pid}-{int(start) + 1}.abcd_123.tmp"]
    kept = [tmp_path / n for n in (f".out.bin.{host}@{me}.abcd1234.tmp",                     # a living writer's
                                   f".out.bin.other-host@{dead}.abcd1234.tmp",               # another host's
                                   f".out.bin.{host}@{int(ns) + 1}-{dead.split('-', 1)[1]}.abcd1234.tmp",   # another container's
                                   f".other.bin.{host}@{dead}.abcd1234.tmp",                 # another target's
                                   ".out.bin.abcd1234.tmp", f".out.bin.{host}@{dead}.abcd1234.tmp.keep", "out.bin")]
    for p in [*gone, *kept]: p.write_text("x")
    folder = tmp_path / f".out.bin.{host}@{dead}.dir12345.tmp"; folder.mkdir(); (folder / "f.png").write_text("x")
    link = tmp_path / f".out.bin.{host}@{dead}.link1234.tmp"; link.symlink_to(tmp_path / "out.bin")
    files.sweep_beside(tmp_path / "out.bin")
    assert not any(p.exists() for p in gone) and (folder / "f.png").exists() and link.is_symlink()   # folders: only when asked
    files.sweep_beside(tmp_path / "out.bin", folders=True)
    assert not folder.exists() and link.is_symlink() and all(p.read_text() == "x" for p in kept)


def test_scratch_dir_registers_the_removal_of_its_own_folder(tmp_path, monkeypatch):
    "In this process (the subprocess tests above can't be seen by mutmut): the exit hook it registers removes that folder."
    hooks = []
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(files.atexit, "register", lambda fn, *args: hooks.append((fn, args)))
    d = files.scratch_dir("t-")
    assert len(hooks) == 1 and d.is_dir()
    fn, args = hooks[0]; fn(*args)
    assert not d.exists()


def test_an_output_that_is_a_hard_link_to_an_input_is_refused(tmp_path):
    "Two paths, one file: writing the output would destroy the input (os.path.samefile, not path equality)."
    from gpuvision_nb.files import OutputOverlapError, check_output
    src = tmp_path / "in.png"; src.write_bytes(b"x"); os.link(src, tmp_path / "out.png")
    with pytest.raises(OutputOverlapError, match="is the input"): check_output(tmp_path / "out.png", [src])


def test_ensure_writable_probes_the_target_folder_itself(tmp_path, monkeypatch):
    "A folder that refuses new files (simulated: the tests may run as root, where chmod can't) is found before any work."
    real = files.tempfile.NamedTemporaryFile
    def probe(*a, dir=None, **k):
        if dir is not None and Path(dir) == tmp_path / "ro": raise PermissionError(13, "Permission denied")
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(files.tempfile, "NamedTemporaryFile", probe)
    (tmp_path / "ro").mkdir()
    with pytest.raises(WriteError, match=r"ro is not a writable folder \(Permission denied\)"): ensure_writable(tmp_path / "ro" / "a.json")


def test_write_files_writes_a_hidden_temporary_named_after_its_target(tmp_path, monkeypatch):
    "The temporary beside the target is '.<name>.<random>.tmp': hidden, and a leftover says which file it was for."
    replaced, real = [], os.replace
    monkeypatch.setattr(files.os, "replace", lambda a, b: replaced.append(Path(a).name) or real(a, b))
    write_atomic(tmp_path / "a.json", "{}")
    assert len(replaced) == 1 and replaced[0].startswith(".a.json.") and replaced[0].endswith(".tmp")


def test_ensure_writables_probe_is_named_as_a_writers_temporary_so_a_killed_probe_is_swept(tmp_path, monkeypatch):
    "The probe file is `temp_prefix(path)` + random + '.tmp': killed mid-probe, the next writer of that file removes it."
    seen, real = [], files.tempfile.NamedTemporaryFile
    monkeypatch.setattr(files.tempfile, "NamedTemporaryFile", lambda *a, **k: seen.append(k) or real(*a, **k))
    target = tmp_path / "sub" / "r.json"
    assert ensure_writable(target) == target and list(target.parent.iterdir()) == []
    assert [(k["dir"], k["prefix"], k["suffix"]) for k in seen] == [(target.parent, files.temp_prefix(target), ".tmp")]


@pytest.mark.parametrize("target, kind", [("/dev/null", "a device"), (".", "a folder")])
def test_a_target_that_is_no_file_is_named_with_what_it_is_and_no_stray_hint(target, kind, tmp_path, monkeypatch):
    "The whole line, word for word: what the path is, and the hint only when a caller gives one."
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WriteError) as e: ensure_writable(target)
    assert str(e.value) == f"can't write {Path(target)}: it is {kind}, not a file; name a file to write"
    with pytest.raises(WriteError) as e: ensure_writable(target, "; set X")
    assert str(e.value) == f"can't write {Path(target)}: it is {kind}, not a file; set X; name a file to write"


@pytest.mark.parametrize("name, ok", [("n" * 255, True), ("n" * 256, False), ("图" * 85, True), ("图" * 86, False)])
def test_too_long_counts_a_name_in_bytes_against_its_folders_limit(tmp_path, name, ok):
    "NAME_MAX is bytes of the folder's file system (255 here, asked with pathconf): 85 CJK characters fit, 86 do not."
    if os.pathconf(tmp_path, "PC_NAME_MAX") != 255: pytest.skip("the temporary folder's file system has names of other than 255 bytes")
    why = too_long(str(tmp_path / name / "inside"))            # the name may be any part of the path, not only the last
    assert (why is None) == ok
    if not ok: assert why == f"the name {name[:24] + '…'!r} has {len(name.encode())} bytes, more than the 255 a file name may have in {tmp_path}"


@pytest.mark.parametrize("size, ok", [(4095, True), (4096, False)])
def test_too_long_refuses_a_path_of_path_max_bytes(size, ok):
    "PATH_MAX (4096 on Linux) counts the terminating NUL: 4095 bytes is the longest path a system call takes."
    path = ("d/" * size)[:size]
    assert (too_long(path) is None) == ok
    if not ok: assert too_long(path) == "the path has 4,096 bytes, more than the 4,095 a path may have"


def test_too_long_asks_the_nearest_folder_that_exists(tmp_path, monkeypatch):
    """The limits are those of the folder the path would be made in (a file system may allow other names), else Linux's.
    They are set here from tmp_path's own lengths: TMPDIR differs from machine to machine (CI's is longer)."""
    asked, base = [], len(os.fsencode(str(tmp_path)))
    longest = max(len(os.fsencode(part)) for part in tmp_path.parts)    # every name on the way fits
    limits = {"PC_NAME_MAX": longest, "PC_PATH_MAX": 4096}
    monkeypatch.setattr(os, "pathconf", lambda p, n: asked.append((Path(p), n)) or limits[n])
    assert too_long(str(tmp_path / "new" / ("n" * (longest + 1)))) == (
        f"the name {'n' * 24 + '…'!r} has {longest + 1} bytes, more than the {longest} a file name may have in {tmp_path}")
    assert asked == [(tmp_path, "PC_PATH_MAX"), (tmp_path, "PC_NAME_MAX")]
    assert too_long(str(tmp_path / "new" / ("n" * longest))) is None
    limits["PC_PATH_MAX"] = base + 1 + longest                          # tmp_path, '/' and a name of `longest` bytes
    assert too_long(str(tmp_path / ("n" * (longest - 1)))) is None
    assert too_long(str(tmp_path / ("n" * longest))) == (
        f"the path has {base + 1 + longest:,} bytes, more than the {base + longest:,} a path may have")
    monkeypatch.setattr(os, "pathconf", lambda p, n: (_ for _ in ()).throw(OSError(22, "Invalid argument")))
    assert too_long("n" * 256) is not None and too_long("n" * 255) is None



def test_too_long_of_the_current_folder_is_none():
    "`--out .` and `--data .` are paths too: '.' has no parts, and max() of none raised (mutmut files --seed 912)."
    assert too_long(".") is None and too_long("") is None


def test_model_file_knows_the_formats_export_writes_and_no_other(tmp_path):
    """`files._model_file` (what `export --overwrite` may replace): a torch.save zip (its `archive/data.pkl`), a
    safetensors file (an 8-byte header length > 0, then '{'), an ONNX protobuf (0x08 first); not a zip without data.pkl,
    a length of 0 before '{', nor a length without '{' (mutmut files --seed 912: no test reached it)."""
    import torch
    from safetensors.torch import save_file
    torch.save({"w": torch.zeros(1)}, tmp_path / "m.pt"); save_file({"w": torch.zeros(1)}, tmp_path / "m.safetensors")
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07" + bytes(30))
    import zipfile
    with zipfile.ZipFile(tmp_path / "sheet.xlsx", "w") as z: z.writestr("xl/workbook.xml", "<x/>")
    (tmp_path / "zero").write_bytes(bytes(8) + b"{}")
    (tmp_path / "nobrace").write_bytes((5).to_bytes(8, "little") + b"[1,2]")
    is_model = lambda name: files._model_file(tmp_path / name, (tmp_path / name).read_bytes()[:64])
    assert [n for n in ("m.pt", "m.safetensors", "m.onnx", "sheet.xlsx", "zero", "nobrace") if is_model(n)] == ["m.pt", "m.safetensors", "m.onnx"]


def test_temporary_names_carry_host_and_process_only_where_known(monkeypatch, tmp_path):
    """`temp_prefix`: '.NAME.HOST@TAG.' where /proc tells the process (`_process_tag`), else '.NAME.'; the host as it
    stands in a file name, other characters as '_' (mutmut files --seed 912)."""
    monkeypatch.setattr(files.socket, "gethostname", lambda: "my host/1")
    assert files.host_tag() == "my_host_1"
    monkeypatch.setattr(files, "_process_tag", lambda pid: None)
    assert files.temp_prefix(tmp_path / "r.json") == ".r.json."
    monkeypatch.setattr(files, "_process_tag", lambda pid: "123-456")
    assert files.temp_prefix(tmp_path / "r.json") == ".r.json.my_host_1@123-456."


def test_the_exit_hook_of_a_scratch_folder_already_gone_is_quiet(tmp_path):
    "`_remove_if_owner` at exit: a folder removed meanwhile (by its user, or a sweep) raises nothing (mutmut --seed 912)."
    files._remove_if_owner(tmp_path / "gone", os.getpid())
    (tmp_path / "other").mkdir(); files._remove_if_owner(tmp_path / "other", os.getpid() + 1)   # not the owner: kept
    assert (tmp_path / "other").is_dir()
