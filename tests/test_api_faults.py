"""A careless or unlucky user's calls of the Python API from a notebook — and `gpuvision train --resume` — found by
hostile testing of what the command-line audit (test_cli_faults.py) did not cover: a user's folder that is only
*named* like ours, a write that fails on a full disk, a resume with nothing (or a stale export) in the folder. Each
must leave the user's files as they were and say in one line what is wrong."""
import errno, os
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch import nn

from gpuvision_nb.checkpoint import CheckpointError, checkpoints, latest_checkpoint, save_checkpoint
from gpuvision_nb.runs import RunExistsError, run_training

from test_run_folder import FAST, _folder

FULL = OSError(errno.ENOSPC, "No space left on device")


def _tree(root: Path) -> dict:
    "Every file under `root` with its bytes: what a user had, to compare after."
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_checkpoints_never_prune_or_replace_a_users_folder_of_the_same_name(tmp_path):
    """`fit(..., ckpt_dir=FOLDER)` / `save_checkpoint(FOLDER, ...)` into a folder of the user's that holds folders named
    like checkpoints (`epoch-0001/` of sample images): pruning deleted all but one of them, and a save of that
    epoch replaced the user's folder with a checkpoint. Only folders with a manifest are checkpoints now."""
    for e in (1, 2, 3):
        (tmp_path / f"epoch-000{e}").mkdir(); (tmp_path / f"epoch-000{e}" / "samples.png").write_text(f"mine {e}")
    mine = _tree(tmp_path)
    net = nn.Linear(2, 2)
    for e in (5, 6, 7): save_checkpoint(tmp_path, net, epoch=e, keep=1)
    assert [p.name for p in checkpoints(tmp_path)] == ["epoch-0007"] and latest_checkpoint(tmp_path).name == "epoch-0007"
    with pytest.raises(CheckpointError, match=r"epoch-0002: it exists and is not a checkpoint \(no manifest.json\), so it is not replaced"):
        save_checkpoint(tmp_path, net, epoch=2)
    assert {k: v for k, v in _tree(tmp_path).items() if k.parts[0].startswith("epoch-000") and int(k.parts[0][-1]) < 4} == mine
    assert latest_checkpoint(tmp_path).name == "epoch-0007"


def test_a_save_that_fails_on_a_full_disk_leaves_no_folder_it_made(tmp_path, monkeypatch):
    """A full disk at the first checkpoint left an empty `checkpoints/` (and with it the run folder): the next
    `gpuvision train --out RUN` was then refused, 'RUN already holds a run'. Nothing half-made stays now
    (`files.no_empty_folders`); a folder that was there before, or holds anything, stays."""
    monkeypatch.setattr("gpuvision_nb.checkpoint._write_file", mock.Mock(side_effect=FULL))
    with pytest.raises(CheckpointError, match="No space left on device; no checkpoint was written"):
        save_checkpoint(tmp_path / "a" / "b" / "ckpt", nn.Linear(2, 2), epoch=1)
    assert list(tmp_path.iterdir()) == []
    data = _folder(tmp_path / "data")
    (tmp_path / "kept").mkdir()
    for out in (tmp_path / "run", tmp_path / "kept" / "run", tmp_path / "kept"):
        with pytest.raises(CheckpointError, match="No space left on device"):
            run_training(str(data), epochs=1, out=out, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "kept"] and list((tmp_path / "kept").iterdir()) == []


