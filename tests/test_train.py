"The training loop: metrics, no per-step host syncs, precision modes, checkpoints, resume, NaN guard (chapter 06)."
import math, os

import pytest
from conftest import inductor_needs_a_real_isa
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, TensorDataset

from gpuvision_nb.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, verify_checkpoint
from gpuvision_nb.device import set_seed
from gpuvision_nb.train import History, NonFiniteError, evaluate, fit, predict

X = torch.randn(256, 3, 8, 8, generator=torch.Generator().manual_seed(0))
Y = (X.mean((1, 2, 3)) > 0).long()


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 2))


def plain():
    "The model without BatchNorm."
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 2))


def loader(bs=32, shuffle=True):
    return DataLoader(TensorDataset(X, Y), batch_size=bs, shuffle=shuffle)


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


class Stop(Exception): pass


class FailAfter:
    "A loader that raises (like Ctrl-C or a crash) after `n` batches in total, or yields NaN images from then on."
    def __init__(self, dl, n, nan=False): self.dl, self.n, self.nan, self.seen = dl, n, nan, 0
    def __len__(self): return len(self.dl)
    def __iter__(self):
        for x, y in self.dl:
            self.seen += 1
            if self.seen > self.n:
                if not self.nan: raise Stop
                x = torch.full_like(x, float("nan"))
            yield x, y


def test_fit_learns_and_reports():
    set_seed(0)
    h = fit(model(), loader(), loader(shuffle=False), epochs=3, lr=0.05, progress=False)
    assert isinstance(h, History) and [e["epoch"] for e in h] == [1, 2, 3]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images", "images_per_second", "lr"):
        assert key in h.final
    assert h.final["images"] == 256 and h[-1]["train_loss"] < h[0]["train_loss"] and h.final["val_acc"] > 0.7
    assert "val_acc" in str(h)


def test_evaluate_and_predict():
    m = model()
    r = evaluate(m, loader(shuffle=False), "cpu")
    assert r["n"] == 256 and 0 <= r["acc"] <= 1 and math.isfinite(r["loss"])
    preds, targets = predict(m, loader(shuffle=False), "cpu")
    assert preds.shape == targets.shape == (256,) and preds.device.type == "cpu" and torch.equal(targets, Y)
    assert (preds == targets).float().mean().item() == pytest.approx(r["acc"])


SYNCS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.__bool__,
         torch.Tensor.__float__, torch.Tensor.__int__}


class CountSyncs(TorchFunctionMode):
    "Counts the tensor methods that copy a value to the host (each one makes the CPU wait for the GPU)."
    def __init__(self): super().__init__(); self.n = 0
    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += func in SYNCS
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_no_host_sync_per_step(precision):
    "The number of device→host reads in an epoch doesn't grow with the number of batches."
    counts = []
    for bs in (128, 16):                                  # 2 batches per epoch, then 16
        with CountSyncs() as c:
            fit(model(), loader(bs), loader(64, False), epochs=1, lr=0.05, progress=False, precision=precision)
        counts.append(c.n)
    # a fixed handful per epoch: one read of the train meter, one of the val meter, and the DataLoaders' own
    # sampler seeding (CPU tensors); none of them per batch
    assert counts[0] == counts[1] and counts[0] <= 8, counts


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16", "fp16"])
def test_each_precision_trains_on_cpu(precision):
    h = fit(model(), loader(), None, epochs=1, lr=0.05, progress=False, precision=precision)
    assert math.isfinite(h.final["train_loss"])


def test_channels_last_changes_the_memory_format():
    m = model()
    fit(m, loader(), None, epochs=1, progress=False, channels_last=True)
    assert m[0].weight.is_contiguous(memory_format=torch.channels_last) and not m[0].weight.is_contiguous()


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    set_seed(0); ref = model(); fit(ref, loader(), None, epochs=4, lr=0.05, progress=False)
    set_seed(0)
    with pytest.raises(Stop):                              # dies in epoch 3, after two checkpoints
        fit(model(), FailAfter(loader(), 8 * 2 + 3), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path)
    assert latest_checkpoint(tmp_path).name == "epoch-0002"
    torch.manual_seed(999)                                 # a fresh process has other random state
    resumed = model()
    h = fit(resumed, loader(), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path, resume=True)
    assert [e["epoch"] for e in h] == [1, 2, 3, 4]
    assert same(ref, resumed)


def test_resume_refuses_to_cut_a_schedule_short_or_change_its_batches(tmp_path):
    with pytest.raises(Stop):
        fit(model(), FailAfter(loader(), 8 + 2), None, epochs=3, progress=False, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="planned for 3 epochs; epochs=2 would cut its schedule short"):
        fit(model(), loader(), None, epochs=2, progress=False, ckpt_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="stopped inside a schedule of 8 batches per epoch .*now gives 4"):
        fit(model(), loader(64), None, epochs=3, progress=False, ckpt_dir=tmp_path, resume=True)


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path):
    "A finished 2-epoch run resumed with epochs=4 trains 2 more epochs under a new one-cycle schedule (a warm restart)."
    h2 = fit(model(), loader(), None, epochs=2, lr=0.05, progress=False, ckpt_dir=tmp_path)
    m = model()
    h = fit(m, loader(), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path, resume=True)
    assert [e["epoch"] for e in h] == [1, 2, 3, 4] and h[:2] == list(h2)
    assert verify_checkpoint(latest_checkpoint(tmp_path))["meta"]["phases"] == [[0, 2], [2, 4]]
    assert h[1]["lr"] < 1e-3 and h[2]["lr"] > 10 * h[1]["lr"] and h[3]["lr"] < 1e-3      # annealed, restarted, annealed
    again = fit(model(), loader(), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path, resume=True)
    assert len(again) == 4 and latest_checkpoint(tmp_path).name == "epoch-0004"          # finished: nothing to do


