"Chapter 17: self-describing model files, predict on image files, exports — and `gpuvision predict`/`export` as a user runs them."
import io, json, os, shutil, subprocess, sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gpuvision_nb.checkpoint import CheckpointError, save_checkpoint
from gpuvision_nb.cli import main
from gpuvision_nb.data import MEAN, STD, write_bad_images
from gpuvision_nb.deploy import (ExportError, Preprocess, export, export_onnx, export_torchscript, load_model,
                                 predict_files, save_model)
from gpuvision_nb.models import SeedCNN, SmallResNet
from gpuvision_nb.prune import plan_channels, rebuild
from gpuvision_nb.quantize import quantize, quiet_ao

EXE = shutil.which("gpuvision") or os.path.join(os.path.dirname(sys.executable), "gpuvision")
CLASSES = ["cat", "dog", "fox"]
PREP = Preprocess(32, MEAN, STD, classes=CLASSES)


def cli(*args):
    "Run the `gpuvision` console script as a user would."
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=300)


def cli_in_process(*args):
    "`main(args)` in this process: (status, stdout, stderr) — the same code path as the console script, faster."
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err): status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    "A model file (an untrained 3-class SeedCNN) and a folder of 5 images with a broken one in the middle, in sub-folders."
    root = tmp_path_factory.mktemp("deploy")
    torch.manual_seed(0)
    model = SeedCNN(n_classes=3).eval()
    f = save_model(model, root / "model.safetensors", PREP)
    pics = root / "pics"
    for i, sub in enumerate(["a", "a", "b", "b", "b"]):
        (pics / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), np.uint8)).save(pics / sub / f"{i}.png")
    shutil.copy(write_bad_images(root / "bad")["truncated-png"], pics / "a" / "1b-broken.png")
    (pics / "notes.txt").write_text("not an image")                               # not an image: not mentioned
    Image.new("RGB", (16, 16)).save(pics / "b" / "favicon.ico")                    # an image not taken: said on stderr
    return {"root": root, "model": model, "file": f, "pics": pics}


def test_predict_folder_with_a_bad_file_in_the_middle(world, gpuvision):
    r = gpuvision("predict", world["file"], world["pics"], "--no-progress")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stdout.strip().splitlines()
    names = [Path(l.split("\t")[0]).name for l in lines]
    assert names == ["0.png", "1.png", "2.png", "3.png", "4.png"]                    # the others, in order
    for line in lines:
        path, label, prob = line.split("\t")
        assert label in CLASSES and 0 < float(prob) <= 1
    assert "skipped" in r.stderr and "1b-broken.png" in r.stderr and "1 of 6 file(s) could not be read" in r.stderr
    assert "ignored 1 file(s) under" in r.stderr and "that Pillow can open but that are not taken as images (1 .ico)" in r.stderr


def test_predict_files_and_top_k_and_json(world):
    good = sorted(world["pics"].rglob("[0-9].png"))
    status, out, err = cli_in_process("predict", world["file"], *good[:2], "--top-k", "3", "--no-progress")
    assert status == 0 and err == ""
    fields = out.strip().splitlines()[0].split("\t")
    assert len(fields) == 7 and sorted(fields[1::2]) == sorted(CLASSES)             # path + 3 × (class, prob)
    probs = [float(p) for p in fields[2::2]]
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-3
    status, out, _ = cli_in_process("predict", world["file"], good[0], "--json", "--top-k", "2")
    d = json.loads(out)
    assert status == 0 and set(d) == {"path", "class", "prob", "top"} and d["path"] == str(good[0])
    assert len(d["top"]) == 2 and d["top"][0] == {"class": d["class"], "prob": d["prob"]}
    status, out, _ = cli_in_process("predict", world["file"], good[0], "--json")
    assert status == 0 and set(json.loads(out)) == {"path", "class", "prob"}       # top-1: no "top" list


def test_predictions_match_the_model(world):
    files = sorted(world["pics"].rglob("[0-9].png"))
    rs = list(predict_files(world["file"], files, device="cpu", batch_size=2, workers=2))
    with torch.no_grad():
        x = PREP([Image.open(p).convert("RGB") for p in files])
        p = world["model"](x).softmax(1)
    assert [r.labels[0] for r in rs] == [CLASSES[i] for i in p.argmax(1).tolist()]
    torch.testing.assert_close(torch.tensor([r.probs[0] for r in rs]), p.max(1).values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, msg", [
    (["predict", "no-such-run", "x.png"], "model no-such-run does not exist"),
    (["predict", "{file}", "{root}/empty"], "empty holds no image files"),
    (["predict", "{file}", "{root}/missing.png"], "missing.png does not exist"),
    (["predict", "{root}/model.onnx", "{pics}"], "is an ONNX file: run it with onnxruntime"),
    (["predict", "{file}", "{pics}", "--top-k", "4"], "--top-k 4: {file} knows 3 classes; give --top-k 3 or less"),
    (["predict", "{pics}/a/0.png", "{file}"], "MODEL {pics}/a/0.png is an image file: the model comes first (gpuvision predict MODEL PATH...)"),
    (["export", "{file}", "--format", "pickle"], "argument --format: invalid choice: 'pickle' (choose from 'safetensors', 'torchscript', 'onnx')"),
    (["export", "no-such-run", "--format", "onnx"], "model no-such-run does not exist"),
])
def test_cli_errors_are_one_line(world, args, msg):
    (world["root"] / "empty").mkdir(exist_ok=True)
    (world["root"] / "model.onnx").write_bytes(b"onnx")
    args = [a.format(file=world["file"], root=world["root"], pics=world["pics"]) for a in args]
    msg = msg.format(file=world["file"], root=world["root"], pics=world["pics"])     # in the CLI's terms, not top_k's
    status, out, err = cli_in_process(*args)
    lines = [l for l in err.strip().splitlines() if not l.startswith(("usage: ", " "))]     # (argparse's usage, if a usage error)
    assert status == 2 and out == "" and msg in err and len(lines) == 1, err


def test_predict_files_checks_top_k_against_the_classes(world):
    "The Python call says `top_k` (the CLI checks first and says --top-k: `test_cli_errors_are_one_line`)."
    with pytest.raises(ValueError, match="top_k must be an integer from 1 to 3, got 4"):
        predict_files(world["file"], [world["pics"]], top_k=4, device="cpu")


