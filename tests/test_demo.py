"Tests for gpuvision_nb.demo: the report folder, bad arguments, and Ctrl-C leaving a partial report."
import json
from pathlib import Path

import pytest
import torch

import gpuvision_nb.demo as demo
from gpuvision_nb.bench import time_fn
from gpuvision_nb.data import MEAN, STD, GPULoader

STAGE_KEYS = {"train": {"epochs", "test_acc", "val_acc", "history", "images_per_second", "classes"},
              "devices": {"timings", "speedup", "recorded_gpu", "recorded_gpu_train_loops"},
              "amp": {"timings", "speedup"},
              "prune": {"amount", "test_acc", "bytes", "bytes_fp32", "params", "timings", "speedup"},
              "quantize": {"method", "engine", "bytes", "bytes_fp32", "test_acc", "test_acc_fp32", "timings", "speedup"}}


def tiny_loaders(batch_size, device):
    "Shapes-like loaders of 48 random images (4 classes, not the default 10: the model's size shows the count) instead of the real 10,000."
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.arange(48) % 4
    mk = lambda train: GPULoader(x, y, batch_size=16, shuffle=train, augment=train, device=device)
    return mk(True), mk(False), mk(False), [f"c{i}" for i in range(4)]


CALLS = {}   # what the quick run asked of the measuring functions the fixture shortens: {function: [(args, kwargs)]}


def recording(name, fn):
    "`fn`, recording each call's arguments in CALLS[name] first."
    def rec(*a, **kw): CALLS.setdefault(name, []).append((a, kw)); return fn(*a, **kw)
    return rec


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    "One quick demo on tiny data with shortened timings: the real stage code, in a few seconds."
    real_tt = demo.train_throughput
    CALLS.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "shapes_loaders", tiny_loaders)
        mp.setattr(demo, "train_throughput", recording("train_throughput",
                   lambda name, dev, **kw: real_tt(name, dev, **{**kw, "batch_size": 2, "steps": 1, "min_run_time": 1e-3})))
        mp.setattr(demo, "time_inference", recording("time_inference",
                   lambda m, batch, device, label, min_run_time: time_fn(
                       m.eval(), torch.randn(2, 3, 32, 32), label=label, device=device, items=2, unit="img", warmup=0,
                       min_repeats=1, min_run_time=1e-3)))
        for name in ("fit", "finetune", "quantize"): mp.setattr(demo, name, recording(name, getattr(demo, name)))
        out = tmp_path_factory.mktemp("demo") / "report"
        summary = demo.run_demo(out, device="cpu", quick=True, progress=False)
    return out, summary


def measured_with_the_quick_config(s):
    """The quick config's batch sizes, run times and batch counts reach the measurements (the fixture then shortens
    them further), the model has the data's 4 classes, and training runs on the demo's device."""
    cfg, cpu = demo.DEMO["quick"], torch.device("cpu")
    step = dict(batch_size=cfg["step_batch"], steps=3, warmup=1, min_run_time=cfg["min_run_time"])
    assert [(a, kw) for a, kw in CALLS["train_throughput"]] == [
        (("seed", cpu), step), (("seed", cpu), {"precision": "fp32", **step}), (("seed", cpu), {"precision": "bf16", **step})]
    b = cfg["infer_batch"]
    assert [(a[1:], kw) for a, kw in CALLS["time_inference"]] == [
        ((b, "cpu"), {"label": f"{name} · b{b}", "min_run_time": cfg["min_run_time"]})
        for name in ("fp32", "pruned 50%", "fp32", "int8 static")]
    [(fit_a, fit_kw)] = CALLS["fit"]
    assert fit_kw["device"] == cpu and fit_kw["seed"] == 0 and fit_kw["progress"] is False
    [(ft_a, ft_kw)] = CALLS["finetune"]
    from gpuvision_nb.train import RECIPES
    assert len(ft_a[1]) == cfg["finetune_batches"] and ft_kw == {"epochs": 1, "lr": RECIPES["seed"]["lr"] / 2, "device": cpu, "seed": 0}
    [(q_a, q_kw)] = CALLS["quantize"]
    assert q_a[1] == "static" and q_kw["n_batches"] == cfg["calib_batches"]
    train = s["stages"]["train"]["result"]
    assert train["classes"] == ["c0", "c1", "c2", "c3"]
    assert train["params"] == sum(p.numel() for p in demo.get_model("seed", 4).parameters())
    assert train["recipe"] == {**RECIPES["seed"], "epochs": cfg["epochs"]}      # the seed recipe, the quick epochs