def test_an_interrupted_extension_resumes_inside_its_phase(tmp_path):
    set_seed(0); fit(model(), loader(), None, epochs=2, lr=0.05, progress=False, ckpt_dir=tmp_path / "a")
    set_seed(0); fit(model(), loader(), None, epochs=2, lr=0.05, progress=False, ckpt_dir=tmp_path / "b")
    ref = model(); fit(ref, loader(), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path / "a", resume=True)
    with pytest.raises(Stop):                                 # the extension dies in its second epoch (epoch 4)
        fit(model(), FailAfter(loader(), 8 + 3), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path / "b", resume=True)
    torch.manual_seed(7)
    resumed = model(); fit(resumed, loader(), None, epochs=4, lr=0.05, progress=False, ckpt_dir=tmp_path / "b", resume=True)
    assert same(ref, resumed)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    h = fit(model(), loader(), None, epochs=1, progress=False, ckpt_dir=tmp_path / "new", resume=True)
    assert len(h) == 1 and latest_checkpoint(tmp_path / "new").name == "epoch-0001"


class Clock:
    "A fake `train._now` that moves only when told: `tick` seconds each time `train.evaluate` runs (once per epoch)."
    def __init__(self, monkeypatch, tick: float = 4.0):
        import gpuvision_nb.train as T
        self.t, real = 0.0, T.evaluate
        def evaluate(*a, **k):
            self.t += tick
            return real(*a, **k)
        monkeypatch.setattr(T, "evaluate", evaluate); monkeypatch.setattr(T, "_now", lambda: self.t)


def test_checkpoint_every_saves_after_enough_time_the_last_epoch_and_an_early_stop(tmp_path, monkeypatch):
    """Epochs of 4 s, checkpoint_every=14: checkpoints after epochs 4 (16 s) and 6 (the last, 8 s later), each after
    before_save; an early stop (on_epoch) keeps its epoch. Then a kill in epoch 6: the resumed run redoes exactly
    epochs 5-6, to the weights of the uninterrupted run."""
    import gpuvision_nb.train as T
    real_save, saves = T.save_checkpoint, []
    monkeypatch.setattr(T, "save_checkpoint", lambda folder, *a, **k: saves.append(("save", a[4])) or real_save(folder, *a, **k))
    run = lambda m, data, folder, **k: fit(m, data, loader(shuffle=False), epochs=6, lr=0.05, progress=False,
                                           ckpt_dir=tmp_path / folder, checkpoint_every=14, **k)
    Clock(monkeypatch); set_seed(0); ref = model()
    run(ref, loader(), "ref", before_save=lambda: saves.append("before"))
    assert saves == ["before", ("save", 4), "before", ("save", 6)]
    saves.clear(); Clock(monkeypatch)
    run(model(), loader(), "stop", on_epoch=lambda h: len(h) == 2)
    assert saves == [("save", 2)]                              # 8 s: not due, but the run stops there
    saves.clear(); Clock(monkeypatch); set_seed(0)
    with pytest.raises(Stop): run(model(), FailAfter(loader(), 8 * 5 + 3), "killed")      # dies in epoch 6
    assert saves == [("save", 4)] and latest_checkpoint(tmp_path / "killed").name == "epoch-0004"
    saves.clear(); Clock(monkeypatch); torch.manual_seed(999)
    trained, hook = [], lambda h: trained.append(h[-1]["epoch"])
    resumed = model(); run(resumed, loader(), "killed", resume=True, on_epoch=hook)
    assert trained == [5, 6] and saves == [("save", 6)] and same(ref, resumed)


