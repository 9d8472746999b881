"Tests for gpuvision_nb.demo: the report folder, bad arguments, and Ctrl-C leaving a partial report."
import json
from pathlib import Path

import pytest
import torch

import gpuvision_nb.demo as demo
from gpuvision_nb.bench import time_fn
from gpuvision_nb.data import GPULoader

STAGE_KEYS = {"train": {"epochs", "test_acc", "val_acc", "history", "images_per_second", "classes"},
              "devices": {"timings", "speedup", "recorded_gpu", "recorded_gpu_train_loops"},
              "amp": {"timings", "speedup"},
              "prune": {"amount", "test_acc", "bytes", "bytes_fp32", "params", "timings", "speedup"},
              "quantize": {"method", "engine", "bytes", "bytes_fp32", "test_acc", "test_acc_fp32", "timings", "speedup"}}


def tiny_loaders(batch_size, device):
    "Shapes-like loaders of 48 random images (10 classes) instead of the real 10,000."
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.arange(48) % 10
    mk = lambda train: GPULoader(x, y, batch_size=16, shuffle=train, augment=train, device=device)
    return mk(True), mk(False), mk(False), [f"c{i}" for i in range(10)]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    "One quick demo on tiny data with shortened timings: the real stage code, in a few seconds."
    real_tt = demo.train_throughput
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "shapes_loaders", tiny_loaders)
        mp.setattr(demo, "train_throughput",
                   lambda name, dev, **kw: real_tt(name, dev, **{**kw, "batch_size": 2, "steps": 1, "min_run_time": 1e-3}))
        mp.setattr(demo, "time_inference",
                   lambda m, batch, device, label, min_run_time: time_fn(
                       m.eval(), torch.randn(2, 3, 32, 32), label=label, device=device, items=2, unit="img", warmup=0,
                       min_repeats=1, min_run_time=1e-3))
        out = tmp_path_factory.mktemp("demo") / "report"
        summary = demo.run_demo(out, device="cpu", quick=True, progress=False)
    return out, summary


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


def test_report_numbers_are_the_summarys(quick_run):
    "Percentages, epochs and speed-ups in the report are the measured ones, and each table is a table when rendered."
    out, s = quick_run
    md, st = (out / "report.md").read_text(), {k: v["result"] for k, v in s["stages"].items()}
    assert st["train"]["epochs"] == demo.DEMO["quick"]["epochs"] == len(st["train"]["history"])
    assert st["train"]["images_per_second"] == pytest.approx(st["train"]["train_images"] / st["train"]["train_seconds"])
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
    "A report's figure goes through bench.write_atomic: a disk that fills mid-write leaves neither the PNG nor a temporary."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.setattr("os.fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    plt.figure(); plt.plot([0, 1])
    with pytest.raises(demo.RecordError, match=r"can't write .*speed_bars\.png: No space left on device"):
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