def test_report_files(quick_run):
    out, summary = quick_run
    assert sorted(p.name for p in out.iterdir()) == ["loss_curves.png", "report.md", "speed_bars.png", "summary.json"]
    s = json.loads((out / "summary.json").read_text())
    assert {"date", "device", "device_name", "cpu", "torch", "quick", "status", "seconds", "stages", "out"} <= set(s)
    assert s["status"] == "done" and s["torch"] == torch.__version__ and s["device"] == "cpu"
    assert list(s["stages"]) == list(demo.STAGES_ORDER)
    for name, keys in STAGE_KEYS.items():
        st = s["stages"][name]
        assert st["status"] == "done" and st["seconds"] > 0, name
        assert keys <= set(st["result"]), (name, keys - set(st["result"]))
    assert 0 <= s["stages"]["train"]["result"]["test_acc"] <= 1
    assert s["stages"]["quantize"]["result"]["bytes"] < s["stages"]["quantize"]["result"]["bytes_fp32"]
    assert s["stages"]["prune"]["result"]["bytes"] < s["stages"]["prune"]["result"]["bytes_fp32"]
    md = (out / "report.md").read_text()
    for name in demo.STAGES_ORDER: assert f"## {name} — " in md
    assert "loss_curves.png" in md and "speed_bars.png" in md and "Accuracy and size" in md
    assert "Partial report" not in md and " · quick run" in md.splitlines()[2]
    assert not list(out.glob("*.tmp*"))                      # no temporary files left behind
    # mutmut charges the module fixture's work (every stage) to its first user, this test, and runs only this one on
    # a stage's mutants: so the checks of the stages' results are made here
    numbers_are_the_summarys(out, s)
    measured_with_the_quick_config(s)


def numbers_are_the_summarys(out, s):
    "Percentages, epochs and speed-ups in the report are the measured ones, and each table is a table when rendered."
    md, st = (out / "report.md").read_text(), {k: v["result"] for k, v in s["stages"].items()}
    assert st["train"]["epochs"] == demo.DEMO["quick"]["epochs"] == len(st["train"]["history"])
    assert st["train"]["images_per_second"] == pytest.approx(st["train"]["train_images"] / st["train"]["train_seconds"])
    h, q = st["train"]["history"], demo.DEMO["quick"]
    assert st["train"]["train_images"] == sum(e["images"] for e in h) == q["epochs"] * 48          # 3 batches < train_batches
    assert st["train"]["train_seconds"] == sum(e["seconds"] for e in h) and st["train"]["val_acc"] == h[-1]["val_acc"]
    assert st["train"]["test_images"] == q["eval_batches"] * 16 and f"({q['eval_batches'] * 16} images)" in md   # quick: 2 batches
    assert st["prune"]["amount"] == 0.5 and st["prune"]["params"] < st["train"]["params"] / 2   # half the channels: ~1/4 the weights
    assert f"test accuracy **{100 * st['train']['test_acc']:.1f}%**" in md
    for name in ("amp", "prune", "quantize"):                         # the speed-up is the ratio of the timings listed
        t = st[name]["timings"]
        assert st[name]["speedup"] == pytest.approx(t[1]["rate"] / t[0]["rate"]), name
    lines = md.splitlines()
    for a, b in zip(lines, lines[1:]):                                 # a line right after a table would join it
        assert not a.startswith("|") or b.startswith("|") or b == "", (a, b)
    from PIL import Image
    panels = sum(1 for v in st.values() if v.get("timings"))
    assert Image.open(out / "speed_bars.png").height >= 100 * panels     # about an inch or more per panel


