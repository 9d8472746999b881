"""Copy notebooks for nbval, numbering their code cells' `execution_count`.

`nbdev_clean` stores notebooks with `execution_count: null` but keeps their outputs; nbval reads such a cell as
"unrun reference cell has outputs" and fails. The copies get counts 1, 2, 3, ... and keep every output, so nbval
still compares `# NBVAL_CHECK_OUTPUT` cells with what is committed. Scratch notebooks (`_*.ipynb`) are skipped.

Usage: python tools/nbcopy.py SRC_DIR DEST_DIR
"""
import json, shutil, sys
from pathlib import Path


def renumber(nb: dict) -> dict:
    "Number the code cells (and their execute_result outputs) 1, 2, 3, ... in place."
    n = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code": continue
        n += 1
        cell["execution_count"] = n
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result": out["execution_count"] = n
    return nb


def main(src: str, dest: str) -> None:
    src, dest = Path(src), Path(dest)
    if not src.is_dir(): sys.exit(f"nbcopy: source folder {src} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    nbs = sorted(p for p in src.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    if not nbs: sys.exit(f"nbcopy: no notebooks in {src}")
    for p in nbs:
        nb = json.loads(p.read_text(encoding="utf-8"))
        (dest / p.name).write_text(json.dumps(renumber(nb), indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"nbcopy: {len(nbs)} notebooks -> {dest}")


if __name__ == "__main__": main(*sys.argv[1:3])