@pytest.mark.parametrize("args", [["--top-k", "0"], ["--batch-size", "x"], ["--workers", "-1"]])
def test_cli_numbers_are_checked_as_arguments_are_parsed(world, args, capsys):
    assert main(["predict", str(world["file"]), str(world["pics"]), *args]) == 2     # argparse's status, returned
    assert f"argument {args[0]}" in capsys.readouterr().err


def test_cli_workers_given_are_taken(world):
    "`--workers 0` (decode in the main thread) and `--workers 2` are accepted and classify the same."
    outs = [cli_in_process("predict", world["file"], world["pics"], "--no-progress", "--workers", w) for w in ("0", "2")]
    assert [o[0] for o in outs] == [1, 1] and outs[0][1] == outs[1][1] and len(outs[0][1].splitlines()) == 5


class _Terminal(io.StringIO):
    "A text stream that says it is a terminal."
    def isatty(self): return True


@pytest.mark.parametrize("stdout_tty, flag, bar", [(False, [], True), (False, ["--no-progress"], False), (True, [], False)])
def test_cli_predict_progress_bar_only_where_it_belongs(world, stdout_tty, flag, bar):
    "A bar on a terminal's stderr, unless --no-progress, or the results themselves go to the terminal (they'd mix)."
    out, err = (_Terminal() if stdout_tty else io.StringIO()), _Terminal()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["predict", str(world["file"]), str(world["pics"]), "--batch-size", "1", *flag]) == 1
    assert ("img/s" in err.getvalue()) == bar, err.getvalue()


def test_cli_error_from_the_console_script_has_no_traceback(world):
    r = cli("predict", world["root"] / "nope", world["pics"])
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("gpuvision predict: error:")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_pruned_model_file_reloads_by_itself(tmp_path):
    torch.manual_seed(0)
    for big in (SeedCNN(n_classes=3), SmallResNet(n_classes=3)):
        small = rebuild(big.eval(), plan_channels(big, 0.5)).eval()
        back, prep = load_model(save_model(small, tmp_path / f"{type(big).__name__}.safetensors", PREP), "cpu")
        assert prep == PREP and back.state_dict().keys() == small.state_dict().keys()
        x = torch.randn(3, 3, 32, 32)
        with torch.no_grad(): torch.testing.assert_close(back(x), small(x), rtol=0, atol=0)


@pytest.mark.parametrize("arch, method", [(SeedCNN, "static"), (SeedCNN, "dynamic"), (SmallResNet, "static")])
def test_int8_export_and_reload(tmp_path, arch, method):
    torch.manual_seed(0)
    q = quantize(arch(n_classes=3), method, calib=torch.randn(32, 3, 32, 32) if method == "static" else None)
    back, _ = load_model(save_model(q, tmp_path / "int8.safetensors", PREP))
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(back(x), q(x))
    ts = torch.jit.load(export_torchscript(q, tmp_path / "int8.pt", PREP))
    with torch.no_grad(): assert torch.equal(ts(x), q(x))
    with pytest.raises(ExportError, match="onnxruntime.quantization"): export_onnx(q, tmp_path / "int8.onnx", PREP)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="int8 model: it runs on the CPU only"): load_model(tmp_path / "int8.safetensors", "cuda")


def test_torchscript_parity(world, tmp_path):
    ts = torch.jit.load(export(world["file"], tmp_path / "m.pt", "torchscript"))
    with torch.no_grad():
        for n in (1, 7):                                               # traced at batch 2
            x = torch.randn(n, 3, 32, 32)
            assert torch.equal(ts(x), world["model"](x))                # the same CPU kernels: bitwise equal


def test_onnx_parity_and_dynamic_batch(world, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    f = export(world["file"], tmp_path / "m.onnx", "onnx")
    s = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    assert json.loads(s.get_modelmeta().custom_metadata_map["gpuvision"])["classes"] == CLASSES
    for n in (1, 33):
        x = torch.randn(n, 3, 32, 32)
        with torch.no_grad(): ref = world["model"](x)
        out = torch.from_numpy(s.run(["logits"], {"images": x.numpy()})[0])
        # ONNX Runtime sums in another order: float32 rounding (~1e-7 of the largest score, measured in chapter 17)
        # times a 1,000x margin; a wrong weight or normalisation misses this by orders of magnitude.
        assert out.shape == (n, 3) and ((out - ref).abs().max() / ref.abs().max()) < 1e-4



def _awkward_images(folder: Path) -> list[Path]:
    "Files whose pixels depend on to_rgb, upright and draft: transparency over colour, 16-bit grey, a sideways JPEG, a big one."
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (40, 48, 4), np.uint8); rgba[::2, :, 3] = 0              # half transparent, colour beneath
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 65536, (36, 36), np.uint16)).save(folder / "grey16.png")
    pal = Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).quantize(16); pal.info["transparency"] = 3
    pal.save(folder / "palette.png", transparency=3)
    exif = Image.Exif(); exif[0x0112] = 6
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), np.uint8)).save(folder / "side.jpg", exif=exif, quality=95)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).resize((1200, 900), Image.BICUBIC).save(folder / "big.jpg")   # decoded at 1/8
    return sorted(folder.iterdir())


