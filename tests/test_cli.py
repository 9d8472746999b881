"""The `gpuvision` command: most tests call `cli.main` in this process (the `gpuvision` fixture of conftest.py: the
same code path, without a ~3 s interpreter start-up each); the console script itself runs as a subprocess where the
process is the point (its entry point and exit status, and what a command imports)."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import pytest
import torch

EXE = shutil.which("gpuvision") or os.path.join(os.path.dirname(sys.executable), "gpuvision")


def run(*args, **env):
    "The real console script, as a user runs it."
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def test_console_script_info_json():
    "The installed `gpuvision` executable: its entry point runs, prints JSON, and exits with main's status."
    r = run("info", "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["torch"] == torch.__version__ and "gpus" in rep


def test_info_text_and_json(gpuvision):
    r = gpuvision("info")
    assert r.returncode == 0 and "torch_threads" in r.stdout
    r = gpuvision("info", "--json")
    rep = json.loads(r.stdout)
    assert rep["torch"] == torch.__version__ and "gpus" in rep


def test_bench_quick_writes_a_record(tmp_path, gpuvision):
    out = tmp_path / "sub" / "bench.json"
    r = gpuvision("bench", "--quick", "--device", "cpu", "--min-run-time", "0.02", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "matmul 512" in r.stdout and str(out) in r.stdout
    rec = json.loads(out.read_text())
    assert rec["experiment"] == "bench" and len(rec["timings"]) == 4 and rec["provenance"]["what"].startswith("gpuvision bench")


def test_bench_default_goes_to_results_env(tmp_path, gpuvision, monkeypatch):
    import gpuvision_nb.bench
    # where the record goes is the point here (the sweep itself: the test above): one small size per sweep
    monkeypatch.setattr(gpuvision_nb.bench, "default_sizes", lambda device, quick=False: {"matmul": [64], "conv": [1]})
    r = gpuvision("bench", "--quick", "--device", "cpu", "--min-run-time", "0.02", GPUVISION_RESULTS=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bench--cpu.json").exists()


@pytest.mark.parametrize("args, msg", [
    (["bench", "--device", "tpu"], "unknown device 'tpu'"),
    (["bench", "--out", "/dev/null/x.json"], "not a writable folder"),
])
def test_bad_arguments_give_one_line_and_status_2(args, msg, gpuvision):
    r = gpuvision(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""                                          # failed before measuring anything


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(gpuvision):
    r = gpuvision("bench", "--device", "cuda")
    assert r.returncode == 2 and "torch sees no CUDA GPU" in r.stderr


def test_bad_env_device(gpuvision):
    r = gpuvision("bench", "--quick", GPUVISION_DEVICE="quantum")
    assert r.returncode == 2 and "GPUVISION_DEVICE" in r.stderr


def test_usage_errors(gpuvision):
    assert gpuvision().returncode == 2
    assert gpuvision("frobnicate").returncode == 2


def test_data_then_train_then_report(tmp_path, gpuvision):
    data = tmp_path / "shapes"
    r = gpuvision("data", "shapes", "--out", str(data), "--n-per-class", "12", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert len(list(data.rglob("*.png"))) == 120 and f"wrote 120 images in 10 class folders to {data} (content hash" in r.stdout
    r = gpuvision("data", "shapes", "--out", str(data), "--n-per-class", "12")        # never overwrites a dataset
    assert r.returncode == 2 and str(data) in r.stderr
    out = tmp_path / "run"
    r = gpuvision("train", "--data", str(data), "--epochs", "1", "--device", "cpu", "--out", str(out), "--no-progress",
            GPUVISION_RESULTS=str(tmp_path / "results"))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    for key in ("val_acc", "test_acc", "train_seconds", "images_per_second", "device_name", "classes", "per_class_acc",
                "confusion", "world_size", "model", "mean", "std", "settings", "data"):
        assert key in m, key
    assert m["epochs"] == 1 and len(m["classes"]) == 10 and (out / "checkpoints" / "latest").exists()
    assert m["world_size"] == 1 and len(m["confusion"]) == 10 and set(m["per_class_acc"]) == set(m["classes"])
    assert (out / "confusion.png").stat().st_size > 1000 and f"wrote {out / 'metrics.json'}, " in r.stdout
    assert f"worst class {m['worst_class']!r} {m['worst_class_acc']:.4f}" in r.stdout      # the class a user checks first
    r = gpuvision("report", "--chart", str(tmp_path / "chart.png"), GPUVISION_RESULTS=str(tmp_path / "results"))
    assert r.returncode == 0 and (tmp_path / "chart.png").stat().st_size > 1000


@pytest.mark.parametrize("args, msg", [
    (["train", "--data", "/no/such/folder", "--epochs", "1"], "/no/such/folder is not an existing folder"),
    (["train", "--model", "vgg"], "argument --model: invalid choice: 'vgg'"),
    (["train", "--precision", "fp8", "--epochs", "1"], "argument --precision: invalid choice: 'fp8'"),
    (["train", "--resume", "--overwrite"], "exclude each other"),
])
def test_train_bad_arguments(tmp_path, args, msg, gpuvision):
    r = gpuvision(*args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_demo_bad_arguments(tmp_path, gpuvision, monkeypatch):
    import gpuvision_nb.demo as demo
    def started(ctx): raise AssertionError("work started")       # refused before any stage runs (and never a whole demo)
    monkeypatch.setattr(demo, "STAGES", dict.fromkeys(demo.STAGES_ORDER, started))
    f = tmp_path / "file"; f.write_text("")
    for args, msg in ((["demo", "--out", str(f)], "out"), (["demo", "--device", "tpu"], "tpu")):
        r = gpuvision(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_help_and_predict_import_only_what_they_need(tmp_path):
    """`gpuvision --help` and `predict` start without video (PyAV), the demo, AMP, reports, torch.distributed,
    torchvision (its import pulls in torch._dynamo: seconds of a one-file predict), torch.utils.benchmark, the FLOP
    counter or matplotlib."""
    from PIL import Image
    from gpuvision_nb.data import MEAN, STD
    from gpuvision_nb.deploy import Preprocess, save_model
    from gpuvision_nb.models import SeedCNN
    model = save_model(SeedCNN(n_classes=2, widths=(4, 4, 4), hidden=8).eval(), tmp_path / "m.safetensors",
                       Preprocess(32, MEAN, STD, classes=["a", "b"]))
    Image.new("RGB", (40, 24), (200, 10, 10)).save(tmp_path / "x.png")
    heavy = ("gpuvision_nb.video", "gpuvision_nb.demo", "gpuvision_nb.amp", "gpuvision_nb.report", "gpuvision_nb.distributed",
             "av", "torch.distributed.run", "torchvision", "torch._dynamo", "torch.utils.benchmark",
             "torch.utils.flop_counter", "matplotlib.pyplot")
    # one fresh process runs `--help` then `predict` and lists the heavy modules loaded after each (modules stay loaded:
    # the second list covers both, the first `--help` alone)
    code = ("import contextlib, io, sys\nfrom gpuvision_nb.cli import main\n"
            "for argv in (['--help'], sys.argv[1:]):\n"
            "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        try: status = main(argv)\n        except SystemExit as e: status = e.code\n"
            f"    print(argv[0], status, [m for m in {heavy!r} if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code, "predict", str(model), str(tmp_path / "x.png"), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert r.stdout.splitlines() == ["--help 0 []", "predict 0 []"], (r.stdout, r.stderr)


def test_the_in_process_fixture_behaves_like_the_process(gpuvision, monkeypatch):
    "conftest's `gpuvision`: an uncaught exception is status 1 with a traceback, SystemExit its status, and the env restored."
    import os as _os
    import gpuvision_nb.cli as cli
    threads = torch.get_num_threads()
    def boom(args): _os.environ["GPUVISION_LEAK"] = "1"; torch.set_num_threads(threads + 1); raise RuntimeError("a bug")
    monkeypatch.setattr(cli, "cmd_info", boom)
    r = gpuvision("info", GPUVISION_SOME="x")
    assert r.returncode == 1 and "Traceback" in r.stderr and "RuntimeError: a bug" in r.stderr
    assert "GPUVISION_LEAK" not in _os.environ and "GPUVISION_SOME" not in _os.environ and torch.get_num_threads() == threads
    def leave(args): raise SystemExit(3)
    monkeypatch.setattr(cli, "cmd_info", leave)
    assert gpuvision("info").returncode == 3


@pytest.mark.parametrize("args, usage, hint", [
    (["train", "{tmp}"], "usage: gpuvision train", " (a folder of images is given as --data {tmp})"),
    (["train", "{tmp}/absent"], "usage: gpuvision train", ""),
    (["info", "extra"], "usage: gpuvision info", ""),
    (["bench", "--json"], "usage: gpuvision bench", ""),
])
def test_an_argument_a_command_does_not_take_is_reported_with_that_command_s_usage(args, usage, hint, gpuvision, tmp_path):
    "Not argparse's top-level `gpuvision [-h] COMMAND ...`, which hides the command's options."
    args = [a.format(tmp=tmp_path) for a in args]
    r = gpuvision(*args)
    name = f"gpuvision {args[0]}"
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith(usage)
    assert last == f"{name}: error: unrecognized arguments: {' '.join(args[1:])}{hint.format(tmp=tmp_path)}"


# --- what the mutation run of cli (tools/mutate.py cli) found untested ------------------------------------------------

def test_every_command_and_option_is_described_in_help():
    "`gpuvision --help` and each `gpuvision COMMAND --help` describe the tool, every command and every option."
    import argparse
    from gpuvision_nb.cli import build_parser
    p = build_parser()
    assert p.description
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    described = {a.dest: a.help for a in sub._choices_actions}
    assert set(described) == set(sub.choices) and all(described.values()), described
    for name, cmd in sub.choices.items():
        undescribed = [a.option_strings or a.dest for a in cmd._actions if not a.help]
        assert not undescribed, (name, undescribed)


def test_export_without_format_names_the_missing_option(tmp_path, gpuvision):
    r = gpuvision("export", tmp_path / "no-model")
    assert r.returncode == 2 and "the following arguments are required: --format" in r.stderr


def test_data_digits_refuses_shapes_only_options(tmp_path, gpuvision):
    for opt, value in (("--seed", "3"), ("--n-per-class", "5")):
        r = gpuvision("data", "digits", "--out", tmp_path / "d", opt, value)
        assert r.returncode == 2 and f"gpuvision data: error: {opt}: for shapes only" in r.stderr, r.stderr
        assert not (tmp_path / "d").exists()


def test_data_shapes_defaults_are_the_documented_ones(tmp_path, gpuvision, monkeypatch):
    "Without --n-per-class and --seed, the shapes are 1000 per class with seed 0, as the help says (the cached set's)."
    import gpuvision_nb.cli as cli
    asked = {}
    def fake_shapes(out, **kw):
        asked.update(kw); (Path(out) / "a").mkdir(parents=True); return Path(out)
    monkeypatch.setattr(cli, "make_shapes", fake_shapes)
    assert gpuvision("data", "shapes", "--out", tmp_path / "d").returncode == 0
    assert asked == {"n_per_class": 1000, "size": 32, "seed": 0}


def test_data_says_what_it_writes_before_the_wait(tmp_path, gpuvision, monkeypatch):
    """`gpuvision data shapes --out DIR` was silent for the 40 s its 10,000 images took a new user: it now says on
    stderr what it writes before it starts (and a refused --out still gets its one error line, nothing before it)."""
    import sys
    import gpuvision_nb.cli as cli
    said_before = []
    def fake(out, **kw):
        said_before.append(sys.stderr.getvalue()); (Path(out) / "a").mkdir(parents=True); return Path(out)
    for name in ("make_shapes", "make_digits"): monkeypatch.setattr(cli, name, fake)
    assert gpuvision("data", "shapes", "--out", tmp_path / "s").returncode == 0
    assert gpuvision("data", "digits", "--out", tmp_path / "d").returncode == 0
    assert said_before == [f"writing 10000 images of shapes (1000 per class) to {tmp_path / 's'} …\n",
                           f"writing scikit-learn's digits to {tmp_path / 'd'} …\n"], said_before
    r = gpuvision("data", "shapes", "--out", tmp_path / "s")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "already exists" in r.stderr, r.stderr


@pytest.mark.parametrize("stop, status, said", [(KeyboardInterrupt(), 130, "gpuvision data: interrupted"),
                                                ("SIGTERM", 143, "gpuvision data: terminated (SIGTERM)"),
                                                ("SIGHUP", 129, "gpuvision data: terminated (SIGHUP)")])
def test_an_interrupted_command_exits_as_the_shell_expects(tmp_path, gpuvision, monkeypatch, stop, status, said):
    "Ctrl-C: status 130 (128 + SIGINT); SIGTERM 143 and SIGHUP 129 (128 + N), as a shell reports a process killed by them."
    import gpuvision_nb.cli as cli
    exc = cli.Terminated(stop) if isinstance(stop, str) else stop
    def interrupted(*a, **k): raise exc
    monkeypatch.setattr(cli, "make_shapes", interrupted)
    r = gpuvision("data", "shapes", "--out", tmp_path / "d", "--n-per-class", "1")
    assert r.returncode == status and said in r.stderr and "Traceback" not in r.stderr


def test_an_os_error_of_a_command_is_its_own_message_not_a_lost_stdout(tmp_path, gpuvision, monkeypatch):
    "An OSError from the work (not from writing stdout) is named as it is; stdout was fine, so it is not blamed."
    import errno
    import gpuvision_nb.cli as cli
    def denied(out, **k): raise PermissionError(errno.EACCES, "Permission denied", str(out))
    monkeypatch.setattr(cli, "make_shapes", denied)
    r = gpuvision("data", "shapes", "--out", tmp_path / "d", "--n-per-class", "1")
    assert r.returncode == 2 and f"Permission denied: '{tmp_path / 'd'}'" in r.stderr
    assert "standard output" not in r.stderr


def test_report_chart_warns_once_per_unreadable_record(tmp_path, gpuvision, recwarn):
    "The chart is drawn from the records the table read: a bad record is warned about once, not again by the chart."
    (tmp_path / "bad--cpu.json").write_text("{not json")
    r = gpuvision("report", "--chart", tmp_path / "chart.png", GPUVISION_RESULTS=tmp_path)
    assert r.returncode == 0 and (tmp_path / "chart.png").stat().st_size > 1000
    assert r.stderr.count("bad--cpu.json") == 1 and not [w for w in recwarn if "bad--cpu.json" in str(w.message)]


# --- a new user's path: the README's commands, and a folder of their own ----------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[list[str]]:
    """The argument lists of every `gpuvision ...` command README.md shows: the lines of its ```bash blocks and its
    inline `gpuvision ...` spans, with `#` comments dropped and `[optional]` brackets opened (each option is checked)."""
    import re, shlex
    text = README.read_text(encoding="utf-8")
    lines = [l for block in re.findall(r"```bash\n(.*?)```", text, re.S) for l in block.splitlines()]
    words = (shlex.split(c.replace("[", "").replace("]", ""), comments=True) for c in lines + re.findall(r"`(gpuvision [^`]+)`", text))
    return [w[1:] for w in words if w[:1] == ["gpuvision"]]