@pytest.mark.parametrize("every", [-1, float("inf"), float("nan"), True, "10"])
def test_checkpoint_every_must_be_a_finite_number_of_seconds(every):
    with pytest.raises(ValueError, match="checkpoint_every must be a finite number of seconds >= 0"):
        fit(model(), loader(), None, progress=False, checkpoint_every=every)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteError, match=r"epoch 2.*epoch-0001"):
        fit(model(), FailAfter(loader(), 8 + 2, nan=True), None, epochs=3, lr=0.05, progress=False, ckpt_dir=tmp_path)
    assert latest_checkpoint(tmp_path).name == "epoch-0001"
    m = model()
    assert load_checkpoint(tmp_path, m)["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in m.parameters())


@pytest.mark.parametrize("kw, msg", [({"precision": "fp8"}, "precision must be one of"), ({"epochs": 0}, "epochs must be"),
                                     ({"lr": 0}, "lr must be"), ({"lr": float("inf")}, "lr must be a finite"),
                                     ({"lr": float("nan")}, "lr must be a finite"), ({"resume": True}, "needs ckpt_dir"),
                                     ({"opt": "lion"}, "opt must be"), ({"schedule": "step"}, "schedule must be"),
                                     ({"device": "tpu"}, "unknown device")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        fit(model(), loader(), None, progress=False, **kw)


def test_empty_training_data():
    with pytest.raises(ValueError, match="no batches"):
        fit(model(), [], None, progress=False)


def test_accumulation_equals_a_bigger_batch():
    """accumulate=4 over batches of 16 makes the same updates as batches of 64 (a model without BatchNorm). In float64:
    the float32 gap between a batch of 64 and four of 16 depends on the CPU's convolution kernels (up to ~1e-3 on
    some CPUs, chapter 13); in float64 it is ~1e-16 everywhere, while a real bug (a micro-batch scaled wrongly, a step
    skipped) would show at ~1e-2."""
    def plain():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2)).double()
    ds = TensorDataset(X.double(), Y)
    big, small = plain(), plain()
    fit(big, DataLoader(ds, batch_size=64), None, epochs=2, lr=0.05, progress=False)
    fit(small, DataLoader(ds, batch_size=16), None, epochs=2, lr=0.05, progress=False, accumulate=4)
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_accumulation_with_a_short_last_group():
    h = fit(model(), loader(48), None, epochs=1, progress=False, accumulate=4)   # 6 batches: groups of 4 and 2
    assert math.isfinite(h.final["train_loss"])
    with pytest.raises(ValueError, match="accumulate must be"):
        fit(model(), loader(), None, progress=False, accumulate=0)


@pytest.mark.parametrize("n_batches", [1, 2, 3, 4, 5, 8])
def test_onecycle_works_for_short_runs(n_batches):
    h = fit(model(), loader(256 // n_batches), None, epochs=1, progress=False)
    assert len(h) == 1 and math.isfinite(h.final["train_loss"])


class NaNAt:
    "Wraps a loader; from batch `n` on (counted over all epochs) its images are replaced by `value` (NaN or inf)."
    def __init__(self, dl, n, value=float("nan")): self.dl, self.n, self.value, self.seen = dl, n, value, 0
    def __len__(self): return len(self.dl)
    def __iter__(self):
        for x, y in self.dl:
            self.seen += 1
            yield (torch.full_like(x, self.value) if self.seen > self.n else x), y


def _grad_nan_loss(out, y):
    "A finite loss whose gradient is NaN (sqrt at 0): the weights go NaN though no loss ever did."
    return nn.functional.cross_entropy(out, y) + torch.sqrt(torch.zeros((), device=out.device) * out.sum())


@pytest.mark.parametrize("stage, run, msg", [
    ("loss", lambda d: fit(model(), NaNAt(loader(), 8 + 2), None, epochs=3, progress=False, ckpt_dir=d), "training loss became nan in epoch 2"),
    ("inf input", lambda d: fit(model(), NaNAt(loader(), 8 + 2, float("inf")), None, epochs=3, progress=False, ckpt_dir=d), "in epoch 2"),
    ("gradients", lambda d: fit(model(), loader(256), None, epochs=2, progress=False, ckpt_dir=d, loss_fn=_grad_nan_loss), "weights became NaN"),
    ("update", lambda d: fit(plain(), DataLoader(TensorDataset(100 * X, Y), batch_size=256), None, epochs=2, lr=3e38,
                             progress=False, ckpt_dir=d), "weights became NaN"),
    ("validation", lambda d: fit(model(), loader(), NaNAt(loader(), 0), epochs=2, progress=False, ckpt_dir=d), "validation loss became nan"),
])
def test_non_finite_numbers_at_any_stage_stop_before_saving(tmp_path, stage, run, msg):
    with pytest.raises(NonFiniteError, match=msg):
        run(tmp_path)
    for ck in tmp_path.glob("epoch-*"):                                   # whatever was saved is finite
        m = plain() if stage == "update" else model(); load_checkpoint(ck, m)
        assert all(torch.isfinite(t).all() for t in m.state_dict().values() if t.is_floating_point()), ck


def test_the_error_names_the_last_checkpoint_that_really_is_finite(tmp_path):
    "A run folder whose newest checkpoint holds NaN weights (written by an older version, say) is not 'good'."
    good, bad = model(), model()
    with torch.no_grad(): bad[0].weight.fill_(float("nan"))
    save_checkpoint(tmp_path, good, epoch=1); save_checkpoint(tmp_path, bad, epoch=2)
    with pytest.raises(NonFiniteError, match=r"epoch-0001\.") as e:
        fit(model(), NaNAt(loader(), 0), None, epochs=3, progress=False, ckpt_dir=tmp_path)
    assert "epoch-0002" not in str(e.value)


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    "BatchNorm in eval mode uses (and keeps) its running statistics: evaluate must not compute train-mode numbers."
    m = model()
    with torch.no_grad():
        m[1].running_mean.fill_(3.0); m[1].running_var.fill_(0.25)        # far from any batch's statistics
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()
    r = evaluate(m, loader(shuffle=False), "cpu")
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    m.eval()
    with torch.no_grad(): want = (m(X).argmax(1) == Y).float().mean().item()
    assert r["acc"] == pytest.approx(want)
    preds, _ = predict(m.train(), loader(shuffle=False), "cpu")
    assert m.training and (preds == Y).float().mean().item() == pytest.approx(want)


def test_fit_calls_set_epoch_every_epoch_also_after_a_resume(tmp_path):
    class Spy:
        def __init__(self, dl): self.dl, self.epochs = dl, []
        def __len__(self): return len(self.dl)
        def __iter__(self): return iter(self.dl)
        def set_epoch(self, e): self.epochs.append(e)
    spy = Spy(loader()); fit(model(), spy, None, epochs=2, progress=False, ckpt_dir=tmp_path)
    assert spy.epochs == [0, 1]
    spy = Spy(loader()); fit(model(), spy, None, epochs=4, progress=False, ckpt_dir=tmp_path, resume=True)
    assert spy.epochs == [2, 3]


# --- the run folder's pieces -------------------------------------------------------------------------------------

def test_default_epochs_follow_the_number_of_updates():
    from gpuvision_nb.runs import MAX_EPOCHS, MIN_UPDATES, default_epochs
    from gpuvision_nb.train import RECIPES
    assert default_epochs("seed", 63) == RECIPES["seed"]["epochs"] == 6                  # shapes: the recipe as it is
    assert default_epochs("seed", 12) * 12 >= MIN_UPDATES > (default_epochs("seed", 12) - 1) * 12
    assert default_epochs("resnet", 1) == MAX_EPOCHS


def test_class_report_per_class_and_confusion():
    from gpuvision_nb.runs import class_report
    r = class_report(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 1]), ["a", "b", "c"])
    assert r["confusion"] == [[1, 0, 0], [1, 1, 1], [0, 0, 1]]
    assert r["per_class_acc"] == {"a": 1.0, "b": pytest.approx(1 / 3), "c": 1.0} and r["acc"] == pytest.approx(0.6)


def test_run_settings_defaults_ranges_and_resume_rules():
    from gpuvision_nb.runs import run_settings
    from gpuvision_nb.train import RECIPES
    s = run_settings({"model": "resnet"})
    assert (s["lr"], s["batch_size"], s["augment"], s["seed"], s["epochs"]) == (RECIPES["resnet"]["lr"], 128, "crop", 0, None)
    for bad in ({"lr": 1e39}, {"lr": float("nan")}, {"seed": -1}, {"epochs": 0}, {"size": 4}, {"in_channels": 2},
                {"val_frac": 0.5, "test_frac": 0.45}, {"model": "vgg"}):
        with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]): run_settings(bad)
    saved = {**s, "epochs": 10}
    assert run_settings({"epochs": 20, "lr": None}, saved)["epochs"] == 20
    for k, v in (("lr", 0.1), ("batch_size", 64), ("seed", 1), ("augment", "none"), ("size", 64), ("precision", "bf16")):
        with pytest.raises(ValueError, match=f"{k} {v!r} \\(the run has"): run_settings({k: v}, saved)