@pytest.mark.parametrize("kind", ["onnx", "torchscript"])
def test_the_standalone_script_classifies_as_predict_does(world, tmp_path, kind):
    """Chapter 17's standalone classifier (without this package) on images whose preparation is not a plain
    convert('RGB'): it once dropped transparency where predict composites it on black, and took another class."""
    from gpuvision_nb.deploy import standalone_script
    if kind == "onnx": pytest.importorskip("onnxruntime")
    model = export(world["file"], tmp_path / f"m.{'onnx' if kind == 'onnx' else 'pt'}", kind)
    (tmp_path / "classify.py").write_text(standalone_script(kind))
    images = _awkward_images(tmp_path / "pics")
    r = subprocess.run([sys.executable, tmp_path / "classify.py", model, *images], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ours = {str(x.path): x for x in predict_files(world["file"], images, device="cpu")}
    lines = [l.split("\t") for l in r.stdout.strip().splitlines()]
    assert [l[0] for l in lines] == [str(p) for p in images]
    for path, label, prob in lines:                                # printed to 4 decimals; float32 differences are ~1e-7
        assert label == ours[path].labels[0] and abs(float(prob) - ours[path].probs[0]) <= 6e-5, (path, label, prob)


def test_standalone_script_names_its_kinds():
    from gpuvision_nb.deploy import standalone_script
    with pytest.raises(ValueError, match=r"kind must be one of \['onnx', 'torchscript'\], got 'tflite'"): standalone_script("tflite")

def test_onnx_without_onnxscript_says_what_to_install(world, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ExportError, match="pip install onnxscript"): export(world["file"], tmp_path / "m.onnx", "onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_old_run_folder_predicts(world, tmp_path):
    "A checkpoint as runs made before chapter 17 wrote it: model name and classes only."
    save_checkpoint(tmp_path / "run" / "checkpoints", world["model"], epoch=3, meta={"model": "seed", "classes": CLASSES})
    with pytest.warns(UserWarning, match=r"predict_files: ignored 1 file\(s\) .* \(1 \.ico\)"):
        rs = list(predict_files(tmp_path / "run", world["pics"] / "b", device="cpu"))
    ref = list(predict_files(world["file"], sorted((world["pics"] / "b").glob("*.png")), device="cpu"))
    assert [(r.labels, r.probs) for r in rs] == [(r.labels, r.probs) for r in ref]


def test_a_run_folder_means_its_best_epoch_and_its_checkpoints_folder_its_last(world, tmp_path):
    "predict/export of a run folder use `best/` (issue 22.2); `RUN/checkpoints` still names the last epoch."
    meta = {"model": "seed", "classes": CLASSES}
    best, last = world["model"], SeedCNN(n_classes=len(CLASSES))
    save_checkpoint(tmp_path / "run" / "best", best, epoch=1, meta=meta)
    save_checkpoint(tmp_path / "run" / "checkpoints", last, epoch=3, meta=meta)
    weights = lambda path: [t.clone() for t in load_model(path, "cpu")[0].state_dict().values()]
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a, b))
    assert same(weights(tmp_path / "run"), best.state_dict().values())
    assert same(weights(tmp_path / "run" / "checkpoints"), last.state_dict().values())
    assert not same(weights(tmp_path / "run"), weights(tmp_path / "run" / "checkpoints"))


def _trains_meanwhile(monkeypatch, folder, model, epoch, meta):
    """Make the first file hash a reader computes happen just after a training running in `folder` saved `model` as
    `epoch` (keep=1: the checkpoint the reader had chosen is pruned, or, same epoch, replaced): the race of a
    `predict --model RUN` while RUN trains, without timing."""
    import gpuvision_nb.checkpoint as C
    real, calls = C.sha256, []
    def sha256(path):
        if not calls: save_checkpoint(folder, model, epoch=epoch, meta=meta, keep=1)
        calls.append(path)
        return real(path)
    monkeypatch.setattr(C, "sha256", sha256)
    return calls


@pytest.mark.parametrize("epoch", [2, 1], ids=["pruned", "same-epoch-replaced"])
def test_a_run_folder_read_while_its_training_replaces_the_best_checkpoint(world, tmp_path, monkeypatch, gpuvision, epoch):
    "The checkpoint `best/latest` named vanished (or changed) between reading `latest` and opening it: read `latest` again."
    meta, newer = {"model": "seed", "classes": CLASSES}, SeedCNN(n_classes=len(CLASSES))
    run = tmp_path / "run"
    save_checkpoint(run / "best", world["model"], epoch=1, meta=meta, keep=1)
    calls = _trains_meanwhile(monkeypatch, run / "best", newer, epoch, meta)
    model = load_model(run, "cpu")[0]
    assert calls and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), newer.state_dict().values()))
    save_checkpoint(run / "best", world["model"], epoch=1, meta=meta, keep=1)   # again, through the command
    calls = _trains_meanwhile(monkeypatch, run / "best", newer, epoch, meta)
    r = gpuvision("predict", run, world["pics"] / "a" / "0.png", "--device", "cpu")
    assert r.returncode == 0 and calls and r.stdout.count("\t") >= 1, r.stderr


def test_a_checkpoint_missing_or_damaged_for_good_is_still_refused(world, tmp_path, gpuvision):
    from gpuvision_nb.checkpoint import WEIGHTS
    run = tmp_path / "run"
    ck = save_checkpoint(run / "best", world["model"], epoch=1, meta={"model": "seed", "classes": CLASSES})
    (ck / WEIGHTS).write_bytes((ck / WEIGHTS).read_bytes()[:-8])
    with pytest.raises(CheckpointError, match="does not match its SHA-256"): load_model(run, "cpu")
    (ck / WEIGHTS).unlink()
    r = gpuvision("predict", run, world["pics"] / "a" / "0.png", "--device", "cpu")
    assert r.returncode != 0 and f"{ck / WEIGHTS} is missing" in r.stderr and "Traceback" not in r.stderr


def test_run_folder_from_gpuvision_train_predicts_and_exports(tmp_path, gpuvision):
    data = tmp_path / "data"
    for c, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (data / c).mkdir(parents=True)
        for i in range(12):
            a = np.clip(np.array(colour) + np.random.default_rng(i).integers(-25, 25, (32, 32, 3)), 0, 255)
            Image.fromarray(a.astype(np.uint8)).save(data / c / f"{i}.png")
    run = tmp_path / "run"
    r = gpuvision("train", "--data", data, "--epochs", "2", "--out", run, "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = gpuvision("predict", run, data / "red" / "0.png", data / "blue", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == 13 and all(row["class"] in ("blue", "red") for row in rows)
    r = gpuvision("export", run, "--format", "safetensors")
    assert r.returncode == 0 and (run / "model.safetensors").is_file(), r.stderr
    assert load_model(run / "model.safetensors", "cpu")[1].classes == ("blue", "red")


# ---- issue 21: outputs that destroy inputs, forged text, descriptions that disagree with their weights ----

def test_export_refuses_an_existing_out_unless_overwrite(world, tmp_path):
    out = tmp_path / "m.safetensors"
    torch.manual_seed(1); save_model(SeedCNN(n_classes=3).eval(), out, PREP)     # an earlier export, another model
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    status, stdout, err = cli_in_process("export", world["file"], "--format", "safetensors", "--out", out)
    assert status == 2 and "already exist" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with pytest.raises(FileExistsError, match="overwrite=True"): export(world["file"], out, "torchscript")
    status, stdout, err = cli_in_process("export", world["file"], "--format", "safetensors", "--out", out, "--overwrite")
    assert status == 0, err
    assert load_model(out, "cpu")[1] == PREP and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "m.safetensors.manifest.json"]


