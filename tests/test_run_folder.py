"""What a run folder of `gpuvision train` holds and guarantees: the best model, the splits, the predictions, the files
left out, an output that never lands in the data, an --overwrite that never loses the old run (issues 21 and 22)."""
import csv, io, json

import pytest
import torch
from PIL import Image

from gpuvision_nb.files import OutputOverlapError
from gpuvision_nb.checkpoint import latest_checkpoint, verify_checkpoint
from gpuvision_nb.runs import BEST_RULE, KeepBest, class_weights, plot_misclassified, run_training
from gpuvision_nb.train import NonFiniteError, plot_confusion

FAST = dict(device="cpu", progress=False, size=16, batch_size=8, augment="none")


def _folder(root, counts=None, grey=False, names=None):
    "A tiny flat folder: `counts` {class: images}; each class its own colour (easy to learn); `names` {class: [file names]}."
    counts = counts or {"cat": 20, "dog": 20}
    for k, (c, n) in enumerate(counts.items()):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            colour = (100 * k + 20 + i,) * 3 if grey else (120 * k + 10, 7 * i, 60)
            name = (names or {}).get(c, [])[i] if i < len((names or {}).get(c, [])) else f"{i}.png"
            Image.new("L" if grey else "RGB", (12, 12), colour[0] if grey else colour).save(root / c / name)
    return root


def _rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(), newline="")))


# ---- 21.1: the output never lies in the data -------------------------------------------------------------------
@pytest.mark.parametrize("where", ["root", "inside", "link"])
def test_out_in_the_data_is_refused_before_anything_is_written(tmp_path, where):
    data = _folder(tmp_path / "data")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    out = {"root": data, "inside": data / "cat" / "run"}.get(where)
    if where == "link": (tmp_path / "link").symlink_to(data, target_is_directory=True); out = tmp_path / "link" / "run"
    with pytest.raises(OutputOverlapError, match="--out"): run_training(str(data), epochs=1, out=out, **FAST)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before        # no checkpoints/ class, no run.lock