def test_every_command_the_readme_shows_parses_as_written(capsys, monkeypatch):
    """A command copied from the README is one the CLI takes: its command, options and arguments, verbatim. (A bare
    `gpuvision predict` in prose names the command: it only has to exist.) The README's GPU commands are read as on a
    machine with one GPU (`--device` asks whether this machine has the device as it is parsed)."""
    import argparse
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    from gpuvision_nb.cli import build_parser, parse
    commands = readme_commands()
    assert {"train", "predict", "export", "data", "bench", "report"} <= {c[0] for c in commands}, commands
    names = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for argv in commands:
        assert argv[0] in names, argv
        if len(argv) == 1: continue
        try: parse(argv)
        except SystemExit as e: assert e.code == 0, (argv, capsys.readouterr().err)     # 0: a `--help`


def test_the_readme_python_calls_fit_the_functions_they_call():
    "Each call in the README's Python blocks to a function it imports from the package binds to its signature."
    import ast, importlib, inspect, re
    for code in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        tree = ast.parse(code)
        names = {a.asname or a.name: getattr(importlib.import_module(n.module), a.name) for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module.startswith("gpuvision_nb") for a in n.names}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names):
            f = names[call.func.id]
            inspect.signature(f).bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords})   # TypeError if not


def _class_folder(root: Path, counts: dict, seed: int = 0) -> Path:
    "A flat folder of distinct 16×16 PNGs: `counts` {class: images}; another `seed`, other images."
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c, n in counts.items():
        (root / c).mkdir(parents=True)
        for i in range(n): Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(root / c / f"{i}.png")
    return root


