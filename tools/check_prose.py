"""Find prose that quotes, or contradicts, what a notebook's outputs print (issue 23): the "numbers in prose must match
outputs" rule, made checkable.

A number that a cell measures changes every time the notebook runs — on another machine, under other load — while
the markdown that quotes it stays. So the course's convention is: **prose does not hard-code a measured number.** It
points at the output ("the ratio printed above"), says it without the number ("on this 2-core machine the threads
gain nothing"), or a small code cell next to the measurement prints the sentence with the number in it. What this
checker flags, per markdown sentence (tests/test_evidence.py runs it on every notebook):

* **run time** — a specific duration of running, training or executing ("about three minutes", "in two minutes
  on a laptop CPU", "64.6 s"): the time of a run is a measurement. A stated budget or target ("the course's target,
  ≤ 60 s on a 2-core CPU") may stay — unless a stored output of the notebook prints a run time above it.
* **measured ratio** — a multiplier said of speed or time ("0.66× faster", "2× slower", "runs at 0.84x"), or a
  decimal multiplier that a measuring cell (`# NBVAL_IGNORE_OUTPUT`) prints.
* **near miss** — a count one off what a deterministic output prints (prose 1,437, output 1,438): a stale quote.
  Only outputs that don't change from run to run (cells not marked `# NBVAL_IGNORE_OUTPUT`) count, so that a
  re-executed notebook can't make an unrelated prose number look stale.
* **measured quote** — a decimal number that a measuring cell's output prints ("64.6 s", "0.66"): it is exact only
  for the run that printed it.
* **direction** — "faster", "slower", "more time" stated as fact next to a pointer at an output ("in the table
  above, more time" while the output prints 0.84×): the direction is part of the measurement.
* **where the outputs ran** — "executed on an H200", "it was executed on the GPU box" when no stored output's device
  line ("this machine (…)", "this run, …", a timing's "[cuda:0]"; a record's `recorded on …` table doesn't count)
  names a GPU: say instead that the stored outputs come from the
  machine that last executed the notebook, whose device line says which.

Reviewed exceptions live in ALLOWED, each with its reason. Usage: python tools/check_prose.py [NOTEBOOK ...]
(default: nbs/*.ipynb); exit 1 on findings.
"""
import json, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_evidence import Finding, _output_texts, sentences   # noqa: E402  (same sentence splitter as the evidence rule)

ROOT = Path(__file__).resolve().parents[1]

# (notebook, text of the sentence) -> why it may stay. Keep each reason specific.
ALLOWED = {
    ("02_bench.ipynb", "must come out near 10 ms"): "the test's known input (time.sleep(0.01)), not a measurement",
    ("02_bench.ipynb", "says a CPU matmul takes 20 ms"): "a hypothetical in a self-check question, not a quote",
    ("08_prune.ipynb", "A 2× cheaper multiply is not a 2× faster layer"): "says a ratio does NOT follow; quotes no output",
    ("08_prune.ipynb", "may still not run 2× faster"): "an exercise's premise (half the multiply-adds), not a result",
    ("01_device.ipynb", "faster is a number this course never asserts"): "says the course does not assert it",
    ("09_quantize.ipynb", "and it runs faster than in fp32 — by how much is measured below"):
        "the direction is what the GPU record shown below measured (a record does not change when the notebook re-runs)",
    ("02_bench.ipynb", "float64 is about 2× slower than float32"):
        "an exercise solution's expectation from the vector width (half as many lanes), for the reader to measure",
}

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "half a": 0.5}
UNIT_S = {"ms": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60,
          "hour": 3600, "hours": 3600}
NUM = r"\d[\d,]*(?:\.\d+)?"
_WORDS = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
DURATION = re.compile(rf"(?<![\w.])(?:({NUM})[\s-]*(ms|s|sec|seconds?|min|minutes?|hours?)|"
                      rf"\b({_WORDS})[\s-]+(seconds?|minutes?|hours?))\b(?![-/])", re.I)
RUNNING = re.compile(r"\b(?:takes?|took|taking|runs?|ran|running|trains?|trained|training|lasts?|spends?|spent|"
                     r"execut\w*|finish\w*|completes?)\b|\bin (?:about |around |under |roughly )?(?:\d|" + _WORDS + r")", re.I)
BUDGET = re.compile(r"\b(?:targets?|budget|goal|aims?|at most|no more than|within)\b|≤|<=", re.I)
# A multiplier said of speed or time: "0.66× faster", "0.84x SeedCNN's time", "2× the one-thread speed".
SPEED_MULT = re.compile(rf"(?<![\w.×])({NUM})\s*[×x](?![\w\d])"
                        r"(?=(?:\s+[\w'’-]+){0,2}?\s+(?:faster|slower|quicker|speed\w*|time|throughput)\b)", re.I)
TARGET = re.compile(r"(?:≥|>=|≤|<=|at least|at most|targets?|needs?)\W{0,4}$", re.I)
# A decimal that an output measured, quoted with its unit: "67.8%", "64.6 s", "612.3 img/s".
MEASURED_QUOTE = re.compile(rf"(?<![\w.])(\d+\.\d+)\s*(?:%|s\b|ms\b|[kM]?img/s)")
DEVICE_CLAIM = re.compile(r"\b(?:were|was|is|are|been)\s+(?:executed|run|produced|made)\s+on\s+(?:an?\s+|the\s+)?"
                          r"(?:NVIDIA\s+)?(H100|H200|A100|B200|L4|T4|GPU(?:\s+box)?)\b", re.I)