# ---- 21.2: --overwrite keeps the old run until the new one is complete ------------------------------------------
def test_overwrite_that_fails_keeps_the_old_run_and_one_that_succeeds_replaces_it(tmp_path, monkeypatch):
    import gpuvision_nb.runs as R, gpuvision_nb.train as T
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    run_training(str(data), epochs=1, out=out, **FAST)
    old = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_fit = R.fit
    def nan_fit(model, train, val, epochs, lr, **k):         # trains an epoch (checkpoint written), then "NaN"
        real_fit(model, train, val, 1, lr, **k)
        raise T._non_finite("the training loss became nan", 1, k["ckpt_dir"])
    monkeypatch.setattr(R, "fit", nan_fit)
    with pytest.raises(NonFiniteError, match="kept as it was"): run_training(str(data), epochs=2, out=out, overwrite=True, **FAST)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]          # no temporary sibling left
    monkeypatch.setattr(R, "fit", real_fit)
    m = run_training(str(data), epochs=2, out=out, overwrite=True, **FAST)
    assert m["epochs"] == 2 and json.loads((out / "metrics.json").read_text())["epochs"] == 2
    assert verify_checkpoint(latest_checkpoint(out / "checkpoints"))["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]


# ---- 22.2: the best model ----------------------------------------------------------------------------------------
def test_keep_best_rule_saves_only_better_epochs_and_stops_on_patience(tmp_path):
    net = torch.nn.Linear(2, 2)
    keep, hist, stops = KeepBest(net, tmp_path / "best", {"x": 1}, patience=2), [], []
    for e, (acc, loss) in enumerate([(0.5, 1.0), (0.8, 0.9), (0.8, 0.7), (0.8, 0.8), (0.7, 0.1), (0.8, 0.7)], 1):
        hist.append({"epoch": e, "val_acc": acc, "val_loss": loss})
        stops.append(keep(hist))
        if stops[-1]: break
    assert keep.best["epoch"] == 3                            # equal accuracy, lower loss: better; equal both: not
    assert stops == [False, False, False, False, True]        # 2 epochs (4, 5) without a better one
    m = verify_checkpoint(latest_checkpoint(tmp_path / "best"))
    assert m["epoch"] == 3 and m["meta"]["best"]["val_loss"] == 0.7 and m["meta"]["best_rule"] == BEST_RULE
    assert KeepBest(net, tmp_path / "best", {}).best["epoch"] == 3      # a resumed run knows its best epoch


def test_run_keeps_the_best_epoch_and_evaluates_with_it(tmp_path):
    data = _folder(tmp_path / "data")
    m = run_training(str(data), epochs=4, out=tmp_path / "run", **FAST)
    best = max(m["history"], key=lambda h: (h["val_acc"], -h["val_loss"]))
    assert m["best_epoch"] == best["epoch"] and m["best_val_acc"] == best["val_acc"] and m["best_rule"] == BEST_RULE
    assert verify_checkpoint(latest_checkpoint(tmp_path / "run" / "best"))["epoch"] == best["epoch"]
    assert m["updates"] == m["updates_per_epoch"] * len(m["history"]) and m["global_batch"] == 8


def test_patience_stops_early(tmp_path, monkeypatch):
    import gpuvision_nb.runs as R
    data = _folder(tmp_path / "data")
    real_better = R._better
    monkeypatch.setattr(R, "_better", lambda h, best: best is None)      # nothing after epoch 1 is better
    m = run_training(str(data), epochs=10, out=tmp_path / "run", patience=2, **FAST)
    assert (m["epochs"], m["best_epoch"], m["settings"]["patience"]) == (3, 1, 2)
    monkeypatch.setattr(R, "_better", real_better)


# ---- 22.4: imbalanced classes --------------------------------------------------------------------------------------
def test_class_weights():
    w = class_weights({"a": 30, "b": 10})
    assert torch.allclose(w, torch.tensor([40 / 60, 40 / 20]))
    assert torch.allclose((w * torch.tensor([30.0, 10.0])).sum() / 40, torch.tensor(1.0))   # average 1 per image
    with pytest.raises(ValueError, match="at least one"): class_weights({"a": 3, "b": 0})


def test_balance_weighs_the_loss_by_the_training_counts_and_reports_the_worst_class(tmp_path):
    data = _folder(tmp_path / "data", {"few": 10, "many": 40})
    m = run_training(str(data), epochs=1, out=tmp_path / "run", balance=True, **FAST)
    n = m["data"]["images"]["train"]; counts = [8, 32]                # 80 % of each class
    assert n == sum(counts)
    assert m["class_weights"] == pytest.approx({"few": n / (2 * 8), "many": n / (2 * 32)}, rel=1e-6)
    assert m["worst_class_acc"] == min(v for v in m["per_class_acc"].values())
    assert m["worst_class"] in ("few", "many") and m["settings"]["balance"] is True
    plain = run_training(str(data), epochs=1, out=tmp_path / "plain", **FAST)
    assert "class_weights" not in plain and plain["worst_class_acc"] is not None


def test_balance_passes_the_class_weights_to_the_loss(tmp_path, monkeypatch):
    "make mutate (runs, seed 601): a loss without weight=… trained unbalanced while metrics.json listed the weights."
    import types
    import torch.nn.functional as real_F
    import gpuvision_nb.runs as R
    seen = []
    def cross_entropy(out, y, **k): seen.append(k.get("weight")); return real_F.cross_entropy(out, y, **k)
    monkeypatch.setattr(R, "F", types.SimpleNamespace(cross_entropy=cross_entropy))
    m = run_training(str(_folder(tmp_path / "data", {"few": 10, "many": 40})), epochs=1, out=tmp_path / "run", balance=True, **FAST)
    assert seen and all(w is not None and w.tolist() == pytest.approx(list(m["class_weights"].values())) for w in seen)


# ---- 22.5: splits, predictions, mistakes, files left out, long class names -----------------------------------------
def test_splits_and_predictions_name_every_file_csv_escaped(tmp_path):
    odd = ['a, "quoted" one.png', "b\nnewline.png"]
    data = _folder(tmp_path / "data", names={"cat": odd})
    out = tmp_path / "run"
    m = run_training(str(data), epochs=1, out=out, **FAST)
    splits = _rows(out / "splits.csv")
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    assert sorted(r["path"] for r in splits) == files                 # every file once, odd names intact
    assert {r["split"] for r in splits} == {"train", "val", "test"}
    preds = _rows(out / "predictions.csv")
    assert [r["path"] for r in preds] == [r["path"] for r in splits if r["split"] == "test"]
    assert len(preds) == m["data"]["images"]["test"]
    assert all(r["true"] in ("cat", "dog") and r["predicted"] in ("cat", "dog") and 0.5 <= float(r["probability"]) <= 1 for r in preds)
    right = sum(r["true"] == r["predicted"] for r in preds)
    assert right / len(preds) == pytest.approx(m["test_acc"]) and m["mistakes"] == len(preds) - right


def test_no_mistakes_no_figure_and_the_cli_says_so(tmp_path, capsys):
    from gpuvision_nb.cli import main
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "6", "--out", str(out), "--size", "16", "--batch-size", "8",
                 "--augment", "none", "--device", "cpu", "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    said = capsys.readouterr().out
    assert m["mistakes"] == 0, "the tiny folder should be learnt perfectly"
    assert not (out / "misclassified.png").exists()
    assert f"no mistakes on the {m['data']['images']['test']} test images" in said and "misclassified.png (" not in said
    assert "worst class" in said and f"best epoch {m['best_epoch']}" in said


def test_misclassified_titles_name_the_files():
    fig = plot_misclassified(torch.zeros(3, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0]), torch.tensor([0, 0, 1]),
                             ["a", "b"], names=["x/ok.png", "b/wrong.png", "a/" + "long" * 10 + ".png"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["b/wrong.png\nb → a", "…" + ("a/" + "long" * 10 + ".png")[-23:] + "\na → b"]


def test_on_bad_skip_lists_the_files_in_the_run_folder(tmp_path):
    data = _folder(tmp_path / "data")
    (data / "cat" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipped.csv"):
        run_training(str(data), epochs=1, out=out, on_bad="skip", **FAST)
    rows = _rows(out / "skipped.csv")
    assert [r["path"] for r in rows] == [str(data / "cat" / "broken.png")] and "not an image" in rows[0]["reason"]


def test_confusion_shows_long_class_names_whole():
    import matplotlib.pyplot as plt
    names = ["a very long class name that goes on and on and on", "short", "another-long-name-without-any-spaces-at-all"]
    ax = plot_confusion(torch.eye(3, dtype=torch.long), names)
    fig = ax.figure; fig.canvas.draw()
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert [t.get_text().replace("\n", " ").replace(" ", "") for t in labels] == [n.replace(" ", "") for n in names]
        box = fig.bbox
        for t in labels:
            e = t.get_window_extent()
            assert e.x0 >= box.x0 - 1 and e.y0 >= box.y0 - 1 and e.x1 <= box.x1 + 1 and e.y1 <= box.y1 + 1, t.get_text()
    plt.close(fig)



BOLD_A, NO_FONT = "\U0001D400", "\U000F0000"   # 𝐀: not in DejaVu Sans, in matplotlib's own STIX fonts; private use: no font


def test_class_names_in_any_script_are_drawn_in_a_font_that_has_them(recwarn):
    """Chinese, Greek, maths or emoji class names: drawn with a fallback font, not as boxes; a name no installed font
    can draw is '#i' with one warning of ours naming it, never a matplotlib warning per missing glyph."""
    import matplotlib.pyplot as plt
    names = ["plain", "αβγ", f"bold {BOLD_A}", f"odd{NO_FONT}"]
    ax = plot_confusion(torch.eye(4, dtype=torch.long), names)
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["plain", "αβγ", f"bold {BOLD_A}", "#3"]
    assert len(ax.get_yticklabels()[0].get_fontfamily()) >= 2            # a fallback font for the bold A
    messages = [str(w.message) for w in recwarn]
    assert not [m for m in messages if "Glyph" in m], messages
    assert [m for m in messages if "no installed font" in m] == [
        f"the confusion matrix: no installed font draws the class name(s) {f'odd{NO_FONT}'!r}: drawn as #3 (the index in the "
        "class list); install a font that has them (Debian: fonts-noto-cjk, fonts-noto-color-emoji) to see them"]
    plt.close(ax.figure)


def test_a_run_on_classes_no_font_draws_warns_once_per_figure_in_one_line(tmp_path, gpuvision):
    "Class folders (and file names) of characters no installed font has: the run's figures say so in one line each."
    data = _folder(tmp_path / "data", {f"a{NO_FONT}": 20, f"b{NO_FONT}": 20}, names={f"a{NO_FONT}": [f"{NO_FONT}{i}.png" for i in range(20)]})
    r = gpuvision("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run", "--size", "16", "--batch-size", "8",
                  "--augment", "none", "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stderr.splitlines() if "font" in l or "Glyph" in l]
    assert lines and all(l.startswith("gpuvision train: warning: the ") for l in lines), r.stderr
    assert sum("the confusion matrix: no installed font draws the class name(s)" in l for l in lines) == 1
    assert (tmp_path / "run" / "confusion.png").stat().st_size > 0


def test_a_confusion_matrix_of_many_classes_stays_a_drawable_size():
    """200 classes drew a 92-inch figure with 40,000 count labels (70 s and 4 GB on the dev box, after the training):
    beyond MAX_NAMED classes, every k-th is named, counts are colours with a colour bar, the size stays that of 40."""
    import matplotlib.pyplot as plt
    from gpuvision_nb.train import MAX_NAMED
    names = [f"species {i}" for i in range(200)]
    ax = plot_confusion(torch.eye(200, dtype=torch.long) * 3, names)
    fig = ax.figure
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"species {i} (#{i})" for i in range(0, 200, 5)] and MAX_NAMED == 40
    assert len(ax.texts) == 0 and len(fig.axes) == 2 and "200 classes: every 5th named" in ax.get_title()
    small = plot_confusion(torch.eye(MAX_NAMED, dtype=torch.long), names[:MAX_NAMED]).figure
    assert max(fig.get_size_inches()) <= 1.2 * max(small.get_size_inches()) and len(small.axes[0].texts) == MAX_NAMED
    plt.close("all")

# ---- 22.6: grey images -------------------------------------------------------------------------------------------
def test_grey_folder_trains_on_one_channel_by_default(tmp_path, capsys):
    data = _folder(tmp_path / "data", grey=True)
    m = run_training(str(data), epochs=1, out=tmp_path / "run", **FAST)
    assert (m["in_channels"], m["model"]["kwargs"]["in_channels"], len(m["mean"])) == (1, 1, 1)
    assert m["data"]["in_channels"] == 1 and "training on 1 input channel" in capsys.readouterr().out
    three = run_training(str(data), epochs=1, out=tmp_path / "run3", in_channels=3, **FAST)
    assert three["in_channels"] == 3
    colour = run_training(str(_folder(tmp_path / "colour")), epochs=1, out=tmp_path / "runc", **FAST)
    assert colour["in_channels"] == 3


# ---- 22.3: fine-tuning -------------------------------------------------------------------------------------------
def test_fine_tune_from_the_shipped_pretrained_model_new_head_frozen_body(tmp_path):
    from gpuvision_nb.train import pretrained
    from gpuvision_nb.transfer import head_name
    data = _folder(tmp_path / "data")
    src, _ = pretrained("resnet", device="cpu")
    m = run_training(str(data), epochs=2, out=tmp_path / "run", start_from="resnet", freeze=True,
                     device="cpu", progress=False, batch_size=8, augment="none")
    assert (m["settings"]["model"], m["size"], m["settings"]["start_from"], m["settings"]["freeze"]) == ("resnet", 32, "resnet", True)
    assert m["model"]["kwargs"]["n_classes"] == 2
    from gpuvision_nb.deploy import load_model
    tuned, prep = load_model(tmp_path / "run", device="cpu")
    head = head_name(tuned)
    body = {k: v for k, v in tuned.state_dict().items() if not k.startswith(head)}
    ref = src.state_dict()
    assert body and all(torch.equal(v, ref[k]) for k, v in body.items()), "--freeze changed the body"
    assert tuned.get_submodule(head).out_features == 2 and prep.classes == ("cat", "dog")


def test_fine_tune_from_a_run_folder_keeps_its_head_and_refuses_other_sizes(tmp_path):
    data = _folder(tmp_path / "data")
    first = run_training(str(data), epochs=1, out=tmp_path / "a", **FAST)
    m = run_training(str(data), epochs=1, out=tmp_path / "b", start_from=str(tmp_path / "a"), device="cpu", progress=False,
                     batch_size=8, augment="none")
    assert (m["size"], m["settings"]["model"]) == (16, first["settings"]["model"])
    (tmp_path / "a").rename(tmp_path / "a-moved")             # a resumed fine-tuning needs its checkpoint, not its source
    m = run_training(out=tmp_path / "b", resume=True, epochs=2, device="cpu", progress=False)
    assert (m["epochs"], m["settings"]["start_from"]) == (2, str(tmp_path / "a"))
    (tmp_path / "a-moved").rename(tmp_path / "a")
    with pytest.raises(ValueError, match="size 16"):
        run_training(str(data), epochs=1, out=tmp_path / "c", start_from=str(tmp_path / "a"), size=24, device="cpu", progress=False)
    with pytest.raises(ValueError, match="--freeze"): run_training(str(data), epochs=1, out=tmp_path / "d", freeze=True, **FAST)


def test_cli_passes_the_new_options_through(tmp_path, capsys):
    from gpuvision_nb.cli import main
    data = _folder(tmp_path / "data", {"few": 10, "many": 30}, grey=True)
    base = ["--size", "16", "--batch-size", "8", "--augment", "none", "--device", "cpu", "--no-progress"]
    assert main(["train", "--data", str(data), "--epochs", "2", "--out", str(tmp_path / "a"), "--balance", "--patience", "5", *base]) == 0
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert (m["settings"]["balance"], m["settings"]["patience"], m["in_channels"]) == (True, 5, 1) and "class_weights" in m
    assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "b"), "--from", str(tmp_path / "a"),
                 "--freeze", "--batch-size", "8", "--device", "cpu", "--no-progress"]) == 0
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert (m["settings"]["start_from"], m["settings"]["freeze"], m["size"], m["in_channels"]) == (str(tmp_path / "a"), True, 16, 1)
    assert main(["train", "--data", str(data), "--out", str(data / "few"), *base]) == 2
    assert "lies inside the input folder" in capsys.readouterr().err