def test_train_on_a_class_too_small_to_split_says_which_options_split_it(tmp_path, gpuvision):
    """The error named `splits=(0.8, 0.1, 0.1)`, the Python argument; a CLI user needs `--val-frac`/`--test-frac`, and
    values that work: the ones it names train."""
    data = _class_folder(tmp_path / "photos", {"few": 3, "many": 9})
    run = ("train", "--data", data, "--epochs", "1", "--device", "cpu", "--out", tmp_path / "run", "--no-progress")
    r = gpuvision(*run)
    assert r.returncode == 2 and "too small to split" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.strip().endswith("In gpuvision train: --val-frac 0.17 --test-frac 0 (no test split) splits a class of "
                                     "3 images 2/1 (train/val)"), r.stderr
    r = gpuvision(*run, "--val-frac", "0.17", "--test-frac", "0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("images: train 9, val 3 (split class by class)\n"), r.stdout     # 2/1 and 7/2
    assert ", 1 epoch, 1 update of global batch" in r.stdout                                    # not '1 epochs'
    import re                                  # the seconds a user waited, not only those of the training steps
    times = re.search(r"([\d.]+) s of training \(([\d.]+) s in all: reading the images, validation, checkpoints", r.stdout)
    assert times and float(times[2]) >= float(times[1]), r.stdout


def test_train_on_a_presplit_folder_says_it_kept_its_split(tmp_path, gpuvision):
    "A user who split the folder sees that train/ and val/ were taken as they are, with their counts."
    for seed, (part, n) in enumerate((("train", 4), ("val", 2))): _class_folder(tmp_path / "photos" / part, {"a": n, "b": n}, seed)
    r = gpuvision("train", "--data", tmp_path / "photos", "--epochs", "1", "--device", "cpu", "--out", tmp_path / "run", "--no-progress")
    assert r.returncode == 0 and r.stdout.startswith("images: train 8, val 4 (the folder's own split)\n"), (r.stdout, r.stderr)


@pytest.mark.parametrize("n, fractions, hint", [
    (1, (None, None), ". In gpuvision train, no --val-frac helps a class of 1 image"),
    (2, (None, None), ". In gpuvision train: --val-frac 0.26 --test-frac 0 (no test split) splits a class of 2 images 1/1 (train/val)"),
    (5, (None, None), ". In gpuvision train: --val-frac 0.16 --test-frac 0.16 splits a class of 5 images 3/1/1 (train/val/test)"),
    (5, (None, 0.0), ". In gpuvision train: --val-frac 0.11 --test-frac 0 (no test split) splits a class of 5 images 4/1 (train/val)"),
    (3, (0.3, 0.1), ". In gpuvision train: --val-frac 0.3 --test-frac 0 (no test split) splits a class of 3 images 2/1 (train/val)"),
])
def test_split_hint_names_the_least_change_that_splits_the_smallest_class(n, fractions, hint):
    "The smallest class of those named decides; never less validation than asked; the test split kept while it fits."
    from gpuvision_nb.cli import split_hint
    msg = (f"folder_loaders: X is too small to split: class 'a' has {n} image(s), which splits=(0.8, 0.1, 0.1) divides "
           f"as 1/0/0 (train/val/test): none for val; class 'b' has {n + 4} image(s), which splits=(0.8, 0.1, 0.1) ...")
    assert split_hint(msg, *fractions).startswith(hint)


def test_split_hint_leaves_other_errors_alone():
    from gpuvision_nb.cli import split_hint
    assert split_hint("folder_loaders: X: val has no image of class 'a'. Every class needs at least one image in every split") == ""


def test_a_warning_repeated_from_two_places_is_said_once(gpuvision, monkeypatch):
    """matplotlib warns 'Glyph … missing from font(s)' from two places for one file name in misclassified.png's titles:
    a user saw the same line twice. Each message once; different ones each."""
    import warnings
    import gpuvision_nb.cli as cli
    def info(args):
        warnings.warn("Glyph 29483 missing from font(s) DejaVu Sans.")
        warnings.warn("Glyph 29483 missing from font(s) DejaVu Sans.")             # another line: another location
        warnings.warn("something else")
        return 0
    monkeypatch.setattr(cli, "cmd_info", info)
    r = gpuvision("info")
    assert r.returncode == 0 and r.stderr.splitlines() == ["gpuvision info: warning: Glyph 29483 missing from font(s) DejaVu Sans.",
                                                           "gpuvision info: warning: something else"], r.stderr


def test_the_readme_own_images_train_and_predict_run_as_written(tmp_path, gpuvision, monkeypatch):
    """The README's `gpuvision train` and `predict` lines, run in a folder laid out as they assume (train gets
    `--epochs 1` and the CPU added, to take seconds): both succeed, and predict reads the folder and the quoted pattern.
    (Its `export` line parses, `test_every_command_the_readme_shows_parses_as_written`; an ONNX export takes seconds more.)
    Its `video` line runs too, on a clip of that name: it takes the run folder `train` wrote."""
    import re, shlex
    import numpy as np
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    _class_folder(Path("photos"), {"cats": 8, "dogs": 8})
    _class_folder(Path("new-photos"), {"x": 2}, seed=1)
    Path("more").mkdir(); Image.new("RGB", (20, 20), (200, 30, 30)).save("more/a.jpg")
    block = re.search(r"## Your own images.*?```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    lines = [w[1:] for w in map(lambda l: shlex.split(l, comments=True), block.splitlines()) if w[:1] == ["gpuvision"]]
    assert [c[0] for c in lines] == ["train", "predict", "export", "video"], lines
    r = gpuvision(*lines[0], "--epochs", "1", "--device", "cpu", "--no-progress")
    assert r.returncode == 0 and Path("runs/photos/metrics.json").is_file(), r.stderr
    r = gpuvision(*lines[1])
    assert r.returncode == 0 and [l.split("\t")[0] for l in r.stdout.splitlines()] == ["new-photos/x/0.png", "new-photos/x/1.png", "more/a.jpg"], r
    from gpuvision_nb.videofile import bar_frames, write_video
    write_video(lines[3][2], np.stack(list(bar_frames(4, 32))))             # the run folder the README trained, on a clip
    r = gpuvision(*lines[3], "--device", "cpu")
    assert r.returncode == 0 and "4 frames at 25 fps" in r.stdout and Path(lines[3][-1]).is_file(), r.stderr


def test_a_library_errors_function_name_is_not_shown_to_a_command_line_user(tmp_path, gpuvision):
    "'gpuvision train: error: folder_loaders: one has only 1 class folder': the user ran gpuvision train, not folder_loaders."
    from gpuvision_nb.cli import without_api_name
    assert without_api_name("folder_loaders: photos has only 1 class folder") == "photos has only 1 class folder"
    assert without_api_name("GPULoader: batch_size must be an int") == "batch_size must be an int"
    assert without_api_name("NumberFormat.bits: no") == "no"
    for kept in ("photos: test has no image of class 'ring'", "model x does not exist", "lr: 0.5", ""):
        assert without_api_name(kept) == kept                   # a path, a sentence, a word that names no function
    (tmp_path / "one" / "cat").mkdir(parents=True)
    from PIL import Image
    for i in range(3): Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / "one" / "cat" / f"{i}.png")
    r = gpuvision("train", "--data", tmp_path / "one", "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu", "--no-progress")
    assert r.returncode == 2 and r.stderr.startswith(f"gpuvision train: error: {tmp_path / 'one'} has only 1 class folder"), r.stderr


# ---- tools/mutate.py cli --sample 25 --seed 710: survivors killed (in this process: mutmut sees no subprocess) -------
def test_train_takes_balance_as_a_flag_and_batch_size_as_a_checked_number(capsys):
    "mutmut: --balance without action='store_true' (it then wanted a value) and --batch-size without its type survived."
    from gpuvision_nb.cli import build_parser
    a = build_parser().parse_args(["train", "--out", "o", "--balance", "--batch-size", "64"])
    assert (a.balance, a.batch_size) == (True, 64)
    with pytest.raises(SystemExit): build_parser().parse_args(["train", "--out", "o", "--batch-size", "0"])
    assert "--batch-size" in capsys.readouterr().err


def test_help_of_data_and_export_as_written(capsys):
    "mutmut: --n-per-class's metavar N → n and --overwrite's help 'never MODEL itself)' → 'XX…XX' survived."
    from gpuvision_nb.cli import build_parser
    for sub, text in (("data", "--n-per-class N"), ("export", "(once the new file is complete; never MODEL itself, nor a file that is no model)")):
        with pytest.raises(SystemExit): build_parser().parse_args([sub, "--help"])
        assert text in " ".join(capsys.readouterr().out.split())


def test_an_interrupted_demo_points_to_its_partial_report(monkeypatch, capsys):
    "mutmut: the message → 'XX…XX' survived (run_demo stubbed to be interrupted)."
    import gpuvision_nb.demo as D
    from gpuvision_nb.cli import build_parser, cmd_demo
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(D, "run_demo", interrupted)
    assert cmd_demo(build_parser().parse_args(["demo", "--quick"])) == 130
    assert capsys.readouterr().err == "gpuvision demo: interrupted; the partial report is in the output folder's report.md\n"


def test_bench_prints_each_table_then_the_best_and_the_record(monkeypatch, capsys, tmp_path):
    "mutmut: best_config(ts, dev) → best_config(dev) and the tables' '\\n' → 'XX\\nXX' survived (measurements stubbed)."
    import types
    import gpuvision_nb.amp as A
    import gpuvision_nb.cli as C
    monkeypatch.setattr(A, "bench_train", lambda dev, quick: ["t"])
    monkeypatch.setattr(A, "best_config", lambda ts, dev: f"best of {ts} on {dev}")
    monkeypatch.setattr(C, "run_sweep", lambda kind, dev, **k: [kind])
    monkeypatch.setattr(C, "compare", lambda ts, **k: f"table of {ts}")
    monkeypatch.setattr(C, "record", lambda name, ts, what, path: types.SimpleNamespace(path=path / f"{name}.json"))
    cpu = torch.device("cpu")
    assert C._bench(types.SimpleNamespace(what="train", quick=True), cpu, "amp", tmp_path) == 0
    assert capsys.readouterr().out == f"table of ['t'] \n\nbest: best of ['t'] on cpu\nrecorded 1 timings to {tmp_path / 'amp.json'}\n"
    assert C._bench(types.SimpleNamespace(what="sweep", quick=True, min_run_time=0.1), cpu, "bench", tmp_path) == 0
    assert capsys.readouterr().out == ("table of ['matmul'] \n\ntable of ['conv'] \n\n"
                                       f"recorded 2 timings to {tmp_path / 'bench.json'}\n")


def test_train_too_small_to_split_hints_with_the_test_frac_given(monkeypatch):
    "--test-frac 0 asked: the hint keeps no test split (mutmut: split_hint(…, args.test_frac) → None survived; run_training stubbed)."
    import gpuvision_nb.cli as C
    from gpuvision_nb.imagefile import DatasetError
    msg = "load_folder: class 'a' has 5 image(s), which splits=(0.9, 0.1) can't share: too small to split"
    def too_small(**kw): raise DatasetError(msg)
    monkeypatch.setattr(C, "run_training", too_small)
    with pytest.raises(DatasetError) as e:
        C.cmd_train(C.build_parser().parse_args(["train", "--out", "o", "--test-frac", "0", "--no-progress"]))
    assert str(e.value) == msg + ". In gpuvision train: --val-frac 0.11 --test-frac 0 (no test split) splits a class of 5 images 4/1 (train/val)"


# ---- newuser: the train summary put the last epoch's val_acc beside the best epoch's test_acc ----

def test_train_summary_names_the_weights_of_each_accuracy(gpuvision, monkeypatch, tmp_path):
    """A user's 5-epoch run printed "val_acc 0.5000 test_acc 0.5000" and, a line later, "best epoch 1 of 5 (val_acc
    0.7500; test evaluated with it)": the first val_acc was the last epoch's, the test_acc the best epoch's. Each
    accuracy must now say which weights it comes from."""
    import gpuvision_nb.cli as cli
    m = {"evaluated_on": "test", "val_acc": 0.5, "last_val_acc": 0.5, "test_acc": 0.625, "best_epoch": 1, "best_val_acc": 0.75,
         "epochs": 5, "mean_class_acc": 0.625, "worst_class": "a", "worst_class_acc": 0.5, "mistakes": 3, "confusion": [[2, 2], [1, 3]],
         "data": {"images": {"train": 34, "val": 4, "test": 8}}, "train_seconds": 1.0, "updates": 5, "global_batch": 128,
         "world_size": 1, "images_per_second": 100.0, "device_name": "CPU"}
    monkeypatch.setattr(cli, "run_training", lambda **kw: dict(m))
    said = gpuvision("train", "--out", tmp_path / "run", "--no-progress").stdout
    assert "test_acc 0.6250 with the best epoch's weights" in said and "val_acc 0.7500, the last epoch's 0.5000" in said, said
    assert "0.5000 test_acc" not in said and said.count("0.5000") == 2, said          # the worst class's, the last epoch's
    m.update(evaluated_on="val", val_acc=0.75, test_acc=None, best_epoch=None, best_val_acc=None)   # no test split, no best/
    said = gpuvision("train", "--out", tmp_path / "run", "--no-progress").stdout
    assert said.splitlines()[1].startswith("val_acc 0.7500 with the last epoch's weights") and "best epoch" not in said, said
