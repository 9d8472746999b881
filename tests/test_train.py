"The training loop: metrics, no per-step host syncs, precision modes, checkpoints, resume, NaN guard (chapter 06)."
import math

import pytest
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, TensorDataset

from gpuvision_nb.checkpoint import latest_checkpoint, load_checkpoint
from gpuvision_nb.device import set_seed
from gpuvision_nb.train import History, NonFiniteLossError, evaluate, fit, predict

X = torch.randn(256, 3, 8, 8, generator=torch.Generator().manual_seed(0))
Y = (X.mean((1, 2, 3)) > 0).long()


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 2))


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


def test_resume_refuses_a_different_schedule(tmp_path):
    fit(model(), loader(), None, epochs=2, progress=False, ckpt_dir=tmp_path)
    with pytest.raises(ValueError, match="belongs to a run of 2 epochs"):
        fit(model(), loader(), None, epochs=3, progress=False, ckpt_dir=tmp_path, resume=True)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    h = fit(model(), loader(), None, epochs=1, progress=False, ckpt_dir=tmp_path / "new", resume=True)
    assert len(h) == 1 and latest_checkpoint(tmp_path / "new").name == "epoch-0001"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"epoch 2.*epoch-0001"):
        fit(model(), FailAfter(loader(), 8 + 2, nan=True), None, epochs=3, lr=0.05, progress=False, ckpt_dir=tmp_path)
    assert latest_checkpoint(tmp_path).name == "epoch-0001"
    m = model()
    assert load_checkpoint(tmp_path, m)["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in m.parameters())


@pytest.mark.parametrize("kw, msg", [({"precision": "fp8"}, "precision must be one of"), ({"epochs": 0}, "epochs must be"),
                                     ({"lr": 0}, "lr must be"), ({"resume": True}, "needs ckpt_dir"),
                                     ({"opt": "lion"}, "opt must be"), ({"schedule": "step"}, "schedule must be"),
                                     ({"device": "tpu"}, "unknown device")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        fit(model(), loader(), None, progress=False, **kw)


def test_empty_training_data():
    with pytest.raises(ValueError, match="no batches"):
        fit(model(), [], None, progress=False)


def test_accumulation_equals_a_bigger_batch():
    "accumulate=4 over batches of 16 makes the same updates as batches of 64 (a model without BatchNorm)."
    def plain():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2))
    big, small = plain(), plain()
    fit(big, loader(64, shuffle=False), None, epochs=2, lr=0.05, progress=False)
    fit(small, loader(16, shuffle=False), None, epochs=2, lr=0.05, progress=False, accumulate=4)
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_accumulation_with_a_short_last_group():
    h = fit(model(), loader(48), None, epochs=1, progress=False, accumulate=4)   # 6 batches: groups of 4 and 2
    assert math.isfinite(h.final["train_loss"])
    with pytest.raises(ValueError, match="accumulate must be"):
        fit(model(), loader(), None, progress=False, accumulate=0)


@pytest.mark.parametrize("n_batches", [1, 2, 3, 4, 5, 8])
def test_onecycle_works_for_short_runs(n_batches):
    h = fit(model(), loader(256 // n_batches), None, epochs=1, progress=False)
    assert len(h) == 1 and math.isfinite(h.final["train_loss"])