def test_a_finished_run_is_refused_with_what_to_do(tmp_path):
    "make mutate (train): the advice in the refusal was never checked."
    from gpuvision_nb.runs import RunExistsError
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    run_training(str(data), epochs=1, out=out, **FAST)
    with pytest.raises(RunExistsError, match=r"1 epoch done\): continue it with --resume"):
        run_training(str(data), epochs=1, out=out, **FAST)



def test_a_folder_with_a_runs_report_but_no_checkpoint_is_refused_without_details(tmp_path):
    "make mutate (runs, seed 501): a run's traces without a checkpoint have no settings to quote in the refusal."
    from gpuvision_nb.runs import RunExistsError
    out = tmp_path / "run"; out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"history": []}))
    with pytest.raises(RunExistsError, match=rf"^{out} already holds a run: continue it with --resume"):
        run_training(str(_folder(tmp_path / "data")), epochs=1, out=out, **FAST)


def test_the_seed_and_precision_given_are_the_runs(tmp_path):
    "make mutate (runs, seed 501): an explicit seed or precision left out of the settings trained with the defaults."
    m = run_training(str(_folder(tmp_path / "data")), epochs=1, out=tmp_path / "run", seed=3, precision="bf16", val_frac=0.25, **FAST)
    assert (m["settings"]["seed"], m["settings"]["precision"], m["settings"]["val_frac"]) == (3, "bf16", 0.25)


