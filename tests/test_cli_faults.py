"""A careless or unlucky user's `gpuvision` runs (found by hostile testing): an output path that is not a file (a
device, a pipe, a link to one), standard output that is closed or full. Each must end in one line naming what is
wrong and a non-zero exit status — never a traceback, never a device node replaced by a file, never exit 0 for
output that went nowhere."""
import os, socket, stat, subprocess, sys
from pathlib import Path

import pytest


from gpuvision_nb.files import WriteError, write_atomic

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
    with pytest.raises(WriteError, match="not a file"): write_atomic(target, "data")
    r = gpuvision("report", "--chart", target)
    assert r.returncode == 2 and "not a file" in r.stderr and str(target) in r.stderr and "Traceback" not in r.stderr
    assert os.stat(target).st_mode == mode and not stat.S_ISREG(mode)          # still the pipe (or socket) it was
    assert (tmp_path / "stdout").is_symlink() or kind != "link-to-fifo"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]       # no temporary file left beside it


FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not (FULL.exists() and stat.S_ISCHR(FULL.stat().st_mode)), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.parametrize("args", [["info"], ["--help"]])
def test_a_full_stdout_is_an_error_naming_it(args):
    """`gpuvision info > /dev/full` said '[Errno 28] No space left on device' (which file?; after `data`, it read as
    if the data set was incomplete), and `--help > /dev/full` exited 0 (argparse swallows the error)."""
    with open(FULL, "w") as full: r = cli(*args, stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2 and "can't write standard output (No space left on device)" in r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_a_closed_stdout_is_an_error_not_a_traceback():
    "`gpuvision predict ... >&-` ended in AttributeError: 'NoneType' object has no attribute 'isatty'; `info >&-` exited 0."
    r = cli("info", stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1))
    assert r.returncode == 2 and "standard output is closed" in r.stderr and "Traceback" not in r.stderr


def test_a_closed_stdout_in_process_says_so(monkeypatch, capsys):
    "The same check as `main` sees it (Python sets sys.stdout to None for `>&-`), where a mutation run can see it."
    from gpuvision_nb.cli import main
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["info"]) == 2
    assert "gpuvision: error: standard output is closed" in capsys.readouterr().err


def test_a_closed_stderr_keeps_messages_out_of_stdout(tmp_path):
    """With stderr closed (`2>&-`) Python's print(file=sys.stderr) writes to stdout: error messages were mixed into the
    results a script reads (and `predict` died of AttributeError on sys.stderr.isatty())."""
    r = cli("predict", tmp_path / "no-model", tmp_path / "x.png", stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(2))
    assert r.returncode == 2 and r.stdout == ""


@pytest.mark.parametrize("target", ["empty-folder", "dangling"])
def test_data_out_may_be_a_link(tmp_path, target, gpuvision):
    """`gpuvision data shapes --out LINK` failed with a bare '[Errno 20] Not a directory' — for a dangling link only
    after generating the whole data set. The link is followed: the data lands where it points, the link stays."""
    dest = tmp_path / "dest"
    if target == "empty-folder": dest.mkdir()
    (tmp_path / "link").symlink_to(dest)
    r = gpuvision("data", "shapes", "--n-per-class", "1", "--size", "8", "--out", tmp_path / "link")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link").is_symlink() and len(list(dest.rglob("*.png"))) == 10


def test_data_on_a_full_disk_names_the_folder(tmp_path, gpuvision, monkeypatch):
    "A full disk while writing a data set said '[Errno 28] No space left on device' without naming what was being written."
    import errno
    from PIL import Image
    def full(*a, **k): raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", full)
    r = gpuvision("data", "shapes", "--n-per-class", "1", "--size", "8", "--out", tmp_path / "d")
    assert r.returncode == 2 and f"can't write the data set {tmp_path / 'd'}: No space left on device" in r.stderr
    assert "[Errno" not in r.stderr and list(tmp_path.iterdir()) == []         # no half-written folder, no temporary one


