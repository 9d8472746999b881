"Per-image batched augmentation: shapes, dtypes, ranges, exactness, determinism under a seed, bad arguments, throughput, gain."
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from gpuvision_nb.augment import (Augmented, BatchAugment, PerSample, _grey, augment_throughput, augmentation_gain,
                                  crop_flip, jitter, loader_images, small_subset)
from gpuvision_nb.data import GPULoader
from gpuvision_nb.models import SmallResNet


@pytest.fixture
def x():
    return torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def mirrored(a, b): return [torch.equal(i, o.flip(-1)) and not torch.equal(i, o) for i, o in zip(a, b)]


def test_crop_flip_exact_cases(x):
    assert torch.allclose(crop_flip(x, scale=(1, 1), ratio=(1, 1), flip=0), x, atol=1e-6)
    assert torch.allclose(crop_flip(x, scale=(1, 1), ratio=(1, 1), flip=1), x.flip(-1), atol=1e-6)


def test_crop_flip_is_per_image(x):
    torch.manual_seed(0)
    out = crop_flip(x, scale=(1, 1), ratio=(1, 1), flip=0.5)
    flips = [torch.allclose(o, i.flip(-1), atol=1e-6) for o, i in zip(out, x)]
    assert 0 < sum(flips) < len(x)                                # some flipped, some not: one draw per image
    crops = crop_flip(x[:1].expand(8, -1, -1, -1), scale=(0.2, 0.5))
    assert len({c.sum().item() for c in crops}) == 8              # same image, 8 different crops


def test_v2_on_a_batch_draws_once(x):
    "The pitfall the chapter is about: a v2 transform flips all images of a batch or none."
    torch.manual_seed(0)
    flip = v2.RandomHorizontalFlip()
    assert {sum(mirrored(x, flip(x))) for _ in range(20)} == {0, len(x)}
    assert len({sum(mirrored(x, PerSample(flip)(x))) for _ in range(20)}) > 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_dtypes_ranges(x, dtype):
    x = x.to(dtype)
    for out in (crop_flip(x, scale=(0.1, 0.9)), jitter(x, 1, 1, 1), BatchAugment(seed=0)(x)):
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        assert out.min() >= 0 and out.max() <= 1
    odd = torch.rand(3, 3, 20, 28)                                 # non-square, odd batch
    assert BatchAugment()(odd).shape == odd.shape