def test_an_overwrite_whose_first_epoch_is_nan_says_only_that_the_old_run_is_kept(tmp_path, monkeypatch):
    "make mutate (runs, seed 501): with no finite checkpoint in the new run, 'No finite checkpoint exists' is not said."
    import gpuvision_nb.runs as R, gpuvision_nb.train as T
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    run_training(str(data), epochs=1, out=out, **FAST)
    monkeypatch.setattr(R, "fit", lambda *a, **k: (_ for _ in ()).throw(T._non_finite("the training loss became nan", 0, k["ckpt_dir"])))
    with pytest.raises(NonFiniteError) as e: run_training(str(data), epochs=1, out=out, overwrite=True, **FAST)
    assert str(e.value) == f"fit: the training loss became nan in epoch 1; stopped before saving anything. The new run was discarded: the run in {out} is kept as it was."


def test_one_misclassified_image_is_a_figure_of_one_panel():
    "make mutate (runs, seed 501): one mistake is a 1×1 grid, which squeeze=True would make a bare Axes."
    import matplotlib.pyplot as plt
    fig = plot_misclassified(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]), torch.tensor([0, 0]), ["a", "b"])
    assert [ax.get_title() for ax in fig.axes] == ["b → a"]
    plt.close(fig)
    fig = plot_misclassified(torch.zeros(9, 3, 8, 8, dtype=torch.uint8), torch.ones(9, dtype=torch.long), torch.zeros(9, dtype=torch.long), ["a", "b"])
    assert len(fig.axes) == 16 and fig.get_size_inches().tolist() == pytest.approx([1.6 * 8, 1.8 * 2])   # 9 mistakes: 2 rows of 8
    plt.close(fig)
    fig = plot_misclassified(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.tensor([1]), torch.tensor([0]), ["a", "b"], split="val")
    assert fig._suptitle.get_text() == "misclassified validation images (true → predicted)"
    plt.close(fig)