def test_an_unusable_cache_folder_is_named_with_its_variable(tmp_path, gpuvision, monkeypatch):
    """GPUVISION_CACHE naming a file (or a bad HOME) ended `gpuvision train --data digits` in a bare
    "[Errno 17] File exists: 'userfile'": which file, and why is the cache involved?"""
    (tmp_path / "userfile").write_text("mine")
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path / "userfile"))
    r = gpuvision("train", "--data", "digits", "--epochs", "1", "--out", tmp_path / "run", "--device", "cpu", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"can't use the cache folder {tmp_path / 'userfile'}" in r.stderr and "set GPUVISION_CACHE to a writable folder" in r.stderr
    assert (tmp_path / "userfile").read_text() == "mine"


def test_sigterm_leaves_no_half_written_output(tmp_path):
    """`kill` (or `timeout`, a cancelled CI job) of `gpuvision data` left `.big.<writer>.tmp`, a half-generated data set
    (megabytes, growing with the run) — likewise `train --overwrite`'s `.RUN.new` and an export's temporary file:
    SIGTERM killed the process before any clean-up ran. It is now raised like Ctrl-C (`cli.Terminated`)."""
    import time
    p = subprocess.Popen([sys.executable, "-m", "gpuvision_nb.cli", "data", "shapes", "--n-per-class", "20000", "--out",
                          str(tmp_path / "big")], env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".big.*.tmp/*/*.png")) and time.monotonic() < deadline and p.poll() is None: time.sleep(0.1)
    p.terminate()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143 and "gpuvision data: terminated (SIGTERM)" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["bench", "--quick", "--device", "cpu", "--out"], ["report", "--chart"],
                                  ["video", "seed", "in.mp4", "--out"]])
def test_an_output_never_destroys_a_users_file(tmp_path, args, gpuvision, monkeypatch):
    """`gpuvision bench --out notes.txt` replaced the user's notes with a record, exit 0 (`report --chart`, `video --out`
    alike); only `export` asked for --overwrite. A command may replace its own earlier output (a record, a PNG chart,
    an MP4), never another file — refused before any work (`files.check_replaceable`)."""
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    r = gpuvision(*args, mine)
    assert r.returncode == 2 and f"{mine} already exists and is not" in r.stderr and "Traceback" not in r.stderr
    assert mine.read_text() == "my notes" and r.stdout.count("\n") <= 200


def test_a_rerun_replaces_its_own_output(tmp_path, gpuvision):
    "What `check_replaceable` lets through: the command's own earlier output (here: the chart of `report --chart`)."
    chart = tmp_path / "chart.png"
    for _ in range(2):
        r = gpuvision("report", "--chart", chart)
        assert r.returncode == 0 and chart.read_bytes().startswith(b"\x89PNG"), r.stderr


def test_a_failed_train_leaves_no_empty_run_folder(tmp_path, gpuvision):
    """A typo in --data (or --from) left an empty --out folder behind — made by the run's lock before the data was
    read; and an --out that is a file said "can't create run folder …: File exists"."""
    r = gpuvision("train", "--data", tmp_path / "no-such-data", "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu")
    assert r.returncode == 2 and "no-such-data" in r.stderr and not (tmp_path / "run").exists()
    (tmp_path / "file").write_text("mine")
    r = gpuvision("train", "--data", tmp_path / "no-such-data", "--out", tmp_path / "file", "--epochs", "1", "--device", "cpu")
    assert r.returncode == 2 and "it is a file; choose a folder" in r.stderr and (tmp_path / "file").read_text() == "mine"