def test_no_gpu_never_invents_a_number(quick_run):
    _, s = quick_run
    dev = s["stages"]["devices"]["result"]
    if torch.cuda.is_available(): pytest.skip("a GPU is present: both devices are measured")
    assert [t["device"] for t in dev["timings"]] == ["cpu"] and dev["speedup"] is None
    assert dev["recorded_gpu"] and all(r["kind"] == "gpu" for r in dev["recorded_gpu"])   # the project's recorded GPU runs


def replay(summary, **override):
    "Stages that return the quick run's results instantly, with some replaced by `override` functions."
    return {**{n: (lambda ctx, n=n: summary["stages"][n]["result"]) for n in demo.STAGES_ORDER}, **override}


def boom(exc):
    def stage(ctx): raise exc
    return stage


def test_bad_out(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "STAGES", {n: boom(AssertionError("work started")) for n in demo.STAGES_ORDER})
    f = tmp_path / "a-file"; f.write_text("x")
    with pytest.raises(ValueError, match="out=.*existing file"): demo.run_demo(f, progress=False)
    with pytest.raises(ValueError, match="out=.*not writable"): demo.run_demo(f / "below", progress=False)
    with pytest.raises(ValueError, match="out must be a folder path"): demo.run_demo("", progress=False)
    with pytest.raises(ValueError, match="out must be a folder path"): demo.run_demo(3, progress=False)
    assert f.read_text() == "x"


def test_bad_device(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "STAGES", {n: boom(AssertionError("work started")) for n in demo.STAGES_ORDER})
    for bad in ["tpu", "gpu", 3] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"]):
        with pytest.raises(ValueError, match="device="): demo.run_demo(tmp_path / "r", device=bad, progress=False)
    assert not (tmp_path / "r").exists()                     # the device is checked before the folder is made


@pytest.mark.parametrize("stage", ["train", "prune", "quantize"])
def test_ctrl_c_leaves_partial_report(quick_run, tmp_path, monkeypatch, stage):
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary, **{stage: boom(KeyboardInterrupt())}))
    with pytest.raises(KeyboardInterrupt): demo.run_demo(tmp_path / "r", progress=False)
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    i = demo.STAGES_ORDER.index(stage)
    want = ["done"] * i + ["interrupted"] + ["not run"] * (len(demo.STAGES_ORDER) - i - 1)
    assert [v["status"] for v in s["stages"].values()] == want
    assert s["status"] == "interrupted"
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Partial report" in md and f"## {stage} — *interrupted*" in md
    for name in demo.STAGES_ORDER[i + 1:]:
        assert f"## {name} — *not run*" in md and s["stages"][name] == {"status": "not run", "seconds": None, "result": None}
    for name in demo.STAGES_ORDER[:i]: assert f"## {name} — " in md and s["stages"][name]["result"]


def test_error_marks_stage_failed(quick_run, tmp_path, monkeypatch):
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary, amp=boom(RuntimeError("out of memory"))))
    with pytest.raises(RuntimeError, match="out of memory"): demo.run_demo(tmp_path / "r", progress=False)
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["status"] == "failed" and s["stages"]["amp"]["status"].startswith("failed: RuntimeError")
    assert s["stages"]["prune"]["status"] == "not run"


def test_cli_demo_says_where_the_report_is(quick_run, tmp_path, monkeypatch, gpuvision):
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary))
    r = gpuvision("demo", "--out", tmp_path / "r", "--device", "cpu", "--no-progress")
    assert r.returncode == 0 and r.stdout == f"report: {tmp_path / 'r' / 'report.md'}\n" and (tmp_path / "r" / "report.md").is_file()


def test_cli_demo_ctrl_c_is_status_130_and_points_to_the_partial_report(quick_run, tmp_path, monkeypatch, gpuvision):
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary, amp=boom(KeyboardInterrupt())))
    r = gpuvision("demo", "--out", tmp_path / "r", "--device", "cpu", "--no-progress")
    assert r.returncode == 130 and "interrupted; the partial report is in the output folder's report.md" in r.stderr
    assert "Partial report" in (tmp_path / "r" / "report.md").read_text()


