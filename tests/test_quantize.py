"Tests for gpuvision_nb.quantize: accuracy and outputs near fp32, ~4x smaller, clear errors for bad arguments."
import re
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gpuvision_nb.models import SeedCNN, SmallResNet
from gpuvision_nb.quantize import (Int8Model, agreement, calibration_batches, default_engine, quant_engine, quantizable,
                                   quantize, size_on_disk, time_inference)


def _colour_task(n: int, seed: int):
    "Images whose class (0, 1, 2) is the brightest colour channel: easy, so a tiny CNN learns it with a clear margin."
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, 3, 32, 32, generator=g) * 0.5
    x[torch.arange(n), y] += 0.3
    return x, y


@pytest.fixture(scope="module")
def trained():
    """A small SeedCNN trained for a few seconds on the colour task, and held-out images. Four epochs, not two: after
    two this 4-channel model sits at 97 % with many images near its decision boundary, and static int8 lost 1.0
    points on the default kernels but 1.2 under ATEN_CPU_CAPABILITY=default or DNNL_MAX_CPU_ISA=AVX2 (the fp32 model
    itself is the same on every path); after four it is at 100 % on every path and int8 keeps it."""
    torch.manual_seed(0)
    model = SeedCNN(n_classes=3, widths=(4, 4, 8), hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _colour_task(1024, seed=1)
    for _ in range(4):
        for i in range(0, len(x), 64):
            loss = F.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad(); loss.backward(); opt.step()
    model.eval()
    return model, _colour_task(512, seed=2), x[:256]


def _acc(model, x, y):
    with torch.no_grad(): return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("method", ["static", "dynamic"])
def test_accuracy_within_one_point(trained, method):
    model, (x, y), calib = trained
    q = quantize(model, method, calib=calib if method == "static" else None)
    fp32 = _acc(model, x, y)
    assert fp32 > 0.9, "the fixture model should have learnt the task"
    assert _acc(q, x, y) >= fp32 - 0.01


def test_outputs_close_to_fp32(trained):
    model, (x, _), calib = trained
    q = quantize(model, "static", calib=calib)
    with torch.no_grad(): a, b = model(x[:16]), q(x[:16])
    assert (a - b).abs().max() <= 0.05 * a.abs().max() + 0.05
    stats = agreement(model, q, [(x, None)])
    assert stats["n"] == len(x) and stats["same_prediction"] >= 0.98


@pytest.mark.parametrize("method", ["static", "dynamic"])
def test_about_4x_smaller(method):
    model = SeedCNN()
    q = quantize(model, method, calib=torch.randn(8, 3, 32, 32) if method == "static" else None, n_batches=1)
    assert 3.5 <= size_on_disk(model) / size_on_disk(q) <= 4.2


def test_static_resnet_close_and_smaller():
    torch.manual_seed(0)
    model = SmallResNet(n_classes=4).eval()
    with torch.no_grad():              # non-trivial BatchNorm statistics, so that folding them is really tested
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d): m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(16, 3, 32, 32)
    q = quantize(model, "static", calib=[(x, None)])
    with torch.no_grad(): a, b = model(x), q(x)
    assert (a - b).abs().max() <= 0.1 * a.abs().max()
    assert size_on_disk(model) / size_on_disk(q) > 3


def test_original_model_and_engine_untouched(trained):
    model, _, calib = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = torch.backends.quantized.engine
    model.train()
    quantize(model, "static", calib=calib)
    assert model.training and type(model.fc1) is nn.Linear
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.backends.quantized.engine == engine


def test_fused_copy_same_function(trained):
    model, (x, _), _ = trained
    with torch.no_grad(): torch.testing.assert_close(quantizable(model)(x[:8]), model(x[:8]), atol=1e-5, rtol=1e-4)


def test_no_deprecation_warnings_leak(trained, recwarn):
    model, _, calib = trained
    quantize(model, "static", calib=calib); quantize(model, "dynamic")
    assert not [w for w in recwarn if "deprecated" in str(w.message)]


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'int4'"): quantize(SeedCNN(), "int4")


@pytest.mark.parametrize("calib, match", [(None, "needs calibration data"), ([], "calibration data is empty"),
                                          (torch.randn(0, 3, 32, 32), "calibration data is empty"),
                                          (iter([]), "calibration data is empty"),
                                          ([torch.zeros(4, 10)], r"float images \(N, C, H, W\)"),
                                          ([torch.zeros(2, 3, 32, 32, dtype=torch.uint8)], "float images"),
                                          (42, "calib must be a tensor of images or an iterable"),
                                          (["abc"], r"calibration batches must be float images \(N, C, H, W\), got str$")])