@pytest.mark.skipif(os.name != "posix" or sys.platform == "darwin", reason="needs a file system that takes any bytes in a name")
def test_a_run_folder_name_that_is_not_utf8(tmp_path, gpuvision):
    """`gpuvision train --out $'r\\xff'` trained every epoch and then failed ('... does not fit this model: Path ... is
    not valid UTF-8': safetensors' Rust reader takes UTF-8 paths only); predict/export/--from of such a run or model
    file failed alike. `checkpoint.reader_path` hands the reader /dev/fd/N instead."""
    from gpuvision_nb.data import make_shapes
    data = make_shapes(tmp_path / "data", n_per_class=10, size=16)
    run, model = tmp_path / os.fsdecode(b"r\xff"), tmp_path / os.fsdecode(b"m\xfe.safetensors")
    img = next(data.rglob("*.png"))
    r = gpuvision("train", "--data", data, "--out", run, "--epochs", "1", "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = gpuvision("export", run, "--format", "safetensors", "--out", model)
    assert r.returncode == 0, r.stderr
    for source in (run, model):
        r = gpuvision("predict", source, img, "--device", "cpu")
        assert r.returncode == 0 and r.stdout.startswith(str(img)), r.stderr


def test_a_pipe_or_device_given_as_an_image_is_named_as_such(tmp_path):
    "`gpuvision predict RUN fifo` (or /dev/zero) said 'is empty (0 bytes)': wrong, and a pipe is never opened (it would block)."
    from gpuvision_nb.imagefile import BadImageError, open_rgb
    os.mkfifo(tmp_path / "fifo")
    for p in (tmp_path / "fifo", Path("/dev/zero")):
        with pytest.raises(BadImageError, match="is not a regular file"): open_rgb(p)


def test_two_data_commands_on_one_folder(tmp_path):
    "The loser of two `gpuvision data --out same` at once said 'Directory not empty'; it now says what happened."
    from gpuvision_nb.folders import write_atomically
    root = tmp_path / "d"
    def fill(tmp):                                             # the other process finishes first
        (tmp / "mine").write_text("x"); root.mkdir(); (root / "theirs").write_text("y")
    with pytest.raises(FileExistsError, match="made by another process while this one wrote it; nothing was written"):
        write_atomically(root, fill)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and [p.name for p in root.iterdir()] == ["theirs"]


def test_report_warns_of_a_results_folder_that_is_not_there(tmp_path, gpuvision):
    "A typo in GPUVISION_RESULTS silently showed the table without its records."
    r = gpuvision("report", GPUVISION_RESULTS=str(tmp_path / "typo"))
    assert r.returncode == 0 and f"GPUVISION_RESULTS={tmp_path / 'typo'}: no such folder (yet)" in r.stderr


@pytest.mark.parametrize("args", [["bench", "--quick", "--device", "cpu", "--out"], ["report", "--chart"],
                                  ["video", "seed", "in.mp4", "--out"], ["export", "no-model", "--format", "onnx", "--out"]])
def test_an_output_name_ending_in_a_slash_is_a_folder(tmp_path, args, gpuvision, monkeypatch):
    """`gpuvision report --chart charts/` (or `export --out models/`, `bench --out results/`) wrote a FILE named
    `charts`, exit 0: the trailing '/' — a folder — was dropped by Path."""
    monkeypatch.chdir(tmp_path)
    r = gpuvision(*args, "new/")
    assert r.returncode == 2 and "a name that ends in '/' is a folder, not a file" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "new").exists()


def test_a_fine_tuning_run_never_writes_into_its_source(tmp_path, gpuvision):
    """`gpuvision train --from RUN --out RUN/best` wrote the new run (checkpoints/, best/, metrics…) into the source
    run's best-weights checkpoint, exit 0; `--out RUN --overwrite` replaced the source. --from is an input, as --data is."""
    from gpuvision_nb.data import make_shapes
    data = make_shapes(tmp_path / "data", n_per_class=10, size=16)
    src = tmp_path / "src"
    assert gpuvision("train", "--data", data, "--out", src, "--epochs", "1", "--device", "cpu", "--no-progress").returncode == 0
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for out, extra in ((src / "best", []), (src, ["--overwrite"])):
        r = gpuvision("train", "--data", data, "--from", src, "--out", out, "--epochs", "1", "--device", "cpu", "--no-progress", *extra)
        assert r.returncode == 2 and "--out" in r.stderr and "input" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before


