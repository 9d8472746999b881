"""Hostile arguments and environment for every `gpuvision` command. The options are enumerated from the parser itself
(`cli.build_parser`), so an option added later is fuzzed too — and one of no known kind fails `test_every_argument_has_a_known_kind`.
Each bad value must end in exit status 2 and one line naming the option (or variable, or path) — never a traceback,
never a file written, and, for what the parser can see, never the command started (`parser_only` stands in for
every command: a refusal that needs the command to run is a late one, and is tested separately, with real runs that
fail in well under a second)."""
import argparse, functools, os, re
from pathlib import Path

import pytest
import torch

from gpuvision_nb import cli
from gpuvision_nb.device import _mps_available

NUMBERS = ["-1", "1e30", str(10**40), "nan", "inf", "-inf", "-1e30", "", " ", "abc", "0x10", "1,5"]   # refused by every range
INTEGERS_ONLY = ["1.5", "2e3"]
CHOICES = ["", " ", "bogus"]
DEVICES = (["", " ", "gpu", "tpu", "cuda:-1", "cuda:1e30", "cuda:" + "9" * 40, "cpu:1", "mps:1", "nan", "cuda:0,cpu", "cuda:99"]
           + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"]) + ([] if _mps_available() else ["mps"]))   # not here
PATHS = ["", " ", "\t", "n" * 256, "d/" * 2048]                 # a name over NAME_MAX (255), a path of PATH_MAX (4096) bytes


@functools.cache
def commands() -> dict:
    "{name: sub-parser} of `gpuvision` (one parser, read for its arguments only; each run builds its own)."
    p = cli.build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


def kind(a: argparse.Action) -> str:
    "What an argument takes: flag, number, integer, choice, device or path (what `test_every_argument_has_a_known_kind` requires)."
    if a.nargs == 0: return "flag"
    if a.choices is not None: return "choice"
    if a.type is cli.device_arg: return "device"
    name = getattr(a.type, "__name__", "")
    return name if name in ("number", "integer", "path") else f"untyped ({a.type!r})"


def arguments():
    "(command, action) of every argument but --help."
    return [(c, a) for c, sp in commands().items() for a in sp._actions if not isinstance(a, argparse._HelpAction)]


def name(a: argparse.Action) -> str:
    "How argparse names `a` in its messages: its option strings, or the positional's metavar (or dest)."
    return "/".join(a.option_strings) or a.metavar or a.dest


def a_valid(cmd: str, a: argparse.Action) -> str:
    "A value the parser takes for `a` (so that only the argument under test is wrong)."
    k = kind(a)
    if k == "choice": return str(next(iter(a.choices)))
    if k == "device": return "cpu"
    if k == "path": return "somewhere"
    return next(v for v in ("1", "32", "0.5", "0.01") if _takes(a, v))


def _takes(a, v) -> bool:
    try: a.type(v); return True
    except (argparse.ArgumentTypeError, ValueError, TypeError): return False


def base(cmd: str, without: str | None = None) -> list[str]:
    "`cmd` with every required argument (but the option of dest `without`) given a valid value: positionals, then options."
    sp, argv = commands()[cmd], [cmd]
    for a in sp._actions:
        if isinstance(a, argparse._HelpAction) or a.dest == without: continue
        if not a.option_strings and a.nargs != "?": argv.append(a_valid(cmd, a))
        elif a.option_strings and a.required: argv += [a.option_strings[0], a_valid(cmd, a)]
    return argv


def bad_values(cmd: str, a: argparse.Action) -> list[tuple[str, list[str]]]:
    "(case id, argv) of the bad values for `a`."
    k, out = kind(a), []
    vals = {"number": NUMBERS, "integer": NUMBERS + INTEGERS_ONLY, "choice": CHOICES, "device": DEVICES,
            "path": PATHS + (["-"] if a.dest != "paths" else [])}.get(k, [])
    for v in vals:
        case = repr(v) if len(v) < 40 else f"<{len(v)} bytes>"
        if a.option_strings: out.append((case, base(cmd, a.dest) + [a.option_strings[0], v]))
        else:                                    # the positional's slot, the others valid
            argv = [cmd] + [v if b.dest == a.dest else a_valid(cmd, b) for b in commands()[cmd]._actions
                            if not b.option_strings and (b.nargs != "?" or b.dest == a.dest) and not isinstance(b, argparse._HelpAction)]
            out.append((case, argv + sum(([b.option_strings[0], a_valid(cmd, b)] for b in commands()[cmd]._actions
                                             if b.option_strings and b.required), [])))
    if a.option_strings and k != "flag":         # twice: the last one silently winning is a mistake hidden
        out.append(("twice", base(cmd, a.dest) + [a.option_strings[0], a_valid(cmd, a)] * 2))
    if a.option_strings and k == "flag": out.append(("=1", base(cmd, a.dest) + [a.option_strings[0] + "=1"]))
    return out


CASES = [pytest.param(c, a, argv, id=f"{c} {name(a)} {case}") for c, a in arguments() for case, argv in bad_values(c, a)]


def _scratch(folder: Path, mp: pytest.MonkeyPatch) -> Path:
    "`folder` as the working folder (relative paths land there), with the results and cache folders inside it."
    mp.chdir(folder)
    mp.setenv("GPUVISION_RESULTS", str(folder / "results"))
    mp.setenv("GPUVISION_CACHE", str(folder / "cache"))
    return folder


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    "An empty working folder of the test's own (`_scratch`)."
    return _scratch(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def parser_folder(tmp_path_factory):
    "One working folder for the parser's cases (`_scratch`): each checks that it adds nothing to it."
    with pytest.MonkeyPatch.context() as mp: yield _scratch(tmp_path_factory.mktemp("parser"), mp)


@pytest.fixture
def parser_only(parser_folder, monkeypatch):
    """`parser_folder`, and every command replaced by a stub that returns 99 and records its name (the list given
    with the folder): the parser alone must refuse."""
    ran = []
    for c in commands(): monkeypatch.setattr(cli, f"cmd_{c}", lambda args, c=c: ran.append(c) or 99)
    return parser_folder, ran


def everything(folder: Path) -> set:
    "Every path under `folder`."
    return {p for p in folder.rglob("*")}


def refused(r, *names) -> None:
    "Exit status 2, one error line naming every one of `names`, no traceback."
    errors = [l for l in r.stderr.splitlines() if ": error: " in l]
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert len(errors) == 1 and all(n in errors[0] for n in names), r.stderr[-500:]
    assert "Traceback" not in r.stderr


def test_every_argument_has_a_known_kind():
    "A new argument with no `type=` (path_arg, device_arg, number_arg), choices or flag action would take any text unchecked."
    assert [(c, name(a), kind(a)) for c, a in arguments() if kind(a).startswith("untyped")] == []
    assert len(CASES) > 300


@pytest.mark.parametrize("cmd, action, argv", CASES)
def test_a_bad_value_is_refused_by_the_parser(cmd, action, argv, gpuvision, parser_only):
    """Every value of CASES is refused by the parser (no command starts) with one line naming the argument: before,
    `predict RUN ""` classified every image under the current folder, `train --out ""` wrote its run into it,
    `bench --out -` wrote a file named '-', `--lr -inf` said 'expected one argument', `--device cpu:1` trained, then
    failed to load its own checkpoint, `--out a --out b` silently used b."""
    scratch, ran = parser_only
    before = everything(scratch)
    r = gpuvision(*argv)
    refused(r, f"argument {name(action)}")
    assert ran == [] and everything(scratch) == before
    if kind(action) in ("number", "integer") and "twice" not in r.stderr:    # what is allowed, not 'expected one argument'
        assert re.search(r"must be an? (integer|finite number) from|expected an? (integer|number), got", r.stderr), r.stderr


def test_the_valid_bases_parse(gpuvision, parser_only):
    "The cases above fail for their one bad value: each command's base (and each valid value) is taken as it is."
    for c in commands():
        assert gpuvision(*base(c)).returncode == 99, c
    for c, a in arguments():
        if a.option_strings and kind(a) != "flag":
            assert gpuvision(*base(c, a.dest), a.option_strings[0], a_valid(c, a)).returncode == 99, (c, name(a))
    assert gpuvision("predict", "m", "-", "--device", "CPU:0").returncode == 99    # '-' is stdin for PATH; case and :0 are fine


# --- refusals that need the command to run (the file system's answer): each before any data or model is read ---

def _tree(root: Path) -> dict:
    "A file, a folder, an image and a non-UTF-8 name in `root`."
    (root / "afile.txt").write_text("x")
    (root / "afolder").mkdir()
    return {"file": root / "afile.txt", "folder": root / "afolder", "missing": root / "no" / "such",
            "non-utf8": root / os.fsdecode(b"caf\xe9-missing")}


LATE = [  # (argv with {file}/{folder}/{missing}/{non-utf8}, the words of the one error line)
    (["bench", "--quick", "--device", "cpu", "--min-run-time", "0.001", "--out", "{folder}"], ["{folder}", "folder"]),
    (["bench", "--quick", "--device", "cpu", "--min-run-time", "0.001", "--out", "{file}"], ["--out", "{file}"]),
    (["report", "--chart", "{folder}"], ["{folder}", "folder"]),
    (["report", "--chart", "{file}"], ["--chart", "{file}"]),
    (["data", "shapes", "--out", "{file}"], ["{file}"]),
    (["train", "--data", "{missing}"], ["{missing}"]),
    (["train", "--data", "{file}"], ["{file}"]),
    (["train", "--data", "{folder}"], ["{folder}"]),
    (["train", "--data", "{non-utf8}"], ["caf"]),
    (["train", "--from", "{missing}", "--data", "{folder}"], ["--from", "{missing}"]),
    (["train", "--out", "{file}", "--data", "{folder}"], ["{file}"]),
    (["demo", "--out", "{file}"], ["{file}"]),
    (["predict", "{missing}", "{folder}"], ["{missing}"]),
    (["predict", "{folder}", "{folder}"], ["{folder}"]),
    (["predict", "{non-utf8}", "{folder}"], ["caf"]),
    (["export", "{missing}", "--format", "onnx"], ["{missing}"]),
    (["export", "{file}", "--format", "onnx"], ["{file}"]),
    (["video", "framediff", "{missing}"], ["{missing}"]),
    (["video", "framediff", "{folder}"], ["{folder}"]),
    (["video", "framediff", "{file}", "--out", "{folder}"], ["{folder}"]),
]


@pytest.mark.parametrize("argv, words", LATE, ids=[" ".join(a) for a, _ in LATE])
def test_a_path_of_the_wrong_kind_is_refused_before_any_work(argv, words, gpuvision, scratch):
    "A missing path, a file for a folder, a folder for a file, a name that is not UTF-8: one line naming it, nothing written."
    paths = {k: str(v) for k, v in _tree(scratch).items()}
    fill = lambda s: s.format(**paths)
    before = everything(scratch)
    r = gpuvision(*map(fill, argv))
    refused(r, *map(fill, words))
    assert everything(scratch) == before


# --- the environment: each GPUVISION_* variable the package reads, and torchrun's ---

NO_FOLDER = "/proc/gpuvision-no-such-folder"     # Linux: nothing can be made under /proc, even by root (who ignores modes)
linux_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
BENCH = ["bench", "--quick", "--device", "cpu", "--min-run-time", "0.001"]
TRAIN = ["train", "--data", "digits", "--epochs", "1", "--device", "cpu", "--no-progress", "--out", "run"]

ENV = [  # (variable, value: {file} or a text, argv, the words of the one error line)
    ("GPUVISION_RESULTS", "{file}", BENCH, ["GPUVISION_RESULTS", "{file}"]),
    pytest.param("GPUVISION_RESULTS", NO_FOLDER, BENCH, ["GPUVISION_RESULTS", NO_FOLDER], marks=linux_proc),
    ("GPUVISION_CACHE", "{file}", TRAIN, ["GPUVISION_CACHE", "{file}"]),
    pytest.param("GPUVISION_CACHE", NO_FOLDER, TRAIN, ["GPUVISION_CACHE"], marks=linux_proc),
    *[("GPUVISION_DEVICE", v, BENCH[:2] + ["--out", "b.json"], ["GPUVISION_DEVICE", "expected 'auto'"])
      for v in ("gpu", "cpu:1", "nan", "-1", "{file}", "cuda:" + "9" * 40)],
    *[(var, v, TRAIN, [var]) for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK") for v in ("abc", "1e30", "-1", "nan", "1.5")],
]


@pytest.mark.parametrize("var, value, argv, words", ENV)
def test_a_bad_environment_variable_is_named(var, value, argv, words, gpuvision, scratch):
    """A variable that names a file where a folder belongs, a folder nothing can be written to, a device or a rank
    that is no such thing: one line naming the variable, nothing written. (`bench` with GPUVISION_RESULTS a file
    said only 'can't write F/bench--cpu.json: F is not a writable folder', not where F came from.)"""
    paths = {k: str(v) for k, v in _tree(scratch).items()}
    fill = lambda s: s.format(**paths)
    before = everything(scratch)
    r = gpuvision(*argv, **{var: fill(value)})
    refused(r, *map(fill, words))
    assert everything(scratch) == before


def test_report_warns_of_a_results_variable_that_is_a_file(gpuvision, scratch):
    "`report` shows the other records (a warning, not an error); it said 'no such folder (yet)' of a file."
    paths = _tree(scratch)
    r = gpuvision("report", GPUVISION_RESULTS=str(paths["file"]))
    assert r.returncode == 0 and f"GPUVISION_RESULTS={paths['file']}: not a folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_this_machine_lacks_is_a_usage_error_naming_device(gpuvision, parser_only):
    "Named as the user typed it (--device), before any work — not get_device(prefer='cuda'), its Python name, later."
    r = gpuvision("train", "--device", "cuda", "--data", "shapes")
    refused(r, "argument --device: 'cuda' is not available: torch sees no CUDA GPU")
    assert "get_device" not in r.stderr and parser_only[1] == []