def test_a_run_with_progress_says_it_is_reading_the_images_before_the_silence(tmp_path, capsys):
    "Decoding a folder of phone photos takes seconds before the first progress bar: one line says what is going on."
    data = _folder(tmp_path / "data")
    run_training(str(data), epochs=1, out=tmp_path / "run", **{**FAST, "progress": True})
    assert capsys.readouterr().err.startswith(f"reading the images of {data} …\n")
    run_training(str(data), epochs=1, out=tmp_path / "quiet", **FAST)
    assert "reading the images" not in capsys.readouterr().err

def test_metrics_name_device_and_torch_and_the_wrapped_model_is_trained(tmp_path):
    "make mutate (train, seed 7): metrics' 'device'/'torch' and the `wrap` hook (DDP's) could be lost unnoticed."
    data, out, wrapped = _folder(tmp_path / "data"), tmp_path / "run", []
    m = run_training(str(data), epochs=1, out=out, wrap=lambda net: wrapped.append(net) or net, **FAST)
    assert len(wrapped) == 1 and isinstance(wrapped[0], torch.nn.Module)
    saved = json.loads((out / "metrics.json").read_text())
    assert (saved["device"], saved["torch"]) == (m["device"], m["torch"]) == ("cpu", torch.__version__)


def test_resume_of_a_folder_without_checkpoints_says_what_to_do(tmp_path):
    "make mutate (train, seed 7): the refusal's advice (joined with +) was never built by a test."
    from gpuvision_nb.runs import RunExistsError
    data, out = _folder(tmp_path / "data"), tmp_path / "run"
    out.mkdir(); (out / "metrics.json").write_text('{"history": []}')          # a run's metrics, its checkpoints gone
    with pytest.raises(RunExistsError, match=r"it has no checkpoint; start a new run with --overwrite, or in another folder"):
        run_training(str(data), epochs=1, out=out, resume=True, **FAST)


