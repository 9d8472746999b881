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
