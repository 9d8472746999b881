"""The course website: Sphinx + MyST-NB with the book theme, built from the notebooks' stored outputs (nothing is
executed), and its checks.

  python tools/website.py build [OUT]    stage nbs/ into _build/site-src/, then sphinx-build it into OUT (default _site/)
  python tools/website.py check [OUT]    every page has a title; every internal link and anchor resolves; no page loads
                                      anything from outside the site (script, stylesheet, image, frame, font, media)

Staging turns each notebook into what a reader needs: `#| hide` cells and `#|`/`# NBVAL_` directive lines go;
every widget output shows the static picture of its stored state (tools/nbwidgets.py); show_doc's Quarto-only
`{target=...}` attributes become a link to the API reference (autodoc pages generated here, one per module);
"chapter NN" in prose links to that chapter; links written for GitHub (`nbs/06_train.ipynb`, repository files)
are pointed at the built pages or at the repository. Each chart becomes a numbered figure with a caption and alt text
(`split_figures`); under each title a bar links the index, the notebook to download (copied into notebooks/), JupyterLab
(Binder) and Colab, and says what the chapter needs and, when recorded, how long it runs (`chapter_bar`).
The configuration is in course-site/conf.py; course-site/_static/gv-site.js makes the visible sidebar toggles work and
keeps chart text legible on a phone. Each build stages and builds in a private folder of _build/ (MyST-NB's
jupyter_execute/ lands there too, not in the repository), then swaps the whole site into OUT in one rename: two builds
at once both succeed, and OUT always holds one whole site. An OUT that is not a site built here is left alone.
"""
from __future__ import annotations

