"""Generate README.md (and README_files/) from nbs/index.ipynb, the course's front page.

Quarto is not installable on our machines, so `nbdev_readme` can't run; this does the same job with nbconvert:
cells marked `#| hide` are dropped, `#|` directive lines and `# NBVAL_...` markers are removed, outputs are kept,
and images are written to README_files/.

Usage: python tools/readme.py          (write README.md)
       python tools/readme.py --check  (exit 1 if README.md is stale; CI runs this)
"""
import re, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
NB, README, FILES = ROOT / "nbs" / "index.ipynb", ROOT / "README.md", "README_files"
HEADER = "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, then run `make readme`. -->\n\n"
DIRECTIVE = re.compile(r"^\s*(#\s*\|.*|#\s*NBVAL_\w+.*)$")


def _is_hidden(cell) -> bool:
    return any(re.match(r"^\s*#\s*\|\s*hide\s*$", l) for l in cell.source.splitlines())


def render() -> tuple[str, dict]:
    "README text and its image files {name: bytes}, from the notebook."
    nb = nbformat.read(NB, as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and _is_hidden(c))]
    for c in nb.cells:
        if c.cell_type == "code":
            c.source = "\n".join(l for l in c.source.splitlines() if not DIRECTIVE.match(l)).strip("\n")
    body, res = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": FILES})
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    return HEADER + body, res.get("outputs", {})


def main(check: bool) -> int:
    text, files = render()
    want = {README: text.encode()} | {ROOT / name: data for name, data in files.items()}
    stale = [p for p, data in want.items() if not p.exists() or p.read_bytes() != data]
    extra = [p for p in (ROOT / FILES).glob("*") if p not in want] if (ROOT / FILES).exists() else []
    if check:
        if stale or extra:
            print("README.md is stale (differs from nbs/index.ipynb): " + ", ".join(str(p.relative_to(ROOT)) for p in stale + extra)
                  + "\nRun `make readme` and commit the result.", file=sys.stderr)
            return 1
        print("README.md in sync with nbs/index.ipynb")
        return 0
    for p in extra: p.unlink()
    for p, data in want.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    print(f"wrote README.md ({len(files)} image file(s))")
    return 0


if __name__ == "__main__": sys.exit(main("--check" in sys.argv[1:]))