@pytest.mark.parametrize("where", ["file", "link", "manifest", "checkpoint"])
def test_export_never_overwrites_its_own_source(world, tmp_path, where):
    src = tmp_path / "model.safetensors"
    shutil.copy(world["file"], src); shutil.copy(f"{world['file']}.manifest.json", f"{src}.manifest.json")
    save_checkpoint(tmp_path / "run" / "checkpoints", world["model"], epoch=1, meta={"model": "seed", "classes": CLASSES})
    ck = tmp_path / "run" / "checkpoints" / "epoch-0001"
    (tmp_path / "link.safetensors").symlink_to(src)
    model, out = {"file": (src, src), "link": (src, tmp_path / "link.safetensors"), "manifest": (src, f"{src}.manifest.json"),
                  "checkpoint": (tmp_path / "run", ck / "model.safetensors")}[where]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    status, _, err = cli_in_process("export", model, "--format", "safetensors", "--out", out, "--overwrite")
    assert status == 2 and ("is the input" in err or "lies inside the input" in err) and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_predict_text_escapes_names_that_could_forge_lines():
    from gpuvision_nb.deploy import Prediction
    forged = "a.png\tcat\t1.0000\nevil.png"
    line = Prediction(forged, ["do\tg"], [0.5]).text()
    assert "\n" not in line and line.split("\t") == ["a.png\\tcat\\t1.0000\\nevil.png", "do\\tg", "0.5000"]
    assert Prediction("back\\slash.png", ["cat"], [0.5]).text().split("\t")[0] == "back\\\\slash.png"   # reversible
    assert Prediction("caf\udcc3.png", ["cat"], [0.5]).text().split("\t")[0] == "caf\\xc3.png"           # undecodable byte


