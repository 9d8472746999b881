"""Hand-made mutation pass (issue 13): each mutation is one small textual change to gpuvision_nb/<module>.py — a bug a
real change could introduce. For each: copy the package and the tests to a scratch tree, apply it, run the tests that
should notice (-x); caught = a test failed (pytest's status 1; `OUTCOME`) where the same tests pass on the package as
it is (each selection is run once unmutated first: a test that fails in the scratch tree anyway is no catch). A
mutation whose text is not found exactly once is reported (PATTERN xN), not applied, and the exit status is then 1:
tests/test_tooling checks that every one still applies and that its tests exist (code moved between modules had left
12 of the 44 unapplied).

    python tools/mutations.py [N ...]       (all, or only mutations N ...)

Kept beside mutmut (`make mutate`, tools/mutate.py) because it makes the bugs mutmut 3 can't: mutmut changes
operators, constants, names and call arguments inside one function, but never deletes or reorders statements
(an fsync or a set_epoch call dropped, `latest` published before the rename, the seed set after the model is built)
and never runs tests chosen across files (tests/test_faults.py -k …). Its 53 mutations are such bugs; mutmut's
sample measures the rest."""
import json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
M = [  # (module, description, old, new, tests)
 ("bench", "time_fn reports the mean", "m.median, m.iqr, [float(x)", "m.mean, m.iqr, [float(x)", "tests/test_bench.py"),
 ("bench", "Timing.from_times reports the mean", "return cls(label, str(device), med, q3 - q1", "return cls(label, str(device), statistics.mean(times), q3 - q1", "tests/test_bench.py"),
 ("bench", "no synchronize after warm-up", "    for _ in range(warmup): call()\n    synchronize(dev)", "    for _ in range(warmup): call()", "tests/test_bench.py"),
 ("bench", "record drops the GPU from provenance", '"gpus": [gpu_info(i) for i in cuda_idx]', '"gpus": []', "tests/test_bench.py"),
 ("files", "write_files leaves mkstemp's 0600", "            os.chmod(tmps[current], default_mode())\n", "", "tests/test_files.py"),
 ("files", "write_files leaves temp files on failure", "        for tmp in tmps.values(): Path(tmp).unlink(missing_ok=True)\n", "", "tests/test_files.py tests/test_files_faults.py"),
 ("bench", "load_records ignores skipped (raises)", "                if skipped is None: raise\n", "                raise\n", "tests/test_bench.py tests/test_faults.py -k report"),
 ("bench", "check_number without upper bound", "if not ok or not lo <= value <= hi:", "if not ok or not lo <= value:", "tests/test_bench.py tests/test_faults.py -k extreme"),
 ("bench", "check_number accepts inf", "(integral or isinstance(value, float)) and math.isfinite(value)", "(integral or isinstance(value, float))", "tests/test_bench.py"),
 ("checkpoint", "latest published before the rename", "        os.replace(tmp, folder / name); tmp = None", "        write_atomic(folder / LATEST, name, CheckpointError); os.replace(tmp, folder / name); tmp = None", "tests/test_checkpoint.py"),
 ("checkpoint", "checkpoints ordered by name", "return sorted(found, key=epoch_of)", "return sorted(found)", "tests/test_checkpoint.py"),
 ("checkpoint", "prune keeps one too many", "older[:max(len(older) - (keep - 1), 0)]", "older[:max(len(older) - keep, 0)]", "tests/test_checkpoint.py"),
 ("checkpoint", "no fsync of the checkpoint folder", "os.chmod(tmp, default_mode(folder=True)); fsync_path(tmp)", "os.chmod(tmp, default_mode(folder=True))", "tests/test_checkpoint.py"),
 ("checkpoint", "mkdtemp's 0700 kept", "os.chmod(tmp, default_mode(folder=True)); fsync_path(tmp)", "fsync_path(tmp)", "tests/test_checkpoint.py"),
 ("checkpoint", "hash not checked", "        if sha256(p) != want: raise", "        if False: raise", "tests/test_checkpoint.py"),
 ("checkpoint", "manifest schema not checked", "    if problem := _manifest_problem(manifest):", "    if problem := None:", "tests/test_checkpoint.py"),
 ("checkpoint", "state schema not checked", "    state = _check_state(state, ck / STATE, manifest[\"epoch\"])\n", "", "tests/test_checkpoint.py"),
 ("checkpoint", "latest not validated", "    if not _NAME.fullmatch(name): raise", "    if False: raise", "tests/test_checkpoint.py"),
 ("checkpoint", "weights_only=False", "weights_only=True)\n    except Exception as e: raise CheckpointError", "weights_only=False)\n    except Exception as e: raise CheckpointError", "tests/test_checkpoint.py"),
 ("checkpoint", "RNG not restored", "        try: set_rng_state(state[\"rng\"])", "        try: pass", "tests/test_checkpoint.py"),
 ("checkpoint", "all_finite misses inf", "t.detach().isfinite().all()", "~t.detach().isnan().any()", "tests/test_checkpoint.py"),
 ("checkpoint", "last_finite ignores finiteness", "            if all_finite(tensors.values()): return ck", "            return ck", "tests/test_checkpoint.py"),
 ("checkpoint", "no lock", "            if fd is not None: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "            if fd is not None: pass", "tests/test_checkpoint.py"),
 ("checkpoint", "disk-full error not mapped", "        if isinstance(e, OSError): raise CheckpointError(f\"can't write checkpoint", "        if False: raise CheckpointError(f\"can't write checkpoint", "tests/test_checkpoint.py"),
 ("checkpoint", "sweep forgets killed saves' folders", 'if p.is_dir() and not p.name.startswith(f".{LATEST}."): shutil.rmtree(p, ignore_errors=True)', 'if False: pass', "tests/test_checkpoint.py"),
 ("train", "evaluate without eval mode", "    with evaluating(model):\n        for x, y in data:\n            x, y = to_device(x, y, dev, channels_last)", "    if True:\n        for x, y in data:\n            x, y = to_device(x, y, dev, channels_last)", "tests/test_train.py"),
 ("train", "fit forgets set_epoch", "            if hasattr(train, \"set_epoch\"): train.set_epoch(epoch)\n", "", "tests/test_train.py"),
 ("train", "no weight check", "if not math.isfinite(train_loss) or not all_finite(unwrap(model).state_dict().values()):", "if not math.isfinite(train_loss):", "tests/test_train.py"),
 ("train", "no validation-loss check", "            if val is not None and not math.isfinite(v[\"loss\"]):", "            if False:", "tests/test_train.py"),
 ("train", "resume restarts at epoch 0", "saved = verify_checkpoint(ck); start = saved[\"epoch\"]", "saved = verify_checkpoint(ck); start = 0", "tests/test_train.py"),
 ("train", "a new schedule every epoch", "            if epoch == p[0]: sched = new_schedule(p)", "            sched = new_schedule(p)", "tests/test_train.py"),
 ("train", "no extension phase", "    return phases + ([[planned, epochs]] if epochs > planned else [])", "    return phases", "tests/test_train.py"),
 ("train", "micro-batch scale ignored", "    scaler.scale(loss * scale if scale != 1 else loss).backward()", "    scaler.scale(loss).backward()", "tests/test_train.py"),
 ("runs", "resume accepts changed settings", "        if changed:\n            raise ValueError(\"a resumed run keeps", "        if False:\n            raise ValueError(\"a resumed run keeps", "tests/test_train.py tests/test_run_folder.py tests/test_run_files.py tests/test_faults.py -k resume"),
 ("runs", "seed after the model", "        set_seed(settings[\"seed\"])                             # before the model: its initial weights follow the seed\n        net = _initial_model(settings, fd, source, prev.get(\"model\") if saved is not None else None)\n", "        net = _initial_model(settings, fd, source, prev.get(\"model\") if saved is not None else None)\n        set_seed(settings[\"seed\"])\n", "tests/test_faults.py -k same_command"),
 ("runs", "a folder holding a run is reused", "        if prev is not None and not (resume or overwrite):", "        if False:", "tests/test_train.py tests/test_run_folder.py tests/test_run_files.py tests/test_faults.py -k reusing"),
 ("runs", "other data accepted on resume", "    if not diff: return", "    return", "tests/test_train.py tests/test_run_folder.py tests/test_run_files.py tests/test_faults.py -k resume"),
 ("runs", "per-class accuracy over predictions", "per = cm.diag().double() / cm.sum(1).clamp(min=1)", "per = cm.diag().double() / cm.sum(0).clamp(min=1)", "tests/test_train.py tests/test_run_folder.py tests/test_run_files.py"),
 ("runs", "default epochs ignore data size", "return min(max(RECIPES[model][\"epochs\"], math.ceil(MIN_UPDATES / max(batches_per_epoch, 1))), MAX_EPOCHS)", "return RECIPES[model][\"epochs\"]", "tests/test_train.py tests/test_run_folder.py tests/test_run_files.py"),
 ("runs", "lock not taken", "(lock_folder(out) if main else contextlib.nullcontext())", "(contextlib.nullcontext())", "tests/test_faults.py -k two_real"),
]


def tree_of(package: Path) -> Path:
    """A scratch tree that runs the tests on a copy of `package`: the package and tests copied (a mutation edits
    them), what some tests read (nbs/, docs/, tools/, README.md, settings.ini, setup.py) linked, read-only by convention."""
    tree = Path(tempfile.mkdtemp(prefix="mutant-"))
    shutil.copytree(package, tree / "gpuvision_nb"); shutil.copytree(REPO / "tests", tree / "tests")
    for name in READ:
        if (REPO / name).exists(): (tree / name).symlink_to(REPO / name)
    return tree


def pytest_status(tree: Path, tests: str) -> tuple[int, str]:
    "pytest's exit status for `tests` run in `tree` (stop at the first failure), and its last line."
    r = subprocess.run(f"timeout 900 python -m pytest -q -x -p no:cacheprovider {tests}", shell=True, cwd=tree,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    return r.returncode, (r.stdout.strip().splitlines() or [""])[-1][:120]


def main(only=None):
    chosen = [(i, m) for i, m in enumerate(M) if not only or i in only]
    clean = tree_of(REPO / "gpuvision_nb")                      # first, each selection on the package as it is:
    failing = {t for t in {m[4] for _, m in chosen} if pytest_status(clean, t)[0] != 0}   # a failure there is no catch
    shutil.rmtree(clean, ignore_errors=True)
    results = []
    for i, (mod, what, old, new, tests) in chosen:
        tree = tree_of(REPO / "gpuvision_nb")
        src = tree / "gpuvision_nb" / f"{mod}.py"; text = src.read_text()
        n = text.count(old)
        if n != 1 or tests in failing:
            status = f"PATTERN x{n}" if n != 1 else "FAILS UNMUTATED"
            results.append((i, mod, what, status)); print(i, mod, what, status, flush=True)
            shutil.rmtree(tree, ignore_errors=True); continue
        src.write_text(text.replace(old, new))
        t0 = time.time()
        code, last = pytest_status(tree, tests)
        status = OUTCOME.get(code, f"ERROR (pytest exit status {code})")
        results.append((i, mod, what, status)); print(i, mod, what, status, f"{time.time() - t0:.0f}s", last, flush=True)
        shutil.rmtree(tree, ignore_errors=True)
    caught = sum(r[3] == "caught" for r in results)
    print(f"caught {caught} of {len(results)}")
    return 0 if all(r[3] in ("caught", "MISSED") for r in results) else 1     # stale, failing unmutated or no test run


READ = ("nbs", "docs", "tools", "README.md", "settings.ini", "setup.py")   # linked into each scratch tree (`tree_of`)


# pytest's exit status: 1 = a test failed (the mutation is caught); 0 = all passed (missed). Anything else says nothing
# about the mutation: 5 = no test collected (a -k that matches no test any more), 2 = interrupted or a collection
# error, 124 = `timeout`. Counting every non-zero status as caught made a stale -k look like a caught bug.
OUTCOME = {0: "MISSED", 1: "caught", 5: "NO TESTS RAN"}


M += [
 ("robust", "PixelLoader drops set_epoch", "        if hasattr(self.loader, \"set_epoch\"): self.loader.set_epoch(epoch)\n\n    def __iter__(self):\n        for i, (x, y)", "        pass\n\n    def __iter__(self):\n        for i, (x, y)", "tests/test_robust.py"),
 ("distributed", "Interleaved drops set_epoch", "        for l in self.loaders: l.set_epoch(epoch)", "        pass", "tests/test_distributed.py -k interleaved"),
 ("distributed", "ShardedGPULoader ignores the epoch", "part.x, part.y, part.shuffle, part.epoch = self.x[idx], self.y[idx], False, self.sampler.epoch", "part.x, part.y, part.shuffle, part.epoch = self.x[idx], self.y[idx], False, 0", "tests/test_distributed.py -k sharded_gpu"),
 ("distributed", "ddp_train(simulate) forgets to accumulate", "accumulate=accumulate * simulate,", "accumulate=accumulate,", "tests/test_distributed.py -k equal_one_process"),
 ("files", "too_long ignores the path's length", "    if len(data) >= most_path: return", "    if False: return", "tests/test_files.py -k too_long"),
 ("files", "too_long counts characters, not bytes", "    if len(os.fsencode(name)) <= most: return None", "    if len(name) <= most: return None", "tests/test_files.py -k too_long"),
 ("files", "too_long asks the missing folder, not the nearest there", "    while not os.path.isdir(folder): folder = folder.parent", "    folder = folder.parent", "tests/test_files.py -k too_long"),
 ("imagefile", "near_miss compares names as they are encoded", "if name_key(n) == name_key(part))", "if n.casefold() == part.casefold())", "tests/test_imagefile.py -k near_miss"),
 ("imagefile", "image_files forgets near_miss", "does not exist{hint or near_miss(p)}", "does not exist{hint}", "tests/test_imagefile.py -k missing"),
 ("data", "load_folder forgets near_miss", "does not exist{near_miss(root)}", "does not exist", "tests/test_imagefile.py -k every_loader"),
 ("cli", "--device not checked against this machine", 'if (dev := device_spec(text, "it")) is not None: _check_available(dev, "it", resolve=False)', 'device_spec(text, "it")', "tests/test_cli_args.py -k lacks"),
 ("device", "resolve=False asks which GPU is current", "        if not resolve: return dev\n", "", "tests/test_device.py -k resolving"),
 ("runs", "a batch not a multiple of the processes said to be --batch-size", 'given = ("(--batch-size)" if batching["global_batch"] == asked else', 'given = ("(--batch-size)" if True else', "tests/test_run_folder.py -k multiple"),
]


if __name__ == "__main__":
    sys.exit(main({int(a) for a in sys.argv[1:]} or None))