def test_export_refuses_another_formats_suffix(tmp_path, gpuvision):
    """`gpuvision export RUN --format torchscript --out model.safetensors --overwrite` replaced the user's safetensors
    model by a TorchScript file under its name (exit 0): predict then failed ('header too large') and its manifest
    stayed, describing a file that was gone."""
    from gpuvision_nb.data import make_shapes
    data, run = make_shapes(tmp_path / "data", n_per_class=10, size=16), tmp_path / "run"
    assert gpuvision("train", "--data", data, "--out", run, "--epochs", "1", "--device", "cpu", "--no-progress").returncode == 0
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"the user's model"); (tmp_path / "model.safetensors.manifest.json").write_text("{}")
    for fmt, out in (("torchscript", model), ("onnx", tmp_path / "m.pt")):
        r = gpuvision("export", run, "--format", fmt, "--out", out, "--overwrite")
        assert r.returncode == 2 and f"the format is {fmt}" in r.stderr and "Traceback" not in r.stderr
    assert model.read_bytes() == b"the user's model" and not (tmp_path / "m.pt").exists()


def test_overwrite_through_a_link_to_another_disk(tmp_path, gpuvision):
    """`gpuvision train --out LINK --overwrite`, LINK pointing to a run on another file system: the whole training ran,
    then '[Errno 18] Invalid cross-device link', leaving `.LINK.new` (the new run) and `.LINK.old` beside the link.
    The siblings now lie beside the run's real folder."""
    import shutil, uuid
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev or not os.access(shm, os.W_OK):
        pytest.skip("needs /dev/shm on another file system than the tests' temporary folder")
    from gpuvision_nb.data import make_shapes
    data, real = make_shapes(tmp_path / "data", n_per_class=10, size=16), shm / f"gpuvision-test-{uuid.uuid4().hex}"
    try:
        (tmp_path / "link").symlink_to(real)
        args = ("train", "--data", data, "--out", tmp_path / "link", "--epochs", "1", "--device", "cpu", "--no-progress")
        assert gpuvision(*args).returncode == 0
        r = gpuvision(*args, "--overwrite")
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "link"] and (real / "metrics.json").is_file()
        assert not [p for p in shm.iterdir() if p.name.startswith(f".{real.name}.")]
    finally: shutil.rmtree(real, ignore_errors=True)


def test_demo_never_writes_over_a_users_folder(tmp_path, gpuvision):
    """`gpuvision demo --out ~/notes` replaced the user's report.md there with the demo's (exit 0). A folder that holds
    other files and no earlier demo report is refused before any work; an earlier report's folder is still reused."""
    (tmp_path / "report.md").write_text("my report")
    r = gpuvision("demo", "--out", tmp_path, "--device", "cpu", "--quick", "--no-progress")
    assert r.returncode == 2 and "holds other files" in r.stderr and (tmp_path / "report.md").read_text() == "my report"
    from gpuvision_nb.demo import check_out
    (tmp_path / "summary.json").write_text('{"stages": {}, "quick": true}')   # an earlier demo report: replaced by the new one
    assert check_out(tmp_path) == tmp_path and check_out(tmp_path / "new") == tmp_path / "new"


def test_overwrite_leaves_no_export_of_the_old_run(tmp_path, gpuvision):
    """`gpuvision export RUN` writes RUN/model.<suffix>; `gpuvision train --out RUN --overwrite` then replaced the run
    but left that export — the OLD model, under the new run's name, for anyone who deploys RUN/model.onnx."""
    from gpuvision_nb.data import make_shapes
    from gpuvision_nb.deploy import FORMATS, default_export_path
    from gpuvision_nb.runs import RUN_FILES
    data, run = make_shapes(tmp_path / "data", n_per_class=10, size=16), tmp_path / "run"
    args = ("train", "--data", data, "--out", run, "--epochs", "1", "--device", "cpu", "--no-progress")
    assert gpuvision(*args).returncode == 0
    assert gpuvision("export", run, "--format", "safetensors").returncode == 0 and (run / "model.safetensors").is_file()
    assert gpuvision(*args, "--seed", "1", "--overwrite").returncode == 0
    assert not (run / "model.safetensors").exists() and not (run / "model.safetensors.manifest.json").exists()
    assert {default_export_path(run, f).name for f in FORMATS} <= set(RUN_FILES)      # every default export name