def _folder(root, classes=("cat", "dog"), n=8, size=12):
    from PIL import Image
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n): Image.new("RGB", (size, size), (120 * k + 10, 7 * i, 60)).save(root / c / f"{i}.png")
    return root


def test_run_training_on_a_presplit_grey_folder(tmp_path):
    "DIR/train|valid|test/<class>: the splits are kept; grey 1-channel input; no augmentation; everything recorded."
    import json
    from gpuvision_nb.runs import run_training
    for split in ("train", "valid", "test"): _folder(tmp_path / "data" / split, n=8 if split == "train" else 3)
    m = run_training(str(tmp_path / "data"), epochs=2, out=tmp_path / "run", device="cpu", progress=False, size=16,
                     in_channels=1, augment="none", batch_size=4)
    assert m["data"]["layout"] == "presplit" and m["data"]["images"] == {"train": 16, "val": 6, "test": 6}
    assert (m["in_channels"], m["augment"], m["size"], m["model"]["kwargs"]["in_channels"]) == (1, "none", 16, 1)
    assert len(m["mean"]) == len(m["std"]) == 1 and m["evaluated_on"] == "test" and set(m["per_class_acc"]) == {"cat", "dog"}
    assert m["settings"]["epochs"] == 2 and m["world_size"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["confusion"] == m["confusion"]


def test_pretrained_resnet_is_shipped_and_loads_without_training(tmp_path, monkeypatch):
    "The SmallResNet shipped in gpuvision_nb/pretrained/ matches today's recipe key and loads from an empty cache."
    import gpuvision_nb.train as T
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    monkeypatch.setattr(T, "fit", lambda *a, **k: pytest.fail("pretrained('resnet') trained instead of loading the shipped copy"))
    assert T.latest_checkpoint(T.bundled_dir("resnet")) is not None, "stale: run tools/bundle_pretrained.py"
    model, hist = T.pretrained("resnet", device="cpu")
    assert len(hist) == T.RECIPES["resnet"]["epochs"] and hist.final["val_acc"] > 0.9
    assert not (tmp_path / "pretrained").exists()          # read in place: nothing copied into the cache


def test_on_epoch_sees_each_epoch_after_its_checkpoint_and_can_stop(tmp_path):
    seen = []
    def hook(h):
        seen.append((len(h), latest_checkpoint(tmp_path) is not None))
        return len(h) == 2
    h = fit(model(), loader(), loader(shuffle=False), epochs=5, progress=False, ckpt_dir=tmp_path, on_epoch=hook)
    assert len(h) == 2 and seen == [(1, True), (2, True)]
    assert verify_checkpoint(latest_checkpoint(tmp_path))["epoch"] == 2


def test_fast_on_cpu_is_the_default_run_and_never_compiles_unasked(monkeypatch):
    "fit(fast=True) on a CPU picks only CPU-valid, not-slower options: here, exactly the default run (same weights)."
    from gpuvision_nb.train import fast_options
    o = fast_options(torch.device("cpu"))
    assert o["compile"] is False and not o["fused_optimizer"] and not o["compiled_step"] and o["precision"] == "fp32"
    assert fast_options(torch.device("cpu"), "bf16", True, True)["compile"] is True      # what was asked is kept
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("fast=True compiled on a CPU unasked"))
    set_seed(0); a = model(); ha = fit(a, loader(), loader(shuffle=False), epochs=3, lr=0.05, progress=False, device="cpu")
    set_seed(0); b = model(); hb = fit(b, loader(), loader(shuffle=False), epochs=3, lr=0.05, progress=False, device="cpu",
                                     fast=True)
    assert same(a, b) and hb.final["val_acc"] == ha.final["val_acc"] > 0.7