import ast, configparser, json, os, re, shutil, subprocess, sys, tempfile, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbwidgets import VIEW, add_fallbacks  # noqa: E402
sys.path.append(str(Path(__file__).resolve().parents[1]))     # this checkout's package, if it is not installed
try: import fcntl                            # POSIX: the swap of a finished site is serialised (`publish`)
except ImportError: fcntl = None

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
NBS, CONF, STAGE = ROOT / "nbs", ROOT / "course-site", BUILD / "site-src"
EXTRA = BUILD / "site-extra"       # copied into the site as is (conf.py's html_extra_path, or $GV_SITE_EXTRA): the notebooks
DIRECTIVE = re.compile(r"^\s*(#\s*\|.*|#\s*NBVAL_\w+.*)$")
HIDE = re.compile(r"^\s*#\s*\|\s*hide\s*$", re.M)
EXPORT = re.compile(r"^\s*#\s*\|\s*default_exp\s+(\S+)", re.M)
FENCE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)             # code blocks and spans: never rewritten
# "chapter 06", "appendix A6", "chapters 06 and 07", "chapters 04, 08 and 09" (not in a link already, nor a file name)
CHAPTER = re.compile(r"(?<![\[\w/])([Cc]hapters?|[Aa]ppendix|[Aa]ppendices) ((?:\d\d|A\d+)(?:(?:,? and |, )(?:\d\d|A\d+))*)\b(?!\]|\.ipynb)")
NUMBER = re.compile(r"\d\d|A\d+")
LINKED = re.compile(r"(\[[^\]]*\]\([^)]*\)|<a\b.*?</a>)", re.S)        # a Markdown or HTML link: left as it is
SOURCE = re.compile(r"\[source\]\(([^)]*)\)\{[^}]*\}\n*")        # show_doc's link with Quarto attributes
SHOWDOC_NAME = re.compile(r"^#{3,4} (\S+)\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
MAGIC = re.compile(r"^\s*[%!]")                                 # IPython magics and shell lines: not Python
TITLE_ARG = re.compile(r"\btitle\s*=\s*[\"']([^\"'{}]+)[\"']")
# import name → pip name, for the packages a chapter may import directly
PIP = {"PIL": "pillow", "sklearn": "scikit-learn", "av": "av", "cv2": "opencv-python", "yaml": "pyyaml", "pillow_heif": "pillow-heif"}
STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notebooks() -> list[Path]:
    "The front page, then the chapters in reading order (scratch notebooks `_*` excluded)."
    chapters = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")) and p.name != "index.ipynb")
    return [NBS / "index.ipynb"] + chapters


def is_appendix(stem: str) -> bool:
    "An appendix notebook (`A1_supervisor`): the engineering behind a chapter, listed after the chapters."
    return re.fullmatch(r"A\d+", stem.split("_")[0]) is not None


def number_of(stem: str) -> str:
    "A page's number as the reader sees it: '06' for 06_train, 'A1' for A1_supervisor; else the stem."
    head = stem.split("_")[0]
    return head if re.fullmatch(r"\d\d|A\d+", head) else stem


def settings() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(); cfg.read(ROOT / "settings.ini")
    return cfg["DEFAULT"]


def module_of(nb) -> str | None:
    "The module a chapter exports (`#| default_exp NAME`), if any."
    return next((m.group(1) for c in nb["cells"] if c["cell_type"] == "code" for m in [EXPORT.search(source(c))] if m), None)


def title_of(nb) -> str:
    text = next((source(c) for c in nb["cells"] if c["cell_type"] == "markdown"), "")
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else "untitled"


def symbols() -> dict[str, str]:
    "{name or Class.method: module} of every documented symbol, from nbdev's index (no import of torch needed)."
    spec = {}
    exec((ROOT / "gpuvision_nb" / "_modidx.py").read_text(encoding="utf-8"), spec)
    return {sym[len(mod) + 1:]: mod.split(".")[-1] for mod, syms in spec["d"]["syms"].items() for sym in syms}


def outside_code(text: str, fn) -> str:
    "Apply `fn` to the parts of Markdown `text` that are not code blocks or code spans."
    return "".join(part if i % 2 else fn(part) for i, part in enumerate(FENCE.split(text)))


def rewrite_links(text: str, pages: dict[str, str], repo_blob: str) -> str:
    "Point GitHub-style links at the built pages (notebooks, modules) or at the repository (other files)."
    def link(m):
        target = m.group(1)
        if re.match(r"^[a-z]+:|^#|^/", target): return m.group(0)
        path, _, frag = target.partition("#")
        name = Path(path).name
        if path.endswith(".ipynb") and Path(name).stem in pages: return f"]({name}{'#' + frag if frag else ''})"
        if re.fullmatch(r"gpuvision_nb/\w+\.py", path): return f"](api/{Path(path).stem}.md)"
        if path.startswith("nbs/results/") or not (ROOT / path).exists(): return m.group(0)
        return f"]({repo_blob}/{path})"
    return re.sub(r"\]\(([^)\s]+)\)", link, text)


def link_chapters(text: str, pages: dict[str, str], here: str) -> str:
    """'chapter 06' and 'appendix A6' → a link to that page; in 'chapters 04 and 08' each number links to its page (when
    it exists and is not this page). Text already inside a link is left alone. (Only 'chapter NN' was linked: the
    appendices and lists of chapters named in prose were plain text, e.g. 'appendix A6' four times.)"""
    by_num = {number_of(stem): stem for stem in pages if number_of(stem) != stem}
    def link(num: str, label: str) -> str:
        stem = by_num.get(num)
        return f"[{label}]({stem}.ipynb)" if stem and stem != here else label
    def sub(m):
        word, nums = m.groups()
        if NUMBER.fullmatch(nums): return link(nums, m.group(0))
        return f"{word} " + NUMBER.sub(lambda n: link(n.group(0), n.group(0)), nums)
    return "".join(part if i % 2 else CHAPTER.sub(sub, part) for i, part in enumerate(LINKED.split(text)))


def fix_showdoc(md: str, syms: dict[str, str], default_mod: str | None) -> str:
    "show_doc Markdown without Quarto attributes, with a link to the symbol's API reference entry."
    if not md.startswith("---\n") or not SHOWDOC_NAME.search(md): return md
    md = SOURCE.sub("", md.replace("---", '<hr class="gv-showdoc">', 1))
    name = SHOWDOC_NAME.search(md).group(1)
    mod = syms.get(name) or default_mod
    if mod is None: return md
    anchor = f"api/{mod}.html#gpuvision_nb.{mod}.{name}"
    return SHOWDOC_NAME.sub(lambda m: f'<a class="gv-apilink" href="{anchor}">API reference</a>\n\n{m.group(0)}', md, count=1)


def clean_cell(cell) -> dict | None:
    "A code cell without hidden lines and directives, widget outputs as static HTML; None if nothing is left."
    if HIDE.search(source(cell)): return None
    cell["source"] = "\n".join(l for l in source(cell).splitlines() if not DIRECTIVE.match(l)).strip("\n")
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if VIEW in data and "text/html" in data: del data[VIEW]
    return cell if cell["source"] or cell.get("outputs") else None


def stage_notebook(path: Path, pages: dict[str, str], syms: dict[str, str], repo_blob: str) -> dict:
    "The staged copy of one notebook (a JSON dict)."
    nb = json.loads(path.read_text(encoding="utf-8"))
    add_fallbacks(nb)
    mod, here, cells = module_of(nb), path.stem, []
    section, lead, numbers = "", "", [0]
    bar = chapter_bar(path, nb, settings())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell = clean_cell(cell)
            if cell is None: continue
            for out in cell.get("outputs", []):
                md = out.get("data", {}).get("text/markdown")
                if md is not None: out["data"]["text/markdown"] = fix_showdoc("".join(md), syms, mod)
            cells += split_figures(cell, section, lead, numbers, number_of(here))
            continue
        elif cell["cell_type"] == "markdown":
            heads = HEADING.findall(outside_code(source(cell), lambda t: t))
            if heads: section = plain(heads[-1])
            lead = describing_sentence(source(cell))
            text = outside_code(source(cell), lambda t: link_chapters(rewrite_links(t, pages, repo_blob), pages, here))
            if not cells:                                            # the title cell: the module it exports, links
                if mod: text += (f"\n\n<p class='gv-module'>Exports <a href='api/{mod}.html'><code>gpuvision_nb.{mod}</code></a>"
                                 f" · notebook <code>nbs/{path.name}</code></p>")
                text += "\n\n" + bar + "\n"
            cell["source"] = text
        cells.append(cell)
    nb["cells"] = cells
    return nb


def plain(md: str) -> str:
    "Markdown/HTML `md` as one line of plain text (for alt text and captions)."
    md = re.sub(r"<[^>]+>", "", re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", md))
    return re.sub(r"\s+", " ", re.sub(r"[`*$]|(?<!\w)_|_(?!\w)", "", md)).strip()


DESCRIBES = re.compile(r"\b(chart|picture|plot|figure|graph|histogram|curves?|bars|heat ?map|images?|draws?|shows?|"
                       r"look|here (?:are|is)|below)\b", re.I)


def describing_sentence(md: str, limit: int = 200) -> str:
    """The last sentence of Markdown `md`'s last paragraph that says what a picture shows ('The chart makes it concrete:
    efficiency against …'); '' if none does."""
    paras = [p for p in re.split(r"\n\s*\n", md) if p.strip() and not HEADING.fullmatch(p.strip())]
    if not paras: return ""
    sentences = [t for t in re.split(r"(?<=[.!?:])\s+(?=[A-Z(])", plain(paras[-1])) if DESCRIBES.search(t)]
    text = sentences[-1].rstrip(":").strip() if sentences else ""
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


def is_image(out) -> bool:
    return out.get("output_type") in ("display_data", "execute_result") and any(k.startswith("image/") for k in out.get("data", {}))


def split_figures(cell: dict, section: str, lead: str, numbers: list[int], chapter: str) -> list[dict]:
    """`cell`, then one input-less cell per image output, as a numbered figure with alt text and a caption (MyST-NB's
    `mystnb.image.alt` / `mystnb.figure.caption` cell metadata; a figure wraps every output of its cell, hence one cell
    per image). The caption names the chart: the `title=` the code passes and its section's title; the alt text adds
    the sentence before it that says what it shows, if one does. Outputs keep their order."""
    outs = cell.get("outputs", [])
    first = next((i for i, o in enumerate(outs) if is_image(o)), None)
    if first is None: return [cell]
    title = (TITLE_ARG.search(cell["source"]) or [None, None])[1]
    cells, group = [dict(cell, outputs=outs[:first])], []
    def extra(outputs, meta):
        return {"cell_type": "code", "execution_count": None, "id": f"{cell.get('id', 'c')}-gv{len(cells)}"[:64],
                "metadata": {"tags": ["remove-input"], **meta}, "outputs": outputs,
                "source": "# the outputs of the cell above"}                  # MyST-NB skips empty cells; input hidden
    for out in outs[first:]:
        if not is_image(out): group.append(out); continue
        if group: cells.append(extra(group, {})); group = []
        numbers[0] += 1
        name = title or section or "a chart"
        alt = "Chart: " + (f"{lead} ({name})" if lead else name)
        caption = f"Figure {chapter}.{numbers[0]}: " + (f"{title} ({section})" if title and section else name)
        cells.append(extra([out], {"mystnb": {"image": {"alt": alt}, "figure": {"caption": caption.replace("*", "\\*"),
                                                                                  "name": f"fig-{chapter}-{numbers[0]}"}}}))
    if group: cells.append(extra(group, {}))
    return [cells[0]] + [c for c in cells[1:] if c["outputs"]]


def requirements(nb) -> list[str]:
    """Pip names of the third-party packages a notebook's shown code imports that the library does not already require
    (settings.ini `requirements`), e.g. onnx for the export chapter; Jupyter's own (IPython) are not counted."""
    names_of = lambda key: {re.split(r"[<>=!~\[ ]", r)[0].lower().replace("_", "-") for r in settings().get(key, "").split()}
    have = names_of("requirements")
    shown = [source(c) for c in nb["cells"] if c["cell_type"] == "code" and not HIDE.search(source(c))]
    names = dict.fromkeys(PIP.get(m, m) for code in shown for m in imported(code)
                          if m not in STDLIB and m not in ("IPython", "ipykernel", settings()["lib_name"]))
    return [n for n in names if n.lower().replace("_", "-") not in have]


def imported(code: str) -> list[str]:
    """Top-level names of the modules one code cell imports, from its syntax tree: a line of a docstring or a comment
    that starts with "from the …" is not an import (it made the site list `the` as a package to install). IPython magic
    and shell lines are left out; a cell that still isn't Python imports nothing."""
    try: tree = ast.parse("\n".join("" if MAGIC.match(l) else l for l in code.splitlines()))
    except SyntaxError: return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import): names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level: names.append(node.module.split(".")[0])
    return names


def run_time(nb) -> str:
    """'Runs in about N s on MACHINE' from the notebook's `gpuvision.run` metadata ({"seconds", "machine"}), which
    tools/execute.py can record; '' when not recorded."""
    run = nb.get("metadata", {}).get("gpuvision", {}).get("run") or {}
    if not isinstance(run.get("seconds"), (int, float)): return ""
    s = run["seconds"]
    took = f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
    return f"Runs in about {took}" + (f" on {run['machine']}" if run.get("machine") else "")


def chapter_bar(path: Path, nb, cfg) -> str:
    """The HTML bar under a chapter's title: a link to the index, the notebook to download, "open in JupyterLab"
    (Binder) and Colab, the run time (when recorded) and what the chapter needs."""
    owner_repo = "/".join(urlsplit(cfg["git_url"]).path.strip("/").split("/")[:2])
    branch, rel = cfg.get("branch", "main"), f"nbs/{path.name}"
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    dev = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in cfg.get("dev_requirements", "").split()}
    extra = [e for e in requirements(nb) if e.lower() in dev]
    optional = [e for e in requirements(nb) if e.lower() not in dev]                    # imported when installed
    needs = ("Needs Python ≥ " + cfg.get("min_python", "3.10") + ", the library and Jupyter (<code>pip install -e \".[dev]\"</code>"
             " in a clone)" + (", which bring " + ", ".join(f"<code>{e}</code>" for e in extra) + " too" if extra else "")
             + ("; optional: " + ", ".join(f"<code>{e}</code>" for e in optional) if optional else "")
             + ("; a CUDA GPU is optional: without one every cell runs on the CPU" if "cuda" in code else "; no GPU needed")
             + f". Locally: <code>jupyter lab {rel}</code>.")
    items = [] if path.stem == "index" else ['<a class="gv-index-link" href="index.html">← All chapters</a>']
    items += [f'<a class="gv-download" href="notebooks/{path.name}" download="{path.name}">Download the notebook</a>',
              f'<a class="gv-open-lab" href="https://mybinder.org/v2/gh/{owner_repo}/{branch}?labpath={rel}">Open in JupyterLab (Binder)</a>',
              f'<a class="gv-open-colab" href="https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{rel}">Open in Colab</a>']
    if (t := run_time(nb)): items.append(f'<span class="gv-runtime">{t}</span>')
    items.append(f'<span class="gv-needs">{needs}</span>')
    return '<div class="gv-chapter-bar">' + "".join(items) + "</div>"


