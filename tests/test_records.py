"Records and report input of the wrong type or shape (issue 21.5): one clear line each, the rest of the table shown."
import contextlib, io, json, os, subprocess, sys
from pathlib import Path

import pytest

from gpuvision_nb.bench import RecordError, Timing, load_record, load_records, record, shown


def good(folder, experiment="goodexp"):
    "A valid record, so the table has something to show beside the bad ones."
    return record(experiment, [Timing("t", "cpu", 1.0, 0.0, [1.0], 10, "img")], "x", folder=folder).path


def edited(path, change):
    "Write back the record at `path` after `change(d)` edits its JSON."
    d = json.loads(path.read_text()); change(d); path.write_text(json.dumps(d)); return path


def prov(**kw): return lambda d: d["provenance"].update(kw)
def timing(**kw): return lambda d: d["timings"][0].update(kw)


BAD = {  # name: (change to a valid record, what the message says)
    "gpus-empty-object": (prov(gpus=[{}]), "gpus must be a list of objects, each with a name"),
    "gpus-string": (prov(gpus="H100"), "gpus must be a list"),
    "params-string": (timing(params="x"), "params is a str, not an object"),
    "device-int": (timing(device=7), "device is a int, not text"),
    "label-list": (timing(label=["a"]), "label is a list, not text"),
    "median-nan": (timing(median=float("nan")), "median nan is not a valid time"),
    "median-negative": (timing(median=-0.5), "median -0.5 is not a valid time"),
    "median-string": (timing(median="1"), "median '1' is not a valid time"),
    "iqr-inf": (timing(iqr=float("inf")), "IQR inf is not a finite number"),
    "items-negative": (timing(items=-3), "items -3 is not a finite number >= 0"),
    "times-strings": (timing(times=["a"]), "times must be a list of numbers"),
    "unknown-key": (timing(speed=3), "unknown keys ['speed']"),
    "date-int": (prov(date=2026), "provenance ['date'] must be text"),
    "threads-string": (prov(cpu_threads="8"), "cpu_threads must be an integer"),
    "cpu-only-string": (prov(cpu_only="yes"), "cpu_only must be true or false"),
    "provenance-list": (lambda d: d.update(provenance=[]), "no provenance"),
    "timings-dict": (lambda d: d.update(timings={}), "no timings"),
    "timing-string": (lambda d: d.update(timings=["t"]), "a timing is a JSON str"),
    "experiment-int": (lambda d: d.update(experiment=3), "no experiment name"),
    "cuda-int": (prov(cuda=12), "provenance cuda must be text or null"),
    "schema-2": (lambda d: d.update(schema=2), "schema 2, expected 1"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_field_of_the_wrong_type_is_one_clear_error_naming_the_file(tmp_path, name):
    change, msg = BAD[name]
    p = edited(good(tmp_path, "bad"), change)
    with pytest.raises(RecordError) as e: load_record(p)
    assert msg in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, msg", [("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                                       ('"just a string"', "a JSON str, not an object"), ("[1, 2]", "a JSON list"),
                                       ("null", "a JSON NoneType")])
def test_json_that_is_not_a_record_object_is_refused(tmp_path, text, msg):
    (tmp_path / "x--cpu.json").write_text(text)
    with pytest.raises(RecordError, match=msg): load_record(tmp_path / "x--cpu.json")


def test_the_report_shows_the_good_records_and_one_warning_line_per_bad_one(tmp_path, monkeypatch):
    from gpuvision_nb.cli import main
    results = tmp_path / "results"; good(results)
    for name in ("gpus-empty-object", "params-string", "device-int", "median-nan", "median-negative"):
        edited(good(results, name), BAD[name][0])
    (results / "deep--cpu.json").write_text("[" * 100_000 + "]" * 100_000)
    monkeypatch.setenv("GPUVISION_RESULTS", str(results))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main(["report"])
    warnings = err.getvalue().strip().splitlines()
    assert code == 0 and "goodexp" in out.getvalue() and "Traceback" not in err.getvalue()
    assert len(warnings) == 6 and all(w.startswith("gpuvision report: warning: skipped record file") for w in warnings)
    assert sum("not a valid time" in w for w in warnings) == 2          # NaN and negative medians: reported, not dropped silently