def test_image_data_on_stdin_is_one_readable_line():
    """`gpuvision predict MODEL - < photo.png` (the image piped in, not a list of paths): the error printed the PNG's
    bytes raw — '\\udc89PNG', a line break, '… does not exist' — and binary junk gave kilobytes of it ('File name too
    long'). Now the name is escaped, cut, and the likely mistake said."""
    from gpuvision_nb.imagefile import image_files, stdin_paths
    import io
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20
    with pytest.raises(FileNotFoundError) as e: image_files(stdin_paths(io.BytesIO(png)))
    assert "\n" not in str(e.value) and "\r" not in str(e.value) and "image data on stdin?" in str(e.value)
    with pytest.raises(ValueError) as e: image_files([os.fsdecode(bytes(range(1, 256)) * 20)])
    assert len(str(e.value)) < 300 and "not a file name" in str(e.value)


@pytest.mark.parametrize("args", [["predict", "run", "-rf.jpg"], ["predict", "run", "a.jpg", "-rf.jpg"]])
def test_a_file_whose_name_starts_with_a_dash_gets_the_double_dash_hint(tmp_path, monkeypatch, gpuvision, args):
    "argparse reads `-rf.jpg` as an option: 'PATH is required' or 'unrecognized arguments', with no word of `--`."
    monkeypatch.chdir(tmp_path); (tmp_path / "-rf.jpg").write_bytes(b"")
    ran = gpuvision(*args)
    assert ran.returncode == 2 and "-rf.jpg is a file: put -- before paths that start with '-'" in ran.stderr
    assert "gpuvision predict" in ran.stderr and "Traceback" not in ran.stderr


def test_a_warning_is_one_line_naming_the_command_not_python_source(tmp_path, gpuvision):
    "Python's default shows 'FILE.py:LINE: UserWarning: …' and the source line that warned: internals, to a CLI user."
    from PIL import Image
    for c in ("cat", "dog"):
        (tmp_path / "ds" / c).mkdir(parents=True)
        for i in range(10): Image.new("RGB", (16, 16), (20 * i + 1, c == "cat", 0)).save(tmp_path / "ds" / c / f"{i}.png")
    (tmp_path / "ds" / "cat" / "broken.png").write_bytes(b"not a png")
    ran = gpuvision("train", "--data", tmp_path / "ds", "--out", tmp_path / "run", "--epochs", 1, "--no-progress", "--on-bad", "skip")
    assert ran.returncode == 0, ran.stderr
    assert "gpuvision train: warning: load_folder: skipped 1 bad file(s)" in ran.stderr
    assert "UserWarning" not in ran.stderr and ".py:" not in ran.stderr



@pytest.mark.parametrize("bad", ["missing.mp4", "empty.mp4", "notes.mp4"])
def test_video_names_a_bad_input_before_loading_the_model(tmp_path, gpuvision, monkeypatch, bad):
    "On an empty cache loading 'seed' trains it (minutes): a missing or unreadable video must be said before that."
    import gpuvision_nb.video as V
    monkeypatch.setattr(V, "load_video_model", lambda *a, **k: pytest.fail("loaded the model for a video it can't read"))
    (tmp_path / "empty.mp4").write_bytes(b""); (tmp_path / "notes.mp4").write_text("not a video")
    r = gpuvision("video", "seed", tmp_path / bad, "--device", "cpu")
    assert r.returncode == 2 and r.stderr.startswith(f"gpuvision video: error: {tmp_path / bad}: ") and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["a.avi", "a.mkv", "a"])