# This run's device line: "this machine (AMD EPYC)", "this run, NVIDIA H200", a Timing's "[cuda:0]" — not a record's
# table, whose rows name cuda:0 too but whose title says "recorded on".
THIS_RUN = re.compile(r"\bthis (?:machine|run)\b[^\n]*|\[cuda:\d\][^\n]*", re.I)
GPU_NAME = re.compile(r"\bcuda:\d|\bNVIDIA\b|\bH[12]00\b|\bA100\b|\bGPU\b", re.I)
# "… in the table above, more time": the direction of a comparison that an output measures, stated as fact.
DIRECTION = re.compile(r"\b(?:more|less) \*?(?:time|images per second)\b|\b(?:faster|slower|cheaper|costlier)\b", re.I)
POINTER = re.compile(r"\b(?:above|below|printed|the table|this run|the run)\b", re.I)
HEDGE = re.compile(r"\b(?:whether|if|when|depends?|can|could|may|might|expect\w*|should|would|some|at least|targets?)\b", re.I)
OUT_DURATION = re.compile(rf"(?<![\w.])({NUM})\s*(ms|s|min)\b")
OUT_NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _value(token: str) -> float:
    "A number as written in prose or an output: digits with thousands commas, or a number word."
    t = token.lower().strip()
    return NUMBER_WORDS[t] if t in NUMBER_WORDS else float(t.replace(",", ""))


def _allowed(nb: str, sentence: str) -> bool:
    return any(nb == n and snip in sentence for n, snip in ALLOWED)


def _measured(source: str) -> bool:
    "Does a code cell measure (its output changes from run to run)? nbval's marker says so."
    return "NBVAL_IGNORE_OUTPUT" in source


class Outputs:
    "What a notebook's stored outputs print: every number, the measured ones, run times, and whether a GPU ran them."

    def __init__(self, cells: list[dict]):
        self.measured, self.durations, self.gpu = set(), [], False       # numbers printed by measuring cells, …
        self.values = set()         # integers ≥ 1,000 of outputs that don't change from run to run (8,000 = 8000)
        for c in cells:
            if c["cell_type"] != "code": continue
            src = "".join(c.get("source", ""))
            for text in _output_texts(c):
                nums = set(OUT_NUMBER.findall(text))
                if _measured(src): self.measured |= nums
                else: self.values |= {_value(n) for n in nums if "." not in n and _value(n) >= 1000}
                self.durations += [float(v.replace(",", "")) * UNIT_S[u] for v, u in OUT_DURATION.findall(text)]
                self.gpu |= any(GPU_NAME.search(l) and "recorded on" not in l and not re.search(r"\bno\b", l, re.I)
                                for l in THIS_RUN.findall(text))


def check_sentence(s: str, out: Outputs, where: str) -> list[Finding]:
    "Findings in one prose sentence `s` of a notebook whose stored outputs are `out` (a question quotes nothing)."
    found = []
    flag = lambda why: found.append(Finding(where, "prose", s, why))
    if s.rstrip().endswith("?"): return found
    for m in DURATION.finditer(s):
        bound = BUDGET.search(s[max(0, m.start() - 20):m.start()]) or (BUDGET.search(s) and RUNNING.search(s))
        if not bound and not RUNNING.search(s[max(0, m.start() - 50):m.end() + 50]): continue
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        seconds = _value(number) * UNIT_S[unit.lower()]
        if not bound:
            flag(f"run time: {m.group(0).strip()!r} is a measurement — point at the output that prints it"); break
        if over := [d for d in out.durations if d > seconds]:
            flag(f"run time: the bound {m.group(0).strip()!r} is exceeded by a stored output ({max(over):g} s)"); break
    for m in SPEED_MULT.finditer(s):
        if not TARGET.search(s[max(0, m.start() - 16):m.start()]):
            flag(f"measured ratio: {m.group(0).strip()!r} said of speed or time — point at the output that prints it")
            break
    for m in MEASURED_QUOTE.finditer(s):
        if m.group(1) in out.measured and not TARGET.search(s[max(0, m.start() - 16):m.start()]):
            flag(f"measured quote: {m.group(0).strip()!r} is what a measuring cell printed in one run"); break
    for n in OUT_NUMBER.findall(s):
        v = _value(n)
        if "." in n or v < 1000 or v in out.values: continue
        if near := sorted(o for o in out.values if abs(o - v) <= 1):
            flag(f"near miss: prose says {n}, an output prints {near[0]:,.0f}"); break
    if not found and DIRECTION.search(s) and POINTER.search(s) and not HEDGE.search(s):
        flag(f"direction: {DIRECTION.search(s).group(0)!r} states what an output measures — it may read the other way "
             "when re-run; say what to compare instead")
    if (m := DEVICE_CLAIM.search(s)) and not out.gpu:
        flag(f"where the outputs ran: says {m.group(0)!r}, but no stored output's device line names a GPU")
    return found


def check_notebook(path) -> list[Finding]:
    "Findings in one notebook's markdown cells, checked against its stored outputs (ALLOWED excepted)."
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    out, found = Outputs(nb["cells"]), []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown": continue
        for s in sentences("".join(cell.get("source", ""))):
            if not _allowed(path.name, s): found += check_sentence(s, out, f"{path.name} cell {i}")
    return found


def default_paths() -> list[Path]:
    "Every notebook of nbs/."
    return sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


def check(paths=None) -> list[Finding]:
    "Findings in `paths` (default: every notebook)."
    return [f for p in map(Path, paths or default_paths()) for f in check_notebook(p)]


if __name__ == "__main__":
    findings = check(sys.argv[1:] or None)
    for f in findings: print(f)
    print(f"{len(findings)} prose number(s) that quote or contradict an output")
    sys.exit(1 if findings else 0)