def test_resume_with_no_run_in_the_folder_is_refused(tmp_path):
    """`gpuvision train --out runs/mine --resume` with a typo in the folder (or an empty one) silently started a NEW run
    — on the default data and model, since the settings left out were meant to come from the saved run. Refused now,
    in one line, before anything is made."""
    for out, why in ((tmp_path / "typo", "no such folder"), (tmp_path, "no checkpoint in it")):
        with pytest.raises(FileNotFoundError, match=f"--resume: {out} holds no run to resume \\({why}\\); check the "
                                                    "folder's name, or leave out --resume"):
            run_training(epochs=1, out=out, resume=True, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_resume_is_refused_while_the_run_folder_holds_an_export(tmp_path, gpuvision):
    """`gpuvision export RUN` writes RUN/model.onnx (or .safetensors, .pt); `train --resume` then found a better epoch
    and left the export as it was — the OLD model under the run's name, silently. The resume is refused until the
    export is moved away (never deleted by us: it may be deployed); then it resumes."""
    data, run = _folder(tmp_path / "data"), tmp_path / "run"
    run_training(str(data), epochs=1, out=run, **FAST)
    assert gpuvision("export", run, "--format", "safetensors").returncode == 0
    exported = _tree(run)
    r = gpuvision("train", "--out", run, "--resume", "--epochs", "2", "--device", "cpu", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert ("it holds model.safetensors, model.safetensors.manifest.json, exported from the run as it is now" in r.stderr
            and "move the export out of the run folder" in r.stderr)
    assert _tree(run) == exported                                      # nothing changed: not the export, not the run
    for f in ("model.safetensors", "model.safetensors.manifest.json"): (run / f).rename(tmp_path / f)
    (run / "model.onnx").symlink_to(tmp_path / "elsewhere.onnx")        # a link (even a dangling one) counts too
    with pytest.raises(RunExistsError, match="it holds model.onnx"): run_training(epochs=2, out=run, resume=True, device="cpu", progress=False)
    (run / "model.onnx").unlink()
    m = run_training(epochs=2, out=run, resume=True, device="cpu", progress=False)
    assert m["epochs"] == 2


@pytest.mark.parametrize("mine", ["checkpoints/resnet50/w.pth", "checkpoints/latest", "model.onnx", "metrics.json"])
def test_a_users_files_named_like_a_runs_are_never_replaced(tmp_path, gpuvision, mine):
    """`gpuvision train --out ~/project`, the project holding its own `checkpoints/` folder (or a `model.onnx`, a
    `metrics.json`): refused as 'already holds a run … replace it with --overwrite' — and with --overwrite the user's
    folder was deleted, exit 0. Files that only share a run's names are no run (`train._is_run`): refused, kept."""
    data, project = _folder(tmp_path / "data"), tmp_path / "project"
    (project / mine).parent.mkdir(parents=True); (project / mine).write_text("the user's")
    for extra in ([], ["--overwrite"], ["--resume"]):
        r = gpuvision("train", "--data", data, "--out", project, "--epochs", "1", "--device", "cpu", "--no-progress", *extra)
        assert r.returncode == 2 and "named like a run's files, but no run" in r.stderr and mine.split("/")[0] in r.stderr, r.stderr
    assert _tree(project) == {Path(mine): b"the user's"}


def test_the_bad_file_writers_never_replace_or_delete_a_users_file(tmp_path):
    """`write_bad_videos(FOLDER)` wrote its two valid clips as FOLDER/ok.mp4 and ok-faststart.mp4 and deleted them at
    the end — a user's `ok.mp4` there was replaced, then gone — and replaced a user's `one-frame.mp4`;
    `write_bad_images` replaced a `rgb.jpg`. A name that is taken is refused before anything is written; the valid
    clips are made in a hidden folder of their own."""
    from gpuvision_nb.imagefile import write_bad_images
    from gpuvision_nb.videofile import write_bad_videos
    (tmp_path / "ok.mp4").write_text("my holiday"); (tmp_path / "ok-faststart.mp4").write_text("my clip")
    zoo = write_bad_videos(tmp_path)
    assert (tmp_path / "ok.mp4").read_text() == "my holiday" and (tmp_path / "ok-faststart.mp4").read_text() == "my clip"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ok.mp4", "ok-faststart.mp4", *(p.name for p in zoo.values())])
    for write, mine in ((write_bad_videos, "one-frame.mp4"), (write_bad_images, "rgb.jpg")):
        folder = tmp_path / mine.split(".")[0]
        folder.mkdir(); (folder / mine).write_text("mine")
        with pytest.raises(FileExistsError, match=f"{write.__name__}: {folder / mine} already exists"): write(folder)
        assert _tree(folder) == {Path(mine): b"mine"}


def test_demo_report_files_are_readable_and_a_users_summary_json_is_not_a_report(tmp_path, gpuvision):
    """`run_demo` wrote its report through a private temporary file renamed into place: report.md, summary.json and
    the plots were 0600, unreadable to the others on a shared machine (every other writer uses `files.write_files`).
    And any file named summary.json made a folder count as an earlier report: `run_demo(out='~/notes')` then
    replaced the user's report.md there."""
    import matplotlib.pyplot as plt
    from gpuvision_nb.files import default_mode
    from gpuvision_nb.demo import _save_fig, write_report
    s = {"date": "d", "device": "cpu", "device_name": "cpu", "torch": torch.__version__, "quick": True, "status": "running",
         "stages": {"train": {"status": "not run", "seconds": None, "result": None}}}
    write_report(s, tmp_path); _save_fig(tmp_path / "plot.png", plt.figure())
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == dict.fromkeys(
        ["summary.json", "report.md", "plot.png"], default_mode())
    notes = tmp_path / "notes"; notes.mkdir()
    (notes / "summary.json").write_text('{"total": 3}'); (notes / "report.md").write_text("my report")
    r = gpuvision("demo", "--out", notes, "--device", "cpu", "--quick", "--no-progress")
    assert r.returncode == 2 and "holds other files" in r.stderr and (notes / "report.md").read_text() == "my report"


def test_ddp_train_checks_its_out_before_training_and_writes_whole_files(tmp_path, monkeypatch):
    """`ddp_train(out=...)` (`torchrun -m gpuvision_nb.distributed train --out`) trained fully, then failed with a bare
    'File exists' for an --out that is a file (a traceback from `ddp_main`: not a ValueError), or 'Is a directory';
    and it wrote model.safetensors and metrics.json in place, half-written on a full disk. Checked before any work
    now, and written with `files.write_files` (both whole, or neither)."""
    from gpuvision_nb.files import WriteError
    from gpuvision_nb import distributed
    trained = mock.Mock(side_effect=AssertionError("trained before the check"))
    (tmp_path / "file").write_text("mine"); (tmp_path / "run" / "metrics.json").mkdir(parents=True)
    with monkeypatch.context() as m:
        m.setattr(distributed, "fit", trained)
        with pytest.raises(WriteError, match="it is a file; choose a folder"):
            distributed.ddp_train("tiny", n=16, batch_size=4, device="cpu", out=tmp_path / "file")
        with pytest.raises(WriteError, match="metrics.json: it is a folder"):
            distributed.ddp_train("tiny", n=16, batch_size=4, device="cpu", out=tmp_path / "run")
    assert (tmp_path / "file").read_text() == "mine"
    monkeypatch.setattr("gpuvision_nb.files.os.replace", mock.Mock(side_effect=FULL))
    with pytest.raises(WriteError, match="No space left on device"):
        distributed.ddp_train("tiny", n=16, batch_size=4, device="cpu", out=tmp_path / "new")
    assert list((tmp_path / "new").iterdir()) == []                    # no half-written file, no temporary one