def test_fast_options_on_cuda_use_graphs_bf16_channels_last_and_the_fused_compiled_step(monkeypatch):
    from gpuvision_nb.train import fast_options
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    o = fast_options(torch.device("cuda"))
    assert o == {"precision": "bf16", "channels_last": True, "compile": "reduce-overhead", "fused_optimizer": True,
                 "compiled_step": True}
    assert fast_options(torch.device("cuda"), "fp16")["precision"] == "fp16"           # an explicit choice is kept
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert fast_options(torch.device("cuda"))["precision"] == "fp32"


@inductor_needs_a_real_isa
def test_fast_with_compile_on_cpu_compiles_the_model_and_the_optimizer_step(monkeypatch):
    "The compiled path (model + optimizer step with a tensor LR driven by the schedule) trains as well as eager."
    compiled = []
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda f, **k: compiled.append((getattr(f, "__name__", type(f).__name__), k)) or real(f, **k))
    set_seed(0); m = plain()
    h = fit(m, loader(64), loader(64, shuffle=False), epochs=3, lr=0.05, progress=False, device="cpu", fast=True, compile=True)
    assert [n for n, _ in compiled] == ["step", "Sequential"] and h.final["val_acc"] > 0.7
    assert all(math.isfinite(e["lr"]) for e in h) and h[0]["lr"] != h[-1]["lr"]          # the schedule moved the tensor LR


def test_scale_lr_linear_for_sgd_square_root_for_adamw():
    from gpuvision_nb.train import scale_lr
    assert scale_lr(0.1, 8192, 256, "sgd") == pytest.approx(3.2)
    assert scale_lr(2e-3, 8192, 128, "adamw") == pytest.approx(0.016)
    with pytest.raises(ValueError, match="opt must be"): scale_lr(0.1, 2, 1, "lamb")


def test_autocast_is_on_exactly_for_reduced_precisions():
    "mutmut: `enabled=dtype is not None` flipped survived every test."
    from gpuvision_nb.train import autocast
    cpu = torch.device("cpu")
    with autocast(cpu, "fp32"): assert not torch.is_autocast_enabled("cpu")
    with autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_make_optimizer_passes_lr_weight_decay_and_nesterov():
    "mutmut: AdamW's `lr` and SGD's `nesterov` could be dropped without a test noticing."
    from gpuvision_nb.train import make_optimizer
    m = torch.nn.Linear(2, 2)
    g = make_optimizer(m, "sgd", lr=0.123, weight_decay=0.01).param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (0.123, 0.9, True, 0.01)
    g = make_optimizer(m, "adamw", lr=0.0042, weight_decay=0.02).param_groups[0]
    assert (g["lr"], g["weight_decay"]) == (0.0042, 0.02)


def _tiny_shapes(batch_size=128, device="cpu", **kw):
    "Shapes-like loaders of 64 random 32×32 images in 10 classes, in place of the real 10,000 (seed 0: the same each call)."
    from gpuvision_nb.data import GPULoader
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g), torch.arange(64) % 10
    mk = lambda train: GPULoader(x, y, batch_size=32, shuffle=train, augment=train, device=device)
    return mk(True), mk(False), mk(False), [f"c{i}" for i in range(10)]