def test_fine_tuning_grey_data_says_how_its_images_are_read(tmp_path, capsys):
    "--from decides channels and size (grey data is read as the source model's 3 channels): the run says so, not silently."
    data = _folder(tmp_path / "data", grey=True)
    m = run_training(str(data), epochs=1, out=tmp_path / "run", start_from="resnet", freeze=True,
                     device="cpu", progress=False, batch_size=8, augment="none")
    out = capsys.readouterr().out
    assert m["in_channels"] == 3 and "fine-tuning resnet: images are read as its input takes them: 3 channel(s), 32×32 px" in out
    assert "training on 1 input channel" not in out


def test_checkpoint_every_from_the_cli_sets_how_often_a_run_saves_and_is_range_checked(tmp_path, capsys, monkeypatch):
    "--checkpoint-every 0: a checkpoint after every epoch; the default (30 s) on a run whose clock stands still: the last epoch's only."
    import gpuvision_nb.train as T
    from gpuvision_nb.checkpoint import checkpoints
    monkeypatch.setattr(T, "_now", lambda: 0.0)               # no timing window: the run takes no time at all
    from gpuvision_nb.cli import main
    data = _folder(tmp_path / "data")
    base = ["--data", str(data), "--epochs", "2", "--size", "16", "--batch-size", "8", "--augment", "none", "--device", "cpu", "--no-progress"]
    assert main(["train", *base, "--out", str(tmp_path / "every"), "--checkpoint-every", "0"]) == 0
    assert main(["train", *base, "--out", str(tmp_path / "default")]) == 0
    assert [p.name for p in checkpoints(tmp_path / "every" / "checkpoints")] == ["epoch-0001", "epoch-0002"]
    assert [p.name for p in checkpoints(tmp_path / "default" / "checkpoints")] == ["epoch-0002"]
    for bad in ("-1", "1e9", "nan", "soon"):
        assert main(["train", *base, "--out", str(tmp_path / "bad"), "--checkpoint-every", bad]) == 2
        assert "argument --checkpoint-every: " in capsys.readouterr().err
    with pytest.raises(ValueError, match="checkpoint_every must be a finite number from 0 to 86400"):
        run_training(str(data), epochs=1, out=tmp_path / "bad", checkpoint_every=-1, **FAST)
    assert not (tmp_path / "bad").exists()