def test_video_out_must_be_named_as_the_mp4_it_is(tmp_path, gpuvision, name):
    "MP4 bytes were written under any name (`--out a.avi`): a file whose extension lies to players. Refused first."
    r = gpuvision("video", "seed", tmp_path / "missing.mp4", "--out", tmp_path / name, "--device", "cpu")
    assert r.returncode == 2 and r.stderr.startswith(f"gpuvision video: error: {tmp_path / name}: the video is written as MP4"), r.stderr
    assert sorted(tmp_path.iterdir()) == []


def test_video_writer_takes_mp4_names_in_any_case(tmp_path):
    from gpuvision_nb.videofile import VideoWriter, check_mp4_name
    assert check_mp4_name(tmp_path / "A.MP4") == tmp_path / "A.MP4" and check_mp4_name("b.m4v") == Path("b.m4v")
    with pytest.raises(ValueError, match=r"x\.mkv: the video is written as MP4 .* not '\.mkv'"): VideoWriter(tmp_path / "x.mkv")
    assert sorted(tmp_path.iterdir()) == []

@pytest.mark.parametrize("case", ["video: input missing", "video: model unknown", "bench: interrupted", "report --chart: disk full"])
def test_a_failed_command_leaves_no_folder_its_out_made(tmp_path, gpuvision, monkeypatch, case):
    "`ensure_writable` creates --out's folder before the work: a failure after it left that folder behind, empty."
    import errno
    import gpuvision_nb.cli as C
    out = tmp_path / "new" / "sub"
    if case == "video: input missing": r = gpuvision("video", "seed", tmp_path / "missing.mp4", "--out", out / "a.mp4", "--device", "cpu")
    elif case == "video: model unknown": r = gpuvision("video", "nosuch", tmp_path / "missing.mp4", "--out", out / "a.mp4", "--device", "cpu")
    elif case == "bench: interrupted":
        monkeypatch.setattr(C, "run_sweep", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        r = gpuvision("bench", "--quick", "--out", out / "b.json", "--device", "cpu")
    else:
        def full(fig, path): raise OSError(errno.ENOSPC, "No space left on device", str(path))
        monkeypatch.setattr(C, "save_figure", full)
        r = gpuvision("report", "--chart", out / "c.png")
    assert r.returncode in (2, 130) and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "new").exists()


NFC, NFD = "caf\u00e9", "cafe\u0301"                           # 'café' as typed on Linux, and as a Mac writes it


@pytest.mark.parametrize("args", [["train", "--data", "{nfc}", "--out", "{tmp}/run"], ["predict", "{nfc}/run", "{tmp}/x.png"],
                                  ["export", "{nfc}/run", "--format", "safetensors"], ["video", "seed", "{nfc}/clip.mp4"],
                                  ["train", "--data", "{tmp}/data", "--from", "{nfc}/run", "--out", "{tmp}/run", "--epochs", "1"]],
                         ids=["train --data", "predict MODEL", "export MODEL", "video PATH", "train --from"])
def test_a_missing_path_names_the_one_there_with_accents_encoded_otherwise(tmp_path, gpuvision, args):
    """A folder copied from a Mac keeps its decomposed names (e + a combining accent); the user types 'café' with
    the one character é, and every command said only 'does not exist' of a folder `ls` shows. Now each says which
    name is there (`imagefile.near_miss`), in one line, exit status 2."""
    from PIL import Image
    (tmp_path / NFD / "run").mkdir(parents=True)
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(4): Image.new("RGB", (8, 8), (60 * i, 200 if c == "a" else 0, 0)).save(tmp_path / "data" / c / f"{i}.png")
    r = gpuvision(*[a.format(nfc=tmp_path / NFC, tmp=tmp_path) for a in args])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    there = tmp_path / NFD / "run" if "{nfc}/run" in args else tmp_path / NFD       # as much of the path as is there
    assert f"{there} is there: the same name with its accents encoded otherwise" in r.stderr, r.stderr