def test_pretrained_trains_the_run_chapter_06_trains(tmp_path, monkeypatch):
    """pretrained('seed') on an empty cache is the same run as chapter 06's training cell (set_seed(0), then the
    weights, then fit with the recipe): so chapter 06 can load the run the tour cached instead of training it again."""
    import gpuvision_nb.train as T
    from gpuvision_nb.models import SeedCNN
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    monkeypatch.setattr(T, "shapes_loaders", _tiny_shapes)
    monkeypatch.setitem(T.RECIPES, "seed", {**T.RECIPES["seed"], "epochs": 1})
    cached, _ = T.pretrained("seed", device="cpu")
    train, val, _, classes = _tiny_shapes()
    set_seed(1)                                                   # whatever came before: the cell seeds first
    set_seed(0); model = SeedCNN(len(classes))
    fit(model, train, val, **{k: v for k, v in T.RECIPES["seed"].items() if k != "batch_size"}, device="cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), cached.state_dict().values()))


def test_save_digits_is_what_pretrained_digits_loads(tmp_path, monkeypatch):
    "Chapter 06 stores its digits run with save_digits; pretrained_digits (chapters 08, 09) loads it instead of training."
    import gpuvision_nb.train as T
    from gpuvision_nb.models import get_model
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    data = T.folder_loaders(T.digits_root(16), size=16, batch_size=128, augment="crop", in_channels=1, device="cpu")
    model = get_model("seed", len(data.classes), in_channels=1, size=16)
    T.save_digits(model, History([{"epoch": 1, "val_acc": 0.5}]), data)
    monkeypatch.setattr(T, "fit", lambda *a, **k: pytest.fail("pretrained_digits trained instead of loading the stored run"))
    loaded, _ = T.pretrained_digits("cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


# ---- make mutate (train, seed 7, sample 40): survivors killed --------------------------------------------------
def test_scale_lr_defaults_to_sgd_the_linear_rule():
    "mutmut: the default opt 'sgd' → 'SGD' (then every call without opt raised) survived."
    from gpuvision_nb.train import scale_lr
    assert scale_lr(0.1, 256, 128) == pytest.approx(0.2)


def test_train_step_updates_by_default():
    "mutmut: `step=True` → False as train_step's default (no update, gradients kept) survived."
    from gpuvision_nb.train import make_optimizer, train_step
    m = plain(); before = [p.detach().clone() for p in m.parameters()]
    opt = make_optimizer(m, "sgd", lr=0.1)
    train_step(m, X[:16], Y[:16], opt, torch.amp.GradScaler("cpu", enabled=False))
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert all(p.grad is None for p in m.parameters())                     # zeroed with set_to_none after the step


def test_the_non_finite_error_gives_its_default_hint():
    "mutmut: the default hint's text could change (e.g. upper-cased) unnoticed."
    from gpuvision_nb.train import _non_finite
    e = _non_finite("the training loss became nan", 0, None)
    assert str(e) == "fit: the training loss became nan in epoch 1; stopped before saving anything. Try a lower lr, or fp32/bf16 instead of fp16."


def test_fit_skips_the_gradient_all_reduce_only_on_non_stepping_batches():
    "mutmut: `no_sync(model, step)` → `no_sync(None, step)` (DDP would all-reduce every micro-batch) survived."
    class SyncSpy(nn.Module):
        def __init__(self):
            super().__init__(); self.net = plain(); self.skipped = 0
        def forward(self, x): return self.net(x)
        @__import__("contextlib").contextmanager
        def no_sync(self):
            self.skipped += 1; yield
    m = SyncSpy()
    fit(m, loader(64, shuffle=False), epochs=1, lr=0.01, device="cpu", progress=False, accumulate=2)   # 4 batches
    assert m.skipped == 2                                                  # the first of each pair of batches


def test_plot_confusion_anchors_rotated_names_and_centres_counts():
    "mutmut: dropping `rotation_mode='anchor'` or `va='center'` survived."
    import matplotlib.pyplot as plt
    from gpuvision_nb.train import plot_confusion
    ax = plot_confusion(torch.tensor([[3, 1], [0, 2]]), ["a", "b"])
    assert {t.get_rotation_mode() for t in ax.get_xticklabels()} == {"anchor"}
    assert [(t.get_text(), t.get_ha(), t.get_va()) for t in ax.texts] == [("3", "center", "center"), ("1", "center", "center"),
                                                                       ("2", "center", "center")]
    plt.close(ax.figure)


def test_shapes_loaders_make_images_of_the_asked_size(tmp_path, monkeypatch):
    "mutmut: `load_folder(..., size=size)` → `size=None` in shapes_loaders had no test reaching it."
    from gpuvision_nb.train import shapes_loaders
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    tr, va, te, classes = shapes_loaders(batch_size=4, device="cpu", augment=False, n_per_class=10, size=16)
    assert len(classes) >= 2 and all(l.x.shape[1:] == (3, 16, 16) for l in (tr, va, te))
    assert next(iter(va))[0].shape[1:] == (3, 16, 16)


# --- mutants of an unseen sample (tools/mutate.py train --sample 30 --seed 61) ---

def test_resuming_on_other_data_is_refused_with_what_differs(tmp_path):
    from gpuvision_nb.runs import _check_same_data
    ck = tmp_path / "epoch-0001"
    _check_same_data({"images": 10, "hash": "a"}, {"images": 10, "hash": "a"}, False, ck)            # same: nothing said
    with pytest.raises(ValueError, match=r"images: 10 → 12.*--force-resume"): _check_same_data({"images": 10}, {"images": 12}, False, ck)
    _check_same_data({"images": 10, "hash": "a"}, {"images": 12, "hash": "b"}, True, ck)              # forced: allowed
    with pytest.raises(ValueError, match=r"what the model depends on \(classes"):
        _check_same_data({"classes": ["a", "b"]}, {"classes": ["a", "c"]}, True, ck)


def test_fine_tuning_loads_the_source_model_on_the_cpu_first(tmp_path, monkeypatch):
    "`--from FILE` reads the weights onto the CPU (the run places the model afterwards): a big GPU model can't fill the GPU twice."
    import gpuvision_nb.deploy as deploy
    from gpuvision_nb.data import MEAN, STD
    from gpuvision_nb.models import SeedCNN
    from gpuvision_nb.runs import _source
    f = deploy.save_model(SeedCNN(n_classes=2, widths=(4, 4, 4), hidden=8).eval(), tmp_path / "m.safetensors",
                          deploy.Preprocess(32, MEAN, STD, classes=["a", "b"]))
    seen, real = [], deploy.load_model
    monkeypatch.setattr(deploy, "load_model", lambda p, device="auto", key=None: seen.append(device) or real(p, "cpu", key))
    net, desc = _source(str(f))
    assert seen == ["cpu"] and desc == {"classes": ["a", "b"], "size": 32, "in_channels": 3, "arch": "seed"}


def test_the_optimizer_is_fused_only_on_cuda():
    from gpuvision_nb.train import make_optimizer
    model = nn.Linear(3, 2)
    for name in ("sgd", "adamw"): assert not make_optimizer(model, name).defaults.get("fused"), name


def test_misclassified_grid_size_and_an_empty_history_say_what_they_are():
    from gpuvision_nb.runs import plot_misclassified
    imgs = torch.zeros(10, 3, 8, 8, dtype=torch.uint8)
    fig = plot_misclassified(imgs, torch.zeros(10, dtype=torch.long), torch.ones(10, dtype=torch.long), ["a", "b"])
    assert tuple(fig.get_size_inches()) == pytest.approx((1.6 * 8, 1.8 * 2))        # 8 columns, 2 rows
    import matplotlib.pyplot as plt; plt.close(fig)
    assert plot_misclassified(imgs, torch.zeros(10, dtype=torch.long), torch.zeros(10, dtype=torch.long), ["a", "b"]) is None
    assert str(History()) == "(no epochs yet)"


def test_a_damaged_previous_run_is_reported_with_the_reason(tmp_path):
    from gpuvision_nb.runs import previous_run
    from gpuvision_nb.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "checkpoints", torch.nn.Linear(2, 2), epoch=1)    # a run's checkpoint, its `latest` damaged
    (tmp_path / "checkpoints" / "latest").write_text("../../etc")
    got = previous_run(tmp_path)
    assert set(got) == {"damaged"} and "latest" in got["damaged"] and "damaged" in got["damaged"]


def test_history_plot_marks_whole_epochs_only():
    "A 3-epoch run (the demo's) was drawn with ticks at epochs 1.25, 1.5, 1.75 (chapter 16's curves)."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gpuvision_nb.train import History
    axs = History([{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "train_acc": e / 4, "val_acc": e / 4} for e in (1, 2, 3)]).plot()
    for ax in axs:
        lo, hi = ax.get_xlim()
        assert [x for x in ax.get_xticks() if lo <= x <= hi] == [1, 2, 3]
    plt.close(axs[0].figure)


@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_the_compiled_optimizer_step_is_compiled_a_bounded_number_of_times_whatever_the_steps(monkeypatch, opt):
    """OneCycleLR cycled the momentum (SGD's momentum, AdamW's beta1): a Python float that the compiled update guards
    on, so it was recompiled at every step until dynamo's limit (8), then ran uncompiled — on a GPU, minutes of
    compiling in the first epoch, then the slower step. The compiled path keeps the momentum fixed. The 'aot_eager'
    backend specializes the float as inductor does (plain 'eager' traces it symbolically and hides the fault), in
    seconds instead of inductor's minutes."""
    import torch._dynamo
    from torch._dynamo.utils import counters
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda f, **k: real(f, **{**k, "backend": "aot_eager"}))
    torch._dynamo.reset(); counters.clear()
    try:
        set_seed(0)
        h = fit(plain(), loader(16), None, epochs=2, lr=0.05, opt=opt, progress=False, device="cpu", fast=True, compile=True)
        graphs = counters["stats"]["unique_graphs"]
    finally: torch._dynamo.reset()
    assert len(h) == 2 and graphs <= 3, graphs        # the model once, the update twice (its state is made at step 1)