def test_a_two_process_run_says_how_the_global_batch_is_shared(tmp_path, monkeypatch, capsys):
    """The line `gpuvision train --nproc 2` prints first: per-process batch, global batch, updates per epoch and in all
    epochs, and that one process would make as many. test_distributed checks it in two real processes, which
    tools/mutate.py can't see (a subprocess); here this process is told it is rank 0 of 2 (mutate.py runs --seed 902)."""
    import gpuvision_nb.runs as R
    from gpuvision_nb.distributed import shard_data
    monkeypatch.setattr(R, "is_distributed", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: 2)
    m = run_training(str(_folder(tmp_path / "data")), epochs=2, out=tmp_path / "run", shard=lambda fd: shard_data(fd, 0, 2), **FAST)
    u = -(-m["data"]["images"]["train"] // 8)                  # batches of 8 in the training split, as one process has
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("2 processes"))
    assert line == f"2 processes × 4 images = global batch 8 (--batch-size): {u} updates per epoch, {2 * u} in 2 epochs — as in one process"


def test_a_batch_not_a_multiple_of_the_processes_is_said_to_be_shared_otherwise(tmp_path, monkeypatch, capsys):
    """`--batch-size 9 --nproc 2`: each process takes 4, so the global batch is 8, not the 9 asked for — said on the
    first line (it read 'global batch 8 (--batch-size)', as if 8 had been given), with the updates one process makes."""
    import gpuvision_nb.runs as R
    from gpuvision_nb.distributed import shard_data
    monkeypatch.setattr(R, "is_distributed", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: 2)
    m = run_training(str(_folder(tmp_path / "data")), epochs=1, out=tmp_path / "run", shard=lambda fd: shard_data(fd, 0, 2),
                     **{**FAST, "batch_size": 9})
    n = m["data"]["images"]["train"]
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("2 processes"))
    assert line.startswith("2 processes × 4 images = global batch 8 (--batch-size 9 is not a multiple of 2: each process "
                           f"takes 4): {-(-(-(-n // 2)) // 4)} updates per epoch, "), line
    assert " in 1 epoch — " in line, line                                                  # not '1 epochs'
