"""Hostile tests of the files the tools write (found by the files helper): a long file name, a full disk, a destination
that vanishes, a process killed midway. The user's files stay as they were, no temporary file is left, and the
error names the file the user asked for — never a hidden temporary one."""
import os, sys
from pathlib import Path

import numpy as np
import pytest

from gpuvision_nb import files
from gpuvision_nb.files import WriteError, write_atomic

sys.path.insert(0, str(Path(__file__).parent))
from conftest import dead_process_tag, linux_tags  # noqa: E402

LONG = ["r" * 240 + ".json", "視頻" * 40 + ".json"]          # 245 bytes; 80 CJK characters = 245 bytes: a name may have 255


@pytest.mark.parametrize("name", LONG, ids=["ascii", "cjk"])
def test_a_file_with_a_long_name_can_be_written(tmp_path, name):
    """A name of more than about 140 bytes (50 Chinese characters) could be created by any program but not written
    by ours: 'can't write NAME: File name too long' — the temporary file beside it, named after it plus the host,
    process tag and a random part, was too long. The records, exports, checkpoints and videos all write that way."""
    target = tmp_path / name
    target.write_text("old")
    assert write_atomic(target, "new").read_text() == "new" and list(tmp_path.iterdir()) == [target]
    assert len(os.fsencode(files.temp_prefix(target))) + len(".abcd1234.tmp") <= 255 - 64 + len(files.host_tag())


def test_a_video_with_a_long_name_can_be_written(tmp_path):
    from gpuvision_nb.videofile import bar_frames, write_video
    target = tmp_path / ("v" * 240 + ".mp4")
    assert write_video(target, np.stack(list(bar_frames(2, 16)))).stat().st_size > 0 and list(tmp_path.iterdir()) == [target]


@linux_tags
def test_the_leftover_of_a_killed_writer_of_a_long_name_is_swept(tmp_path):
    "The cut name (`files._name_in_temp`) is the same for the same target: a dead writer's temporary file still goes."
    target = tmp_path / LONG[1]
    prefix = files.temp_prefix(target).rsplit("@", 1)[0]
    dead, other = tmp_path / f"{prefix}@{dead_process_tag()}.abcd1234.tmp", tmp_path / f".{'x' * 99}.{files.host_tag()}@{dead_process_tag()}.abcd1234.tmp"
    dead.write_text("x"); other.write_text("x")
    write_atomic(target, "new")
    assert not dead.exists() and other.exists() and target.read_text() == "new"