# ---- tools/mutate.py train --sample 25 --seed 701: survivors killed --------------------------------------------
def test_a_non_main_rank_neither_locks_nor_writes_the_checkpoint_folder(tmp_path, monkeypatch):
    """Under torchrun only rank 0 locks the run folder and saves: another rank that locked it too would find rank 0's
    lock and stop with FolderInUseError (mutmut: `ckpt_dir if main else None` → always ckpt_dir survived)."""
    import gpuvision_nb.train as T
    from gpuvision_nb.checkpoint import lock_folder
    monkeypatch.setattr(T, "is_main_process", lambda: False)
    with lock_folder(tmp_path / "ck"):                            # rank 0 holds it
        h = fit(plain(), loader(64), epochs=1, ckpt_dir=tmp_path / "ck", progress=False, device="cpu")
    assert len(h) == 1 and latest_checkpoint(tmp_path / "ck") is None


def test_plot_confusion_names_and_counts_in_small_type_counts_white_on_dark_cells():
    """The names are drawn at 8 pt (the figure's size is reckoned for that), a count above half the largest in white
    (mutmut: fontsize=8 → None, and the white → always black, survived)."""
    import matplotlib.pyplot as plt
    from gpuvision_nb.train import plot_confusion
    ax = plot_confusion(torch.tensor([[3, 1], [0, 2]]), ["a", "b"])
    assert {t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()} == {8}
    assert [(t.get_text(), t.get_color()) for t in ax.texts] == [("3", "white"), ("1", "black"), ("2", "white")]
    plt.close(ax.figure)


def test_pretrained_trains_on_the_recipes_batch_size_on_the_asked_device(tmp_path, monkeypatch):
    "mutmut: shapes_loaders(bs, dev) → shapes_loaders(None, dev) and → shapes_loaders(dev) survived (the loaders are stubbed)."
    import inspect
    import gpuvision_nb.train as T
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    asked, signature = [], inspect.signature(T.shapes_loaders)
    def loaders(*a, **k):
        asked.append(signature.bind(*a, **k).arguments); raise Stop
    monkeypatch.setattr(T, "shapes_loaders", loaders)
    with pytest.raises(Stop): T.pretrained("seed", device="cpu")
    assert asked == [{"batch_size": T.RECIPES["seed"]["batch_size"], "device": torch.device("cpu")}]


def test_pretrained_digits_defaults_to_the_auto_device(monkeypatch):
    "mutmut: the default device 'auto' → 'XXautoXX' (then pretrained_digits() raised) survived (get_device stubbed)."
    import gpuvision_nb.train as T
    asked = []
    def get_device(device): asked.append(device); raise Stop
    monkeypatch.setattr(T, "get_device", get_device)
    with pytest.raises(Stop): T.pretrained_digits()
    assert asked == ["auto"]


def test_a_meter_that_saw_nothing_reads_nan():
    "An epoch of no batches (a rank's empty shard) reads NaN loss and accuracy, not a ZeroDivisionError (mutmut: 'nan' → 'XXnanXX')."
    from gpuvision_nb.train import Meter
    assert all(math.isnan(v) for v in Meter(torch.device("cpu")).read())