def test_bad_calibration(calib, match):
    with pytest.raises((ValueError, TypeError), match=match): quantize(SeedCNN(), "static", calib=calib)


def test_bad_n_batches_and_engine():
    with pytest.raises(ValueError, match="n_batches must be an int >= 1"):
        quantize(SeedCNN(), "static", calib=torch.randn(2, 3, 32, 32), n_batches=0)
    with pytest.raises(ValueError, match="engine must be one of"):
        quantize(SeedCNN(), "static", calib=torch.randn(2, 3, 32, 32), engine="tpu")


def test_calibration_batches_limits_and_accepts_pairs():
    data = [(torch.randn(4, 3, 8, 8), torch.zeros(4)) for _ in range(5)]
    assert len(calibration_batches(data, 3)) == 3
    assert [b.shape[0] for b in calibration_batches(torch.randn(300, 3, 8, 8), 8)] == [256, 44]


class _Custom(nn.Module):
    def __init__(self):
        super().__init__(); self.conv = nn.Conv2d(3, 4, 3); self.fc = nn.Linear(4, 2)
    def forward(self, x): return self.fc(self.conv(x).mean((2, 3)))


@pytest.mark.parametrize("model, match", [(_Custom(), "unsupported model _Custom: eager-mode int8 needs to know where its adds"), (nn.LSTM(4, 4), "unsupported model LSTM"),
                                          (nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU()), r"1 \(GELU\)")])
def test_unsupported_model_static(model, match):
    with pytest.raises(TypeError, match=match): quantize(model, "static", calib=torch.randn(2, 3, 32, 32))


def test_unsupported_model_dynamic_and_non_modules():
    with pytest.raises(TypeError, match="no nn.Linear layer"): quantize(nn.Sequential(nn.Conv2d(3, 4, 3)), "dynamic")
    with pytest.raises(TypeError, match="^quantize_dynamic: model must be an nn.Module, got str$"): quantize("seed", "dynamic")
    with pytest.raises(TypeError, match="^quantize_static: model must be an nn.Module, got str$"):
        quantize("seed", "static", calib=torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="uses no calibration data"): quantize(SeedCNN(), "dynamic", calib=torch.randn(2, 3, 32, 32))


def test_already_quantized():
    q = quantize(SeedCNN(), "dynamic")
    with pytest.raises(TypeError, match="already int8"): quantize(q, "static", calib=torch.randn(2, 3, 32, 32))


def test_int8_model_input_checks():
    q = quantize(SeedCNN(), "static", calib=torch.randn(4, 3, 32, 32))
    assert isinstance(q, Int8Model) and q(torch.randn(2, 3, 32, 32)).dtype == torch.float32
    with pytest.raises(ValueError, match="runs on the CPU"): q(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="runs on the CPU.*got ndarray$"): q(torch.randn(2, 3, 32, 32).numpy())
    with pytest.raises(ValueError, match="SeedCNN expects"): q(torch.randn(2, 3, 28, 28))
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="runs on the CPU"): q(torch.randn(2, 3, 32, 32, device="cuda"))


def test_engine_helpers():
    assert default_engine() in torch.backends.quantized.supported_engines
    with pytest.raises(ValueError, match="engine must be one of"):
        with quant_engine("tpu"): pass


def test_time_inference_and_size_errors():
    t = time_inference(quantize(SeedCNN(widths=(4, 4, 8), hidden=8), "dynamic"), 2, label="q", min_run_time=0.01)
    assert t.items == 2 and t.unit == "img" and t.params["batch"] == 2
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="batch must be an int >= 1"): time_inference(SeedCNN(), bad)
    with pytest.raises(TypeError, match="model must be an nn.Module"): size_on_disk({"w": torch.zeros(1)})


def test_static_int8_of_a_one_channel_model():
    from gpuvision_nb.quantize import quantize
    torch.manual_seed(0)
    m = SeedCNN(3, widths=(8, 8, 16), hidden=32, in_channels=1).eval()
    x = torch.randn(64, 1, 32, 32)
    q = quantize(m, "static", calib=[x])
    assert q(x).shape == (64, 3) and agreement(m, q, [x])["n"] == 64


