"""Mutation testing with mutmut 3.x on one module of gpuvision_nb, with only the tests that concern it (`make mutate`).

Why: a test suite that passes says nothing about whether it would notice a bug. mutmut makes many small changes to the
module (a flipped comparison, a dropped argument, a changed constant) and runs the module's tests against each one: a
mutant the tests still pass ("survived") is a change nobody would notice. A full run takes hours on 2 cores, so this
tool runs a reproducible random SAMPLE of the mutants (0 = all of them).

    python tools/mutate.py MODULE [--sample N] [--seed S] [--jobs J]     (make mutate MODULE=checkpoint SAMPLE=60 SEED=0)

It works in a scratch tree, mutants/<module>/ (git-ignored): a copy of gpuvision_nb/ and tests/ and a generated
pyproject.toml whose [tool.mutmut] section mutates only gpuvision_nb/<module>.py and selects the test files of
TESTS[module]; mutmut then makes its own mutants/ folder in there. OMP_NUM_THREADS=1: OpenMP threads busy-waiting in
parallel workers made false timeouts. Prints killed/survived/timeout counts, the killed share, and every survivor
(function and mutant id); `mutmut show <id>` run in mutants/<module>/ shows a survivor's diff, and
mutants/<module>/survivors.diff holds them all.

Two blind spots of mutmut's per-mutant test selection (it runs the tests that called the mutated function in its stats
run, in this process): a test that runs the code in a subprocess (`python -m gpuvision_nb.cli ...`) never kills a
mutant, and a module-scoped fixture's work is charged to the FIRST test that used it, so a later test that only reads
the fixture's result is not run for those mutants. Both make the killed share an underestimate, not an overestimate."""
import argparse, ast, json, os, random, re, shutil, subprocess, sys, time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = {  # module → the test files that are meant to catch its bugs (mutmut runs, per mutant, those that reach it)
    "checkpoint": ["tests/test_checkpoint.py"],
    "bench": ["tests/test_bench.py", "tests/test_records.py"],
    "report": ["tests/test_records.py", "tests/test_evidence.py"],   # evidence: headline rows, charts, predictions
    "train": ["tests/test_train.py"],
    "runs": ["tests/test_run_folder.py", "tests/test_run_files.py", "tests/test_train.py"],   # train: settings, reports
    "deploy": ["tests/test_deploy.py"],
    "data": ["tests/test_data.py", "tests/test_data_faults.py"],
    "folderdata": ["tests/test_data.py", "tests/test_data_faults.py"],        # appendix A9: its tests stay beside the data's
    "files": ["tests/test_files.py", "tests/test_files_faults.py", "tests/test_bench.py", "tests/test_cli_faults.py"],   # bench: records written through it
    "folders": ["tests/test_folders.py", "tests/test_data.py"],   # data: make_shapes/shapes_root write and cache through it
    "distributed": ["tests/test_distributed.py", "tests/test_cli_surface.py"],
    "imagefile": ["tests/test_imagefile.py", "tests/test_data.py", "tests/test_data_faults.py",
                  "tests/test_cli_faults.py", "tests/test_launch.py"],   # image_files and stdin_paths: the paths predict takes
    "modelfile": ["tests/test_modelfile.py", "tests/test_robust.py", "tests/test_deploy.py", "tests/test_faults.py"],
    "supervisor": ["tests/test_supervisor.py", "tests/test_robust.py", "tests/test_distributed.py"],
    "launch": ["tests/test_launch.py"],
    "augment": ["tests/test_augment.py"],
    "videofile": ["tests/test_video.py"],
    "transfer": ["tests/test_transfer.py"],
    "device": ["tests/test_device.py", "tests/test_evidence.py"],
    "models": ["tests/test_models.py", "tests/test_prune.py", "tests/test_amp.py"],   # amp: step_cost, roofline_bound
    "amp": ["tests/test_amp.py"],
    "prune": ["tests/test_prune.py", "tests/test_models.py", "tests/test_amp.py"],   # models: config of a pruned model; amp: tf32 rebuild
    "quantize": ["tests/test_quantize.py", "tests/test_deploy.py"],   # deploy: int8 models exported and served
    # cli: the tests that run `gpuvision ...` in this process (conftest's `gpuvision` fixture, `cli.main`); a test that
    # runs the command in a subprocess can't kill a mutant (mutmut only sees this process), so it is not run per mutant
    "cli": ["tests/test_cli.py", "tests/test_cli_surface.py", "tests/test_cli_args.py", "tests/test_cli_faults.py", "tests/test_launch.py", "tests/test_deploy.py",
            "tests/test_records.py", "tests/test_video.py", "tests/test_demo.py"],
    "video": ["tests/test_video.py"],
    "demo": ["tests/test_demo.py", "tests/test_cli_faults.py"],
    "robust": ["tests/test_robust.py"],
}
DESELECT = {  # module → tests that cannot run on its mutants at all (they would fail the clean run): pytest node ids
    # torch.jit.script compiles a module's forward from its source; mutmut's trampoline for it is not TorchScript
    "models": ["tests/test_models.py::test_scripted_equals_eager"],
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout", 24: "timeout",
          -24: "timeout", 152: "timeout", 255: "timeout", 37: "type check", None: "not checked"}


def mutmut() -> str:
    "The mutmut command beside this Python (the project's venv), or a clear error."
    exe = Path(sys.executable).with_name("mutmut")
    if not exe.exists(): sys.exit("mutate: mutmut is not installed in this environment: pip install 'mutmut>=3.8,<4'")
    return str(exe)