def toctree(caption: str, entries: list[str]) -> str:
    return "```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n"


def api_pages(pages: dict[str, str], modules: dict[str, str]) -> dict[str, str]:
    "{relative path: Markdown} of the API reference: one autodoc page per module, linked to its chapter."
    mods = sorted(set(symbols().values()) | set(modules.values()))
    chapter_of = {m: stem for stem, m in modules.items()}
    out, rows = {}, []
    for m in mods:
        stem = chapter_of.get(m)
        where = f"Taught in [{pages[stem]}](../{stem}.ipynb)." if stem else ""
        out[f"api/{m}.md"] = (f"# `gpuvision_nb.{m}`\n\n{where}\n\n```{{eval-rst}}\n.. automodule:: gpuvision_nb.{m}\n"
                              f"   :members:\n```\n")
        rows.append(f"| [`gpuvision_nb.{m}`]({m}.md) | " + (f"[{pages[stem]}](../{stem}.ipynb)" if stem else "") + " |")
    out["api/index.md"] = ("# API reference\n\nEvery public function and class of the library, with its docstring, "
                           "one page per module. Each module is written (and taught) in one chapter.\n\n"
                           "| module | chapter |\n|---|---|\n" + "\n".join(rows) + "\n\n"
                           + toctree("API reference", [f"{m}" for m in mods]))
    return out


