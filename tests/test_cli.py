"The `gpuvision` console script, run as a user would: a subprocess."
import json, os, shutil, subprocess, sys

import pytest
import torch

EXE = shutil.which("gpuvision") or os.path.join(os.path.dirname(sys.executable), "gpuvision")


def run(*args, **env):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def test_info_text_and_json():
    r = run("info")
    assert r.returncode == 0 and "torch_threads" in r.stdout
    r = run("info", "--json")
    rep = json.loads(r.stdout)
    assert rep["torch"] == torch.__version__ and "gpus" in rep


def test_bench_quick_writes_a_record(tmp_path):
    out = tmp_path / "sub" / "bench.json"
    r = run("bench", "--quick", "--device", "cpu", "--min-run-time", "0.02", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "matmul 512" in r.stdout and str(out) in r.stdout
    rec = json.loads(out.read_text())
    assert rec["experiment"] == "bench" and len(rec["timings"]) == 4 and rec["provenance"]["what"].startswith("gpuvision bench")


def test_bench_default_goes_to_results_env(tmp_path):
    r = run("bench", "--quick", "--device", "cpu", "--min-run-time", "0.02", GPUVISION_RESULTS=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bench--cpu.json").exists()


@pytest.mark.parametrize("args, msg", [
    (["bench", "--device", "tpu"], "unknown device 'tpu'"),
    (["bench", "--out", "/dev/null/x.json"], "not a writable folder"),
])
def test_bad_arguments_give_one_line_and_status_2(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""                                          # failed before measuring anything


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu():
    r = run("bench", "--device", "cuda")
    assert r.returncode == 2 and "torch sees no CUDA GPU" in r.stderr


def test_bad_env_device():
    r = run("bench", "--quick", GPUVISION_DEVICE="quantum")
    assert r.returncode == 2 and "GPUVISION_DEVICE" in r.stderr


def test_usage_errors():
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2


def test_data_then_train_then_report(tmp_path):
    data = tmp_path / "shapes"
    r = run("data", "shapes", "--out", str(data), "--n-per-class", "12", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert len(list(data.rglob("*.png"))) == 120 and "content hash" in r.stdout
    r = run("data", "shapes", "--out", str(data), "--n-per-class", "12")        # never overwrites a dataset
    assert r.returncode == 2 and str(data) in r.stderr
    out = tmp_path / "run"
    r = run("train", "--data", str(data), "--epochs", "1", "--device", "cpu", "--out", str(out), "--no-progress",
            GPUVISION_RESULTS=str(tmp_path / "results"))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    for key in ("val_acc", "test_acc", "train_seconds", "images_per_second", "device_name", "classes", "per_class_acc",
                "confusion", "world_size", "model", "mean", "std", "settings", "data"):
        assert key in m, key
    assert m["epochs"] == 1 and len(m["classes"]) == 10 and (out / "checkpoints" / "latest").exists()
    assert m["world_size"] == 1 and len(m["confusion"]) == 10 and set(m["per_class_acc"]) == set(m["classes"])
    assert (out / "confusion.png").stat().st_size > 1000 and "wrote" in r.stdout
    r = run("report", "--chart", str(tmp_path / "chart.png"), GPUVISION_RESULTS=str(tmp_path / "results"))
    assert r.returncode == 0 and (tmp_path / "chart.png").stat().st_size > 1000


@pytest.mark.parametrize("args, msg", [
    (["train", "--data", "/no/such/folder", "--epochs", "1"], "/no/such/folder is not an existing folder"),
    (["train", "--model", "vgg"], "argument --model: invalid choice: 'vgg'"),
    (["train", "--precision", "fp8", "--epochs", "1"], "argument --precision: invalid choice: 'fp8'"),
    (["train", "--resume", "--overwrite"], "exclude each other"),
])
def test_train_bad_arguments(tmp_path, args, msg):
    r = run(*args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_demo_bad_arguments(tmp_path):
    f = tmp_path / "file"; f.write_text("")
    for args, msg in ((["demo", "--out", str(f)], "out"), (["demo", "--device", "tpu"], "tpu")):
        r = run(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_help_and_predict_import_only_what_they_need(tmp_path):
    "`gpuvision --help` and `predict` start without video (PyAV), the demo, AMP, reports or torch.distributed."
    from PIL import Image
    from gpuvision_nb.data import MEAN, STD
    from gpuvision_nb.deploy import Preprocess, save_model
    from gpuvision_nb.models import SeedCNN
    model = save_model(SeedCNN(n_classes=2, widths=(4, 4, 4), hidden=8).eval(), tmp_path / "m.safetensors",
                       Preprocess(32, MEAN, STD, classes=["a", "b"]))
    Image.new("RGB", (40, 24), (200, 10, 10)).save(tmp_path / "x.png")
    heavy = ("gpuvision_nb.video", "gpuvision_nb.demo", "gpuvision_nb.amp", "gpuvision_nb.report", "gpuvision_nb.distributed",
             "av", "torch.distributed.run")
    code = ("import contextlib, io, sys\nfrom gpuvision_nb.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try: status = main(sys.argv[1:])\n    except SystemExit as e: status = e.code\n"
            f"print(status, [m for m in {heavy!r} if m in sys.modules])")
    for args in (["--help"], ["predict", str(model), str(tmp_path / "x.png"), "--device", "cpu"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
        assert r.stdout.strip() == "0 []", (args, r.stdout, r.stderr)