# ---- tools/mutate.py train --sample 25 --seed 914: the survivors, each killed ------------------------------------
def test_confusion_matrix_is_n_by_n_when_the_last_classes_never_occur():
    "mutmut: minlength=n² dropped survived: bincount then stops at the largest pair seen, and the reshape fails."
    from gpuvision_nb.train import confusion_matrix
    assert confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 3).tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_a_resumed_fp16_run_gets_its_loss_scale_back(tmp_path, monkeypatch):
    "mutmut: resume passed scaler=None to load_checkpoint (the fp16 loss scale restarted at 65,536) survived."
    import gpuvision_nb.train as T
    fit(model(), loader(shuffle=False), epochs=1, lr=0.05, precision="fp16", device="cpu", ckpt_dir=tmp_path, progress=False)
    given, load = [], T.load_checkpoint
    def spy(path, net, optimizer=None, scheduler=None, scaler=None, **k):
        given.append(scaler); return load(path, net, optimizer, scheduler, scaler, **k)
    monkeypatch.setattr(T, "load_checkpoint", spy)
    fit(model(), loader(shuffle=False), epochs=2, lr=0.05, precision="fp16", device="cpu", ckpt_dir=tmp_path, resume=True,
        progress=False)
    assert len(given) == 1 and isinstance(given[0], torch.amp.GradScaler) and given[0].is_enabled()


def test_one_sample_loop_times_single_images_on_the_device_it_ran_on():
    "mutmut: its Timing's device str(dev) → str(None) was reached by no test."
    from gpuvision_nb.train import one_sample_loop
    t = one_sample_loop(plain(), X[:10], Y[:10], device="cpu")
    assert (t.device, t.items, t.unit, t.params) == ("cpu", 1, "img", {"batch": 1, "model": "Sequential"})
    assert len(t.times) == 8                                           # 10 steps, the first fifth dropped as warm-up


def test_raw_step_timing_defaults_to_adamw():
    "mutmut: the default opt 'adamw' → 'XXadamwXX' (every call without opt raised) was reached by no test."
    from gpuvision_nb.train import raw_step_timing
    t = raw_step_timing(plain(), loader(bs=16), device="cpu", n_batches=2)
    assert t.label == "raw train step" and t.params == {"precision": "fp32", "batch": 16}


def test_plot_confusion_makes_room_for_the_names_only_in_a_figure_of_its_own():
    "mutmut: tight_layout on a figure of its own only (== → !=) survived: a figure with other axes is the caller's."
    import matplotlib.pyplot as plt
    from gpuvision_nb.train import plot_confusion
    default = plt.rcParams["figure.subplot.bottom"]
    own = plot_confusion(torch.tensor([[3, 1], [0, 2]]), ["a long class name", "b"]).figure
    fig, (left, right) = plt.subplots(1, 2)
    plot_confusion(torch.tensor([[3, 1], [0, 2]]), ["a long class name", "b"], ax=right)
    assert own.subplotpars.bottom != default and fig.subplotpars.bottom == default
    plt.close(own); plt.close(fig)


def _after(load, seed: int) -> torch.Tensor:
    "The random numbers drawn right after `load()` in a program seeded with `seed`."
    torch.manual_seed(seed); load()
    return torch.rand(3)


def test_loading_a_pretrained_model_keeps_the_callers_random_stream(tmp_path, monkeypatch):
    """mutmut: restore_rng=False dropped from pretrained's load survived: the checkpoint's RNG state then replaced the
    caller's, so two programs seeded differently drew the same numbers after loading (the caller's seed is what counts)."""
    import gpuvision_nb.train as T
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    load = lambda: T.pretrained("resnet", device="cpu")
    assert not torch.equal(_after(load, 1), _after(load, 2)) and torch.equal(_after(load, 1), _after(load, 1))


def test_save_digits_records_the_recipe_and_pretrained_digits_keeps_the_callers_random_stream(tmp_path, monkeypatch):
    "mutmut: meta key 'recipe' → 'RECIPE', and pretrained_digits' load with restore_rng=True, survived."
    import gpuvision_nb.train as T
    from gpuvision_nb.models import get_model
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    data = T.folder_loaders(T.digits_root(16), size=16, batch_size=128, augment="crop", in_channels=1, device="cpu")
    torch.manual_seed(99)                                     # the random state the checkpoint stores: not the one below
    d = T.save_digits(get_model("seed", 10, in_channels=1, size=16), History([{"epoch": 1, "val_acc": 0.5}]), data)
    assert verify_checkpoint(latest_checkpoint(d))["meta"] == {"recipe": T.DIGITS_RECIPE, "data": data.fingerprint()}
    set_seed(T.DIGITS_RECIPE["seed"]); get_model("seed", 10, in_channels=1, size=16)
    expected = torch.rand(3)                                   # what pretrained_digits does: seed, draw the weights, load
    assert torch.equal(_after(lambda: T.pretrained_digits("cpu"), 1), expected)


def test_history_prints_every_column_it_has():
    "mutmut: the column name 'images_per_second' → 'XXimages_per_secondXX' survived (the table then showed None)."
    text = str(History([{"epoch": 1, "train_loss": 0.5, "train_acc": 0.75, "val_loss": 0.25, "val_acc": 0.875,
                         "seconds": 2.0, "images_per_second": 1234.5}]))
    assert "images_per_second" in text and "1234" in text and "None" not in text
