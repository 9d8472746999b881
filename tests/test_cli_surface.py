"""The command lines as a user meets them (`gpuvision`, and `python -m gpuvision_nb.distributed` under torchrun) — every
command, option, metavar, type, default, choice and help line — compared with tests/cli_surface.json. A change to
the CLI is then a change of that file, seen in review, never a silent one: mutation testing (cli, seed 919;
distributed, seed 932) found help texts, metavars, a type and a default (bench --min-run-time 0.2) no test read.
After a deliberate change: GPUVISION_UPDATE_SURFACE=1 python -m pytest tests/test_cli_surface.py, and read the diff."""
import argparse, json, os
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("cli_surface.json")


def surface(p: argparse.ArgumentParser) -> dict:
    "What `p` (and its sub-commands, recursively) tells a user: data, not argparse's formatting (it differs by Python)."
    out = {"description": p.description, "epilog": p.epilog, "arguments": []}
    for a in p._actions:
        if isinstance(a, argparse._HelpAction): continue
        if isinstance(a, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in a._choices_actions}
            out["commands"] = {name: {"help": helps.get(name), **surface(sub)} for name, sub in a.choices.items()}
            continue
        out["arguments"].append({"flags": a.option_strings or [a.dest], "metavar": a.metavar, "nargs": a.nargs,
                                 "type": getattr(a.type, "__name__", None),
                                 "default": a.default, "choices": list(a.choices) if a.choices is not None else None,
                                 "required": a.required, "help": a.help})
    return out


def test_the_command_line_is_the_reviewed_one(monkeypatch):
    from gpuvision_nb import cli, distributed
    monkeypatch.setattr(cli, "usable_cores", lambda: 2)           # predict --workers' default follows the machine
    parsers = {"gpuvision": cli.build_parser(), "python -m gpuvision_nb.distributed": distributed.build_parser()}
    now = json.loads(json.dumps({name: surface(p) for name, p in parsers.items()}, default=repr))
    if os.environ.get("GPUVISION_UPDATE_SURFACE"):
        SNAPSHOT.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    was = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changed = sorted(_differences(was, now))
    assert not changed, ("the command line differs from tests/cli_surface.json (if on purpose, regenerate it: "
                         f"GPUVISION_UPDATE_SURFACE=1 python -m pytest {Path(__file__).name}):\n  " + "\n  ".join(changed[:20]))


def _differences(a, b, where: str = "") -> list[str]:
    "Where JSON values `a` and `b` differ, as 'PATH: A → B' lines."
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _differences(a.get(k), b.get(k), f"{where}.{k}" if where else k)]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} → {b!r}"]


def test_a_difference_is_named_by_where_it_is():
    assert _differences({"gpuvision": {"arguments": [{"help": "x"}]}}, {"gpuvision": {"arguments": [{"help": "y"}]}}) == \
           ["gpuvision.arguments[0].help: 'x' → 'y'"]
    assert _differences({"a": 1}, {"a": 1}) == [] and _differences({"a": [1]}, {"a": [1, 2]}) == ["a: [1] → [1, 2]"]