def _fsize_limited(code: str, limit: int):
    "Run `code` in a Python process whose files may grow to `limit` bytes (a full disk: write raises EFBIG, SIGXFSZ ignored)."
    import subprocess
    pre = (f"import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
           f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n")
    return subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"})


def test_a_video_on_a_full_disk_names_the_video_not_its_temporary_file(tmp_path):
    """`gpuvision video --out clip.mp4` on a full disk said "[Errno 27] File too large: '.clip.mp4.vm@4026531836-27788-
    4845038.b9b4d107.tmp'" — a hidden file the user never named, and that no longer existed."""
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the user's old clip")
    code = ("from gpuvision_nb.videofile import bar_frames, write_video\n"
            f"try: write_video({str(out)!r}, bar_frames(200, 256))\n"
            "except OSError as e: print(e.errno, e)\n")
    r = _fsize_limited(code, 20_000)
    assert r.stdout.strip() == f"27 can't write {out}: File too large", r.stdout + r.stderr
    assert out.read_bytes() == b"the user's old clip" and list(tmp_path.iterdir()) == [out]


def test_a_video_whose_folder_vanishes_midway_names_the_folder(tmp_path):
    import shutil
    from gpuvision_nb.videofile import VideoWriter, bar_frames
    folder = tmp_path / "clips"; folder.mkdir()
    w = VideoWriter(folder / "a.mp4")
    w.write(np.stack(list(bar_frames(4, 16))))
    shutil.rmtree(folder)
    with pytest.raises(OSError, match=f"^can't write {folder / 'a.mp4'}: its folder {folder} does not exist"): w.close()
    with pytest.raises(OSError, match=f"^can't write {folder / 'a.mp4'}: its folder {folder} does not exist"): VideoWriter(folder / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_bench_records_where_the_user_runs_it_never_into_the_package(tmp_path, monkeypatch, gpuvision):
    """With an editable install `gpuvision bench` (no --out, no GPUVISION_RESULTS) wrote its record into the
    checkout's nbs/results/ — the course's committed records — from whatever folder it was run in. It now writes
    ./gpuvision-results/ (or $GPUVISION_RESULTS), and `gpuvision report` run there shows it; the chapters still
    record into nbs/results/ (`results_dir`)."""
    import gpuvision_nb.bench as B
    import gpuvision_nb.cli as C
    from gpuvision_nb.bench import Timing
    checkout = tmp_path / "checkout" / "nbs" / "results"                # stands for the package's own nbs/results/
    monkeypatch.setattr(B, "repo_results_dir", lambda: checkout); monkeypatch.setattr(C, "repo_results_dir", lambda: checkout, raising=False)
    monkeypatch.setattr(C, "run_sweep", lambda kind, dev, **k: [Timing(f"{kind} 64", "cpu", 1e-3, 1e-4, [1e-3], 1.0, "FLOP")])
    monkeypatch.delenv("GPUVISION_RESULTS"); monkeypatch.chdir(tmp_path)
    r = gpuvision("bench", "--quick", "--device", "cpu")
    assert r.returncode == 0 and f"recorded 2 timings to {tmp_path / 'gpuvision-results' / 'bench--cpu.json'}" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "checkout").exists() and B.results_dir() == checkout     # the chapters' default stays
    shown = gpuvision("report")
    assert shown.returncode == 0 and "bench" in shown.stdout and "no recorded results" not in shown.stdout, shown.stdout
    r = gpuvision("bench", "--quick", "--device", "cpu", GPUVISION_RESULTS=tmp_path / "mine")
    assert r.returncode == 0 and (tmp_path / "mine" / "bench--cpu.json").is_file()


def test_the_standalone_script_names_what_it_cant_read_and_classifies_the_rest(tmp_path):
    """Chapter 17's standalone classifier (`python classify.py MODEL IMAGE...`) ended in a traceback — and printed
    nothing for the good images — on one unreadable or missing image (the chapter leaves its broken image out to
    run it), on a missing model, and with no arguments. Now a line per such file on stderr, the others classified,
    exit status 1."""
    import subprocess
    from PIL import Image
    from gpuvision_nb.data import MEAN, STD
    from gpuvision_nb.deploy import Preprocess, export, standalone_script
    from gpuvision_nb.models import get_model
    model = export(get_model("seed", 2, 3, 16), tmp_path / "m.pt", "torchscript", Preprocess(16, MEAN, STD, 3, ("a", "b")))
    (tmp_path / "classify.py").write_text(standalone_script("torchscript"))
    Image.new("RGB", (20, 20), "red").save(tmp_path / "ok.png"); (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    run = lambda *args: subprocess.run([sys.executable, tmp_path / "classify.py", *args], capture_output=True, text=True, cwd=tmp_path)
    r = run(model, tmp_path / "ok.png", tmp_path / "bad.png", tmp_path / "missing.png")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert [l.split("\t")[0] for l in r.stdout.splitlines()] == [str(tmp_path / "ok.png")]
    assert [l.split(": skipped: ")[0] for l in r.stderr.splitlines()] == [str(tmp_path / "bad.png"), str(tmp_path / "missing.png")]
    r = run(tmp_path / "missing.pt", tmp_path / "ok.png")
    assert r.returncode == 1 and r.stdout == "" and len(r.stderr.splitlines()) == 1 and f"can't load the model {tmp_path / 'missing.pt'}" in r.stderr
    r = run()
    assert r.returncode == 1 and r.stderr.startswith("usage: python ") and "Traceback" not in r.stderr


def test_two_writers_of_one_model_and_manifest_never_mix_them(tmp_path, monkeypatch):
    """Two `gpuvision export --overwrite` (or save_model calls) to one path at once: each renamed its model, then its
    manifest, so one's model could end beside the other's manifest — both said 'wrote', and the model then failed
    its manifest check. Here writer B runs while A is between its two renames; the pair must be one writer's.
    (B signals when it waits for the lock, or when it is done: no timing.)"""
    import threading
    model, manifest = tmp_path / "m.safetensors", tmp_path / "m.safetensors.manifest.json"
    b_waits_or_done, real_replace, real_fcntl = threading.Event(), os.replace, getattr(files, "fcntl", None)
    state = {"replaced": 0}

    class SeesB:                                        # files.fcntl, telling when writer B asks for the lock
        LOCK_EX = getattr(real_fcntl, "LOCK_EX", 2)
        def flock(self, fd, op):
            if threading.current_thread() is not threading.main_thread(): b_waits_or_done.set()
            return real_fcntl.flock(fd, op)

    def b(): write_files({model: "B model", manifest: "B manifest"}); b_waits_or_done.set()
    writer_b = threading.Thread(target=b)

    def replace(src, dst):
        real_replace(src, dst)
        if threading.current_thread() is threading.main_thread() and state["replaced"] == 0:
            state["replaced"] = 1; writer_b.start(); b_waits_or_done.wait()
    from gpuvision_nb.files import write_files
    monkeypatch.setattr(files, "fcntl", SeesB() if real_fcntl else None, raising=False)
    monkeypatch.setattr(files.os, "replace", replace)
    write_files({model: "A model", manifest: "A manifest"})
    writer_b.join()
    assert (model.read_text()[0], manifest.read_text()[0]) in (("A", "A"), ("B", "B"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([manifest.name, model.name])


@pytest.mark.parametrize("command", ["bench", "report --chart", "video"])
def test_an_output_name_too_long_is_refused_before_the_work(tmp_path, monkeypatch, gpuvision, command):
    """`gpuvision bench --out NAME` with a name of over 255 bytes measured for minutes, then failed to write ('File
    name too long') and lost the measurements; `video --out` encoded the whole video first. Now refused as the
    argument is parsed (`files.too_long`, which `ensure_writable`, the check every writer makes first, asks too)."""
    import gpuvision_nb.cli as C
    monkeypatch.setattr(C, "run_sweep", lambda *a, **k: pytest.fail("measured for an --out it can't write"))
    monkeypatch.setattr(C, "_video", lambda *a, **k: pytest.fail("decoded a video for an --out it can't write"))
    name = tmp_path / ("n" * 300)
    args = {"bench": ["bench", "--quick", "--device", "cpu", "--out", f"{name}.json"], "report --chart": ["report", "--chart", f"{name}.png"],
            "video": ["video", "seed", tmp_path / "in.mp4", "--out", f"{name}.mp4", "--device", "cpu"]}[command]
    r = gpuvision(*args)
    assert r.returncode == 2 and f"has {len(Path(args[-1 if command != 'video' else -3]).name)} bytes, more than the 255 a file name may have" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_pipe_given_as_the_model_is_named_as_such(tmp_path, gpuvision, command):
    "`gpuvision predict FIFO …` said 'model FIFO does not exist', though it is there (a pipe, a device): misleading."
    fifo = tmp_path / "model.safetensors"; os.mkfifo(fifo)
    args = [fifo, tmp_path / "a.png"] if command == "predict" else [fifo, "--format", "torchscript", "--out", tmp_path / "m.pt"]
    r = gpuvision(command, *args)
    assert r.returncode == 2 and f"model {fifo} is not a file or folder (a pipe, socket or device)" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_a_record_whose_folder_vanishes_midway_names_the_folder(tmp_path, monkeypatch):
    "A folder removed while a record (a model, a chart) was written: 'can't write X: No such file or directory' — which?"
    import shutil
    folder, real_replace = tmp_path / "results", os.replace
    folder.mkdir()
    monkeypatch.setattr(files.os, "replace", lambda src, dst: (shutil.rmtree(folder), real_replace(src, dst)))
    with pytest.raises(WriteError, match=f"^can't write {folder / 'r.json'}: its folder {folder} does not exist "
                                          r"\(or was removed while it was written\)$"):
        write_atomic(folder / "r.json", "{}")
    assert list(tmp_path.iterdir()) == []


def _camera_clip(path: Path) -> Path:
    "An MP4 another program wrote (a phone, a video editor): H.264 frames muxed by PyAV without `VideoWriter`'s mark."
    import av
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25); s.width = s.height = 16; s.pix_fmt = "yuv420p"
        for _ in range(3): c.mux(s.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")))
        c.mux(s.encode())
    return path


def test_an_output_never_replaces_a_users_photo_or_video(tmp_path, gpuvision):
    """`gpuvision video MODEL in.mp4 --out holiday.mp4` replaced the user's own video, and `report --chart photo.png` their
    photo (exit 0): any file with an MP4 or PNG header passed for the command's earlier output. Now only a video
    `VideoWriter` marked, or a chart Matplotlib drew, is replaced; a rerun still replaces its own."""
    from PIL import Image
    from gpuvision_nb.videofile import bar_frames, write_video
    holiday, photo = _camera_clip(tmp_path / "holiday.mp4"), tmp_path / "photo.png"
    Image.new("RGB", (8, 8), "blue").save(photo)
    before = {p: p.read_bytes() for p in (holiday, photo)}
    for args, mine in ((["video", "seed", tmp_path / "in.mp4", "--out", holiday, "--device", "cpu"], holiday), (["report", "--chart", photo], photo)):
        r = gpuvision(*args)
        assert r.returncode == 2 and f"{mine} already exists and is not" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert all(p.read_bytes() == b for p, b in before.items())
    ours = write_video(tmp_path / "ours.mp4", np.stack(list(bar_frames(2, 16))))     # an earlier `gpuvision video --out`
    r = gpuvision("video", "seed", tmp_path / "in.mp4", "--out", ours, "--device", "cpu")
    assert r.returncode == 2 and f"{tmp_path / 'in.mp4'}: does not exist" in r.stderr, r.stderr   # past the --out check


def test_bench_never_replaces_a_users_json_that_has_a_schema_key(tmp_path, gpuvision, monkeypatch):
    "`gpuvision bench --out config.json` replaced any JSON object with a \"schema\" key (a user's config) by a record."
    import gpuvision_nb.cli as C
    monkeypatch.setattr(C, "run_sweep", lambda *a, **k: pytest.fail("measured for an --out it may not replace"))
    mine = tmp_path / "config.json"; mine.write_text('{"schema": 2, "name": "my settings"}')
    r = gpuvision("bench", "--quick", "--device", "cpu", "--out", mine)
    assert r.returncode == 2 and f"{mine} already exists and is not a gpuvision record" in r.stderr, r.stderr
    assert mine.read_text() == '{"schema": 2, "name": "my settings"}'


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_video_writer_refuses_a_folder_or_pipe_before_any_frame(tmp_path, kind):
    """`write_video(path, …)` / `classify_video(out=path)` with a folder at `path` encoded every frame, then failed to
    rename ('Is a directory'); with a pipe there it replaced the pipe by a file, reporting success."""
    from gpuvision_nb.videofile import VideoWriter
    target = tmp_path / "out.mp4"
    target.mkdir() if kind == "folder" else os.mkfifo(target)
    with pytest.raises(ValueError, match=f"can't write {target}: it is a (folder|pipe)"): VideoWriter(target)
    assert list(tmp_path.iterdir()) == [target] and (target.is_dir() if kind == "folder" else not target.is_file())


def _fsync_refused_for_folders(monkeypatch, err):
    "Make `os.fsync` of a folder fail with errno `err`, as on file systems that can't flush a folder (some FUSE, NFS, CIFS)."
    import errno, stat as st
    real = os.fsync
    def fsync(fd):
        if st.S_ISDIR(os.fstat(fd).st_mode): raise OSError(getattr(errno, err), os.strerror(getattr(errno, err)))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("err", ["EINVAL", "ENOTSUP"])
def test_a_file_system_that_cant_flush_a_folder_still_writes_every_kind_of_file(tmp_path, monkeypatch, err):
    """On a file system whose folders can't be fsynced (EINVAL: some FUSE, network and virtual-machine shares) every
    write failed: a record, an export or a report was published, then 'can't write X: Invalid argument' (exit 2) —
    success reported as a failure — and no checkpoint or video could be saved at all (training failed at epoch 1).
    The folder's flush is a guarantee against a power cut the file system can't give: it is skipped, not an error."""
    import torch
    from gpuvision_nb.checkpoint import latest_checkpoint, save_checkpoint
    from gpuvision_nb.videofile import bar_frames, write_video
    _fsync_refused_for_folders(monkeypatch, err)
    (tmp_path / "r.json").write_text("old")
    assert write_atomic(tmp_path / "r.json", "new").read_text() == "new"
    ck = save_checkpoint(tmp_path / "ck", torch.nn.Linear(2, 2), epoch=1)
    assert latest_checkpoint(tmp_path / "ck") == ck
    assert write_video(tmp_path / "v.mp4", np.stack(list(bar_frames(2, 16)))).stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "r.json", "v.mp4"]


def test_a_real_failure_to_flush_a_folder_is_still_an_error(tmp_path, monkeypatch):
    "An I/O error flushing the folder is a real failure (the disk lost the write): still said, naming the file."
    _fsync_refused_for_folders(monkeypatch, "EIO")
    with pytest.raises(WriteError, match=f"^can't write {tmp_path / 'r.json'}: "): write_atomic(tmp_path / "r.json", "new")


def test_a_read_only_file_is_never_replaced_by_any_writer(tmp_path):
    """A user who protects a file (`chmod 444`: an earlier record, a chart, a model they deploy) had it silently
    replaced: a file is published by renaming over it, which needs only the folder's permission — root or not. Every
    writer now refuses it before any work, naming it, and leaves it and no temporary file."""
    from gpuvision_nb.files import check_replaceable, ensure_writable
    target = tmp_path / "r.json"
    target.write_text('{"schema": 1, "experiment": "x", "provenance": {}}'); target.chmod(0o444)
    for write in (lambda: write_atomic(target, "new"), lambda: ensure_writable(target),
                  lambda: check_replaceable(target, "record")):
        with pytest.raises((WriteError, FileExistsError), match=f"^can't write {target}: it is read-only .*chmod u\\+w"): write()
    assert target.read_text().startswith('{"schema"') and list(tmp_path.iterdir()) == [target]
    target.chmod(0o644)
    assert write_atomic(target, "new").read_text() == "new"                   # writable again: replaced as before


def test_a_file_this_user_may_not_write_is_refused(tmp_path, monkeypatch):
    """Not writable for this user (another user's or group's file, 0o644), though it has write bits: refused as well.
    (`os.access` says so; mocked, so that the test holds for root, who may write any file.)"""
    target = tmp_path / "r.json"; target.write_text("theirs")
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **k: False if Path(path) == target and mode == os.W_OK else real(path, mode, **k))
    with pytest.raises(WriteError, match="read-only"): write_atomic(target, "new")
    assert target.read_text() == "theirs" and list(tmp_path.iterdir()) == [target]


def test_ctrl_c_between_the_renames_of_a_set_of_files_waits_until_all_are_in(tmp_path, monkeypatch):
    """A model and its manifest (an export), a run's report: published by one rename each. Ctrl-C or SIGTERM that
    came between two renames left the new model beside the old manifest — the user's working export replaced by a
    pair that disagree. The signal now waits until every file of the set is in, then stops the command."""
    import signal
    a, b = tmp_path / "model.safetensors", tmp_path / "model.safetensors.manifest.json"
    a.write_text("old model"); b.write_text("old manifest")
    real = os.replace
    def replace_then_ctrl_c(src, dst):
        real(src, dst)
        if Path(dst) == a: signal.raise_signal(signal.SIGINT)             # Ctrl-C right after the first rename
    monkeypatch.setattr(os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt): files.write_files({a: "new model", b: "new manifest"})
    assert (a.read_text(), b.read_text()) == ("new model", "new manifest") and sorted(tmp_path.iterdir()) == [a, b]


def test_every_writer_given_a_path_with_a_tilde_writes_into_the_home_folder(tmp_path, monkeypatch):
    """`gpuvision export RUN --out=~/model.pt` and `train --out=~/runs/a` (the shell leaves a '~' after '=' as it is)
    wrote into a folder literally named '~' in the current folder, and said 'wrote ~/model.pt': the user found
    nothing in their home folder — and the usual way to remove that stray '~' folder, `rm -rf ~`, deletes the home
    folder. Every writer now takes '~' as the home folder, as the commands that already expanded it (bench, data)."""
    import torch
    from gpuvision_nb.checkpoint import latest_checkpoint, save_checkpoint
    from gpuvision_nb.videofile import bar_frames, write_video
    home, work = tmp_path / "home", tmp_path / "work"; home.mkdir(); work.mkdir()
    monkeypatch.setenv("HOME", str(home)); monkeypatch.chdir(work)
    assert write_atomic("~/r.json", "x") == home / "r.json" and (home / "r.json").read_text() == "x"
    assert save_checkpoint("~/ck", torch.nn.Linear(2, 2), epoch=1) == home / "ck" / "epoch-0001"
    assert latest_checkpoint(home / "ck") == home / "ck" / "epoch-0001"
    assert write_video("~/v.mp4", np.stack(list(bar_frames(2, 16)))) == home / "v.mp4" and (home / "v.mp4").is_file()
    assert list(work.iterdir()) == []
