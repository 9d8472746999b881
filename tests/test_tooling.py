"The repository's own tooling: notebook copies for nbval, and the README generator."
import importlib.util, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return mod


def test_renumber_keeps_outputs_and_numbers_code_cells():
    nbcopy = _load("nbcopy")
    nb = {"cells": [{"cell_type": "markdown", "source": "x"},
                    {"cell_type": "code", "execution_count": None, "outputs": [{"output_type": "stream", "text": "hi"}]},
                    {"cell_type": "code", "execution_count": None,
                     "outputs": [{"output_type": "execute_result", "execution_count": None, "data": {}}]}]}
    out = nbcopy.renumber(nb)
    assert [c.get("execution_count") for c in out["cells"]] == [None, 1, 2]
    assert out["cells"][2]["outputs"][0]["execution_count"] == 2 and out["cells"][1]["outputs"][0]["text"] == "hi"


def test_nbcopy_skips_scratch_notebooks(tmp_path):
    nbcopy = _load("nbcopy")
    src = tmp_path / "src"; src.mkdir()
    for name in ("01_a.ipynb", "_scratch.ipynb"):
        (src / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    nbcopy.main(str(src), str(tmp_path / "dst"))
    assert [p.name for p in (tmp_path / "dst").iterdir()] == ["01_a.ipynb"]


def test_every_notebook_is_clean_and_error_free():
    for p in sorted((ROOT / "nbs").glob("*.ipynb")):
        nb = json.loads(p.read_text())
        for c in nb["cells"]:
            if c["cell_type"] != "code": continue
            assert c.get("execution_count") is None, f"{p.name}: run nbdev_clean"
            assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), f"{p.name}: stored error output"


def test_no_notebook_code_uses_a_relative_import():
    """`from .x import y` works in the exported module but fails when the notebook itself runs (a notebook has no
    package): chapters import `gpuvision_nb.x`, which nbdev_export keeps working in the module."""
    import re
    bad = [f"{p.name} cell {i}: {line.strip()}" for p in sorted((ROOT / "nbs").glob("*.ipynb"))
           for i, c in enumerate(json.loads(p.read_text())["cells"]) if c["cell_type"] == "code"
           for line in "".join(c["source"]).splitlines() if re.match(r"\s*from \.", line)]
    assert not bad, "relative imports in notebooks:\n" + "\n".join(bad)


def test_no_notebook_or_test_leaves_a_temporary_folder_behind():
    """`tempfile.mkdtemp()` makes a folder nothing removes: a chapter run a few dozen times (the suite runs every one on
    each change) filled a CI machine's disk. Examples use `files.scratch_dir` (removed when the process exits),
    `TemporaryDirectory` or pytest's `tmp_path`; `mkdtemp(dir=...)` inside one of those is fine."""
    import re
    call = re.compile(r"\bmkdtemp\((?![^)]*\bdir=)")
    sources = [(p.name, i, "".join(c["source"])) for p in sorted((ROOT / "nbs").glob("*.ipynb"))
               for i, c in enumerate(json.loads(p.read_text())["cells"])
               if c["cell_type"] == "code" and not "".join(c["source"]).startswith("#| export")]
    sources += [(p.name, 0, p.read_text()) for p in sorted((ROOT / "tests").glob("*.py")) if p.name != "test_tooling.py"]
    bad = [f"{name} cell {i}: {line.strip()}" for name, i, src in sources for line in src.splitlines()
           if call.search(line) and "real(" not in line]
    assert not bad, "temporary folders nothing removes:\n" + "\n".join(bad)


def test_render_drops_hidden_cells_directives_and_widgets(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    render = _load("render")
    nb = new_notebook(cells=[new_markdown_cell("# T\n> summary"), new_code_cell("#| hide\nsecret()"),
                             new_code_cell("#| export\n# NBVAL_CHECK_OUTPUT\nshown()", outputs=[
                                 new_output("stream", name="stdout", text="kept\n"),
                                 new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {}, "text/plain": "bar"})])])
    p = tmp_path / "x.ipynb"; nbformat.write(nb, p)
    text, _ = render.to_markdown(p, "x_files", "")
    assert "secret" not in text and "#|" not in text and "NBVAL" not in text and "shown()" in text and "kept" in text
    assert "bar" not in text and render.title(nb) == ("T", "summary")


# --- tools/import_gpu_run.py: GPU outputs in, CI's CPU checks intact ------------------------------------------------

