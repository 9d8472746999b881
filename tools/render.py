"""Render the course's notebooks (with their committed outputs) for readers without Jupyter.

Quarto is not installable here, so `nbdev_readme`/`nbdev_docs` can't run; this does the job with nbconvert.
Cells marked `#| hide` are dropped, `#|` directives and `# NBVAL_...` markers are removed, a widget output shows
the text picture of its stored state (tools/nbwidgets.py; dropped if it has none), and images are written next to
the text. The course website (HTML, with navigation and search) is built by tools/website.py (`make html`).

  python tools/render.py readme          README.md (+ README_files/) from nbs/index.ipynb
  python tools/render.py docs            docs/*.md (+ docs/*_files/) from every chapter, and docs/README.md (contents)
  python tools/render.py check           exit 1 if README.md or docs/ differ from what the notebooks give (CI runs this)
"""
import os, re, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS = ROOT / "nbs", ROOT / "docs"
DIRECTIVE = re.compile(r"^\s*(#\s*\|.*|#\s*NBVAL_\w+.*)$")
HIDE = re.compile(r"^\s*#\s*\|\s*hide\s*$", re.M)
WIDGET = "application/vnd.jupyter.widget-view+json"
FENCE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)             # code blocks and spans: never rewritten
LINK = re.compile(r"(\]\(|\b(?:href|src)=[\"'])([^)\s\"'#]+)(#[^)\s\"']*)?")


def chapters() -> list[Path]:
    "The chapters in reading order (file-name order), scratch notebooks (`_*`) and the front page excluded."
    return sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")) and p.name != "index.ipynb")


def title(nb) -> tuple[str, str]:
    "The notebook's `# Title` and its `> summary` line."
    text = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    t = re.search(r"^#\s+(.+)$", text, re.M); s = re.search(r"^>\s*(.+)$", text, re.M)
    return (t.group(1).strip() if t else "untitled"), (s.group(1).strip() if s else "")


def static_widget(output):
    "A widget output as its stored-state text picture (tools/execute.py adds it), or None if it has none."
    data = output.get("data", {})
    static = "gv-widget-static" in "".join(data.get("text/html", ""))     # a picture whose widget data was dropped
    if WIDGET not in data and not static: return output                   # (tools/normalize_nbs.py --static-widgets)
    if "text/html" not in data: return None                   # no fallback: only the frozen first repr
    output.data = {"text/plain": data["text/plain"]}
    return output


def clean(nb):
    "Drop hidden cells; widget outputs as text pictures of their stored state; strip directive lines from code."
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and HIDE.search(c.source))]
    for c in nb.cells:
        if c.cell_type != "code": continue
        c.source = "\n".join(l for l in c.source.splitlines() if not DIRECTIVE.match(l)).strip("\n")
        c.outputs = [o for o in map(static_widget, c.get("outputs", [])) if o is not None]
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and not c.source and not c.get("outputs"))]
    return nb


def relink(text: str, out_dir: Path) -> str:
    """Links of a chapter's Markdown (written relative to nbs/, for Jupyter) made to work from `out_dir`: a chapter
    notebook becomes its rendered page there (`03_data.ipynb` → `03_data.md`), the front page `index.ipynb` the README,
    another existing file a relative path to it; links out, anchors and code are left alone."""
    pages = {p.stem for p in chapters()}
    def sub(m):
        head, target, frag = m.group(1), m.group(2), m.group(3) or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:|^/", target, re.I): return m.group(0)
        path = (NBS / target).resolve()
        if path.suffix == ".ipynb" and path.parent == NBS and path.stem in pages and (out_dir / f"{path.stem}.md") != path:
            new = os.path.relpath(out_dir / f"{path.stem}.md", out_dir)
        elif path == NBS / "index.ipynb": new = os.path.relpath(ROOT / "README.md", out_dir)
        elif path.exists(): new = os.path.relpath(path, out_dir)
        else: return m.group(0)
        return head + new.replace(os.sep, "/") + frag
    return "".join(part if i % 2 else LINK.sub(sub, part) for i, part in enumerate(FENCE.split(text)))


def to_markdown(path: Path, files_dir: str, header: str, out_dir: Path | None = None) -> tuple[str, dict]:
    """Markdown text and {relative image path: bytes} for one notebook; with `out_dir`, the links of its Markdown cells
    are pointed at the rendered pages (`relink`)."""
    nb = clean(nbformat.read(path, as_version=4))
    if out_dir is not None:
        for c in nb.cells:
            if c.cell_type == "markdown": c.source = relink(c.source, out_dir)
    body, res = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": files_dir})
    return header + re.sub(r"\n{3,}", "\n\n", body).strip() + "\n", res.get("outputs", {})


def readme() -> dict:
    "{path: bytes} of README.md and its images."
    hdr = "<!-- Generated from nbs/index.ipynb by tools/render.py: edit the notebook, then run `make docs`. -->\n\n"
    text, files = to_markdown(NBS / "index.ipynb", "README_files", hdr)
    return {ROOT / "README.md": text.encode()} | {ROOT / k: v for k, v in files.items()}


def docs() -> dict:
    "{path: bytes} of docs/: one Markdown page per chapter, with images, and a contents page."
    out, toc = {}, ["# gpuvision-nb — the course, rendered", "",
                    "Every chapter with its outputs, in reading order. Generated from `nbs/` by `tools/render.py` "
                    "(`make docs`); open the notebooks to run them.", ""]
    for p in chapters():
        t, s = title(nbformat.read(p, as_version=4))
        hdr = f"<!-- Generated from nbs/{p.name} by tools/render.py: edit the notebook, not this file. -->\n\n"
        text, files = to_markdown(p, f"{p.stem}_files", hdr, DOCS)
        out[DOCS / f"{p.stem}.md"] = text.encode()
        out |= {DOCS / k: v for k, v in files.items()}
        toc.append(f"1. [{t}]({p.stem}.md) — {s} ([notebook](../nbs/{p.name}))")
    out[DOCS / "README.md"] = ("\n".join(toc) + "\n").encode()
    return out


def sync(want: dict, owned: list[Path], check: bool) -> list[Path]:
    "Write `want` and delete stale generated files under `owned` folders; with `check`, only list the differences."
    stale = [p for p, data in want.items() if not p.exists() or p.read_bytes() != data]
    extra = [p for d in owned if d.exists() for p in d.rglob("*") if p.is_file() and p not in want]
    if not check:
        for p in extra: p.unlink()
        for p in stale: p.parent.mkdir(parents=True, exist_ok=True); p.write_bytes(want[p])
    return stale + extra


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    jobs = {"readme": [(readme, [ROOT / "README_files"])], "docs": [(docs, [DOCS])]}
    jobs["all"] = jobs["readme"] + jobs["docs"]; jobs["check"] = jobs["all"]
    if cmd not in jobs: print(__doc__, file=sys.stderr); return 2
    diffs = [p for make, owned in jobs[cmd] for p in sync(make(), owned, check=cmd == "check")]
    rel = ", ".join(str(p.relative_to(ROOT)) for p in diffs[:8]) + (" ..." if len(diffs) > 8 else "")
    if cmd == "check":
        if diffs:
            print(f"README.md/docs are stale (differ from the notebooks): {rel}\nRun `make docs` and commit the result.", file=sys.stderr)
            return 1
        print("README.md and docs/ in sync with nbs/")
    else: print(f"updated {len(diffs)} file(s)" + (f": {rel}" if diffs else ""))
    return 0


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