def test_predict_json_is_valid_json_for_nan_and_odd_names():
    from gpuvision_nb.deploy import Prediction
    def strict(s): return json.loads(s, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    d = strict(Prediction("x\udcff.png", ["cat", "dog"], [float("nan"), float("inf")]).json())
    assert d["prob"] is None and d["top"][1]["prob"] is None and d["path"] == "x\\xff.png"
    d = strict(Prediction("a\nb.png", ["cat"], [0.25]).json())
    assert d == {"path": "a\nb.png", "class": "cat", "prob": 0.25}


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes in names")
def test_cli_predict_odd_names_one_line_each_under_utf8(world, tmp_path, gpuvision):
    pics = tmp_path / "odd"; pics.mkdir()
    good = sorted(world["pics"].rglob("[0-9].png"))[0]
    names = ["x.png\tcat\t1.0000\nforged.png", os.fsdecode(b"caf\xe9.png"), "plain.png"]
    for n in names: shutil.copy(good, pics / n)
    for fmt in ([], ["--json"]):
        r = gpuvision("predict", world["file"], pics, "--device", "cpu", *fmt)
        out = r.stdout.encode("utf-8").decode("utf-8")          # a name printed unescaped (a lone surrogate) fails here
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        lines = out.splitlines()
        assert len(lines) == 3, out
        if fmt: assert {os.path.basename(json.loads(l)["path"]) for l in lines} == {names[0], "caf\\xe9.png", "plain.png"}
        else: assert any(l.startswith(str(pics / "caf\\xe9.png")) for l in lines) and "forged.png\\t" not in out


def _edit_manifest(src, dst, change):
    shutil.copy(src, dst)
    m = json.loads(Path(f"{src}.manifest.json").read_text())
    change(m["meta"])
    Path(f"{dst}.manifest.json").write_text(json.dumps(m))
    return dst


@pytest.mark.parametrize("change, msg", [
    (lambda m: m.update(classes=CLASSES + ["owl"]), "4 class names"),
    (lambda m: m.update(classes=CLASSES[:2]), "2 class names"),
    (lambda m: m["model"]["kwargs"].update(n_classes=2 ** 40), "n_classes"),
    (lambda m: m["model"]["kwargs"].update(hidden=2 ** 40), "hidden"),
    (lambda m: m["model"]["kwargs"].update(hidden=256), "fc1.weight"),
    (lambda m: m["model"]["kwargs"].update(widths=[64, 64, 2 ** 20]), "widths"),
    (lambda m: m.update(size=2 ** 40), "size"),
])
def test_a_description_that_disagrees_with_its_weights_is_refused(world, tmp_path, change, msg):
    f = _edit_manifest(world["file"], tmp_path / "m.safetensors", change)
    with pytest.raises(CheckpointError) as e: load_model(f, "cpu")
    assert msg in str(e.value) and "m.safetensors" in str(e.value)
    status, out, err = cli_in_process("predict", f, world["pics"])
    assert status == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_a_run_whose_classes_disagree_with_its_weights_is_refused(world, tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoints", world["model"], epoch=1, meta={"model": "seed", "classes": CLASSES[:2]})
    with pytest.raises(CheckpointError, match="2 class names.*3 outputs|3 outputs.*2 class names"): load_model(tmp_path / "run", "cpu")


# ---- issue 22.7: the package and the standalone recipe prepare an image with the same operation ----

def _recipe_pixels(path, size, mean, std):
    "Chapter 17's standalone ONNX recipe, written out independently: Pillow convert, bilinear resize, centre crop, normalise."
    im = (path if isinstance(path, Image.Image) else Image.open(path)).convert("RGB")
    w, h = im.size
    if min(w, h) != size:
        w, h = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        im = im.resize((w, h), Image.BILINEAR)
    left, top = round((w - size) / 2), round((h - size) / 2)
    im = im.crop((left, top, left + size, top + size))
    return ((np.asarray(im, np.float32) / 255 - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)


def test_preprocess_matches_the_standalone_recipe_on_images_of_other_sizes(tmp_path):
    from gpuvision_nb.data import open_rgb
    from gpuvision_nb.deploy import fit_image
    rng = np.random.default_rng(0)
    paths = []
    for i, ((w, h), mode) in enumerate([((40, 24), "RGB"), ((64, 64), "L"), ((17, 90), "RGB"), ((33, 32), "P"),
                                         ((200, 150), "RGB"), ((32, 32), "RGB"), ((31, 47), "L"), ((500, 333), "P")]):
        a = rng.integers(0, 256, (h, w, 3), np.uint8)
        im = Image.fromarray(a).convert(mode) if mode != "P" else Image.fromarray(a).quantize(64)
        paths.append(tmp_path / f"{i}-{w}x{h}-{mode}.png"); im.save(paths[-1])
    for size in (32, 24):
        prep = Preprocess(size, MEAN, STD, classes=CLASSES)
        got = prep([open_rgb(p) for p in paths]).numpy()
        want = np.stack([_recipe_pixels(p, size, MEAN, STD) for p in paths])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert fit_image(Image.open(paths[0]).convert("RGB"), size).size == (size, size)


def test_predict_s_pixels_match_the_standalone_recipe_for_phone_photos(tmp_path):
    """A big JPEG (decoded at a reduced scale) and a sideways one (EXIF Orientation 6) reach the model as chapter 17's
    standalone scripts prepare them — written out here independently with Pillow's own draft and exif_transpose."""
    from PIL import ImageOps
    from gpuvision_nb.imagefile import decode_pixels
    smooth = np.random.default_rng(1).integers(0, 256, (30, 40, 3), np.uint8)
    big = Image.fromarray(smooth).resize((1200, 900), Image.BICUBIC)
    exif = Image.Exif(); exif[0x0112] = 6
    big.save(tmp_path / "big.jpg", quality=90); big.rotate(90, expand=True).save(tmp_path / "side.jpg", quality=90, exif=exif)
    def recipe(path, size):
        im = Image.open(path); im.draft(None, (size, size))
        return _recipe_pixels(ImageOps.exif_transpose(im), size, MEAN, STD)
    for size in (32, 100):
        prep = Preprocess(size, MEAN, STD, classes=CLASSES)
        paths = [tmp_path / "big.jpg", tmp_path / "side.jpg"]
        pixels, errors = decode_pixels(paths, size)
        assert errors == [None, None]
        np.testing.assert_allclose(prep.from_pixels(pixels).numpy(), np.stack([recipe(p, size) for p in paths]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("int8", [False, True])
def test_a_safetensors_export_alone_is_enough(world, tmp_path, int8):
    "The description travels inside the file (safetensors metadata): without its manifest it still loads and predicts."
    from safetensors import safe_open
    model = world["model"]
    if int8:
        with quiet_ao(): model = quantize(SeedCNN(n_classes=3).eval(), "dynamic")
    f = save_model(model, tmp_path / "alone.safetensors", PREP)
    with safe_open(str(f), "pt") as g: assert json.loads(g.metadata()["gpuvision"])["classes"] == CLASSES
    pngs = sorted((world["pics"] / "b").glob("*.png"))
    ref = [r.probs for r in predict_files(f, pngs, device="cpu")]
    Path(f"{f}.manifest.json").unlink()
    back, prep = load_model(f, "cpu")
    assert prep == PREP and [r.probs for r in predict_files(f, pngs, device="cpu")] == ref
    with pytest.raises(CheckpointError, match="signature can't be checked"): load_model(f, "cpu", key=b"k")


def test_an_old_pair_without_embedded_description_still_loads(world, tmp_path):
    from gpuvision_nb.deploy import model_meta
    from gpuvision_nb.robust import export_model
    f = export_model(world["model"], tmp_path / "old.safetensors", model_meta(world["model"], PREP))   # as save_model wrote it before
    assert load_model(f, "cpu")[1] == PREP
    Path(f"{f}.manifest.json").unlink()
    with pytest.raises(CheckpointError, match="no manifest .* and no description inside"): load_model(f, "cpu")


@pytest.mark.parametrize("channels", [3, 1])
def test_preprocess_equals_the_training_preprocess_at_the_model_size(channels):
    "Regression guard for Preprocess's one-stack batch path: bit-identical to folderdata.preprocess for images at its size."
    from gpuvision_nb.folderdata import preprocess
    rng = np.random.default_rng(1)
    ims = [Image.fromarray(rng.integers(0, 256, (24, 24, 3), np.uint8)).convert(m) for m in ("RGB", "L", "RGB", "P")]
    mean, std = (MEAN, STD) if channels == 3 else ((0.5,), (0.25,))
    prep = Preprocess(24, mean, std, in_channels=channels, classes=CLASSES)
    assert torch.equal(prep(ims), preprocess(ims, 24, mean, std, channels))


def test_cli_predict_reads_paths_from_stdin(world, tmp_path, gpuvision):
    "PATH '-': one process for any number of files, paths one per line or NUL-separated (odd bytes kept)."
    good = sorted(world["pics"].rglob("[0-9].png"))
    odd = tmp_path / os.fsdecode(b"caf\xe9 1.png"); shutil.copy(good[0], odd)
    for sep in (b"\n", b"\0"):
        listing = sep.join(os.fsencode(p) for p in [*good[:2], odd]) + sep
        r = gpuvision("predict", world["file"], "-", "--device", "cpu", stdin=listing)
        lines = r.stdout.encode("utf-8").decode("utf-8").splitlines()
        assert r.returncode == 0 and len(lines) == 3 and lines[2].startswith(str(tmp_path / "caf\\xe9 1.png")), r.stderr
    r = gpuvision("predict", world["file"], "-", stdin=b"")
    assert r.returncode == 2 and "no paths on stdin" in r.stderr and "Traceback" not in r.stderr


# ---- make mutate (deploy, sample 30, seed 0): the survivors it named ---------------------------------------------

@pytest.mark.parametrize("kw, msg", [(dict(size=0), "size must be a positive int"),
                                     (dict(mean=(float("nan"),) * 3), "mean and std must be finite numbers, std > 0; got \\[nan"),
                                     (dict(std=(0.2, 0.2, 0.0)), "std > 0")])
def test_preprocess_refuses_bad_fields_by_name(kw, msg):
    with pytest.raises(ValueError, match=msg): Preprocess(**{**dict(size=8, mean=(0.5,) * 3, std=(0.2,) * 3), **kw})


def test_preprocess_of_things_that_are_not_images_says_so():
    prep = Preprocess(size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
    with pytest.raises(TypeError, match="images must be PIL images"): prep([1, 2])


def test_place_defaults_to_the_best_device_in_eval_mode():
    from gpuvision_nb.deploy import _place
    from gpuvision_nb.device import get_device
    m = _place(SeedCNN().train())
    assert not m.training and next(m.parameters()).device.type == get_device("auto").type


def test_export_to_a_folder_says_to_name_the_file(world, tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder: name the file"):
        export(world["file"], tmp_path, "torchscript")


# ---- gpuvision predict's start-up and CPU path (issue 22 item 8) -------------------------------------------------

def test_image_extensions_hold_torchvisions_list_written_out():
    """`data` does not import torchvision at start-up (tests/test_cli.py::test_help_and_predict_import_only_what_they_need
    checks that), so its extension list is written out: it must still hold torchvision's."""
    import torchvision
    from gpuvision_nb.data import IMAGE_EXTENSIONS, TORCHVISION_EXTENSIONS
    assert set(TORCHVISION_EXTENSIONS) == set(torchvision.datasets.folder.IMG_EXTENSIONS) <= set(IMAGE_EXTENSIONS)


def test_cpu_predict_equals_the_model_and_leaves_it_as_it_is(tmp_path):
    """On the CPU predict_files runs a channels-last copy of the model, CPU_CHUNK images at a time: the same classes
    and (to float rounding) probabilities as the model itself on the whole batch; the caller's model is not changed."""
    from gpuvision_nb.deploy import CPU_CHUNK
    torch.manual_seed(0)
    net, prep = SeedCNN(n_classes=5, widths=(8, 8, 16), hidden=16).eval(), Preprocess(32, MEAN, STD, classes=list("abcde"))
    rng = np.random.default_rng(0)
    files = []
    for i in range(CPU_CHUNK * 2 + 3):                       # more than two chunks, the last one short
        files.append(tmp_path / f"{i:03d}.png"); Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(files[-1])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    got = list(predict_files(net, files, batch_size=len(files), top_k=2, device="cpu", preprocess=prep, workers=0))
    with torch.no_grad(): p = net(prep([Image.open(f) for f in files])).softmax(1)
    top = p.topk(2, dim=1)
    assert [r.labels for r in got] == [[prep.classes[i] for i in row] for row in top.indices.tolist()]
    np.testing.assert_allclose([r.probs for r in got], top.values.numpy(), rtol=1e-5)
    assert all(v.is_contiguous() and torch.equal(v, before[k]) for k, v in net.state_dict().items())


# ---- make mutate (deploy, seed 7, sample 40): survivors killed --------------------------------------------------
def test_export_refusals_name_the_option_and_the_way_out(world, tmp_path):
    "mutmut: the '--out' label of the overlap refusal and the advice of the exists refusal could change unnoticed."
    from gpuvision_nb.files import OutputOverlapError
    with pytest.raises(OutputOverlapError, match=r"^--out .* is the input"): export(world["file"], world["file"], overwrite=True)
    out = tmp_path / "m.safetensors"; out.write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"already exists: choose another --out, or pass --overwrite \(export\(\.\.\., "
                       r"overwrite=True\)\) to replace it once the new file is complete$"):
        export(world["file"], out)
    assert out.read_bytes() == b"old"


def test_a_description_unlike_its_weights_lists_three_differences(world, tmp_path):
    "mutmut: the error's list of differing tensors cut at 3 (`diff[:3]` → `diff[:4]`) survived."
    src = tmp_path / "model.safetensors"
    shutil.copy(world["file"], src)
    manifest = json.loads(Path(f"{world['file']}.manifest.json").read_text())
    manifest["meta"]["model"]["kwargs"]["widths"] = [8, 8, 8]                    # same outputs, other conv shapes
    Path(f"{src}.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"describes another model than its weights model\.safetensors hold") as e:
        load_model(src, "cpu")
    n, listed = str(e.value).split(" tensor(s) differ: ")
    assert int(n.rsplit("(", 1)[1]) >= 4 and listed.count("; ") == 2                 # 3 of the ≥ 4 named


def test_predict_files_goes_on_after_a_bad_file_inside_a_batch(world):
    "mutmut: `continue` → `break` after a bad file (the rest of its batch lost) survived: the bad file was last in its batch."
    good = sorted(world["pics"].rglob("[0-9].png"))
    bad = world["pics"] / "a" / "1b-broken.png"
    preds = list(predict_files(world["file"], [good[0], bad, good[1], good[2]], batch_size=8, device="cpu", progress=False))
    assert [Path(p.path).name for p in preds] == [good[0].name, bad.name, good[1].name, good[2].name]
    assert [p.error is not None for p in preds] == [False, True, False, False]


def test_decode_threads_are_named(world, monkeypatch):
    "mutmut: `thread_name_prefix='decode'` dropped survived (the threads' name is what a profiler or py-spy shows)."
    import threading
    import gpuvision_nb.deploy as D
    names, real = [], D.decode_batch
    monkeypatch.setattr(D, "decode_batch", lambda chunk, prep: names.append(threading.current_thread().name) or real(chunk, prep))
    good = sorted(world["pics"].rglob("[0-9].png"))
    list(predict_files(world["file"], good, batch_size=2, device="cpu", workers=2, progress=False))
    assert len(names) == 3 and all(n.startswith("decode") for n in names), names


def test_onnx_export_without_onnx_says_what_to_install(world, tmp_path, monkeypatch):
    "mutmut: the 'ONNX export' wording of the missing-package error could change unnoticed."
    monkeypatch.setitem(sys.modules, "onnxscript", None)                           # import onnxscript → ImportError
    with pytest.raises(ExportError, match=r"^ONNX export needs the onnxscript package\(s\): pip install onnxscript$"):
        export_onnx(world["model"], tmp_path / "m.onnx", PREP)


def test_torchscript_export_hides_only_torch_jit_deprecation(world, tmp_path):
    "mutmut: the filter for torch.jit's FutureWarning could stop matching unnoticed (torch 2.14 warns on torch.jit.script)."
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        export_torchscript(world["model"], tmp_path / "m.pt", PREP)


def test_image_files_takes_a_file_reached_through_two_folders_once(tmp_path):
    "mutmut: one `seen` dict for all the folders given → a fresh one per folder (hard-linked duplicates kept) survived."
    from gpuvision_nb.deploy import image_files
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    os.link(tmp_path / "a" / "x.png", tmp_path / "b" / "y.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b" / "z.png")
    files, notes = image_files([tmp_path / "a", tmp_path / "b"])
    assert files == [tmp_path / "a" / "x.png", tmp_path / "b" / "z.png"] and any("y.png" in n for n in notes), (files, notes)


# ---- make mutate (deploy, seed 1): the survivors listed in mutants/deploy/survivors.diff -------------------------
def test_a_signed_model_loads_with_its_key_only(world, tmp_path):
    "mutmut (seed 1): the signature computed over `None` instead of the manifest survived: no test loaded a signed file."
    f = save_model(world["model"], tmp_path / "signed.safetensors", PREP, key=b"secret")
    model, prep = load_model(f, "cpu", key=b"secret")
    assert prep == PREP and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), world["model"].state_dict().values()))
    with pytest.raises(CheckpointError, match="is not signed with this key"): load_model(f, "cpu", key=b"other")


def test_escape_text_passes_private_use_characters_through():
    "mutmut (seed 1): the surrogate range's end 0xDFFF → 57344 (U+E000 escaped) survived."
    from gpuvision_nb.deploy import escape_text
    assert escape_text("\ue000a\udfff") == "\ue000a\\udfff"


def test_a_safetensors_export_records_its_source(world, tmp_path):
    "mutmut (seed 1): export's `source` dropped (or None) in the written description survived."
    out = export(world["file"], tmp_path / "copy.safetensors")
    meta = json.loads(Path(f"{out}.manifest.json").read_text())["meta"]
    assert meta["source"] == str(world["file"])


def test_model_meta_names_the_sizes_that_disagree():
    "mutmut (seed 1): the model's image size dropped from the refusal survived."
    from gpuvision_nb.deploy import model_meta
    with pytest.raises(ValueError, match=r"takes 3-channel images of 32×32, but the Preprocess makes 3-channel 16×16 ones"):
        model_meta(SeedCNN(n_classes=3), Preprocess(16, MEAN, STD, classes=CLASSES))


def test_preprocess_refuses_a_mean_or_a_std_of_the_wrong_length():
    "mutmut (seed 1): `or` → `and` (one wrong length accepted) survived."
    for mean, std in (((0.5,), STD), (MEAN, (0.25,))):
        with pytest.raises(ValueError, match="mean and std need 3 value"): Preprocess(32, mean, std)


def test_default_export_path_of_a_run_a_checkpoint_and_a_file(world, tmp_path):
    "mutmut (seed 1): default_export_path had no test."
    from gpuvision_nb.deploy import default_export_path
    save_checkpoint(tmp_path / "run" / "checkpoints", world["model"], epoch=1, meta={"model": "seed", "classes": CLASSES})
    run = tmp_path / "run"
    for src in (run, run / "checkpoints", run / "checkpoints" / "epoch-0001"):
        assert default_export_path(src, "onnx") == run / "model.onnx"
    assert default_export_path(tmp_path / "m.safetensors", "torchscript") == tmp_path / "m.pt"


def test_time_predict_times_the_files(world):
    "mutmut (seed 1): time_predict had no test (its `files` argument could be dropped)."
    from gpuvision_nb.deploy import time_predict
    good = sorted(world["pics"].rglob("[0-9].png"))
    t = time_predict(world["file"], good, device="cpu", batch_size=2, min_run_time=0.01)
    assert t.items == len(good) and t.params["images"] == len(good) and t.median > 0


def test_a_folder_holding_only_links_to_listed_images_is_not_empty(tmp_path):
    """A folder whose only image is a hard link to one already listed from another folder is not 'without images':
    the image is taken once and the note says why the second name is left out."""
    from gpuvision_nb.deploy import image_files
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir(); (tmp_path / "c").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    os.link(tmp_path / "a" / "x.png", tmp_path / "b" / "y.png")
    files, notes = image_files([tmp_path / "a", tmp_path / "b"])
    assert files == [tmp_path / "a" / "x.png"]
    assert any(str(tmp_path / "b" / "y.png") in n and "counted once" in n for n in notes), notes
    with pytest.raises(ValueError, match=r"c holds no image files"): image_files([tmp_path / "a", tmp_path / "c"])


def test_early_batches_are_taken_in_order_and_never_misassigned(world):
    """`decoded_batches(early=...)`: done and running futures are used; the first one not started (and every one
    after it, even if it started meanwhile: a race) is decoded here; a failed one is decoded here. Same batches
    as without, in the same order."""
    from concurrent.futures import Future
    from gpuvision_nb.deploy import decoded_batches
    from gpuvision_nb.imagefile import decode_pixels, image_files
    files = image_files(world["pics"])[0]
    plain = list(decoded_batches(files, PREP, batch_size=2, workers=1))
    def done(chunk, fail=False):
        f = Future(); f.set_running_or_notify_cancel()
        f.set_exception(OSError("process died")) if fail else f.set_result(decode_pixels(chunk, PREP.size, PREP.in_channels))
        return f
    chunks = [files[i:i + 2] for i in range(0, len(files), 2)]
    wrong = Future(); wrong.set_running_or_notify_cancel(); wrong.set_result(decode_pixels(chunks[0], 32, 3))   # chunk 0's pixels
    for early in ([done(chunks[0]), Future(), wrong],                    # pending, then one that "started" late: never used
                  [done(chunks[0], fail=True), done(chunks[1])],         # a process died on the first
                  [done(c) for c in chunks],                            # all done elsewhere
                  []):
        for workers in (0, 2):
            got = list(decoded_batches(files, PREP, 2, workers, early))
            assert [c for c, _, _ in got] == [c for c, _, _ in plain]
            for (_, x, e), (_, y, f) in zip(got, plain):
                assert (x is None and y is None) or torch.equal(x, y)
                assert [str(a) for a in e] == [str(b) for b in f]
    assert early == [] and wrong.done() and not wrong.cancelled()


def test_predict_into_a_pipe_whose_reader_left_is_status_1_and_quiet(world, tmp_path):
    "`gpuvision predict ... | head`: the reader leaves early; predict stops with status 1, no traceback, nothing on stderr."
    for i in range(300):                                   # ~20 KB of results: more than stdout's buffer, so a print fails
        Image.fromarray(np.full((32, 32, 3), i % 256, np.uint8)).save(tmp_path / f"{i:03d}.png")
    p = subprocess.Popen([sys.executable, "-m", "gpuvision_nb.cli", "predict", str(world["file"]), str(tmp_path), "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                                       # the reader is gone before the first line
    err = p.stderr.read().decode(); p.wait(timeout=300)
    assert p.returncode == 1 and err == "", err


# --- mutants of tools/mutate.py deploy --sample 28 --seed 305 (93 %) ---

def test_a_torchscript_file_carries_its_description_and_a_folder_target_is_an_export_error(world, tmp_path):
    "The description inside the TorchScript file (extra file 'gpuvision.json') is model_meta's; a write failure is an ExportError."
    import json
    from gpuvision_nb.deploy import model_meta
    extra = {"gpuvision.json": ""}
    torch.jit.load(export_torchscript(world["model"], tmp_path / "m.pt", PREP), _extra_files=extra)
    assert json.loads(extra["gpuvision.json"]) == json.loads(json.dumps(model_meta(world["model"], PREP)))
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(ExportError, match="folder.pt"): export_torchscript(world["model"], tmp_path / "folder.pt", PREP)


# --- mutants of the unseen sample deploy seed 405 (85 %, after the seed-305 tests) ---

def test_time_predict_runs_on_the_models_device_and_records_its_settings(world, monkeypatch):
    "predict_files stubbed: each timed run is asked for the device the model sits on; the params name the settings."
    import gpuvision_nb.deploy as D
    devices = []
    monkeypatch.setattr(D, "predict_files", lambda model, files, bs, k, dev, prep, workers, progress: devices.append(dev) or iter(()))
    t = D.time_predict(world["model"], [Path("a.png")] * 3, device="cpu", batch_size=2, workers=2, preprocess=PREP, min_run_time=0.001)
    assert devices and set(devices) == {torch.device("cpu")}
    assert t.params == {"batch": 2, "workers": 2, "images": 3}
    assert t.label == "predict · 2 decode thread(s)"        # mutmut (seed 918): `label or …` → `label and …` survived


def test_preprocess_of_a_uint8_tensor_normalises_with_its_mean_and_std():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(PREP(x), (x.float() / 255 - mean) / std, rtol=1e-5, atol=1e-5)   # a few float32 ulps of values < 3: the two formulas round differently


def test_onnx_export_hides_torchs_own_deprecations_but_not_others(world, tmp_path, monkeypatch):
    """torch 2.11's exporter warns 'isinstance(treespec, LeafSpec) is deprecated' (attributed to copyreg) on every
    export: in the rehearsal on torch 2.11 / Python 3.12 it failed chapter 17's checked export cell, and `gpuvision export`
    printed it to users, who can't act on it. Injected here (torch 2.14 no longer warns) beside a warning of another
    module, which must still be shown."""
    import warnings
    real = torch.onnx.export
    def noisy(*a, **k):
        warnings.warn_explicit("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, "copyreg.py", 99, module="copyreg")
        warnings.warn_explicit("torch internals", DeprecationWarning, "x.py", 1, module="torch.export._trace")
        warnings.warn_explicit("the user's model says so", FutureWarning, "mine.py", 1, module="mine")
        return real(*a, **k)
    monkeypatch.setattr(torch.onnx, "export", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_onnx(world["model"], tmp_path / "m.onnx", PREP)
    assert [str(w.message) for w in caught if "LeafSpec" in str(w.message) or "torch internals" in str(w.message)] == []
    assert "the user's model says so" in [str(w.message) for w in caught]


@pytest.mark.parametrize("kind", ["notes", "run's metrics.json", "csv"])
def test_export_overwrite_replaces_an_earlier_model_file_never_another_file(world, tmp_path, kind):
    """`gpuvision export RUN --format onnx --out RUN/metrics.json --overwrite` (a typo, --overwrite added after the
    'already exists' refusal) replaced the run's metrics.json — or a user's notes or spreadsheet — by a model, and
    said 'wrote'. --overwrite replaces an earlier model file (of any of the three formats) only."""
    name, data = {"notes": ("notes.pt", b"my notes"), "run's metrics.json": ("metrics.json", b'{"history": []}'),
                  "csv": ("table.csv", b"path,split\n")}[kind]
    (tmp_path / name).write_bytes(data)
    status, _, err = cli_in_process("export", world["file"], "--format", "torchscript", "--out", tmp_path / name, "--overwrite")
    assert status == 2 and "is not a model file" in err and len(err.strip().splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_bytes() == data


def test_export_overwrite_replaces_each_format_of_model_file(world, tmp_path):
    "What --overwrite may replace: a safetensors, TorchScript or ONNX file (here: one format over another's file)."
    from gpuvision_nb.files import check_replaceable
    ts = export(world["file"], tmp_path / "a.pt", "torchscript")
    assert check_replaceable(ts, "model") == ts and check_replaceable(world["file"], "model") == world["file"]
    onnx_head = tmp_path / "b.onnx"; onnx_head.write_bytes(b"\x08\x08\x12\x07pytorch")    # ModelProto: ir_version first
    assert check_replaceable(onnx_head, "model") == onnx_head
    import zipfile
    with zipfile.ZipFile(tmp_path / "sheet.xlsx", "w") as z: z.writestr("[Content_Types].xml", "<Types/>")   # a zip, no model
    with pytest.raises(FileExistsError, match="is not a model file"): check_replaceable(tmp_path / "sheet.xlsx", "model")
    assert export(world["file"], ts, "torchscript", overwrite=True) == ts


def test_export_to_a_path_with_a_tilde_writes_into_the_home_folder(world, tmp_path, monkeypatch):
    "`export RUN --out=~/m.pt` wrote ./~/m.pt and said 'wrote ~/m.pt' (see test_files_faults: every writer)."
    home, work = tmp_path / "home", tmp_path / "work"; home.mkdir(); work.mkdir()
    monkeypatch.setenv("HOME", str(home)); monkeypatch.chdir(work)
    status, stdout, err = cli_in_process("export", world["file"], "--format", "torchscript", "--out=~/m.pt")
    assert status == 0 and stdout == f"wrote {home / 'm.pt'}\n" and (home / "m.pt").is_file() and list(work.iterdir()) == [], err


def test_onnx_export_without_the_onnx_package_says_what_to_install(world, tmp_path, monkeypatch):
    "mutmut (seed 918): _need('onnx', 'onnxscript') → _need('onnxscript') survived: onnx was never missing in a test."
    import importlib
    import gpuvision_nb.deploy as D
    real = importlib.import_module
    monkeypatch.setattr(D.importlib, "import_module", lambda m, *a: (_ for _ in ()).throw(ImportError(m)) if m == "onnx" else real(m, *a))
    with pytest.raises(D.ExportError, match=r"^ONNX export needs the onnx package\(s\): pip install onnx$"):
        D.export_onnx(world["model"], tmp_path / "m.onnx", PREP)
    assert not (tmp_path / "m.onnx").exists()


def test_predict_loads_the_model_on_the_device_given_by_device(world, gpuvision):
    "mutmut (cli, seed 919): cmd_predict's load_model(args.model, None) — 'auto': GPUVISION_DEVICE, not --device — survived."
    good = str(sorted(world["pics"].rglob("[0-9].png"))[0])
    r = gpuvision("predict", world["file"], good, "--device", "cpu", "--no-progress", GPUVISION_DEVICE="cuda")
    assert r.returncode == 0 and r.stdout.startswith(good + "\t"), r.stderr