def test_jitter_matches_torchvision(x):
    torch.testing.assert_close(jitter(x, 0, 0, 0), x)
    torch.testing.assert_close((0.7 * x + 0.3 * _grey(x).mean((2, 3), keepdim=True)).clamp(0, 1), TF.adjust_contrast(x, 0.7),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close((1.4 * x - 0.4 * _grey(x)).clamp(0, 1), TF.adjust_saturation(x, 1.4), atol=1e-4, rtol=0)
    b = jitter(x, brightness=0.5, contrast=0, saturation=0)
    ratio = (b / x.clamp_min(1e-3))[(x > 0.05) & (b < 0.99)].view(-1)
    assert 0.5 - 1e-4 <= ratio.min() and ratio.max() <= 1.5 + 1e-4


def test_determinism_under_seed(x):
    a = BatchAugment(seed=7)
    first, second = a(x), a(x)
    assert not torch.equal(first, second)                         # each call draws anew
    b = BatchAugment(seed=7)
    assert torch.equal(b(x), first) and torch.equal(b(x), second)  # same seed → same sequence
    assert not torch.equal(BatchAugment(seed=8)(x), first)
    torch.manual_seed(3); g1 = BatchAugment()(x)
    torch.manual_seed(3); assert torch.equal(BatchAugment()(x), g1)  # no seed: torch's global generator
    g = torch.Generator().manual_seed(1); c1 = crop_flip(x, generator=g)
    g.manual_seed(1); assert torch.equal(crop_flip(x, generator=g), c1)


def test_bad_arguments(x):
    with pytest.raises(ValueError, match="scale must satisfy"): BatchAugment(scale=(0.9, 0.1))
    with pytest.raises(ValueError, match="scale must satisfy"): BatchAugment(scale=(0, 1))
    with pytest.raises(ValueError, match=r"scale must be a \(min, max\) pair"): BatchAugment(scale=0.5)
    with pytest.raises(ValueError, match="ratio must"): BatchAugment(ratio=(2, 1))
    with pytest.raises(ValueError, match=r"flip must be a number in \[0, 1\]"): BatchAugment(flip=2)
    with pytest.raises(ValueError, match="contrast"): BatchAugment(contrast=-0.5)
    with pytest.raises(ValueError, match="saturation"): jitter(x, saturation=True)
    with pytest.raises(ValueError, match="seed must be"): BatchAugment(seed=1.5)
    with pytest.raises(TypeError, match=r"x.float\(\) / 255"): BatchAugment()((x * 255).byte())
    with pytest.raises(ValueError, match="batch dimension"): crop_flip(x[0])
    with pytest.raises(ValueError, match="channel"): jitter(x[:, :1])
    with pytest.raises(TypeError, match="augment must be callable"): Augmented([], "flip")
    with pytest.raises(ValueError, match="3 values"): Augmented([], BatchAugment(), mean=(0.5,))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"): augment_throughput("cpu", batch_size=0)


def test_to_v2_policy(x):
    p = BatchAugment(scale=(0.5, 1), flip=0.3).to_v2(32)
    assert isinstance(p, v2.Compose) and p(x).shape == x.shape
    assert "seed=None" in repr(BatchAugment())


def test_augmented_loader_roundtrip():
    imgs = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    loader = GPULoader(imgs, torch.arange(20) % 4, 8, shuffle=False, augment=False, device="cpu")
    wrapped = Augmented(loader, lambda b: b)
    assert len(wrapped) == 3
    for (xa, ya), (xb, yb) in zip(wrapped, loader):
        torch.testing.assert_close(xa, xb, atol=1e-5, rtol=0); assert torch.equal(ya, yb)
    seen = []
    Augmented(loader, lambda b: seen.append((b.min().item(), b.max().item())) or b).__iter__().__next__()
    assert 0 <= seen[0][0] and seen[0][1] <= 1                      # the policy sees [0, 1] pixels
    wrapped.set_epoch(5); assert loader.epoch == 5


def test_throughput_and_gain_smoke():
    ts = augment_throughput("cpu", batch_size=8, min_run_time=0.01)
    assert [t.label for t in ts] == ["v2 on the batch (one draw)", "v2 per image (loop)", "BatchAugment (per image)"]
    assert all(t.items == 8 and t.unit == "img" and t.device == "cpu" for t in ts)
    imgs = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    loader = GPULoader(imgs, torch.arange(24) % 3, 8, augment=False, device="cpu")
    xs, ys = small_subset(loader, 2)
    assert len(xs) == 6 and torch.bincount(ys).tolist() == [2, 2, 2]
    gain = augmentation_gain(lambda: SmallResNet(3, widths=(4, 4, 4)), xs, ys, loader,
                             {"none": None, "cf": "crop-flip", "ba": BatchAugment(seed=0)}, epochs=1, device="cpu")
    assert set(gain) == {"none", "cf", "ba"} and all(0 <= r["val_acc"] <= 1 for r in gain.values())
    with pytest.raises(ValueError, match="must be None, 'crop-flip' or a callable"):
        augmentation_gain(SmallResNet, xs, ys, loader, {"bad": "rotate"})
    with pytest.raises(ValueError, match="per_class must be an int >= 1"): small_subset(loader, 0)
    padded = GPULoader(imgs, torch.arange(24) % 3, 8, augment=True, device="cpu")
    assert torch.equal(loader_images(padded), imgs) and torch.equal(small_subset(padded, 2)[0], xs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_same_shapes_and_seeded(x):
    xc = x.cuda()
    a = BatchAugment(seed=0)(xc)
    assert a.device.type == "cuda" and a.shape == x.shape and torch.equal(BatchAugment(seed=0)(xc), a)


@pytest.mark.parametrize("augment, border", [("none", 0), ("flip", 0), ("crop", 4), ("flip+crop", 4), (True, 4), (False, 0)])
def test_loader_images_strips_only_a_crop_border(augment, border):
    from gpuvision_nb.augment import loader_images
    x, y = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8), torch.arange(6)
    gl = GPULoader(x, y, 3, augment=augment, device="cpu")
    assert gl.x.shape[-1] == 8 + 2 * border and torch.equal(loader_images(gl), x)


def test_gain_reports_each_run_and_trains_with_the_stated_recipe(monkeypatch):
    "augmentation_gain's rows (train acc from fit's history, val acc, seconds) and the optimizer settings it passes to fit."
    import gpuvision_nb.augment as A
    from gpuvision_nb.train import History
    seen = []
    def fake_fit(model, train, val, epochs, lr, **kw):
        seen.append(dict(kw, epochs=epochs, lr=lr, padding=getattr(train, "loader", train).padding,
                         batch_size=getattr(train, "loader", train).batch_size))
        return History([{"epoch": 1, "train_acc": 0.25, "seconds": 0.5}])
    monkeypatch.setattr(A, "fit", fake_fit)
    imgs = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    loader = GPULoader(imgs, torch.arange(12) % 3, 4, augment=False, device="cpu")
    gain = augmentation_gain(lambda: SmallResNet(3, widths=(4, 4, 4)), imgs, torch.arange(12) % 3, loader, {"none": None}, device="cpu")
    row = gain["none"]
    assert row["train_acc"] == 0.25 and 0 <= row["val_acc"] <= 1 and row["seconds"] == 0.5
    assert seen[0]["opt"] == "adamw" and seen[0]["weight_decay"] == 1e-4 and seen[0]["epochs"] == 20 and seen[0]["lr"] == 3e-3
    assert seen[0]["seed"] == 0 and seen[0]["progress"] is False and seen[0]["batch_size"] == 32
    augmentation_gain(lambda: SmallResNet(3, widths=(4, 4, 4)), imgs, torch.arange(12) % 3, loader,
                      {"none": None, "cf": "crop-flip", "ba": BatchAugment()}, device="cpu", seed=5, precision="fp32")
    assert [r["precision"] for r in seen[1:]] == ["fp32"] * 3   # fit's own settings pass through
    assert [r["seed"] for r in seen[1:]] == [5, 5, 5]     # every run of the comparison starts from the same seed
    assert seen[0]["padding"] == seen[1]["padding"] == 0 and seen[2]["padding"] > 0 and seen[3]["padding"] > 0   # None: no crop


def test_crop_scale_above_one_is_refused(x):
    with pytest.raises(ValueError, match="crop_flip: scale must satisfy"): crop_flip(x, scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="crop_flip: flip must be a number"): crop_flip(x, flip=2)
    with pytest.raises(ValueError, match="scale must satisfy"): BatchAugment(scale=(0.5, 1.5))


def test_jitter_names_the_bad_argument_and_defaults_to_0_4(x):
    for k in ("brightness", "contrast", "saturation"):
        with pytest.raises(ValueError, match=f"jitter: {k} must be a number in"): jitter(x, **{k: 2})
    g = lambda: torch.Generator().manual_seed(7)
    assert torch.equal(jitter(x, generator=g()), jitter(x, 0.4, 0.4, 0.4, generator=g()))


def test_jitter_factors_span_both_sides_of_one(x):
    "Brightness alone on mid-grey images: each image is scaled by its own factor from [1 - s, 1 + s], below 1 and above."
    grey = torch.full((512, 3, 4, 4), 0.5)
    f = jitter(grey, 0.4, 0, 0, generator=torch.Generator().manual_seed(0))[:, 0, 0, 0] / 0.5
    assert 0.6 - 1e-6 <= f.min() < 0.7 and 1.3 < f.max() <= 1.4 + 1e-6


def test_each_device_gets_its_own_generator():
    aug = BatchAugment(seed=0)
    g = aug.generator(torch.device("cpu"))
    assert g.device.type == "cpu" and aug.generator(torch.device("cpu")) is g
    if torch.cuda.is_available(): assert aug.generator(torch.device("cuda")).device.type == "cuda"
    else:
        with pytest.raises(Exception): aug.generator(torch.device("cuda"))   # CUDA's own (unavailable), never the CPU's


@pytest.mark.parametrize("axis", [2, 3])
def test_crop_centres_cover_the_image_and_stay_inside(axis):
    "Small square crops of a ramp image (value = position along `axis`): their centres land all over, never outside."
    ramp = torch.linspace(0, 1, 32).view(*[32 if d == axis else 1 for d in range(4)]).expand(256, 3, 32, 32).contiguous()
    out = crop_flip(ramp, scale=(0.09, 0.09), ratio=(1, 1), flip=0, generator=torch.Generator().manual_seed(0))
    centre = out.mean((1, 2, 3))                          # ≈ where along the axis each crop sits, 0..1
    assert centre.min() < 0.3 and centre.max() > 0.7      # near both edges
    assert centre.min() > 0.15 - 0.03 and centre.max() < 0.85 + 0.03   # a box 0.3 wide has its centre in [0.15, 0.85]


def test_a_call_draws_from_the_generator_of_the_batchs_device(x):
    aug = BatchAugment(seed=0)
    aug.generator(torch.device("cpu")).manual_seed(123)   # reseed the CPU generator it holds
    assert torch.equal(aug(x), BatchAugment(seed=123)(x))


def test_to_v2_carries_every_knob():
    p = BatchAugment(scale=(0.6, 0.9), ratio=(0.5, 2), flip=0.3, brightness=0.2, contrast=0.1, saturation=0.3).to_v2(24)
    crop, flip, jit = p.transforms
    assert tuple(crop.size) == (24, 24) and crop.scale == (0.6, 0.9) and crop.ratio == (0.5, 2) and flip.p == 0.3
    assert [pytest.approx(v) for v in (jit.brightness, jit.contrast, jit.saturation)] == [(0.8, 1.2), (0.9, 1.1), (0.7, 1.3)]


def test_throughput_defaults_and_params():
    ts = augment_throughput(batch_size=4, size=16, min_run_time=1e-3)      # device "auto": the CPU here, or the GPU too
    assert ts[0].device == "cpu" and all(t.params == {"batch": 4, "size": 16} for t in ts)


def test_jitter_is_torchvisions_three_adjustments_per_image_with_its_own_factors(x):
    "Brightness, then contrast, then saturation, each factor drawn (in that order) from [1 - s, 1 + s] per image."
    strengths = (0.4, 0.3, 0.5)
    out = jitter(x, *strengths, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    fb, fc, fs = ((1 - s) + ((1 + s) - (1 - s)) * torch.rand(len(x), generator=g) for s in strengths)
    ref = torch.stack([TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(img, b), c), s)
                       for img, b, c, s in zip(x, fb.tolist(), fc.tolist(), fs.tolist())])
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)    # 1e-4: torchvision's grey mean sums in another order
    assert (fb < 1).any() and (fb > 1).any() and (fc < 1).any() and (fs > 1).any()


