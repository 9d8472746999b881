"""The course website (tools/website.py, course-site/conf.py): it builds from the stored notebooks, every page has a title,
every internal link and anchor resolves, nothing is loaded from outside the site, and the stored widgets, maths and
API links are there. The checks themselves are tested on small hand-made sites, so that they can fail."""
import html, json, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbwidgets, website as gvsite  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "The site, built once for this module (about a minute on a 2-core CPU)."
    out = tmp_path_factory.mktemp("site") / "_site"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "website.py"), "build", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_site_passes_its_checks(built):
    assert gvsite.check(built) == []


def test_every_chapter_is_a_page_titled_by_its_chapter(built):
    for nb in gvsite.notebooks():
        page = built / f"{nb.stem}.html"
        assert page.exists(), page
        title = gvsite.title_of(json.loads(nb.read_text(encoding="utf-8")))
        parsed = gvsite.Page(); parsed.feed(page.read_text(encoding="utf-8"))
        plain = lambda t: t.replace("`", "").replace("\u2019", "'").replace("\u2018", "'")      # code marks, smart quotes
        assert plain(parsed.title).startswith(plain(title)), (page.name, parsed.title)


def test_page_titles_are_distinct_and_say_what_the_page_is(built):
    """A browser tab, a bookmark and a search hit show the <title>: no two pages share one, and none is the site's
    name twice (the front page was "gpuvision-nb — gpuvision-nb")."""
    titles = {}
    for page in built.rglob("*.html"):
        if "_static" in page.relative_to(built).parts: continue
        title = html.unescape(re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S).group(1)).strip()
        titles.setdefault(title, []).append(page.relative_to(built).as_posix())
    assert not {t: p for t, p in titles.items() if len(p) > 1}
    assert not [t for t in titles if len({part.strip() for part in t.split("\u2014")}) < len(t.split("\u2014"))]
    assert "gpuvision-nb: Learn GPU-accelerated deep learning for computer vision by building it" in titles


