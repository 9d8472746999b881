"""Appendix A5 (`gpuvision_nb.launch`): the head start of `gpuvision predict` — decoding forked before torch is
imported — is only ever a head start: the output is the plain command's whatever happens to the decoding process,
and a wrong guess of the model's input is never used."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpuvision_nb import launch
from gpuvision_nb.checkpoint import save_checkpoint
from gpuvision_nb.deploy import Preprocess, load_model, save_model
from gpuvision_nb.models import SeedCNN, model_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    "A grey 16-px model file (with and without its manifest), an RGB run folder and an old run folder."
    d = tmp_path_factory.mktemp("launch")
    grey = SeedCNN(n_classes=3, in_channels=1, size=16, widths=(4, 4, 4), hidden=8).eval()
    f = save_model(grey, d / "grey.safetensors", Preprocess(16, (0.5,), (0.25,), 1, ("a", "b", "c")))
    alone = d / "alone.safetensors"; shutil.copy(f, alone)
    rgb = SeedCNN(n_classes=2, widths=(4, 4, 4), hidden=8, size=24).eval()
    meta = {"model": model_config(rgb), "classes": ["x", "y"], "size": 24, "in_channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    save_checkpoint(d / "run" / "checkpoints", rgb, epoch=2, meta=meta)
    save_checkpoint(d / "old" / "checkpoints", SeedCNN(n_classes=2).eval(), epoch=1, meta={"model": "seed", "classes": ["x", "y"]})
    pics = d / "pics"; pics.mkdir()
    rng = np.random.default_rng(0)
    for i in range(70): Image.fromarray(rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)).save(pics / f"{i:03d}.png")
    (pics / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return {"file": f, "alone": alone, "run": d / "run", "old": d / "old", "pics": pics, "dir": d}


def test_model_input_agrees_with_load_model_on_every_kind_of_model(models):
    run_ck = sorted((models["run"] / "checkpoints").glob("epoch-*"))[0]
    for path in (models["file"], models["alone"], models["run"], models["run"] / "checkpoints", run_ck, models["old"]):
        prep = load_model(path, "cpu")[1]
        assert launch.model_input(path) == (prep.size, prep.in_channels), path
    assert launch.model_input(models["file"]) == (16, 1) and launch.model_input(models["run"]) == (24, 3)
    assert launch.model_input(models["old"]) == (32, 3)


@pytest.mark.parametrize("damage", ["junk file", "missing", "not safetensors", "manifest not JSON", "size a bool",
                                    "size a string", "3 → 2 channels", "latest names nothing", "folder without runs"])
def test_model_input_says_none_when_in_doubt(models, tmp_path, damage):
    f = tmp_path / "m.safetensors"; shutil.copy(models["file"], f); shutil.copy(f"{models['file']}.manifest.json", f"{f}.manifest.json")
    manifest = Path(f"{f}.manifest.json"); m = json.loads(manifest.read_text())
    target = f
    if damage == "junk file": f.write_bytes(b"junk"); os.remove(manifest)
    elif damage == "missing": target = tmp_path / "nope.safetensors"
    elif damage == "not safetensors": target = tmp_path / "m.pt"; target.write_bytes(b"x")
    elif damage == "manifest not JSON": manifest.write_text("{")
    elif damage == "size a bool": m["meta"]["size"] = True; manifest.write_text(json.dumps(m))
    elif damage == "size a string": m["meta"]["size"] = "16"; manifest.write_text(json.dumps(m))
    elif damage == "3 → 2 channels": m["meta"]["in_channels"] = 2; manifest.write_text(json.dumps(m))
    elif damage == "latest names nothing":
        target = tmp_path / "run"; shutil.copytree(models["run"], target); (target / "checkpoints" / "latest").write_text("epoch-9999")
    elif damage == "folder without runs": target = tmp_path
    assert launch.model_input(target) is None


def test_the_quick_parser_reads_predict_as_the_real_one_does():
    args = launch._predict_args(["predict", "M", "a", "b", "--top-k", "3", "--json", "--batch-size", "64", "--device", "cpu", "--workers", "2"])
    assert (args.model, args.paths, args.batch_size, args.workers, args.top_k) == ("M", ["a", "b"], 64, 2, "3")
    assert launch._predict_args(["predict", "M", "a"]).batch_size == 256
    for argv in (["train", "x"], ["predict"], ["predict", "M"], ["predict", "M", "a", "--batch-size", "x"],
                 ["predict", "M", "a", "--bogus"], ["predict", "M", "a", "--batch"], []):
        assert launch._predict_args(argv) is None, argv
    assert launch._predict_args(["predict", "M", "a", "--batch", "8"]) is None   # an abbreviation is a doubt: no head start


def test_no_head_start_once_torch_is_loaded_or_when_asked_for_no_parallel_decoding(models, monkeypatch):
    argv = ["predict", str(models["file"]), str(models["pics"])]
    monkeypatch.setattr(launch, "EarlyDecode", lambda *a: pytest.fail("forked after torch was imported"))   # no pool left behind
    assert "torch" in sys.modules and launch.start_early_decode(argv) is None


def head_start(argv, kill=None, stdin=b""):
    """Run `gpuvision predict` (argv) in a fresh process through `start_early_decode` and `cli.main`; `kill`: a signal
    sent to the decoding process(es) right after the fork. Returns (forked before torch, batches taken, status,
    stdout, stderr) — and the plain command's (status, stdout, stderr) for comparison."""
    script = f"""import os, sys, time
from gpuvision_nb.launch import start_early_decode
argv, kill = {argv!r}, {kill!r}
early = start_early_decode(argv)
forked = early is not None and "torch" not in sys.modules
if early is not None and kill is not None:
    if kill == 2: early.futures[0].result()              # Ctrl-C while it works: it must go on, silently
    for pid in list(early.pool._processes): os.kill(pid, kill)
    if kill == 2: time.sleep(0.5)
from gpuvision_nb.cli import main
status = main(argv, early)
sys.stdout.flush()
print(forked, early.taken if early else -1, status, file=sys.stderr)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", script], input=stdin, capture_output=True, env=env, timeout=300)
    plain = subprocess.run([sys.executable, "-m", "gpuvision_nb.cli", *argv], input=stdin, capture_output=True, env=env, timeout=300)
    *err, last = r.stderr.decode().splitlines()
    forked, taken, status = last.split()
    return (forked == "True", int(taken), int(status), r.stdout, "\n".join(err)), (plain.returncode, plain.stdout, plain.stderr.decode())


@pytest.mark.parametrize("case", ["used", "decoder killed", "decoder interrupted", "stdin paths"])
def test_the_head_start_gives_the_plain_commands_output_whatever_happens_to_it(models, case):
    argv = ["predict", str(models["file"]), str(models["pics"]), "--no-progress", "--batch-size", "16", "--top-k", "2"]
    kill, stdin = {"decoder killed": 9, "decoder interrupted": 2}.get(case), b""
    if case == "stdin paths":
        argv[2] = "-"; stdin = "\n".join(str(p) for p in sorted(models["pics"].iterdir())).encode()
    (forked, taken, status, out, err), (p_status, p_out, p_err) = head_start(argv, kill, stdin)
    assert forked and taken == 5                                # 71 files, 16 per batch
    assert (status, out) == (p_status, p_out) and status == 1    # the broken file: reported, status 1
    assert len(out.splitlines()) == 70 and err == p_err.rstrip("\n") and "broken.png" in err
    assert "Traceback" not in err


def test_a_wrong_guess_of_the_models_input_is_never_used(models, tmp_path):
    "A manifest that says 16×16 RGB for a grey model: the guess decodes 3 channels; cmd_predict drops it, output unchanged."
    f = tmp_path / "m.safetensors"; shutil.copy(models["file"], f)
    m = json.loads(Path(f"{models['file']}.manifest.json").read_text())
    argv = ["predict", str(f), str(models["pics"]), "--no-progress", "--batch-size", "16"]
    (forked, taken, status, out, err), (p_status, p_out, _) = head_start(argv)      # no manifest: the header's description
    assert forked and taken == 5 and (status, out) == (p_status, p_out)
    real = launch.model_input
    launch_src = (ROOT / "gpuvision_nb" / "launch.py").read_text()
    assert "prep.size, prep.in_channels, batch_size) != (self.size, self.in_channels, self.batch_size)" in launch_src
    # the guess itself wrong: a batch size the real run does not use is the same mismatch, seen from outside
    from gpuvision_nb.deploy import Preprocess as P
    class Fake:                                                  # EarlyDecode.batches without a process
        size, in_channels, batch_size, taken, closed = 16, 3, 16, 0, False
        futures = ["f"]
        def close(self): self.closed = True
    fake = Fake()
    assert launch.EarlyDecode.batches(fake, P(16, (0.5,), (0.25,), 1, ("a", "b", "c")), 16) == [] and fake.closed and fake.taken == 0
    fake = Fake(); fake.in_channels = 1
    assert launch.EarlyDecode.batches(fake, P(16, (0.5,), (0.25,), 1, ("a", "b", "c")), 32) == [] and fake.closed
    fake = Fake(); fake.in_channels = 1
    assert launch.EarlyDecode.batches(fake, P(16, (0.5,), (0.25,), 1, ("a", "b", "c")), 16) == ["f"] and fake.taken == 1
    assert real is launch.model_input


def test_the_console_script_starts_at_launch():
    settings = (ROOT / "settings.ini").read_text()
    assert "console_scripts = gpuvision=gpuvision_nb.launch:main" in settings
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "gpuvision_nb.launch", "predict", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "usage: gpuvision predict" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gpuvision_nb.launch", "predict", "no-such-model", "x.png"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "gpuvision predict: error: model no-such-model does not exist", r.stderr


@pytest.mark.parametrize("env, expect", [({}, "True 1000"), ({"GOMP_SPINCOUNT": "5"}, "False 5"),
                                         ({"OMP_WAIT_POLICY": "ACTIVE"}, "False None")])
def test_short_spin_only_before_torch_and_only_if_the_user_did_not_choose(env, expect):
    code = "import os\nfrom gpuvision_nb.launch import short_spin\nprint(short_spin(), os.environ.get('GOMP_SPINCOUNT'))"
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**base, **env, "PYTHONPATH": str(ROOT)})
    assert r.stdout.strip() == expect, r.stderr
    before = os.environ.get("GOMP_SPINCOUNT")
    assert launch.short_spin() is False and os.environ.get("GOMP_SPINCOUNT") == before      # torch is loaded here


def test_no_head_start_on_one_core_or_for_a_batch_over_the_memory_bound(models):
    "`taskset -c 0` (one usable core of two) and 65,536 images of 512×512 per batch: no fork."
    code = ("import os, sys\nfrom gpuvision_nb import launch\n"
            f"print(launch.start_early_decode(sys.argv[1:]) is None)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = ["predict", str(models["file"]), str(models["pics"])]
    r = subprocess.run([sys.executable, "-c", code, *base], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == ("True" if len(os.sched_getaffinity(0)) < 2 else "False"), r.stderr
    if shutil.which("taskset"):
        r = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code, *base], capture_output=True, text=True, env=env, timeout=60)
        assert r.stdout.strip() == "True", r.stderr
    tmp = models["dir"] / "big.safetensors.manifest.json"
    m = json.loads(Path(f"{models['file']}.manifest.json").read_text()); m["meta"]["size"] = 512; m["meta"]["in_channels"] = 3
    shutil.copy(models["file"], models["dir"] / "big.safetensors"); tmp.write_text(json.dumps(m))
    assert launch.model_input(models["dir"] / "big.safetensors") == (512, 3)
    r = subprocess.run([sys.executable, "-c", code, "predict", str(models["dir"] / "big.safetensors"), str(models["pics"]),
                        "--batch-size", "65536"], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == ("True"), r.stderr


def test_an_early_decode_of_other_paths_is_not_used(models, gpuvision, capsys):
    "cmd_predict takes the head start only for the very PATHs it was given (a parser disagreement can't mix files)."
    from gpuvision_nb import cli
    class Other:                                                 # what a head start on another folder would hold
        paths, files, notes = ["elsewhere"], [Path("elsewhere/x.png")], []
        def batches(self, prep, batch_size): raise AssertionError("must not be asked")
    argv = ["predict", str(models["file"]), str(models["pics"]), "--no-progress"]
    assert cli.main(argv, Other()) == 1
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 70 and "elsewhere" not in out


@pytest.mark.parametrize("listed", ["a missing file", "an empty folder"])
def test_paths_read_from_stdin_are_not_lost_when_the_head_start_cant_list_them(models, tmp_path, listed):
    "stdin can be read once: the head start keeps what it read, and the command's own error names the bad path."
    bad = tmp_path / ("missing.png" if listed == "a missing file" else "empty")
    if listed == "an empty folder": bad.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "gpuvision_nb.launch", "predict", str(models["file"]), "-"], input=f"{bad}\n",
                       capture_output=True, text=True, env=env, timeout=120)
    want = f"{bad} does not exist" if listed == "a missing file" else f"{bad} holds no image files"
    assert r.returncode == 2 and want in r.stderr and "no paths on stdin" not in r.stderr, r.stderr


# --- in this process (mutation testing sees only this process): the decisions, with the fork replaced ----------------

class SyncPool:
    "A stand-in for ProcessPoolExecutor: runs each job at once, here; records how it was made and closed."
    made = []
    def __init__(self, processes, context, initializer=None):
        self.shut = None; SyncPool.made.append((processes, context.get_start_method(), initializer, self))
    def submit(self, fn, *args):
        from concurrent.futures import Future
        f = Future(); f.set_result(fn(*args)); return f
    def shutdown(self, wait, cancel_futures): self.shut = (wait, cancel_futures)


@pytest.fixture
def before_torch(monkeypatch):
    "This process as `gpuvision` sees it before importing torch, on a 2-core Linux machine; EarlyDecode records its arguments."
    made = []
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(launch, "EarlyDecode", lambda *a: made.append(a) or a)
    return made


def test_start_early_decode_decides_in_this_process(models, before_torch, monkeypatch):
    f, pics = str(models["file"]), str(models["pics"])
    assert launch.start_early_decode(["predict", f, pics, "--batch-size", "16"]) == ([pics], 16, 1, 16, 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert launch.start_early_decode(["predict", f, pics])[-2:] == (256, 4)          # default batch; at most 4 decoders
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(3)))
    assert launch.start_early_decode(["predict", f, pics])[-1] == 2                  # all cores but this process's
    monkeypatch.setattr(launch, "stdin_paths", lambda: ["s1.png", "s2.png"])
    assert launch.start_early_decode(["predict", f, "-", pics])[0] == ["s1.png", "s2.png", pics]
    for ok in ("1", "65536"): assert launch.start_early_decode(["predict", f, pics, "--batch-size", ok]) is not None, ok
    for argv in (["predict", f, pics, "--batch-size", "0"], ["predict", f, pics, "--batch-size", "65537"],
                 ["predict", f, pics, "--workers", "0"], ["train", f, pics], ["predict", str(models["dir"] / "nope"), pics]):
        assert launch.start_early_decode(argv) is None, argv
    monkeypatch.setattr(launch, "stdin_paths", lambda: [])
    assert launch.start_early_decode(["predict", f, "-"]) is None                    # nothing to decode
    def unreadable(): raise OSError("stdin closed")
    monkeypatch.setattr(launch, "stdin_paths", unreadable)
    assert launch.start_early_decode(["predict", f, "-"]) is None
    monkeypatch.setattr(launch, "EARLY_BYTES", 16 * 16 * 16 - 1)                     # one grey 16-px batch of 16 is over it
    assert launch.start_early_decode(["predict", f, pics, "--batch-size", "16"]) is None
    monkeypatch.setattr(launch, "EARLY_BYTES", 16 * 16 * 16)                         # exactly one batch: allowed
    assert launch.start_early_decode(["predict", f, pics, "--batch-size", "16"]) is not None


@pytest.mark.parametrize("blank", ["", " "])
def test_start_early_decode_leaves_a_blank_path_to_the_cli(models, before_torch, blank):
    """`gpuvision predict MODEL ""` (an unset shell variable): '' is '.', which the head start listed — a walk of the
    whole current folder, and decoding begun — before `cli` refused the blank PATH (found by tests/test_cli_args.py)."""
    f, pics = str(models["file"]), str(models["pics"])
    assert launch.start_early_decode(["predict", f, pics, blank]) is None and before_torch == []


@pytest.mark.parametrize("why", ["torch loaded", "not linux", "one core"])
def test_start_early_decode_declines(models, before_torch, monkeypatch, why):
    if why == "torch loaded": monkeypatch.setitem(sys.modules, "torch", object())
    if why == "not linux": monkeypatch.setattr(sys, "platform", "darwin")
    if why == "one core": monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert launch.start_early_decode(["predict", str(models["file"]), str(models["pics"])]) is None and before_torch == []


def test_early_decode_makes_at_most_early_bytes_ahead_in_batches(models, monkeypatch):
    SyncPool.made.clear()
    monkeypatch.setattr(launch, "ProcessPoolExecutor", SyncPool)
    monkeypatch.setattr(launch, "EARLY_BYTES", 3 * 8 * 16 * 16 * 1)                 # room for 3 batches of 8 grey 16-px images
    e = launch.EarlyDecode([str(models["pics"])], 16, 1, 8, processes=2)
    assert len(e.files) == 71 and e.notes == [] and e.paths == [str(models["pics"])] and e.taken == 0
    [(processes, method, init, pool)] = SyncPool.made
    assert (processes, method, init) == (2, "fork", launch._ignore_sigint) and e.pool is pool
    assert len(e.futures) == 3
    pixels, errors = e.futures[0].result()
    assert pixels.shape == (8, 16, 16, 1) and errors == [None] * 8
    assert e.futures[2].result()[0].shape == (8, 16, 16, 1)
    monkeypatch.setattr(launch, "EARLY_BYTES", 1)                                    # under one batch: still one batch
    assert len(launch.EarlyDecode([str(models["pics"])], 16, 1, 8).futures) == 1
    monkeypatch.setattr(launch, "EARLY_BYTES", 1 << 30)                              # room for all: the last batch is short
    e = launch.EarlyDecode([str(models["pics"])], 16, 1, 32)
    assert [len(f.result()[1]) for f in e.futures] == [32, 32, 7]
    e.close(); assert e.pool.shut == (True, True)


def test_early_decode_of_paths_it_cant_list_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "ProcessPoolExecutor", lambda *a, **k: pytest.fail("no pool for unlistable paths"))
    for paths in ([str(tmp_path / "missing.png")], [str(tmp_path)]):
        e = launch.EarlyDecode(paths, 16, 1, 8)
        assert e.files is None and e.pool is None and e.futures == [] and e.paths == paths
        e.close()                                                                     # nothing to stop: no error


def test_main_spins_short_only_for_predict_and_always_closes_the_head_start(monkeypatch):
    import gpuvision_nb.cli as cli
    calls = []
    class Early:
        def close(self): calls.append("closed")
    monkeypatch.setattr(launch, "short_spin", lambda: calls.append("spin"))
    monkeypatch.setattr(launch, "start_early_decode", lambda argv: calls.append(("start", argv)) or Early())
    monkeypatch.setattr(cli, "main", lambda argv, early: calls.append(("main", argv, type(early).__name__)) or 7)
    assert launch.main(["predict", "m", "x"]) == 7
    assert calls == ["spin", ("start", ["predict", "m", "x"]), ("main", ["predict", "m", "x"], "Early"), "closed"]
    calls.clear()
    def boom(argv, early): raise KeyboardInterrupt
    monkeypatch.setattr(cli, "main", boom)
    with pytest.raises(KeyboardInterrupt): launch.main(["train", "x"])
    assert calls == [("start", ["train", "x"]), "closed"]                            # no short spin for train; closed
    monkeypatch.setattr(sys, "argv", ["gpuvision", "bench"])
    monkeypatch.setattr(launch, "start_early_decode", lambda argv: calls.append(("start", argv)))
    monkeypatch.setattr(cli, "main", lambda argv, early: 0)
    calls.clear(); assert launch.main() == 0 and calls == [("start", ["bench"])]       # default: sys.argv[1:]


def test_short_spin_in_this_process(monkeypatch):
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.setenv(name, "x"); monkeypatch.delenv(name)                       # restored (absent) after the test
    monkeypatch.delitem(sys.modules, "torch")
    assert launch.short_spin() is True and os.environ["GOMP_SPINCOUNT"] == launch.SPIN_COUNT == "1000"
    assert launch.short_spin() is False                                               # the user's (or its own) choice stands
    monkeypatch.delenv("GOMP_SPINCOUNT"); monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert launch.short_spin() is False and "GOMP_SPINCOUNT" not in os.environ


def test_input_of_bounds():
    io = launch._input_of
    assert io({"size": 1, "in_channels": 1}) == (1, 1) and io({"size": 4096, "in_channels": 3}) == (4096, 3)
    for bad in ({"size": 0, "in_channels": 3}, {"size": 4097, "in_channels": 3}, {"size": 16, "in_channels": True},
                {"size": 16}, {"in_channels": 3}, {"size": 16.0, "in_channels": 3}, None, [16, 3]):
        assert io(bad) is None, bad
    assert io({"model": "seed", "size": 99}) == (32, 3) and io({"model": {"arch": "seed"}, "size": 8, "in_channels": 1}) == (8, 1)


def test_model_input_of_a_checkpoint_folder_and_a_best_folder(models, tmp_path):
    "A run's `best/` (trained with validation) is read when the run has no checkpoints/latest; a checkpoint folder itself too."
    run = tmp_path / "run"; shutil.copytree(models["run"] / "checkpoints", run / "best")
    assert launch.model_input(run) == (24, 3)
    assert launch.model_input(run / "best") == (24, 3)
    ck = run / "best" / (run / "best" / "latest").read_text().strip()
    assert launch.model_input(ck) == (24, 3)


# ---- usable_cores: what every pool is sized by ------------------------------------------------------------------------
def _cgroup(root, v2: str | None = None, v1: tuple[str, str] | None = None):
    "A fake cgroup folder at `root`: v2's cpu.max text, or v1's (quota, period)."
    root.mkdir(parents=True, exist_ok=True)
    if v2 is not None: (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir(); (root / "cpu" / "cpu.cfs_quota_us").write_text(v1[0] + "\n"); (root / "cpu" / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    return root


@pytest.mark.parametrize("affinity, v2, v1, want", [
    (set(range(64)), None, None, 64),                 # no quota: the cores the process may run on
    (set(range(64)), "max 100000", None, 64),         # v2 without a quota
    (set(range(64)), "200000 100000", None, 2),       # docker --cpus 2 on a 64-core host
    (set(range(64)), "150000 100000", None, 2),       # --cpus 1.5: rounded up
    (set(range(64)), "50000 100000", None, 1),        # --cpus 0.5: at least 1
    ({0, 1}, "800000 100000", None, 2),               # a cpuset smaller than the quota
    (set(range(64)), None, ("300000", "100000"), 3),  # cgroup v1
    (set(range(64)), None, ("-1", "100000"), 64),     # v1 without a quota
    (set(range(64)), "nonsense", None, 64),           # unreadable: no quota assumed
    (set(range(64)), "0 100000", None, 64),           # a zero quota is no quota
])
def test_usable_cores_is_the_affinity_capped_by_the_cgroup_quota(tmp_path, monkeypatch, affinity, v2, v1, want):
    "`os.cpu_count()` said 64 in a 2-core container: 32 OpenMP threads per process of `train --nproc 2`, on 2 cores."
    from gpuvision_nb.launch import usable_cores
    monkeypatch.setattr(os, "cpu_count", lambda: 128)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: affinity, raising=False)
    assert usable_cores(_cgroup(tmp_path / "cg", v2, v1)) == want


def test_usable_cores_without_an_affinity_api_counts_the_machine(tmp_path, monkeypatch):
    "macOS and Windows have no sched_getaffinity: the machine's count, still capped by a quota if there is one."
    from gpuvision_nb.launch import usable_cores
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cores(tmp_path / "none") == 6 and usable_cores(_cgroup(tmp_path / "cg", "200000 100000")) == 2
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores(tmp_path / "none") == 1


def test_every_pool_is_sized_by_usable_cores(monkeypatch):
    """The DataLoader workers, image-decoding threads and predict's --workers default follow `usable_cores` (two of
    them read os.cpu_count(), the machine's cores; the OpenMP threads of `--nproc`: test_distributed)."""
    import gpuvision_nb.cli as cli, gpuvision_nb.data as data
    for module in (cli, data): monkeypatch.setattr(module, "usable_cores", lambda: 6)
    monkeypatch.setattr(os, "cpu_count", lambda: 128)
    assert (data.default_workers(), data.decode_threads()) == (5, 6)
    assert cli.build_parser().parse_args(["predict", "m", "x.png"]).workers == 4


def test_the_early_parser_leaves_help_to_the_real_one(capsys):
    """`gpuvision predict MODEL x.png -h`: the launcher's quiet parser must not print a help of its own and exit
    (mutmut, seed 922: add_help=False dropped survived); it says 'in doubt' and the real parser prints the help."""
    assert launch._predict_args(["predict", "m", "x.png", "-h"]) is None and launch._predict_args(["predict", "--help"]) is None
    assert capsys.readouterr() == ("", "")