def stage(dest: Path = STAGE, extra: Path = EXTRA) -> Path:
    """Write the Sphinx source tree into `dest`: staged notebooks, the API pages, and the index's table of contents;
    and the notebooks to download into `extra`."""
    if dest.exists(): shutil.rmtree(dest)
    (dest / "api").mkdir(parents=True)
    if extra.exists(): shutil.rmtree(extra)
    (extra / "notebooks").mkdir(parents=True)
    cfg = settings()
    repo_blob = f"{cfg['git_url']}/blob/{cfg.get('branch', 'main')}"
    paths = notebooks()
    nbs = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in paths}
    pages = {stem: title_of(nb) for stem, nb in nbs.items()}
    modules = {stem: m for stem, nb in nbs.items() if (m := module_of(nb))}
    syms = symbols()
    for p in paths:
        nb = stage_notebook(p, pages, syms, repo_blob)
        if p.stem == "index":
            entry = lambda p: f"{number_of(p.stem)} · {pages[p.stem].replace('`', '')} <{p.stem}>"     # numbered
            chapters = [entry(p) for p in paths[1:] if not is_appendix(p.stem)]
            appendices = [entry(p) for p in paths[1:] if is_appendix(p.stem)]
            nb["cells"].append({"cell_type": "markdown", "id": "gv-toc", "metadata": {},
                                "source": toctree("Chapters", chapters) + "\n" +
                                          (toctree("Appendices", appendices) + "\n" if appendices else "") +
                                          toctree("Reference", ["api/index"])})
        (dest / p.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
        shutil.copy2(p, extra / "notebooks" / p.name)                # the notebook as committed, to download
    for rel, text in api_pages(pages, modules).items(): (dest / rel).write_text(text, encoding="utf-8")
    return dest


def not_a_site(out: Path) -> str | None:
    "Why `out` may not be replaced by a build (a link, a file, a folder with no Sphinx `.buildinfo`: a user's), or None."
    if out.is_symlink(): return "a link"
    if not out.exists(): return None
    if not out.is_dir(): return "a file"
    if (out / ".buildinfo").is_file() or not any(out.iterdir()): return None
    return "a folder that is not a site built here (no .buildinfo)"


def temp_folder(beside: Path) -> Path:
    """A new private folder next to `beside`, named by `files.temp_prefix(beside)` (which says which process made it);
    what builds killed outright (SIGKILL, a power cut: no `finally` ran) left there — a whole site, each time — is
    removed first (`files.sweep_beside`)."""
    from gpuvision_nb.files import sweep_beside, temp_prefix
    sweep_beside(beside, folders=True)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(beside), suffix=".tmp", dir=beside.parent))