# ---- make mutate (quantize, seed 5, sample 40): survivors killed ----------------------------------------------------
def test_default_engine_preference_and_fallback(monkeypatch):
    "x86, then fbgemm, then qnnpack (ARM), then onednn; a build with none of them gets its first engine, not a StopIteration."
    monkeypatch.setattr(type(torch.backends.quantized), "supported_engines", ["future", "none"])
    assert default_engine() == "future"
    for engines, want in ((["none", "qnnpack"], "qnnpack"), (["qnnpack", "fbgemm"], "fbgemm"), (["onednn", "x86"], "x86")):
        monkeypatch.setattr(type(torch.backends.quantized), "supported_engines", engines)   # ARM, older x86, newer x86
        assert default_engine() == want


def test_dynamic_quantization_uses_the_engine_asked():
    others = [e for e in torch.backends.quantized.supported_engines if e not in ("none", default_engine())]
    if not others: pytest.skip("this torch build has one quantized engine")
    q = quantize(SeedCNN(widths=(4, 4, 8), hidden=8), "dynamic", engine=others[0])
    assert q.engine == others[0] and f"engine={others[0]!r}" in repr(q)


def test_size_on_disk_leaves_no_file_behind(tmp_path, monkeypatch):
    "The state_dict is saved into a temporary folder, not the working directory."
    monkeypatch.chdir(tmp_path)
    m = nn.Linear(100, 10)
    assert size_on_disk(m) > 4 * (100 * 10 + 10) and list(tmp_path.iterdir()) == []


# ---- make mutate (quantize, unseen seed 61, sample 40: 84%): survivors killed ---------------------------------------
def test_static_int8_of_a_sequential_with_nothing_to_fuse():
    """A sequential CNN with no conv→bn/relu or linear→relu chain quantizes (it crashed in torch's fuse_modules([]) with
    'did not find fuser method for: ()'); a pooling layer followed by a ReLU is not a chain to fuse."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 15 * 15, 2)).eval()
    q = quantize(model, "static", calib=torch.randn(4, 3, 32, 32))
    assert q(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_a_torch_without_ao_quantization_is_explained(monkeypatch):
    import gpuvision_nb.quantize as Q
    monkeypatch.setattr(Q, "tq", None)
    for method, kw in (("dynamic", {}), ("static", {"calib": torch.randn(2, 3, 32, 32)})):
        with pytest.raises(ImportError, match=f"^quantize_{method}: this torch .* no longer has torch.ao.quantization"):
            quantize(SeedCNN(), method, **kw)


# ---- tools/mutate.py quantize --sample 25 --seed 704: survivors killed --------------------------------------------
def test_a_linear_relu_pair_is_fused():
    "mutmut: the Linear → ReLU fusion pattern switched off survived (only conv chains were fused)."
    from torch.ao.nn.intrinsic import LinearReLU
    body = quantizable(nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 2)))
    assert [type(m) for m in body] == [nn.Flatten, LinearReLU, nn.Identity, nn.Linear]


def test_calibration_errors_word_for_word():
    "mutmut: the missing calib's message upper-cased and the wrong kind named as 'NoneType' survived."
    with pytest.raises(ValueError, match=r"^quantize_static: static quantization needs calibration data \(calib=\): a few "
                                         r"batches of representative images, e.g. the training loader; without it the "
                                         r"activation scales are made up$"):
        calibration_batches(None, 8)
    with pytest.raises(TypeError, match=r"^quantize_static: calib must be a tensor of images or an iterable of batches, got int$"):
        calibration_batches(5, 8)


def test_time_inference_times_one_image_on_the_device_asked(monkeypatch):
    """A batch of 1 is allowed; the timer gets the device (it synchronizes it and names it in the record) and the
    dtype's short name (mutmut: batch < 1 → <= 1, device=dev → None, and 'torch.' → 'XXXX' survived; timer stubbed)."""
    import gpuvision_nb.quantize as Q
    monkeypatch.setattr(Q, "time_fn", lambda fn, x, **kw: kw)
    kw = time_inference(nn.Flatten(), 1, device="cpu")
    assert (kw["device"], kw["items"], kw["params"]) == (torch.device("cpu"), 1, {"batch": 1, "dtype": "float32"})


def test_calibration_batches_take_a_whole_number_of_batches():
    "mutmut (seed 926): `or not isinstance(n_batches, int)` → `and …` survived: 2.5 and '3' batches were accepted."
    from gpuvision_nb.quantize import calibration_batches
    x = torch.zeros(4, 3, 8, 8)
    for bad in (2.5, "3", True):
        with pytest.raises(ValueError, match=rf"^quantize_static: n_batches must be an int >= 1, got {re.escape(repr(bad))}$"):
            calibration_batches(x, bad)
    assert len(calibration_batches(x, 3)) == 1
