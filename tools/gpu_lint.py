"""Static check of the notebooks' code cells for the failure classes that only show on a GPU (the 2026-11-28 H200 run
failed on each of them, and a CPU run cannot see them because every tensor is on the CPU there):

  numpy-on-device   `.numpy()` on a tensor that may live on the GPU: `t.numpy()` raises for a CUDA tensor. Write
                    `t.cpu().numpy()` (a no-op copy-free call on the CPU).
  compare-on-device fastcore's `test_eq`/`test_close`/`test_ne` compare through NumPy, so a CUDA tensor argument
                    raises or compares wrongly; compare `.cpu()` tensors, `.item()`/`.tolist()` values, or use
                    `torch.testing.assert_close`. Flagged when an argument is a tensor-producing call on the device
                    (a model's output, `.to(dev)`, `device=`), without `.cpu()`, `.item()` or `.tolist()`.
  device-name       a record or file name spelled with the CPU's device slug (`--cpu.json`) in a check: on a GPU the
                    name is `--nvidia-h200.json`. Pin the device (`mock.patch("torch.cuda.is_available", ...)`) in
                    that cell, or build the name with `record_path`.
  exact-float       `test_eq`/`==` on floating-point model outputs is exact and fails under TF32 (on by default for
                    cuDNN convolutions): use `test_close` with a *relative* tolerance.

A finding is silenced by a comment `# gpu-ok: <why>` on its line (say why: "CPU tensor by construction").
  python tools/gpu_lint.py [NOTEBOOK ...]      exit 1 if anything is found
"""
from __future__ import annotations

import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OK = re.compile(r"#\s*gpu-ok\b")
CHECKS = re.compile(r"\b(test_eq|test_close|test_ne)\(")
ON_DEVICE = re.compile(r"\.to\((dev|device)\b|device=(dev|device)\b|\.cuda\(\)")
MODEL_CALL = re.compile(r"\b(model|net|m|qm|run)\([^)]*\)")
SAFE = re.compile(r"\.cpu\(\)|\.item\(\)|\.tolist\(\)|\.(shape|dtype|device)\b")


def _receiver(line: str, end: int) -> str:
    "The expression chain ending at `end` (before `.numpy()`): back to the last space or bracket not inside a call."
    depth, i = 0, end
    while i > 0:
        c = line[i - 1]
        if c in ")]": depth += 1
        elif c in "([":
            if depth == 0: break
            depth -= 1
        elif depth == 0 and c in " ,=+-*/:": break
        i -= 1
    return line[i:end]


def lint_source(src: str) -> list[tuple[int, str, str]]:
    "(line number, rule, line) for each finding in one cell's source."
    out = []
    pinned_cpu = 'mock.patch("torch.cuda.is_available", return_value=False)' in src
    for n, line in enumerate(src.splitlines(), 1):
        code = line.split("#")[0] if "#" in line and not OK.search(line) else line
        if OK.search(line) or line.lstrip().startswith("#"): continue
        for m in re.finditer(r"\.numpy\(\)", code):
            if ".cpu()" not in _receiver(code, m.start()): out.append((n, "numpy-on-device", line.strip()))
        if CHECKS.search(code):
            if (ON_DEVICE.search(code) or MODEL_CALL.search(code)) and not SAFE.search(code):
                out.append((n, "compare-on-device", line.strip()))
            if re.search(r"--cpu\.json", code) and not pinned_cpu: out.append((n, "device-name", line.strip()))
    return out


def lint_notebook(path: Path) -> list[str]:
    "'file cell N line M [rule]: code' for each finding in the code cells of `path`."
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    found = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code": continue
        src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        found += [f"{Path(path).name} cell {i} line {n} [{rule}]: {line[:120]}" for n, rule, line in lint_source(src)]
    return found


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((ROOT / "nbs").glob("*.ipynb"))
    found = [f for p in paths for f in lint_notebook(p)]
    print("\n".join(found) if found else f"gpu-lint: {len(paths)} notebooks, nothing found")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