def _nb(check_out: str, ignore_out: str):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    cells = [new_markdown_cell("# t"),
             new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(n)", outputs=[new_output("stream", name="stdout", text=check_out)]),
             new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(t)", outputs=[new_output("stream", name="stdout", text=ignore_out)])]
    return nbformat.writes(new_notebook(cells=cells))


def _gpu_run(tmp_path, notebooks: dict, records: dict, gpu="NVIDIA H200", errors=()):
    "A fake $OUT of .gpu/run-notebooks.sh: executed notebooks, records, and its log."
    import tarfile
    out, stage = tmp_path / "out", tmp_path / "stage"
    (stage / "nbs").mkdir(parents=True); (stage / "res").mkdir(); out.mkdir()
    for name, text in notebooks.items(): (stage / "nbs" / name).write_text(text)
    for name, rec in records.items(): (stage / "res" / name).write_text(json.dumps(rec))
    with tarfile.open(out / "executed-nbs.tar.gz", "w:gz") as t: t.add(stage / "nbs", arcname="nbs")
    with tarfile.open(out / "results.tar.gz", "w:gz") as t: t.add(stage / "res", arcname=".")
    log = {"torch": "2.11.0", "gpu": gpu, "notebooks": {f"nbs/{n}": {"seconds": 1.0, "error": "Boom" if n in errors else None}
                                                         for n in notebooks}}
    (out / "run-notebooks.json").write_text(json.dumps(log))
    return out


def test_import_gpu_run_keeps_ci_checks_and_takes_only_gpu_records(tmp_path, capsys):
    from gpuvision_nb.bench import Timing, record
    imp = _load("import_gpu_run")
    root = tmp_path / "repo"; (root / "nbs" / "results").mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb", "c.ipynb"): (root / "nbs" / name).write_text(_nb("10\n", "1.0 s on cpu\n"))
    cpu = record("exp", [Timing("x", "cpu", 1.0, 0.0, [1.0], 10, "img")], "t", folder=tmp_path).to_dict()
    gpu = {**cpu, "provenance": {**cpu["provenance"], "gpus": [{"index": 0, "name": "NVIDIA H200"}]}}
    out = _gpu_run(tmp_path, {"a.ipynb": _nb("10\n", "2 ms on cuda\n"),      # same check output: imported
                              "b.ipynb": _nb("11\n", "2 ms on cuda\n"),      # a check output differs: refused
                              "c.ipynb": _nb("10\n", "")},                    # failed on the GPU: kept
                   {"exp--nvidia-h200.json": gpu, "exp--cpu.json": cpu, "junk--cpu.json": {"not": "a record"}},
                   errors=("c.ipynb",))
    assert imp.main([str(out), "--root", str(root), "--dry-run"]) == 1
    assert "2 ms" not in (root / "nbs" / "a.ipynb").read_text() and not list((root / "nbs" / "results").iterdir())
    assert imp.main([str(out), "--root", str(root)]) == 1
    text = capsys.readouterr().out
    assert "2 ms on cuda" in (root / "nbs" / "a.ipynb").read_text()
    kept_b = [c.get("outputs") for c in json.loads((root / "nbs" / "b.ipynb").read_text())["cells"]]   # not the text: ids are random hex
    assert "".join(kept_b[1][0]["text"]) == "10\n" and "nbs/b.ipynb: NBVAL_CHECK_OUTPUT differs" in text
    assert "nbs/c.ipynb: failed on the GPU (Boom)" in text
    assert [p.name for p in (root / "nbs" / "results").iterdir()] == ["exp--nvidia-h200.json"]
    assert "skipped   exp--cpu.json" in text and "record junk--cpu.json: invalid" in text


def test_import_gpu_run_merges_stream_chunks_like_nbval():
    import nbformat
    imp = _load("import_gpu_run")
    one, two = nbformat.reads(_nb("a\nb\n", ""), 4), nbformat.reads(_nb("a\n", ""), 4)
    two.cells[1].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="b\n"))   # same text, two chunks
    assert imp.check_cells(one, two) == []
    two.cells[1].outputs[-1]["name"] = "stderr"                                                   # a different stream
    assert len(imp.check_cells(one, two)) == 1


def test_import_gpu_run_bad_input(tmp_path, capsys):
    imp = _load("import_gpu_run")
    assert imp.main([str(tmp_path)]) == 2 and "missing" in capsys.readouterr().err
    out = _gpu_run(tmp_path, {}, {}, gpu=None)
    assert imp.main([str(out)]) == 2 and "had no GPU" in capsys.readouterr().err


def test_chapters_pass_the_gpu_lint():
    """The chapters hold no line the GPU-only failure classes catch (`.numpy()` on a possibly-CUDA tensor, comparisons
    of device tensors, CPU record names in checks) unless marked `# gpu-ok: why` (tools/gpu_lint.py)."""
    lint = _load("gpu_lint")
    found = [f for p in sorted((ROOT / "nbs").glob("*.ipynb")) for f in lint.lint_notebook(p)]
    assert not found, "\n".join(found)


def test_need_space_stops_early_naming_the_path_and_the_way_out(tmp_path, capsys):
    need = _load("need_space")
    where = tmp_path / "not" / "yet" / "venv"                       # not made yet: its nearest parent is measured
    free = need.free_gib(where)
    assert free == need.free_gib(tmp_path) > 0
    assert need.main([str(where), "0"]) == 0 and capsys.readouterr().err == ""
    assert need.main([str(where), str(free * 4 + 1)]) == 1
    err = capsys.readouterr().err
    assert str(where) in err and f"{free * 4 + 1:g} GiB needed" in err and "VENV=" in err
    assert need.main([]) == 2