def test_a_failed_figure_write_leaves_no_file_and_no_temporary_file(tmp_path, monkeypatch):
    "A report's figure goes through files.write_atomic: a disk that fills mid-write leaves neither the PNG nor a temporary."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    plt.figure(); plt.plot([0, 1])
    with pytest.raises(demo.WriteError, match=r"can't write .*speed_bars\.png: No space left on device"):
        demo._save_fig(tmp_path / "speed_bars.png")
    assert list(tmp_path.iterdir()) == []


def test_default_out_under_runs(quick_run, tmp_path, monkeypatch):
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary))
    monkeypatch.chdir(tmp_path)
    s = demo.run_demo(progress=False)
    out = Path(s["out"])
    assert out.parent == Path("runs") and out.name.startswith("demo-") and (out / "report.md").is_file()


# --- the committed chapter shows the full run, and the GPU run's report is read, not retyped -------------------------

ROOT = Path(__file__).resolve().parents[1]


def _outputs(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            yield "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) + \
                  "".join(o.get("data", {}).get("text/markdown", ""))


def test_chapter_commits_the_full_run_with_a_measured_run_time():
    text = "\n".join(_outputs(ROOT / "nbs" / "16_demo.ipynb"))
    assert "gpuvision demo, full run, on" in text and " s, measured" in text
    assert "quick run" not in text                                  # report.md marks a quick run in its header


def test_recorded_demos(tmp_path):
    assert demo.recorded_demos(tmp_path / "missing") == []
    for name, date in (("b", "2026-02-01"), ("a", "2026-03-01")):
        (tmp_path / name / "demo").mkdir(parents=True)
        (tmp_path / name / "demo" / "summary.json").write_text(json.dumps({"date": date, "quick": False}))
    assert [p.parent.parent.name for p, _ in demo.recorded_demos(tmp_path)] == ["b", "a"]       # oldest first, by date
    (tmp_path / "c" / "demo").mkdir(parents=True); (tmp_path / "c" / "demo" / "summary.json").write_text("{")
    with pytest.raises(demo.RecordError, match="c/demo/summary.json is not a readable demo summary"):
        demo.recorded_demos(tmp_path)


def test_the_projects_gpu_demo_report_is_found():
    runs = demo.recorded_demos()
    assert runs, "nbs/results/gpu-runs/*/demo/summary.json: the imported GPU demo run is missing"
    _, s = runs[-1]
    assert s["device"].startswith("cuda") and not s["quick"] and s["status"] == "done"


# --- what the mutation run of demo (tools/mutate.py demo, seeds 211-212) found untested -------------------------------

def fake_throughput(calls, rates):
    "A `train_throughput` stand-in that records its arguments and returns the next of `rates` (img/s, 10 images a call)."
    it = iter(rates)
    def tt(name, dev, **kw):
        calls.append((name, dev, kw))
        return demo.Timing(f"{name} {kw.get('precision', 'fp32')}", str(dev), 10 / next(it), 0.0, items=10, unit="img")
    return tt


def test_stage_devices_measures_cpu_and_the_gpu_with_the_configured_steps(monkeypatch):
    "On a CUDA device both are timed with the quick config's batch; the speed-up is GPU over CPU; no recorded runs read."
    calls = []
    monkeypatch.setattr(demo, "train_throughput", fake_throughput(calls, [100.0, 700.0]))
    monkeypatch.setattr(demo, "latest_gpu_record", lambda *a: pytest.fail("a GPU run reads no recorded results"))
    monkeypatch.setattr(demo, "headline_rows", lambda *a: pytest.fail("a GPU run reads no recorded results"))
    cfg = demo.DEMO["quick"]
    r = demo.stage_devices({"cfg": cfg, "device": torch.device("cuda", 0)})
    kw = dict(batch_size=cfg["step_batch"], steps=3, warmup=1, min_run_time=cfg["min_run_time"])
    assert calls == [("seed", torch.device("cpu"), kw), ("seed", torch.device("cuda", 0), kw)]
    assert [t["device"] for t in r["timings"]] == ["cpu", "cuda:0"] and [t["rate"] for t in r["timings"]] == [100.0, 700.0]
    assert r["speedup"] == pytest.approx(7.0) and r["recorded_gpu"] == [] and r["recorded_gpu_train_loops"] is None


def test_stage_devices_without_a_gpu_reads_the_recorded_ones(monkeypatch):
    calls, rec = [], demo.Timing("seed fp32", "cuda:0", 0.01, 0.0, items=10, unit="img")
    monkeypatch.setattr(demo, "train_throughput", fake_throughput(calls, [100.0]))
    monkeypatch.setattr(demo, "latest_gpu_record", lambda exp: type("R", (), {"label": f"{exp} on H100", "timings": [rec]})())
    monkeypatch.setattr(demo, "headline_rows", lambda: [{"kind": "gpu", "x": 1}, {"kind": "cpu", "x": 2}])
    r = demo.stage_devices({"cfg": demo.DEMO["full"], "device": torch.device("cpu")})
    assert [c[1] for c in calls] == [torch.device("cpu")] and calls[0][2]["batch_size"] == demo.DEMO["full"]["step_batch"]
    assert r["speedup"] is None and r["recorded_gpu"] == [{"kind": "gpu", "x": 1}]
    assert r["recorded_gpu_train_loops"] == {"where": "train-loops on H100", "timings": [{**rec.to_dict(), "rate": 1000.0}]}


def test_stage_amp_times_fp32_then_bf16_on_the_demo_device(monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "train_throughput", fake_throughput(calls, [200.0, 300.0]))
    cfg, dev = demo.DEMO["full"], torch.device("cpu")
    r = demo.stage_amp({"cfg": cfg, "device": dev})
    kw = dict(batch_size=cfg["step_batch"], steps=3, warmup=1, min_run_time=cfg["min_run_time"])
    assert calls == [("seed", dev, {"precision": "fp32", **kw}), ("seed", dev, {"precision": "bf16", **kw})]
    assert r["speedup"] == pytest.approx(1.5) and [t["label"] for t in r["timings"]] == ["seed fp32", "seed bf16"]


def _summary(**stages):
    "A finished summary with the given stage results (the others not run)."
    st = {n: {"status": "not run", "seconds": None, "result": None} for n in demo.STAGES_ORDER}
    st.update({n: {"status": "done", "seconds": 1.5, "result": r} for n, r in stages.items()})
    return {"date": "2026-01-02T03:04:05+00:00", "device": "cpu", "device_name": "Some CPU", "torch": "2.x",
            "quick": False, "status": "done", "stages": st}


def test_report_md_of_a_cpu_only_run_lists_the_recorded_gpu_results():
    t = [{"label": "seed fp32", "device": "cpu", "rate": 100.0, "unit": "img"}]
    rows = [{"experiment": "train-loops", "cpu": "100 img/s", "gpu": "9 k img/s", "speedup": 90.0, "where": "H100"},
            {"experiment": "matmul", "cpu": "1 TFLOP/s", "gpu": "400 TFLOP/s", "speedup": None, "where": "H200"}]
    md = demo.report_md(_summary(devices={"timings": t, "speedup": None, "recorded_gpu": rows}), bars=False)
    lines = md.splitlines()
    assert lines[2] == "2026-01-02T03:04:05+00:00 · cpu (Some CPU) · torch 2.x"        # no quick-run mark
    assert "## devices — 1.5 s" in lines and "## train — *not run*" in lines
    assert "No GPU here. Newest recorded GPU results (measured elsewhere, not in this run):" in lines
    assert "- train-loops: CPU 100 img/s, GPU 9 k img/s (90x) — H100" in lines
    assert "- matmul: CPU 1 TFLOP/s, GPU 400 TFLOP/s — H200" in lines                 # no speed-up known: none shown
    assert "GPU vs CPU" not in md and "## Speed" not in md
    none = demo.report_md(_summary(devices={"timings": t, "speedup": None, "recorded_gpu": []}), bars=True)
    assert "No GPU here, and no recorded GPU run yet" in none and "![speed bars](speed_bars.png)" in none
    gpu = demo.report_md({**_summary(devices={"timings": t * 2, "speedup": 7.04, "recorded_gpu": []}), "quick": True}, bars=False)
    assert "GPU vs CPU, this run: **7.0x**." in gpu and "No GPU here" not in gpu
    assert gpu.splitlines()[2].endswith("torch 2.x · quick run")


def test_run_demo_passes_progress_and_times_a_failed_stage(quick_run, tmp_path, monkeypatch):
    "progress is on by default and reaches the stages; a failed stage's seconds are its own, not a clock reading."
    _, summary = quick_run
    seen = []
    monkeypatch.setattr(demo, "STAGES", replay(summary, train=lambda ctx: seen.append(ctx["progress"]) or summary["stages"]["train"]["result"],
                                               amp=boom(RuntimeError("out of memory"))))
    with pytest.raises(RuntimeError): demo.run_demo(tmp_path / "r")
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert seen == [True] and 0 <= s["stages"]["amp"]["seconds"] <= s["seconds"] < 60


def _full_summary():
    "A finished GPU run's summary, every stage with round numbers."
    T = lambda label, dev, rate: {"label": label, "device": dev, "rate": rate, "unit": "img"}
    st = {n: {"status": "done", "seconds": 2.0 + i, "result": None} for i, n in enumerate(demo.STAGES_ORDER)}
    st["train"]["result"] = {"epochs": 3, "train_images": 24000, "images_per_second": 1234.5, "val_acc": 0.8765,
                             "test_acc": 0.871, "test_images": 2000}
    st["devices"]["result"] = {"timings": [T("seed fp32", "cpu", 800.0), T("seed fp32", "cuda:0", 40000.0)], "speedup": 50.0,
                               "recorded_gpu": []}
    st["amp"]["result"] = {"timings": [T("seed fp32", "cuda:0", 40000.0), T("seed bf16", "cuda:0", 52000.0)], "speedup": 1.3}
    st["prune"]["result"] = {"timings": [T("fp32 · b256", "cpu", 3000.0), T("pruned 50% · b256", "cpu", 7500.0)], "speedup": 2.5,
                             "acc_before_finetune": 0.31, "test_acc": 0.855, "params": 123456, "bytes": 500000, "bytes_fp32": 2000000}
    st["quantize"]["result"] = {"timings": [T("fp32 · b256", "cpu", 3000.0), T("int8 static · b256", "cpu", 6000.0)],
                                "speedup": 2.0, "engine": "x86", "test_acc": 0.86, "test_acc_fp32": 0.871, "bytes": 520000,
                                "bytes_fp32": 2100000}
    return {"date": "2026-01-02T03:04:05+00:00", "device": "cuda:0", "device_name": "NVIDIA H100", "torch": "2.5.0",
            "quick": False, "status": "done", "stages": st}


FULL_REPORT = """\
# gpuvision demo

2026-01-02T03:04:05+00:00 · cuda:0 (NVIDIA H100) · torch 2.5.0

## train — 2.0 s

3 epoch(s), 24000 images at 1.23 kimg/s: validation accuracy **87.6%**, test accuracy **87.1%** (2000 images).

![loss curves](loss_curves.png)

## devices — 3.0 s

| what | device | speed |
|---|---|---|
| seed fp32 | cpu | 800 img/s |
| seed fp32 | cuda:0 | 40 kimg/s |

GPU vs CPU, this run: **50.0x**.

## amp — 4.0 s

| what | device | speed |
|---|---|---|
| seed fp32 | cuda:0 | 40 kimg/s |
| seed bf16 | cuda:0 | 52 kimg/s |

bf16 vs fp32: **1.30x**.

## prune — 5.0 s

| what | device | speed |
|---|---|---|
| fp32 · b256 | cpu | 3 kimg/s |
| pruned 50% · b256 | cpu | 7.5 kimg/s |

Test accuracy 31.0% right after pruning, **85.5%** after a short fine-tune; 123,456 parameters; CPU inference **2.50x** the unpruned model's.

## quantize — 6.0 s

| what | device | speed |
|---|---|---|
| fp32 · b256 | cpu | 3 kimg/s |
| int8 static · b256 | cpu | 6 kimg/s |

int8 (x86): test accuracy **86.0%** (fp32 87.1%); CPU inference **2.00x** fp32's.

## Accuracy and size

| model | test accuracy | size on disk |
|---|---|---|
| fp32 (trained) | 87.1% | 2.00 MB |
| pruned 50% + fine-tune | 85.5% | 0.50 MB |
| int8 static | 86.0% | 0.52 MB |

## Speed

![speed bars](speed_bars.png)
"""


def test_report_md_of_a_full_run_word_for_word():
    "The whole report of a finished run: header, each stage's sentence and table, the size table, the speed bars."
    assert demo.report_md(_full_summary(), bars=True) == FULL_REPORT


def test_report_md_size_table_of_a_partial_run():
    """Without the prune stage the fp32 size comes from the quantize stage; with neither, it is a dash; with no
    finished stage there is no table."""
    s = _full_summary()
    s["stages"]["prune"] = {"status": "failed: RuntimeError: boom", "seconds": 0.5, "result": None}
    s["status"] = "failed"
    md = demo.report_md(s, bars=False)
    assert "> **Partial report** (failed): unfinished stages are marked below." in md.splitlines()
    assert "## prune — *failed: RuntimeError: boom*" in md
    table = md[md.index("## Accuracy and size"):].split("\n")
    assert table[4:] == ["| fp32 (trained) | 87.1% | 2.10 MB |", "| int8 static | 86.0% | 0.52 MB |", ""]
    for n in ("devices", "amp", "quantize"): s["stages"][n] = {"status": "not run", "seconds": None, "result": None}
    md = demo.report_md(s, bars=False)
    assert md.split("\n")[-2:] == ["| fp32 (trained) | 87.1% | — |", ""]
    s["stages"]["train"] = {"status": "interrupted", "seconds": 0.5, "result": None}
    assert "Accuracy and size" not in demo.report_md(s, bars=False)


def test_recorded_demos_outside_a_checkout(monkeypatch):
    "No checkout (an installed package): no results folder, so no recorded demos — not an error."
    monkeypatch.setattr(demo, "repo_results_dir", lambda: None)
    assert demo.recorded_demos() == []


def test_run_demo_seconds_are_durations(quick_run, tmp_path, monkeypatch):
    import time
    _, summary = quick_run
    monkeypatch.setattr(demo, "STAGES", replay(summary))
    t0 = time.perf_counter(); s = demo.run_demo(tmp_path / "r", progress=False); wall = time.perf_counter() - t0
    stages = [v["seconds"] for v in s["stages"].values()]
    assert all(0 <= x for x in stages) and sum(stages) <= s["seconds"] <= wall


def test_first_batches_limits_each_epoch_and_forwards_set_epoch():
    "fit calls set_epoch on its loader; a quick run's FirstBatches must pass it on, or the shuffle would never change."
    class Spy(list):
        epochs = []
        def set_epoch(self, e): self.epochs.append(e)
    fb = demo.FirstBatches(Spy(range(5)), 3)
    fb.set_epoch(2)
    assert Spy.epochs == [2] and len(fb) == 3 and list(fb) == [0, 1, 2] and list(fb) == [0, 1, 2]
    assert len(demo.FirstBatches([1, 2], 3)) == 2 and list(demo.FirstBatches([1, 2])) == [1, 2]
    demo.FirstBatches([1, 2]).set_epoch(1)                  # a plain list has no set_epoch: nothing to forward


def test_check_out_messages_name_the_folder(tmp_path):
    f = tmp_path / "a-file"; f.write_text("x")
    with pytest.raises(ValueError) as e: demo.check_out(f)
    assert str(e.value) == f"run_demo: out={str(f)!r} is an existing file, not a folder"
    (tmp_path / "notes").mkdir(); (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match=rf"^run_demo: out={str(tmp_path / 'notes')!r} holds other files \(todo.txt, …\)"):
        demo.check_out(tmp_path / "notes")
    with pytest.raises(ValueError, match=rf"^run_demo: out={str(f / 'below')!r} is not writable: "): demo.check_out(f / "below")


def test_a_partial_reports_notice_is_a_paragraph_of_its_own():
    "A blank line ends the '> Partial report' quote; without it Markdown would pull the next heading into the quote."
    s = {**_full_summary(), "status": "interrupted"}
    lines = demo.report_md(s, bars=False).split("\n")
    i = lines.index("> **Partial report** (interrupted): unfinished stages are marked below.")
    assert i == 4 and lines[i - 1] == lines[i + 1] == "" and lines[i + 2].startswith("## train — ")


def test_speed_bars_give_each_timed_stage_a_panel_of_its_own_height(tmp_path):
    """speed_bars.png: 9 × (1.4 per panel + 0.4) inches at 100 dpi, one panel per finished stage with timings — no blank
    band (tools/mutate.py demo --seed 904); nothing to draw: False and no file."""
    from PIL import Image
    from gpuvision_nb.bench import Timing
    ts = [demo._timing(Timing(f"seed {p}", "cpu", 0.1, 0.0, [0.1], r, "img", {})) for p, r in (("fp32", 100.0), ("bf16", 150.0))]
    s = _summary(train={"epochs": 1}, amp={"timings": ts}, prune={"timings": ts}, quantize={"timings": ts})
    assert demo.speed_bars(s, tmp_path / "bars.png")                   # train has no timings: 3 panels
    assert Image.open(tmp_path / "bars.png").size == (900, round(100 * (1.4 * 3 + 0.4)))
    assert not demo.speed_bars(_summary(), tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_a_quick_runs_evaluation_batches_hold_every_class(tmp_path, monkeypatch):
    """`gpuvision demo --quick` reported a test accuracy of 0.0% (and 0.0% after pruning and int8): its 2 evaluation
    batches were the first of a split stored class by class, 3 of the 10 shapes. A quick run's validation and test
    batches must hold every class, each image with its own label."""
    y = torch.arange(48) // 12                                     # class by class, as the shapes' splits are stored
    x = (y * 60).to(torch.uint8).view(-1, 1, 1, 1).expand(48, 3, 8, 8).clone()    # an image's pixels say its class
    mk = lambda train: GPULoader(x, y, batch_size=16, shuffle=train, augment=False, device="cpu")
    monkeypatch.setattr(demo, "shapes_loaders", lambda bs, dev: (mk(True), mk(False), mk(False), [f"c{i}" for i in range(4)]))
    monkeypatch.setattr(demo, "get_model", lambda name, n: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64, n)))
    ctx = {"device": torch.device("cpu"), "cfg": {**demo.DEMO["quick"], "train_batches": 1, "eval_batches": 1},
           "progress": False, "out": tmp_path}
    demo.stage_train(ctx)
    for part in ctx["data"][1:]:                                   # validation, test: 1 batch of 16 each
        xb, yb = torch.cat([b[0] for b in part]), torch.cat([b[1] for b in part])
        assert len(yb) == 16 and torch.bincount(yb, minlength=4).tolist() == [4, 4, 4, 4], yb
        assert torch.allclose(xb[:, 0, 0, 0], (yb * 60 / 255 - MEAN[0]) / STD[0], atol=1e-5)


@pytest.mark.parametrize("out", ["runs/demo-x", None], ids=["given", "default"])
def test_a_report_that_cant_be_written_leaves_no_empty_folder(tmp_path, monkeypatch, out):
    """`gpuvision demo --out D` on a full disk trained for a minute, then said "can't write D/summary.json: No space
    left on device" and left D (and runs/) behind, empty: litter the user did not ask for, found on a real full tmpfs.
    The error is still the write's; the folders it made go."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "STAGES", {n: boom(demo.WriteError("can't write loss_curves.png: No space left on device"))
                                         for n in demo.STAGES_ORDER})
    def full(path, *a, **k): raise demo.WriteError(f"can't write {path}: No space left on device")
    monkeypatch.setattr(demo, "write_atomic", full)
    with pytest.raises(demo.WriteError, match="summary.json: No space left"): demo.run_demo(out, progress=False)
    assert list(tmp_path.iterdir()) == []