# read by some tests, linked into the scratch tree: the README's commands (test_cli), records and prose checks, setup.py
# (test_records builds the package to see that a wheel ships the course's records)
READ = ("nbs", "docs", "tools", "README.md", "settings.ini", "setup.py")


def scratch_tree(module: str) -> Path:
    "A fresh mutants/<module>/ holding the package, the tests and a pyproject.toml configuring mutmut for `module`."
    work = REPO / "mutants" / module
    shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
    shutil.copytree(REPO / "gpuvision_nb", work / "gpuvision_nb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for name in READ: (work / name).symlink_to(REPO / name)
    q = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["gpuvision_nb"]\n'
        f'only_mutate = ["gpuvision_nb/{module}.py"]\n'
        f"pytest_add_cli_args_test_selection = {q(TESTS[module])}\n"
        f'pytest_add_cli_args = {q(["-p", "no:cacheprovider", "-q", "-x", *(f"--deselect={t}" for t in DESELECT.get(module, ()))])}\n'
        f"also_copy = {q(READ)}\n"
        "use_git_change_detection = false\n")
    return work


def mutant_names(work: Path, module: str) -> list[str]:
    "Generate the mutants (mutmut's own generator, no test run) and return their names."
    code = ("import sys; from mutmut.__main__ import create_mutants;"
            "from mutmut.utils.file_utils import copy_src_dir, copy_also_copy_files;"
            "import os; os.makedirs('mutants', exist_ok=True); copy_src_dir(); copy_also_copy_files(); create_mutants(1)")
    r = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True)
    meta = work / "mutants" / "gpuvision_nb" / f"{module}.py.meta"
    if r.returncode != 0 or not meta.exists(): sys.exit(f"mutate: generating the mutants failed:\n{r.stderr[-2000:]}")
    return sorted(json.loads(meta.read_text())["exit_code_by_key"])


def results(work: Path, module: str, names: list[str]) -> dict[str, str]:
    "The status of each mutant in `names`, read from mutmut's .meta file."
    codes = json.loads((work / "mutants" / "gpuvision_nb" / f"{module}.py.meta").read_text())["exit_code_by_key"]
    return {n: STATUS.get(codes.get(n), f"code {codes.get(n)}") for n in names}


def function_of(name: str) -> str:
    "`gpuvision_nb.checkpoint.x_save_checkpoint__mutmut_12` → `save_checkpoint` (methods: `Class.method`)."
    tail = name.split(".", 2)[-1].rsplit("__mutmut_", 1)[0]
    return tail.replace("xǁ", "").replace("ǁ", ".").removeprefix("x_")


def docstring_only(diff: str) -> bool:
    "True if a mutant's diff changes nothing but a string that stands alone as a statement (a docstring): equivalent."
    changed = [l[1:].strip() for l in diff.splitlines() if l[:1] in ("+", "-") and not l.startswith(("+++", "---"))]
    def lone_string(line):
        try: body = ast.parse(line).body
        except SyntaxError: return False
        return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str)
    return bool(changed) and all(lone_string(l) for l in changed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", choices=sorted(TESTS)); ap.add_argument("--sample", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0); ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    if not (REPO / "gpuvision_nb" / f"{a.module}.py").exists(): sys.exit(f"mutate: gpuvision_nb/{a.module}.py does not exist")
    t0 = time.time(); work = scratch_tree(a.module)
    names = mutant_names(work, a.module)
    chosen = sorted(random.Random(a.seed).sample(names, a.sample)) if 0 < a.sample < len(names) else names
    print(f"mutate: {a.module}: {len(chosen)} of {len(names)} mutants (seed {a.seed}), tests {' '.join(TESTS[a.module])}", flush=True)
    (work / "tmp").mkdir(exist_ok=True)       # a mutant that breaks a clean-up leaves its files in here, not in /tmp
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(work / "mutants"),
           "TMPDIR": str(work / "tmp")}
    env.pop("GPUVISION_DEVICE", None)
    r = subprocess.run([mutmut(), "run", "--max-children", str(a.jobs), *chosen], cwd=work, env=env,
                       capture_output=True, text=True)
    (work / "mutmut-run.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0 and any(m in r.stdout + r.stderr for m in ("Failed to run clean test", "failed to collect stats")):
        sys.exit(f"mutate: the tests fail without any mutant; see {work / 'mutmut-run.log'}")
    status = results(work, a.module, chosen)
    diffs = {k: subprocess.run([mutmut(), "show", k], cwd=work, env=env, capture_output=True, text=True).stdout
             for k, v in status.items() if v != "killed"}
    for k, d in diffs.items():
        if status[k] in ("survived", "no tests") and docstring_only(d): status[k] = "equivalent"   # a docstring changed
    n = Counter(status.values()); tested = len(chosen) - n["not checked"] - n["equivalent"]   # "no tests": not caught
    survivors = sorted(k for k, v in status.items() if v not in ("killed", "equivalent"))
    (work / "survivors.diff").write_text("\n".join(diffs[k] for k in survivors))
    print(f"mutate: {a.module}: " + ", ".join(f"{k} {v}" for k, v in sorted(n.items())) +
          f"; killed {n['killed']} of {tested} non-equivalent = {n['killed'] / max(tested, 1):.0%} "
          f"(equivalent: docstring-only changes; timeouts and mutants no test reaches count as not killed) "
          f"in {time.time() - t0:.0f} s")
    for s in survivors: print(f"  {status[s]:9} {function_of(s):32} {s}")
    if survivors: print(f"diffs: {work / 'survivors.diff'}  (or: cd {work.relative_to(REPO)} && mutmut show <id>)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