def test_others_busy_subtracts_the_notebooks_own_processes():
    ex = _load("execute")
    assert abs(ex.OthersBusy.others_between((10.0, 4.0), (11.5, 4.9)) - 0.6) < 1e-9   # machine 1.5 s, the tree 0.9 s
    assert ex.OthersBusy.others_between((10.0, 4.0), (10.5, 4.5)) == 0.0           # all of it the notebook's
    assert ex.OthersBusy.others_between((10.0, 4.0), (10.2, 4.8)) == 0.0           # a reaped child's late time: not negative


def test_others_busy_sees_a_process_outside_the_notebooks_tree():
    "A busy loop that is not a descendant (the shell that started it exits) counts; its CPU time adds to `others`."
    import subprocess, time
    ex = _load("execute")
    loop = f"{sys.executable} -c 'import time\nt = time.time()\nwhile time.time() - t < 4: pass'"
    pid = int(subprocess.run(["sh", "-c", f"{loop} >/dev/null 2>&1 & echo $!"], capture_output=True, text=True).stdout)
    try:
        with ex.OthersBusy(interval=0.1) as load: time.sleep(1.5)
    finally:
        subprocess.run(["kill", str(pid)], capture_output=True)
    assert load.others > 0.5 * 1.5, load.others                  # the loop held at least half a core throughout
    assert 0 < load.share <= 1


def test_every_notebook_was_executed_on_a_quiet_machine():
    """Committed outputs hold timings, and a busy machine skews them all (stored runs once showed a transfer epoch 12x
    slower than the same model's, and bf16 0.06x fp32 on a CPU with bf16 units): tools/execute.py records how much of
    the CPU other processes used while a notebook ran, and none may exceed its BUSY."""
    ex = _load("execute")
    for p in sorted((ROOT / "nbs").glob("*.ipynb")):
        run = json.loads(p.read_text(encoding="utf-8"))["metadata"].get("gpuvision", {}).get("run", {})
        assert "others_busy" in run, f"{p.name}: executed without the machine's load measured: run tools/execute.py on it"
        assert run["others_busy"] <= ex.BUSY, f"{p.name}: executed while other processes used {run['others_busy']:.0%} of the CPU"


def test_every_hand_made_mutation_still_applies_to_its_module_and_has_tests():
    """tools/mutations.py replaces one text in gpuvision_nb/<module>.py and runs the tests named beside it. When code
    moved to new modules (runs in A6, files in A7), 12 of its 44 texts were no longer found: reported as 'PATTERN x0'
    among the results and counted as not caught, while 'caught N of 44' went on as a score. Each text must occur
    exactly once in its module, change it, and name test files that exist; each -k word must name a test in them
    (a -k that selects nothing makes pytest exit 5, which is no catch: `OUTCOME`)."""
    import re
    mutations = _load("mutations")
    for mod, what, old, new, tests in mutations.M:
        assert (ROOT / "gpuvision_nb" / f"{mod}.py").read_text(encoding="utf-8").count(old) == 1 and old != new, (mod, what)
        files, _, k = tests.partition(" -k ")
        assert files.split() and all((ROOT / f).is_file() for f in files.split()), (what, files)
        names = [n for f in files.split() for n in re.findall(r"^def (test_\w+)", (ROOT / f).read_text(encoding="utf-8"), re.M)]
        assert all(any(w in n for n in names) for w in re.findall(r"\w+", k) if w not in ("and", "or", "not")), (what, k)
    assert [s for code, s in sorted(mutations.OUTCOME.items())] == ["MISSED", "caught", "NO TESTS RAN"]


def test_mutmut_has_tests_for_every_module():
    "tools/mutate.py MODULE runs TESTS[MODULE]: every module of the package has an entry, and every file named exists."
    mutate = _load("mutate")
    assert set(mutate.TESTS) == {p.stem for p in (ROOT / "gpuvision_nb").glob("*.py") if not p.stem.startswith("_")}
    assert [f for files in mutate.TESTS.values() for f in files if not (ROOT / f).is_file()] == []


def test_a_hand_made_mutation_is_no_catch_where_its_tests_fail_unmutated(monkeypatch, capsys):
    """tools/mutations.py runs each test selection on the package as it is first: a test that fails in the scratch
    tree anyway (it reads a file the tree lacks, say) used to count every mutation it ran for as caught."""
    mutations = _load("mutations")
    monkeypatch.setattr(mutations, "pytest_status", lambda tree, tests: (1, "1 failed"))
    assert mutations.main({0}) == 1
    out = capsys.readouterr().out
    assert f"0 {mutations.M[0][0]} {mutations.M[0][1]} FAILS UNMUTATED" in out and "caught 0 of 1" in out