def publish(site: Path, out: Path) -> None:
    """Put the built `site` at `out`: moved next to `out` first (copied, if on another file system), then swapped in
    by renames while holding a lock on `out`'s parent folder, so two builds at once leave one whole site, and a
    reader never finds half of one. The site it replaces is deleted after the swap."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    new = temp_folder(out)
    old = None
    try:
        shutil.move(str(site), str(new / "site"))
        lock = os.open(out.parent, os.O_RDONLY)
        try:
            if fcntl is not None: fcntl.flock(lock, fcntl.LOCK_EX)
            if why := not_a_site(out): raise FileExistsError(f"{out} is {why}")
            if out.exists(): old = temp_folder(out); os.rename(out, old / "site")
            os.rename(new / "site", out)
        finally: os.close(lock)
    finally:
        for d in (new, old):
            if d is not None: shutil.rmtree(d, ignore_errors=True)


def writable_folder(folder: Path) -> None:
    "Create `folder` if needed and check that a file can be made in it; `OSError` naming it if not."
    if folder.exists() and not folder.is_dir(): raise NotADirectoryError(f"can't write into {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder): pass
    except OSError as e: raise OSError(f"can't write into {folder}: {e.strerror or e}") from None


def build(out: Path) -> int:
    """Stage and run sphinx-build (quiet, warnings shown) in a private folder of _build/, then `publish` the site at
    `out`; returns sphinx-build's exit status, or 2 (and `out` untouched) if `out` is not a site built here."""
    t0 = time.perf_counter()
    if why := not_a_site(out):
        print(f"website: {out} is {why}: it is left as it is; choose another folder", file=sys.stderr); return 2
    writable_folder(out.absolute().parent)                        # said now, not after a minute of Sphinx
    BUILD.mkdir(parents=True, exist_ok=True)
    work = temp_folder(BUILD / "site")         # this build's own: another build at once has its own
    try:
        src = stage(work / "site-src", work / "site-extra")
        html = work / "html"        # (MyST-NB's jupyter_execute/ lands next to it, in `work`, out of the repository)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(CONF), "-d", str(work / "doctrees"),
               str(src), str(html)]
        env = {**os.environ, "GV_SITE_EXTRA": str(work / "site-extra"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        if rc != 0: return rc
        try: publish(html, out)
        except FileExistsError as e:
            print(f"website: {e}: it is left as it is; choose another folder", file=sys.stderr); return 2
    finally: shutil.rmtree(work, ignore_errors=True)
    print(f"site: {len(list(out.rglob('*.html')))} pages in {out}/ ({time.perf_counter() - t0:.0f} s); open {out / 'index.html'}")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# Checks
LOADS = {"script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "source": ["src", "srcset"], "video": ["src", "poster"],
         "audio": ["src"], "embed": ["src"], "object": ["data"], "track": ["src"], "input": ["src"]}


class Page(HTMLParser):
    "What the checks need from one HTML page: title, ids, links, loaded resources."
    def __init__(self):
        super().__init__(); self.title, self.ids, self.links, self.loads, self._in_title = "", set(), [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a: self.ids.add(a["id"])
        if tag == "a" and "name" in a: self.ids.add(a["name"])
        if tag == "title": self._in_title = True
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            (self.loads if any(r in rel for r in ("stylesheet", "icon", "preload", "modulepreload", "manifest", "prefetch", "preconnect", "dns-prefetch"))
             else self.links).append(a["href"])
        for attr in LOADS.get(tag, []):
            for v in (a.get(attr) or "").split(","):
                if v.strip(): self.loads.append(v.strip().split()[0])
        if "style" in a: self.loads += re.findall(r"url\(['\"]?([^'\")]+)", a["style"])

    def handle_endtag(self, tag):
        if tag == "title": self._in_title = False

    def handle_data(self, data):
        if self._in_title: self.title += data


def external(url: str) -> bool:
    "True for a URL that leaves the site (http(s), protocol-relative); data: URIs are part of the page."
    s = urlsplit(url)
    return bool(s.netloc) or s.scheme not in ("", "file", "data")


def check(site: Path) -> list[str]:
    """Problems of the built site: a page without a title, an internal link to a missing file or anchor, or anything a
    page (or a stylesheet it loads) would fetch from outside the site."""
    site = site.resolve()
    problems = []
    pages = {p: Page() for p in sorted(site.rglob("*.html")) if "_static" not in p.relative_to(site).parts}   # not theme templates
    if not pages: return [f"{site}: no HTML pages (run `python tools/website.py build {site}` first)"]
    for path, page in pages.items():
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
    for css in site.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(encoding="utf-8", errors="replace")):
            if external(url): problems.append(f"{css.relative_to(site)}: loads {url}")
        for url in re.findall(r"@import\s+['\"]([^'\"]+)", css.read_text(encoding="utf-8", errors="replace")):
            if external(url): problems.append(f"{css.relative_to(site)}: imports {url}")
    for path, page in pages.items():
        rel = path.relative_to(site)
        if not page.title.strip(): problems.append(f"{rel}: no <title>")
        for url in page.loads:
            if external(url): problems.append(f"{rel}: loads an external resource {url}")
            elif not url.startswith("data:") and not (path.parent / unquote(urlsplit(url).path)).exists():
                problems.append(f"{rel}: loads a missing file {url}")
        for url in page.links:
            s = urlsplit(url)
            if s.scheme or s.netloc: continue                             # a link out: allowed, never loaded
            target = path if not s.path else (path.parent / unquote(s.path)).resolve()
            if target.is_dir(): target = target / "index.html"
            if not target.exists(): problems.append(f"{rel}: broken link {url}"); continue
            if s.fragment and target.suffix == ".html" and target in pages and unquote(s.fragment) not in pages[target].ids:
                problems.append(f"{rel}: link to a missing anchor {url}")
    return problems


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "build"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "_site"
    try:
        if cmd == "build": return build(out)
        if cmd == "stage": print(stage()); return 0
        if cmd == "check":
            problems = check(out)
            for p in problems: print(p, file=sys.stderr)
            print(f"site check: {len(problems)} problem(s) in {out}/")
            return 1 if problems else 0
    except OSError as e:             # a full disk, a folder that can't be written: one line, not a traceback
        print(f"website: error: {e}", file=sys.stderr); return 1
    except KeyboardInterrupt:        # (`build` removed its own folder; OUT is the old site or the new one, whole)
        print("website: interrupted", file=sys.stderr); return 130
    print(__doc__, file=sys.stderr); return 2


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
