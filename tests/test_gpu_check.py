"tools/gpu_check.py: order, budget and timeouts, packing after every notebook, the table, the record — on tiny notebooks."
import importlib.util, json, sys, tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec); sys.modules["gpu_check"] = mod; spec.loader.exec_module(mod); return mod


gc = _load()


def _nb(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [], "source": s}
             for i, s in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "py",
                    "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_select_puts_the_chapters_that_failed_on_the_gpu_first(tmp_path):
    for n in ("00_tour", "01_device", "02_bench", "07_amp", "index", "_scratch"): _nb(tmp_path / f"{n}.ipynb")
    assert [p.stem for p in gc.select([], tmp_path)] == ["02_bench", "00_tour", "01_device", "07_amp", "index"]
    assert [p.stem for p in gc.select(["07", "01_device.ipynb"], tmp_path)] == ["01_device", "07_amp"]
    with pytest.raises(gc.CheckError, match="no notebook '99'"): gc.select(["99"], tmp_path)


class FakeClock:
    def __init__(self): self.t = 0.0
    def __call__(self): return self.t


def test_check_budgets_timeouts_packs_after_every_notebook_and_records(tmp_path):
    nbs = [_nb(tmp_path / f"{n}.ipynb") for n in ("01_a", "02_b", "03_c", "04_d")]
    clock, seen = FakeClock(), []

    def runner(src, dst, timeout):
        seen.append((src.name, timeout))
        dst.parent.mkdir(parents=True, exist_ok=True); dst.write_text(src.read_text())
        if src.name.startswith("02"):          # the second one fails; a later one must still run and be packed
            clock.t += 5; return gc.Result(src.name, "FAIL", 5, "CellExecutionError: boom")
        # packing happened after each earlier notebook: the tarball holds every notebook executed so far
        with tarfile.open(tmp_path / "out" / "executed-nbs.tar.gz") as t:
            assert set(t.getnames()) - {"nbs"} == {f"nbs/{n}" for n, _ in seen[:-1]}
        if src.name.startswith("03"): clock.t += timeout; return gc.Result(src.name, "timeout", timeout, "timed out")
        clock.t += 10; return gc.Result(src.name, "ok", 10)

    out, res = tmp_path / "out", tmp_path / "res"
    out.mkdir(); res.mkdir()
    tarfile.open(out / "executed-nbs.tar.gz", "w:gz").close()
    results = gc.check(nbs, out, budget=90, timeout=60, device="cpu", results_dir=res, runner=runner,
                       clock=clock, log=lambda s: None)
    # per-notebook timeout = min(--timeout, time left); the 4th could not start with < MIN_LEFT s left
    assert seen == [("01_a.ipynb", 60), ("02_b.ipynb", 60), ("03_c.ipynb", 60)]
    assert [r.status for r in results] == ["ok", "FAIL", "timeout", "skipped"]
    log = json.loads((out / "run-notebooks.json").read_text())
    assert log["notebooks"]["nbs/02_b.ipynb"]["error"] == "CellExecutionError: boom" and log["device"] == "cpu"
    from gpuvision_nb.bench import load_record
    rec = load_record(res / "gpu-check--cpu.json")
    assert [(t.label, t.params["status"]) for t in rec.timings] == [("01_a.ipynb", "ok"), ("02_b.ipynb", "FAIL"),
                                                                    ("03_c.ipynb", "timeout")]
    assert rec.provenance["torch"] and rec.provenance["date"]
    with tarfile.open(out / "results.tar.gz") as t: assert "./gpu-check--cpu.json" in t.getnames()
    text = gc.table(results, "CPU")
    assert "1/4 passed in 75 s" in text and "02_b.ipynb  FAIL" in text and "skipped" in text


def test_run_notebook_executes_fails_and_kills_on_timeout(tmp_path):
    ok = _nb(tmp_path / "01_ok.ipynb", "x = 1 + 1", "print(x)")
    bad = _nb(tmp_path / "02_bad.ipynb", "raise ValueError('nope')")
    slow = _nb(tmp_path / "03_slow.ipynb", "import time; time.sleep(60)")
    r = gc.run_notebook(ok, tmp_path / "out" / ok.name, 60)
    assert r.ok, r.error
    assert json.loads((tmp_path / "out" / ok.name).read_text())["cells"][1]["outputs"][0]["text"] in ("2\n", ["2\n"])
    assert json.loads(ok.read_text())["cells"][1]["outputs"] == []          # the source notebook is untouched
    r = gc.run_notebook(bad, tmp_path / "out" / bad.name, 60)
    assert r.status == "FAIL" and "nope" in r.error
    r = gc.run_notebook(slow, tmp_path / "out" / slow.name, 4)
    assert r.status == "timeout" and r.seconds < 30


def test_main_refuses_cpu_without_allow_cpu_in_one_line(capsys, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gc.main(["01"]) == 2
    assert "no CUDA device here" in capsys.readouterr().err
    assert gc.main(["--allow-cpu", "--budget", "0"]) == 2
