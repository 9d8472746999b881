"""Give the notebooks the metadata JupyterLab writes, so that opening an untouched notebook does not mark it modified.

  python tools/normalize_nbs.py [NOTEBOOK ...]          normalize (default: nbs/*.ipynb); prints the ones it changed
  python tools/normalize_nbs.py --check [NOTEBOOK ...]  exit 1, naming them, if any lacks the metadata (changes nothing)
  python tools/normalize_nbs.py --python-version 3.12.3 ...   record that Python version instead of this interpreter's
  python tools/normalize_nbs.py --static-widgets ...    also store widget outputs as their static pictures only

Why: when JupyterLab 4 opens a notebook and its kernel starts, it writes the kernel's `kernelspec` and `language_info`
into the notebook's metadata; if they differ from what is stored, the notebook is marked modified (the dot on its tab)
although the reader changed nothing. `nbdev_clean` drops `language_info` (unless settings.ini's
`allowed_metadata_keys` keeps it, as it does here) and sets `kernelspec.display_name` to the kernel's name
("python3") where ipykernel says "Python 3 (ipykernel)". Measured with JupyterLab 4.6.6 and ipykernel 7.4 (Python
3.11.7): a notebook stays unmodified on opening only when BOTH the display name and the whole `language_info`,
Python's full version included, match the kernel; with "3.11", "3.12.3" or no version it is marked modified. So the
version cannot be made agnostic: this records the version of the Python that runs the tool (the course's venv), or
`--python-version`. Run it after `nbdev_clean` (which undoes the display name). Only `metadata.kernelspec` and
`metadata.language_info` change; the rest of the file stays byte for byte (its JSON layout is kept).

Stored widgets (`--static-widgets`). In a trusted notebook JupyterLab restores each stored widget from
`metadata.widgets` and, with no kernel behind it, marks every widget view with a red "disconnected" (broken link)
icon, while the slider still moves and changes nothing: it reads as broken. With `--static-widgets` a widget output
that has its static picture (tools/nbwidgets.py: the final progress bar, the slider at its position with "move it in
a running notebook") keeps only that picture and the notebook drops its stored widget state, so trusted and untrusted
notebooks, GitHub and the site all show the same honest picture; running the cell brings the live widget back.
"""
from __future__ import annotations

import argparse, json, platform, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEW, STATE = "application/vnd.jupyter.widget-view+json", "widgets"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# ipykernel's language_info (ipykernel/ipkernel.py), without the version, which is added per interpreter
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py", "mimetype": "text/x-python",
                 "name": "python", "nbconvert_exporter": "python", "pygments_lexer": "ipython3"}


def wanted(python_version: str | None = None) -> dict:
    "The notebook metadata JupyterLab writes for the python3 (ipykernel) kernel of `python_version` (default: this one)."
    return {"kernelspec": dict(KERNELSPEC),
            "language_info": {**LANGUAGE_INFO, "version": python_version or platform.python_version()}}


def problems(nb: dict) -> list[str]:
    """What a notebook's metadata lacks, whatever the Python version it records (so the check holds on any machine):
    the kernelspec's display name, and a `language_info` with ipykernel's fields and some Python 3 version."""
    meta, out = nb.get("metadata", {}), []
    if meta.get("kernelspec") != KERNELSPEC: out.append(f"kernelspec is {meta.get('kernelspec')}, not {KERNELSPEC}")
    info = meta.get("language_info") or {}
    if {k: v for k, v in info.items() if k != "version"} != LANGUAGE_INFO or not str(info.get("version", "")).startswith("3."):
        out.append("no language_info" if not info else f"language_info is {info}")
    return out


def live_widgets(nb: dict) -> int:
    "How many widget outputs of `nb` JupyterLab would restore as live widgets (its widget-view data and stored state)."
    return sum(VIEW in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", [])) if nb.get("metadata", {}).get(STATE) else 0


def static_widgets(nb: dict) -> bool:
    """Widget outputs that have a static picture (text/html) keep only it; the stored widget state goes when no output
    needs it. True if `nb` changed."""
    changed = False
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if VIEW in o.get("data", {}) and "text/html" in o["data"]: del o["data"][VIEW]; changed = True
    if STATE in nb.get("metadata", {}) and not any(VIEW in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", [])):
        del nb["metadata"][STATE]; changed = True
    return changed


def dumps_like(nb: dict, original: str) -> str:
    "`nb` as JSON in the layout of `original` (nbdev's sorted keys, or the key order as read), 1-space indent, UTF-8."
    for sort in (True, False):
        if json.dumps(json.loads(original), sort_keys=sort, indent=1, ensure_ascii=False) + "\n" == original:
            return json.dumps(nb, sort_keys=sort, indent=1, ensure_ascii=False) + "\n"
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def normalize(path: Path, python_version: str | None = None, check: bool = False, widgets: bool = False) -> list[str]:
    """Set `path`'s kernelspec and language_info, and with `widgets` store its widget outputs as static pictures (unless
    `check`); the problems it had ([] if none)."""
    text = path.read_text(encoding="utf-8")
    try: nb = json.loads(text)
    except json.JSONDecodeError as e: raise ValueError(f"{path}: not a notebook (invalid JSON: {e})") from None
    found = problems(nb) + ([f"{live_widgets(nb)} live widget output(s)"] if widgets and live_widgets(nb) else [])
    want = wanted(python_version)
    meta = nb.setdefault("metadata", {})
    if check: return found
    changed = widgets and static_widgets(nb)
    if not changed and all(meta.get(k) == v for k, v in want.items()): return found
    meta.update(want)
    path.write_text(dumps_like(nb, text), encoding="utf-8")
    return found or ["language_info version"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: nbs/*.ipynb")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook lacks the metadata")
    ap.add_argument("--python-version", help="the Python version to record (default: this interpreter's)")
    ap.add_argument("--static-widgets", action="store_true", help="widget outputs as their static pictures only (no stored state)")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "nbs").glob("*.ipynb"))
    bad = []
    for p in paths:
        if not p.is_file(): print(f"normalize_nbs: {p}: no such notebook", file=sys.stderr); return 2
        try: found = normalize(p, args.python_version, args.check, args.static_widgets)
        except ValueError as e: print(f"normalize_nbs: {e}", file=sys.stderr); return 2
        if found: bad.append(p); print(f"{p}: {'; '.join(found)}" if args.check else f"{p}: normalized")
    if args.check and bad:
        print(f"{len(bad)} notebook(s) lack JupyterLab's metadata: run `python tools/normalize_nbs.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__": sys.exit(main())