def test_every_shipped_record_passes_the_checks():
    from pathlib import Path
    skipped = []
    recs = load_records(folders=[Path(__file__).resolve().parents[1] / "nbs" / "results"], skipped=skipped)
    assert recs and not skipped


def test_a_file_name_that_is_not_utf8_is_printed_escaped_not_lost(tmp_path, gpuvision):
    name = os.fsdecode(b"bad-\xff--cpu.json")
    (tmp_path / name).write_text("{not json")
    with pytest.raises(RecordError) as e: load_record(tmp_path / name)
    assert "bad-\\xff--cpu.json" in str(e.value) and str(e.value).encode("utf-8")     # printable under strict UTF-8
    assert shown(tmp_path / name).endswith("bad-\\xff--cpu.json") and shown("plain é") == "plain é"
    r = gpuvision("report", GPUVISION_RESULTS=tmp_path)          # in process: what it prints must encode as strict UTF-8
    assert "bad-\\xff--cpu.json" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (r.stdout + r.stderr).encode("utf-8")                # a lone surrogate (the raw name) would raise here


def test_the_results_table_in_a_notebook_warns_and_shows_the_rest(tmp_path, monkeypatch):
    from gpuvision_nb.report import headline_rows, results_table
    results = tmp_path / "results"; good(results)
    edited(good(results, "bad"), BAD["gpus-empty-object"][0])
    monkeypatch.setenv("GPUVISION_RESULTS", str(results))
    with pytest.warns(UserWarning, match=r"skipped record file .*bad--.*gpus must be a list"):
        table = str(results_table())
    assert "goodexp" in table
    with pytest.warns(UserWarning): assert any(r["experiment"] == "goodexp" for r in headline_rows())


# ---- make mutate (bench, seed 7, sample 40): survivors killed ---------------------------------------------------
def test_the_messages_are_exact_whole_sentences(tmp_path):
    "mutmut: text added around a message (the checks above test substrings) and the label's 60-character cut survived."
    p = edited(good(tmp_path, "bad"), BAD["gpus-empty-object"][0])
    with pytest.raises(RecordError) as e: load_record(p)
    assert str(e.value).endswith(" is malformed: provenance gpus must be a list of objects, each with a name (text)")
    p = edited(good(tmp_path, "long"), timing(label="L" * 100, median=-1.0))
    with pytest.raises(RecordError) as e: load_record(p)
    assert str(e.value).endswith(f" is malformed: timing {'L' * 60!r}: median -1.0 is not a valid time (a finite number of seconds > 0)")


def test_an_installed_package_reads_the_course_records_it_ships(tmp_path):
    """Installed from a wheel (no checkout), `gpuvision report` said 'no recorded results yet': the course's records
    stayed in nbs/results/. The build now copies them into the package (setup.py's build_py), read-only for it:
    `course_results_dir` finds them, and nothing is written there (results_dir stays the user's)."""
    root, build = Path(__file__).resolve().parents[1], tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)], cwd=root, check=True,
                   capture_output=True)
    shipped = build / "gpuvision_nb" / "results"
    assert sorted(p.name for p in shipped.glob("*.json")) == sorted(p.name for p in (root / "nbs" / "results").glob("*.json"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(build), "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    code = ("from gpuvision_nb.bench import course_results_dir, repo_results_dir, results_dir, load_records\n"
            "print(repo_results_dir(), course_results_dir(), results_dir(), len(load_records()), sep='\\n')")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split("\n")[:4] == ["None", str(shipped), str(tmp_path / "gpuvision-results"),
                                                             str(len(list(shipped.glob("*.json"))))], r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "gpuvision_nb.cli", "report"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "H200" in r.stdout and "no recorded" not in r.stdout, r.stdout + r.stderr
