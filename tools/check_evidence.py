"""Find GPU figures that no record or prediction backs: the course's "evidence, not prose" rule (issue 14).

The convention (tests/test_evidence.py enforces it on every notebook, the README and docs/):

* **Prose never states a GPU figure.** Markdown cells, the README's and docs pages' text don't give a speed, rate,
  speed-up, utilisation or duration of GPU work — in digits or in words ("tens of thousands of images per second",
  "two orders of magnitude faster", "about 20 s"). They point at an output instead ("the table below").
* **Nor a GPU speed in words** (issue 23): "nearly free", "costs nothing", "routine", "the bottleneck", "frames/s",
  "faster" said of a GPU's work need a record, a measurement or a labelled prediction in the same sentence — or the
  sentence hedges ("expect", "if", a question). A sentence that tells what a GPU profile shows needs a profile among
  the notebook's outputs.
* **Outputs print GPU figures from code, with their provenance.** A line of a notebook output that states a GPU
  figure must (a) not have its number typed into the cell's source (a hand-typed `print` is prose in disguise), and
  (b) belong to an output that says where the figure comes from: a record's label (`Record.label`: "recorded on
  NVIDIA H200 · torch … · date"), a prediction's label (`Prediction`: "datasheet bound, not a measurement"), or this
  run's own measurement (a `Timing`/`Comparison` line naming `cuda:N`, "this run", "on NVIDIA …").

A *GPU figure* is a sentence (prose) or a line (outputs) that names a GPU — GPU, CUDA, cuda:N, H100, A100,
tensor core, nvidia-smi, NVLink, … — and holds a quantity of speed: a rate, a multiplier, a percentage, a duration,
or a faster/slower claim next to a number.

Usage: python tools/check_evidence.py [PATH ...]   (default: nbs/*.ipynb, README.md, docs/*.md); exit 1 on findings.
"""
import json, re, sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GPU = re.compile(r"\b(GPUs?|CUDA|cuda:\d+|[HA]100|H200|B200|L4|T4|RTX|GeForce|NVIDIA|tensor[- ]cores?|nvidia-smi|NVLink|"
                 r"data[- ]cent(?:re|er) (?:GPU|card)s?|sparse kernels?|2:4)\b", re.I)
NUM = r"\d[\d,]*(?:\.\d+)?"
STANDALONE = r"(?<![\w:.])(?<!chapter )(?<!chapters )\d[\d,.]*(?![\w:])"   # a number on its own: not fp32's 32, H100's 100, a chapter
SPEED = re.compile(r"utili[sz]|efficien|throughput|faster|slower|speed|busy|idle|of (?:the |its )?peak|roofline|"
                   r"\bbeats?\b|outperform|pays? off|\bbound\b|per second|/s\b", re.I)
QUANTITY = [
    ("rate", re.compile(rf"{NUM}\s*(?:[kKMGTP]i?)?(?:(?i:img|images?|FLOPs?)|B|bytes)\s*(?:/\s*s\b|(?i:per\s+second))")),
    ("rate", re.compile(rf"{NUM}\s*[kKMGTP]?FLOPS\b")),
    ("rate", re.compile(r"\b(?:tens|hundreds|thousands|millions|billions|dozens|a few|several)\b[^.;]{0,40}?"
                        r"\b(?:images?|img|FLOPs?|bytes)\b[^.;]{0,20}?(?:per\s+second|/s)", re.I)),
    ("multiplier", re.compile(rf"(?<![\w×x.]){NUM}\s*[×x](?![\w×\d(])(?!\s*(?:\(|smaller|larger|bigger|fewer|the size|the bytes|the memory|the parameters))")),
    ("multiplier", re.compile(r"\b(?:\d+|two|three|four|five|ten|several|many|tens|hundreds|thousands)\s+(?:of\s+)?times\s+"
                              r"(?:faster|slower|more|less|the|as)\b", re.I)),
    ("multiplier", re.compile(r"\borders?\s+of\s+magnitude\b|\ba multiple of\b", re.I), "speed"),
    ("percentage", re.compile(rf"{NUM}\s*%"), "speed"),
    ("duration", re.compile(rf"{NUM}\s*(?:s|ms|µs|us|ns|sec|seconds?|min|minutes?|hours?)\b")),
    ("comparison", re.compile(rf"\b(?:faster|slower)\b(?=[^.]*{STANDALONE})|{STANDALONE}[^.]*\b(?:faster|slower)\b", re.I)),
]
COMPILE = re.compile(r"\bcompil|autotun|kernel launch", re.I)
# A number stated as a goal, not as a result: "≥ 1,000,000 images/s", "at least 400x", "reaches 90 %".
TARGET = re.compile(r"(?:≥|>=|≤|<=|at least|at most|target(?:s|ed)? (?:is|of)?|reach(?:es)?|needs?)\W{0,4}$", re.I)
# What an output must say about where its GPU figures come from.
PROVENANCE = re.compile(r"recorded on|datasheet|this run|\bcuda:\d+|\[cuda|on NVIDIA|predicted", re.I)
# A pointer at recorded evidence, which must then be on the page: "the recorded panel", "params 'peak_memory' below".
DANGLING = re.compile(r"\bthe recorded (?:GPU )?(?:panel|run|results?)\b|\bparams '\w+' below\b", re.I)
# Words that state a GPU's speed without a number (issue 23): a frame rate, "free", "costs nothing", "routine", "the
# bottleneck", "faster"/"slower" (of the GPU's work — "a faster GPU", "faster kernels" name a kind of hardware).
WORDS = re.compile(r"\bframes?\s*(?:/\s*s\b|per\s+second)|\bfps\b|\b(?:nearly|almost|essentially|practically|effectively)\s+free\b|"
                   r"\b(?:is|are|becomes?|comes?)\s+(?:\w+\s+)?free\b|\bfree\s+(?:there|on\s+(?:a|the)\s+GPU)|"
                   r"\bcosts?\s+(?:almost\s+|next\s+to\s+)?nothing|\bnegligible\b|\broutine\b|\bthe\s+bottleneck\b|"
                   r"\bearns?\s+its\s+keep\b|\b(?:faster|slower)\b(?!\s+(?:GPUs?|cards?|kernels?|links?|interconnects?)\b)", re.I)
