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