def test_errors_name_the_function_and_the_argument(x):
    with pytest.raises(ValueError, match="crop_flip: ratio must satisfy"): crop_flip(x, ratio=(2, 1))
    with pytest.raises(ValueError, match="crop_flip: ratio must satisfy 0.01 <= min <= max <= 100.0"): crop_flip(x, ratio=(1, 100.5))
    with pytest.raises(ValueError, match="BatchAugment: ratio must satisfy"): BatchAugment(ratio=(1, 100.5))
    with pytest.raises(TypeError, match="crop_flip expects float images"): crop_flip((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="BatchAugment: scale must satisfy"): BatchAugment(scale=(0.9, 0.1))
    with pytest.raises(ValueError, match="BatchAugment: saturation must be"): BatchAugment(saturation=3)
    with pytest.raises(TypeError, match="BatchAugment expects float images"): BatchAugment()((x * 255).to(torch.uint8))


def test_augmentation_gain_evaluates_on_the_device_it_was_given(auto_is_unavailable):
    "mutmut (seed 928): evaluate(model, val) without the device ('auto': GPUVISION_DEVICE, a GPU) survived."
    imgs = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    loader = GPULoader(imgs, torch.arange(6) % 3, 6, augment=False, device="cpu")
    gain = augmentation_gain(lambda: SmallResNet(3, widths=(4, 4, 4)), imgs, torch.arange(6) % 3, loader, {"none": None},
                             epochs=1, batch_size=6, device="cpu")
    assert 0 <= gain["none"]["val_acc"] <= 1
