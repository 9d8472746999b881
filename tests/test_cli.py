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