# A sentence that asks, supposes, expects, or points at its evidence (a record, a measurement, a datasheet bound, an
# output on the page) makes no unbacked claim.
BACKED = re.compile(r"\?|\b(?:if|when|whether|suppose|expect\w*|predict\w*|measur\w*|record\w*|datasheets?|bound|"
                    r"printed|prints|tables?|panels?|charts?|plots?|below|above|compar\w*|vs)\b", re.I)
# A sentence that says what a GPU profile shows ("the top kernels are …") needs a profile among the outputs.
PROFILE_CLAIM = re.compile(r"\bprofile\b[^.]*\b(?:top|dominat\w*|most (?:of the )?time)\b", re.I)
PROFILE_OUTPUT = re.compile(r"Self CUDA|cuda_time|CUDA time total", re.I)
# An output that says it is made up illustrates a layout only (allowed, if never drawn in a results chart).
SYNTHETIC = re.compile(r"made-up|synthetic example|for illustration only", re.I)


@dataclass
class Finding:
    where: str      # file and cell
    kind: str       # 'prose' or 'output'
    text: str       # the sentence or line
    why: str        # which rule

    def __str__(self): return f"{self.where} [{self.kind}, {self.why}]: {self.text.strip()[:200]}"


def quantities(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) of every quantity of speed in `text` — targets ("≥ 400x") excepted, and percentages or
    "orders of magnitude" only where the text talks about speed."""
    out = []
    for kind, rx, *needs in QUANTITY:
        if needs and not SPEED.search(text): continue
        out += [(kind, m.group(0)) for m in rx.finditer(text) if not TARGET.search(text[max(0, m.start() - 16):m.start()])]
    return out


def gpu_figures(text: str) -> list[tuple[str, str]]:
    """The quantities of `text` if it names a GPU, else [] — except the durations of compiling, autotuning and kernel
    launches, which are GPU-stack timings wherever they are stated."""
    if GPU.search(text): return quantities(text)
    return [q for q in quantities(text) if q[0] == "duration"] if COMPILE.search(text) else []


def _strip_code(md: str) -> str:
    "Markdown without fenced code blocks, inline code, HTML comments and link targets."
    md = re.sub(r"```.*?```", " ", md, flags=re.S)
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    md = re.sub(r"`[^`]*`", " ", md)
    return re.sub(r"\]\([^)]*\)", "]", md)


def sentences(md: str) -> list[str]:
    "Prose units of markdown `md`: table rows and list items alone, other paragraphs split into sentences."
    out = []
    for para in re.split(r"\n\s*\n", _strip_code(md)):
        lines = para.splitlines()
        if any(l.lstrip().startswith("|") for l in lines): out += lines; continue
        text = " ".join(l.strip() for l in lines)
        out += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9*(\[_])|\s(?=[-*] |\d+\. )", text) if s.strip()]
    return out


def gpu_words(text: str) -> list[str]:
    """Words of `text` that claim a GPU's speed without a number ("nearly free", "the bottleneck", "frames/s",
    "faster") — when `text` names a GPU and neither hedges nor points at a record, measurement or bound."""
    if not GPU.search(text) or BACKED.search(text): return []
    return [m.group(0) for m in WORDS.finditer(text)]


def check_prose(md: str, where: str, shows_records: bool = False, shows_profile: bool = False) -> list[Finding]:
    """Every sentence of markdown `md` that states a GPU figure, in numbers or in words — or that points at recorded
    GPU evidence ("the recorded panel") when its notebook shows none (`shows_records`: some output carries a
    record's label), or tells what a GPU profile shows when no profile is among the outputs (`shows_profile`)."""
    found = []
    for s in sentences(md):
        if q := gpu_figures(s): found.append(Finding(where, "prose", s, ", ".join(sorted({k for k, _ in q}))))
        elif w := gpu_words(s): found.append(Finding(where, "prose", s, f"GPU speed in words without evidence: {w[0]!r}"))
        elif not shows_profile and GPU.search(s) and PROFILE_CLAIM.search(s):
            found.append(Finding(where, "prose", s, "tells what a GPU profile shows, and no profile is on the page"))
    if not shows_records:
        found += [Finding(where, "prose", s, "points at recorded GPU evidence the notebook doesn't show")
                  for s in sentences(md) if DANGLING.search(s)]
    return found


def _numbers(quantity: str) -> list[str]:
    "The numbers of a matched quantity worth looking for in source code (two or more characters)."
    return [n for n in re.findall(NUM, quantity) if len(n) >= 2]


def _typed(number: str, source: str) -> bool:
    "Is `number` written in `source` (as printed, or without its thousands commas, or with underscores)?"
    forms = {number, number.replace(",", ""), number.replace(",", "_")}
    return any(re.search(rf"(?<![\w.]){re.escape(f)}(?![\w])", source) for f in forms)


def check_output(text: str, source: str | None, where: str) -> list[Finding]:
    """GPU figures of one output `text` (of a cell with code `source`, if known) that are typed into the source or
    printed without saying where they come from."""
    if SYNTHETIC.search(text): return []
    found, tagged = [], bool(PROVENANCE.search(text))
    if DANGLING.search(text) and "recorded on" not in text:
        found.append(Finding(where, "output", DANGLING.search(text).group(0), "points at recorded GPU evidence it doesn't show"))
    for line in text.splitlines():
        q = gpu_figures(line)
        if not q: continue
        typed = [m for _, m in q if source is not None and any(_typed(n, source) for n in _numbers(m))]
        if typed: found.append(Finding(where, "output", line, f"typed into the cell's source: {typed[0]!r}"))
        elif not tagged: found.append(Finding(where, "output", line, "no provenance (record label, datasheet bound or this run)"))
    return found


def _output_texts(cell: dict) -> list[str]:
    texts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream": texts.append("".join(o.get("text", "")))
        for mime in ("text/plain", "text/markdown"):
            if mime in o.get("data", {}): texts.append("".join(o["data"][mime]))
    return texts


def check_notebook(path: Path) -> list[Finding]:
    "Findings in one notebook: its markdown cells (prose) and its code cells' outputs."
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    outputs = [t for c in nb["cells"] if c["cell_type"] == "code" for t in _output_texts(c)]
    shows_records = any("recorded on" in t for t in outputs)
    shows_profile = any(PROFILE_OUTPUT.search(t) for t in outputs)
    found = []
    for i, cell in enumerate(nb["cells"]):
        src = "".join(cell.get("source", ""))
        where = f"{Path(path).name} cell {i}"
        if cell["cell_type"] == "markdown": found += check_prose(src, where, shows_records, shows_profile)
        elif cell["cell_type"] == "code":
            for text in _output_texts(cell): found += check_output(text, src, where)
    return found


def check_page(text: str, where: str) -> list[Finding]:
    """Findings in a rendered page (README.md, docs/*.md): its prose outside code blocks. Rendered outputs are part of
    such a page — 4-space-indented text, raw HTML tables, displayed Markdown — so a unit that carries its provenance
    (a record label, a datasheet bound, this run's device) counts as an output; the notebooks' own check has already
    held their markdown cells to the strict rule."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    lines = text.splitlines()
    outputs = "\n".join(re.sub(r"<[^>]+>", " ", l.strip()) for l in lines if l.startswith("    ") or l.lstrip().startswith("<"))
    prose = "\n".join("" if l.startswith("    ") or l.lstrip().startswith("<") else l for l in lines)
    found = [f for f in check_prose(prose, where, shows_records="recorded on" in text) if not PROVENANCE.search(f.text)]
    return found + check_output(outputs, None, f"{where} (outputs)")


def check_markdown_page(path: Path) -> list[Finding]:
    "`check_page` of a file."
    return check_page(Path(path).read_text(encoding="utf-8"), Path(path).name)


def default_paths() -> list[Path]:
    "Every chapter notebook, the README and the docs pages."
    return (sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_")) +
            [p for p in [ROOT / "README.md"] if p.exists()] + sorted((ROOT / "docs").glob("*.md")))


def check(paths=None) -> list[Finding]:
    "Findings in `paths` (default: `default_paths()`)."
    found = []
    for p in map(Path, paths or default_paths()):
        found += check_notebook(p) if p.suffix == ".ipynb" else check_markdown_page(p)
    return found


if __name__ == "__main__":
    findings = check(sys.argv[1:] or None)
    for f in findings: print(f)
    print(f"{len(findings)} GPU figure(s) without evidence")
    sys.exit(1 if findings else 0)