def test_headings_one_h1_and_no_skipped_level(built):
    """Each page's article (what a screen reader's heading list shows) has one h1 and never goes down two levels at
    once (## then ####): a notebook's Markdown, a show_doc output or the API pages could."""
    bad = []
    for page in sorted(built.glob("*.html")) + sorted((built / "api").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        start = html.find('<article class="bd-article">')                  # (the search page has no article)
        article = html[start:html.find("</article>")] if start >= 0 else html[html.find("<main"):html.find("</main>")]
        levels = [int(n) for n in re.findall(r"<h([1-6])[\s>]", article)]
        skips = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
        if levels.count(1) != 1 or skips: bad.append((page.name, levels.count(1), skips))
    assert not bad, bad


def test_index_links_to_built_pages_and_the_api(built):
    page = gvsite.Page(); page.feed((built / "index.html").read_text(encoding="utf-8"))
    assert not [u for u in page.links if ".ipynb" in u and not u.startswith(("notebooks/", "https://"))]   # but downloads, Colab
    local = {u.split("#")[0] for u in page.links if not u.startswith(("http", "#"))}
    assert {"01_device.html", "06_train.html", "api/index.html"} <= local, sorted(local)


def test_pages_have_no_prompts_or_quarto_junk(built):
    for page in [built / "06_train.html", built / "08_prune.html", built / "13_distributed.html"]:
        text = page.read_text(encoding="utf-8")
        assert 'target="_blank" style=' not in text and "{target=" not in text, page.name
        assert "In [" not in text, page.name


def test_stored_widgets_show_their_state(built):
    train = (built / "06_train.html").read_text(encoding="utf-8")
    assert "<progress" in train and "fit: 100%" in train
    prune = (built / "08_prune.html").read_text(encoding="utf-8")
    assert prune.count("type='range'") + prune.count('type="range"') >= 2
    assert "VBox(children=" not in prune


def test_maths_and_search_are_bundled(built):
    assert (built / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (built / "searchindex.js").exists()
    page = gvsite.Page(); page.feed((built / "01_device.html").read_text(encoding="utf-8"))
    assert any(u.endswith("mathjax/tex-chtml.js") for u in page.loads)


def test_build_leaves_no_jupyter_execute_next_to_the_site(built):
    "MyST-NB's intermediate jupyter_execute/ used to land next to the output folder: in the repository for `make html`."
    assert not (built.parent / "jupyter_execute").exists()
    assert not (ROOT / "jupyter_execute").exists()


def test_every_chart_has_alt_text_and_a_caption(built):
    hashed, uncaptioned, n = [], [], 0
    for page in sorted(built.glob("[0-9A]*.html")):
        html = page.read_text(encoding="utf-8")
        for m in re.finditer(r"<figure[^>]*>\s*(?:<a [^>]*>\s*)?<img([^>]*)>\s*(?:</a>\s*)?<figcaption>(.*?)</figcaption>", html, re.S):
            n += 1
            alt = re.search(r'alt="([^"]*)"', m.group(1)).group(1)
            if re.fullmatch(r"[0-9a-f]{16,}(\.\w+)?", alt) or len(alt.split()) < 2: hashed.append((page.name, alt))
            if "Figure " not in m.group(2): uncaptioned.append(page.name)
        imgs = re.findall(r"<img[^>]*_images/[^>]*>", html)
        assert len(imgs) == len(re.findall(r"<figure[^>]*>\s*(?:<a [^>]*>\s*)?<img", html)), f"{page.name}: an output image outside a figure"
    assert n >= 30 and not hashed and not uncaptioned, (n, hashed[:3], uncaptioned[:3])


def test_chapter_bar_copy_buttons_and_downloads(built):
    for nb in gvsite.notebooks():
        html = (built / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert 'class="gv-chapter-bar"' in html and f'href="notebooks/{nb.name}"' in html, nb.name
        assert (nb.stem == "index") == ('class="gv-index-link"' not in html), nb.name
        assert (built / "notebooks" / nb.name).read_bytes() == nb.read_bytes()
        assert "colab.research.google.com/github/" in html and "mybinder.org/v2/gh/" in html
    page = gvsite.Page(); page.feed((built / "06_train.html").read_text(encoding="utf-8"))
    assert any("clipboard.min.js" in u for u in page.loads) and any("gv-site.js" in u for u in page.loads)


def _fake_sphinx(pages, during=None):
    """A stand-in for sphinx-build: writes `pages` (and .buildinfo, and MyST-NB's jupyter_execute/ next to its output
    folder) one by one, creating folders as Sphinx does, calling `during()` after the first page."""
    def run(cmd, **kw):
        html = Path(cmd[-1])
        for i, name in enumerate([*pages, ".buildinfo"]):
            html.mkdir(parents=True, exist_ok=True); (html / name).write_text(name)
            if i == 0 and during: during()
        (html.parent / "jupyter_execute").mkdir(exist_ok=True)
        return subprocess.CompletedProcess(cmd, 0)
    return run


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    "tools/website.py building into tmp_path/_build with a fast stage() and the returned fake sphinx-build."
    monkeypatch.setattr(gvsite, "ROOT", tmp_path); monkeypatch.setattr(gvsite, "BUILD", tmp_path / "_build", raising=False)
    monkeypatch.setattr(gvsite, "stage", lambda dest=tmp_path / "_build" / "site-src", extra=None: dest.mkdir(parents=True, exist_ok=True) or dest)
    return lambda run: monkeypatch.setattr(gvsite.subprocess, "run", run)


def test_two_builds_at_once_both_succeed_and_leave_one_whole_site(tmp_path, fake_site):
    "Two builds in one checkout raced on _build/html: the second deleted the first's output and the first moved its rest inside the second's site."
    out, second = tmp_path / "_site", []
    fake_site(_fake_sphinx(["index.html", "a.html"], during=lambda: (fake_site(_fake_sphinx(["index.html", "b.html"])),
                                                                     second.append(gvsite.build(out)))))
    assert gvsite.build(out) == 0 and second == [0]
    assert sorted(p.name for p in out.iterdir()) == [".buildinfo", "a.html", "index.html"]     # the last to finish: whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_build", "_site"]
    assert list((tmp_path / "_build").iterdir()) == []                                            # each build's own folder: gone


def test_build_replaces_its_own_site_but_never_a_users_folder(tmp_path, fake_site, capsys):
    fake_site(_fake_sphinx(["index.html"]))
    out = tmp_path / "_site"
    assert gvsite.build(out) == 0 and gvsite.build(out) == 0 and (out / "index.html").is_file()
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "thesis.tex").write_text("precious")
    assert gvsite.build(mine) == 2 and (mine / "thesis.tex").read_text() == "precious" and len(list(mine.iterdir())) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (f"website: {mine} is a folder that is not a site built here "
                                                                "(no .buildinfo): it is left as it is; choose another folder")
    (tmp_path / "link").symlink_to(out)
    assert gvsite.build(tmp_path / "link") == 2 and (out / "index.html").is_file()


_KILLED_BUILD = """
import os, signal, subprocess, sys
from pathlib import Path
sys.path.insert(0, {tools!r}); import website as W
tmp, where = Path(sys.argv[1]), sys.argv[2]
W.ROOT, W.BUILD = tmp, tmp / "_build"
W.stage = lambda dest, extra=None: dest.mkdir(parents=True, exist_ok=True) or dest
def run(cmd, **kw):
    html = Path(cmd[-1]); html.mkdir(parents=True); (html / "index.html").write_text("x"); (html / ".buildinfo").write_text("")
    if where == "sphinx": os.kill(os.getpid(), signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, 0)
W.subprocess.run = run
if where == "swap": W.os.rename = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
W.build(tmp / "_site")
"""


def test_what_a_killed_build_left_is_removed_by_the_next(tmp_path, fake_site):
    """A build killed outright (SIGKILL, a power cut) left its whole private build folder in _build/ (site-XXXX), or
    its finished site in .OUT.new-XXXX beside OUT, for ever: each a full site. The next build removes them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for where in ("sphinx", "swap"):
        r = subprocess.run([sys.executable, "-c", _KILLED_BUILD.format(tools=str(ROOT / "tools")), str(tmp_path), where], env=env)
        assert r.returncode == -9
    assert list((tmp_path / "_build").iterdir()) and len(list(tmp_path.iterdir())) >= 2     # what the kills left
    fake_site(_fake_sphinx(["index.html"]))
    assert gvsite.build(tmp_path / "_site") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_build", "_site"] and list((tmp_path / "_build").iterdir()) == []


def test_a_build_that_cant_write_or_is_interrupted_says_so_in_one_line(tmp_path, fake_site, capsys):
    """An OUT under a file, a full disk or Ctrl-C ended `website.py build` in a Python traceback (after a minute of
    Sphinx, for an OUT that could never be written). Now one line and status 1 (130 for Ctrl-C), OUT as it was."""
    (tmp_path / "afile").write_text("mine")
    fake_site(lambda *a, **k: pytest.fail("ran Sphinx for an OUT it can't write"))
    assert gvsite.main(["build", str(tmp_path / "afile" / "site")]) == 1
    assert capsys.readouterr().err == f"website: error: can't write into {tmp_path / 'afile'}: it is a file, not a folder\n"
    fake_site(_fake_sphinx(["index.html"])); assert gvsite.build(tmp_path / "_site") == 0
    fake_site(_fake_sphinx(["index.html", "b.html"], during=lambda: (_ for _ in ()).throw(KeyboardInterrupt())))
    assert gvsite.main(["build", str(tmp_path / "_site")]) == 130 and capsys.readouterr().err.endswith("website: interrupted\n")
    assert sorted(p.name for p in (tmp_path / "_site").iterdir()) == [".buildinfo", "index.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_build", "_site", "afile"] and list((tmp_path / "_build").iterdir()) == []


def test_figures_requirements_and_run_time_from_the_notebook():
    cell = {"cell_type": "code", "id": "abc", "source": 'plot(x, title="loss per epoch")', "metadata": {}, "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "hi\n"},
        {"output_type": "display_data", "data": {"image/png": "AAAA", "text/plain": "<Figure>"}, "metadata": {}},
        {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}, "execution_count": None}]}
    cells = gvsite.split_figures(cell, "Training", "The chart shows the loss falling", [0], "06")
    assert [len(c["outputs"]) for c in cells] == [1, 1, 1] and cells[1]["metadata"]["tags"] == ["remove-input"]
    assert cells[1]["metadata"]["mystnb"]["image"]["alt"] == "Chart: The chart shows the loss falling (loss per epoch)"
    assert cells[1]["metadata"]["mystnb"]["figure"]["caption"] == "Figure 06.1: loss per epoch (Training)"
    assert gvsite.describing_sentence("Some text. Here is the chart of speed: \n\n## Next") == "Here is the chart of speed"
    nb = {"metadata": {"gpuvision": {"run": {"seconds": 64.6, "machine": "a 2-core CPU"}}},
          "cells": [{"cell_type": "code", "source": "import onnx\nimport torch\nfrom IPython.display import display", "metadata": {}}]}
    assert gvsite.run_time(nb) == "Runs in about 65 s on a 2-core CPU" and gvsite.run_time({"metadata": {}}) == ""
    assert gvsite.requirements(nb) == ["onnx"]
    # read as Python: a docstring line "from the …" is no import (the site listed `the` as optional for chapter 07)
    code = 'def f():\n    """Costs, taken\n    from the smallest batch;\n    import a list"""\n    try: import pillow_heif\n    except ImportError: pass\n%time x = 1'
    assert gvsite.imported(code) == ["pillow_heif"] and gvsite.imported("def (:") == []
    assert gvsite.requirements({"metadata": {}, "cells": [{"cell_type": "code", "source": code, "metadata": {}}]}) == ["pillow-heif"]


# The checks, on small sites made to fail ---------------------------------------------------------------------------
def _site(tmp_path, pages: dict) -> Path:
    for name, html in pages.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(html, encoding="utf-8")
    return tmp_path


def test_check_finds_external_loads_broken_links_and_missing_titles(tmp_path):
    good = "<html><head><title>A</title><link rel='stylesheet' href='s.css'></head><body id='top'><a href='b.html#x'>b</a></body></html>"
    site = _site(tmp_path, {"a.html": good, "s.css": "body{}",
                            "b.html": "<html><head><title>B</title></head><body><p id='x'>x</p><a href='https://example.org'>out</a></body></html>"})
    assert gvsite.check(site) == []
    _site(tmp_path, {"c.html": "<html><head><script src='https://cdn.example/x.js'></script></head><body>"
                               "<img src='//cdn.example/i.png'><a href='missing.html'>m</a><a href='a.html#nope'>n</a></body></html>",
                     "d.css": "@font-face{src:url(https://fonts.example/f.woff2)}"})
    problems = "\n".join(gvsite.check(site))
    for expected in ("c.html: no <title>", "loads an external resource https://cdn.example/x.js",
                     "loads an external resource //cdn.example/i.png", "broken link missing.html",
                     "missing anchor a.html#nope", "d.css: loads https://fonts.example/f.woff2"):
        assert expected in problems, (expected, problems)


def test_links_are_rewritten_for_the_site():
    pages = {"index": "Home", "06_train": "Training", "07_amp": "AMP"}
    text = "See [the loop](nbs/06_train.ipynb), chapter 07, [chapter 07](07_amp.ipynb) and `chapter 06` and [src](gpuvision_nb/train.py)."
    out = gvsite.outside_code(text, lambda t: gvsite.link_chapters(gvsite.rewrite_links(t, pages, "https://x/blob/main"), pages, "index"))
    assert out == ("See [the loop](06_train.ipynb), [chapter 07](07_amp.ipynb), [chapter 07](07_amp.ipynb) and `chapter 06` "
                   "and [src](api/train.md).")
    # appendices and lists of chapters named in prose link too (they were plain text); text inside a link stays as it is
    pages.update({"08_prune": "Pruning", "A6_runs": "Runs"})
    text = "the run folder (appendix A6), chapters 06, 07 and 08, [as appendix A6 says](A6_runs.ipynb), chapter 99"
    assert gvsite.link_chapters(text, pages, "07_amp") == (
        "the run folder ([appendix A6](A6_runs.ipynb)), chapters [06](06_train.ipynb), 07 and [08](08_prune.ipynb), "
        "[as appendix A6 says](A6_runs.ipynb), chapter 99")


def test_showdoc_loses_quarto_attributes_and_gains_an_api_link():
    md = ('---\n\n[source](https://github.com/o/r/blob/main/gpuvision_nb/prune.py#L259){target="_blank" style="float:right; '
          'font-size:smaller"}\n\n### prune_channels\n\n> prune_channels (model)\n')
    out = gvsite.fix_showdoc(md, {"prune_channels": "prune"}, None)
    assert "{target" not in out and "[source]" not in out
    assert 'href="api/prune.html#gpuvision_nb.prune.prune_channels"' in out


# Widget fallbacks ---------------------------------------------------------------------------------------------------
def _tqdm_state(done: float, total: float) -> dict:
    ref = lambda k: f"IPY_MODEL_{k}"
    return {"box": {"model_name": "HBoxModel", "state": {"children": [ref("a"), ref("bar"), ref("b")]}},
            "a": {"model_name": "HTMLModel", "state": {"value": "fit:\u2007100%"}},
            "bar": {"model_name": "FloatProgressModel", "state": {"value": done, "max": total, "min": 0, "bar_style": "success"}},
            "b": {"model_name": "HTMLModel", "state": {"value": "\u2007378/378\u2007[00:01&lt;00:00]"}}}


def test_progress_bar_fallback_is_the_final_bar():
    state = _tqdm_state(378, 378)
    assert nbwidgets.render_text("box", state) == "fit: 100%|██████████| 378/378 [00:01<00:00]"
    assert "<progress class='gv-progress gv-success' value='1.0000'" in nbwidgets.render_html("box", state)


def test_fallbacks_replace_the_frozen_repr_and_keep_the_widget():
    nb = {"metadata": {"widgets": {nbwidgets.STATE: {"state": _tqdm_state(189, 378)}}},
          "cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {
              nbwidgets.VIEW: {"model_id": "box"}, "text/plain": "fit:   0%|          | 0/378"}}]}]}
    assert nbwidgets.add_fallbacks(nb) == 1
    data = nb["cells"][0]["outputs"][0]["data"]
    assert data["text/plain"].startswith("fit: 100%|█████     | 378/378") and nbwidgets.VIEW in data
    assert nbwidgets.add_fallbacks(nb) == 1 and nb["cells"][0]["outputs"][0]["data"] == data     # idempotent


def test_slider_fallback_shows_its_position_range_and_output():
    state = {"v": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_o"]}},
             "s": {"model_name": "FloatSliderModel", "state": {"description": "structured pruning", "value": 0.0, "min": 0.0,
                                                               "max": 0.95, "step": 0.05, "readout_format": ".0%"}},
             "o": {"model_name": "OutputModel", "state": {"outputs": [{"output_type": "stream", "name": "stdout",
                                                                       "text": "0% pruned: 100 parameters\n"}]}}}
    assert nbwidgets.render_text("v", state) == "structured pruning: 0%  (slider 0% … 95%, step 5%)\n0% pruned: 100 parameters"
    html = nbwidgets.render_html("v", state)
    assert "type='range' disabled style='width:24em;max-width:100%'" in html and "<pre>0% pruned: 100 parameters\n</pre>" in html


def test_committed_widget_outputs_have_fallbacks():
    "Every stored widget output of a committed notebook carries a static picture (tools/execute.py adds them)."
    missing = []
    for path in gvsite.notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                if nbwidgets.VIEW in out.get("data", {}) and "text/html" not in out["data"]: missing.append(path.name)
    assert not missing, f"run `python tools/execute.py --fallbacks-only` on {sorted(set(missing))}"


# The rendered Markdown (README.md, docs/): every relative link resolves ----------------------------------------------
import re as _re
import render  # noqa: E402

_MD_CODE = _re.compile(r"```.*?```|`[^`\n]*`", _re.S)
_MD_LINK = _re.compile(r"\]\(([^)\s]+)\)|\b(?:href|src)=[\"']([^\"']+)[\"']")


def md_links(text: str) -> list[str]:
    "Relative link targets of Markdown `text`, outside code blocks, code spans and indented (output) blocks."
    text = "\n".join(l for l in _MD_CODE.sub("", text).splitlines() if not l.startswith(("    ", "\t")))
    out = []
    for m in _MD_LINK.finditer(text):
        url = (m.group(1) or m.group(2)).split("#")[0]
        if url and not _re.match(r"^[a-z][a-z0-9+.-]*:|^/", url, _re.I): out.append(url)
    return out


def test_md_links_finds_relative_links_outside_code():
    text = "[a](03_data.ipynb#x) [b](https://x.org) `[c](no.md)`\n```\n[d](no.md)\n```\n    [e](no.md)\n<img src=\"f.png\">"
    assert md_links(text) == ["03_data.ipynb", "f.png"]


def test_rendered_docs_links_resolve():
    "README.md and docs/*.md as `make docs` writes them: no link to a missing file (`03_data.ipynb` from docs/ was one)."
    want = render.readme() | render.docs()
    broken = [f"{p.relative_to(ROOT)} → {url}" for p, data in want.items() if p.suffix == ".md"
              for url in md_links(data.decode()) if not ((p.parent / url).resolve() in want or (p.parent / url).exists())]
    assert not broken, broken


# JupyterLab's notebook metadata (tools/normalize_nbs.py) -----------------------------------------------------------
import normalize_nbs  # noqa: E402


def test_normalize_sets_jupyterlab_metadata_and_nothing_else(tmp_path):
    for name in ("01_device.ipynb", "02_bench.ipynb"):                # nbdev's sorted layout, and one in read order
        p = tmp_path / name
        original = (ROOT / "nbs" / name).read_text(encoding="utf-8")
        nb = json.loads(original); nb["metadata"].pop("language_info", None)
        nb["metadata"]["kernelspec"] = {"display_name": "python3", "language": "python", "name": "python3"}   # as nbdev_clean leaves it
        p.write_text(normalize_nbs.dumps_like(nb, original), encoding="utf-8")
        assert normalize_nbs.problems(json.loads(p.read_text(encoding="utf-8")))
        assert normalize_nbs.main([str(p), "--python-version", "3.12.3"]) == 0
        after = p.read_text(encoding="utf-8"); new = json.loads(after)
        assert normalize_nbs.problems(new) == [] and new["metadata"]["language_info"]["version"] == "3.12.3"
        assert {k: v for k, v in new.items() if k != "metadata"} == {k: v for k, v in nb.items() if k != "metadata"}
        assert normalize_nbs.dumps_like(new, original) == after                 # the file's layout is kept
        assert normalize_nbs.main([str(p), "--python-version", "3.12.3"]) == 0 and p.read_text(encoding="utf-8") == after
        assert normalize_nbs.main(["--check", str(p)]) == 0


def test_normalize_check_names_what_is_missing(tmp_path, capsys):
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {"display_name": "python3", "language": "python",
                                                                      "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}))
    assert normalize_nbs.main(["--check", str(p)]) == 1
    assert "no language_info" in capsys.readouterr().out
    (tmp_path / "bad.ipynb").write_text("{")
    assert normalize_nbs.main([str(tmp_path / "bad.ipynb")]) == 2


def test_nbdev_clean_keeps_language_info():
    "settings.ini's allowed_metadata_keys: nbdev_clean keeps language_info (it still resets the display name: normalize after it)."
    from nbdev.clean import clean_nb
    keys = gvsite.settings().get("allowed_metadata_keys", "").split()
    nb = {"cells": [], "metadata": normalize_nbs.wanted("3.11.7")}
    clean_nb(nb, allowed_metadata_keys=keys)
    assert nb["metadata"]["language_info"] == normalize_nbs.wanted("3.11.7")["language_info"]


def test_every_notebook_has_jupyterlab_metadata():
    "Opening an untouched notebook in JupyterLab must not mark it modified (run tools/normalize_nbs.py after nbdev_clean)."
    bad = {p.name: normalize_nbs.problems(json.loads(p.read_text(encoding="utf-8"))) for p in sorted((ROOT / "nbs").glob("*.ipynb"))}
    assert not {k: v for k, v in bad.items() if v}, "run `python tools/normalize_nbs.py` (after nbdev_clean)"


def test_static_widgets_keep_the_picture_and_drop_the_live_widget(tmp_path):
    "--static-widgets: a trusted notebook shows the static picture, not a restored widget with a red 'disconnected' icon."
    p = tmp_path / "08_prune.ipynb"
    shutil.copy(ROOT / "nbs" / "08_prune.ipynb", p)
    before = json.loads(p.read_text(encoding="utf-8"))
    assert normalize_nbs.main(["--static-widgets", str(p)]) == 0
    nb = json.loads(p.read_text(encoding="utf-8"))
    assert normalize_nbs.live_widgets(nb) == 0 and "widgets" not in nb["metadata"]
    html = [o["data"]["text/html"] for c in nb["cells"] for o in c.get("outputs", []) if "gv-widget-static" in "".join(o.get("data", {}).get("text/html", ""))]
    assert len(html) >= 2 and normalize_nbs.live_widgets(before) in (0, len(html))   # 0: tools/execute.py stored them static
    assert normalize_nbs.main(["--check", "--static-widgets", str(p)]) == 0
