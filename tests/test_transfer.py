"Transfer learning: heads, freezing (exactly which parameters get gradients), fine-tuning, offline model-zoo weights."
import copy, os, socket, urllib.request
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gpuvision_nb.data import GPULoader
from gpuvision_nb.models import SeedCNN, SmallResNet
from gpuvision_nb.transfer import (STRATEGIES, WeightsNotFoundError, compare_transfer, fine_tune, freeze,
                                   grads_after_backward, head_name, hub_weights_path, load_matching, load_zoo_weights,
                                   reinit, replace_head, rotation_task, trainable, unfreeze, zoo_resnet)


def batch(n=8, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, k, (n,), generator=g)


def tiny_loaders(n_per_class=4):
    x, y, classes = rotation_task(n_per_class, seed=1)
    return (GPULoader(x, y, 8, augment=False, device="cpu"),
            GPULoader(x, y, 16, shuffle=False, augment=False, device="cpu"), classes)


# ---- heads -------------------------------------------------------------------------------------------------------
def test_head_name():
    assert head_name(SeedCNN()) == "fc2"
    assert head_name(SmallResNet()) == "fc"
    assert head_name(nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Linear(8, 2)))) == "1.1"
    with pytest.raises(ValueError, match="has no nn.Linear layer"): head_name(nn.Conv2d(3, 4, 3))
    with pytest.raises(TypeError, match="must be an nn.Module, got str$"): head_name("fc")       # (mutmut, seed 929)


def test_replace_head_keeps_dtype_and_rest():
    m = SmallResNet(10).double()
    body = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("fc.")}
    replace_head(m, 3)
    assert m.fc.out_features == 3 and m.fc.in_features == 128 and m.fc.weight.dtype == torch.float64
    assert m.n_classes == 3
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in body.items())
    assert m(torch.rand(2, 3, 32, 32, dtype=torch.float64)).shape == (2, 3)
    for bad in (1, 2.0, True, "4"):
        with pytest.raises(ValueError, match="n_classes must be an int >= 2"): replace_head(SmallResNet(), bad)


# ---- freezing ----------------------------------------------------------------------------------------------------
def test_freeze_exactly_head_gets_gradients():
    m = replace_head(SmallResNet(10), 4)
    x, y = batch()
    assert freeze(m) == ["fc.weight", "fc.bias"]
    assert trainable(m) == ["fc.weight", "fc.bias"]
    assert grads_after_backward(m, x, y) == ["fc.weight", "fc.bias"]
    assert [n for n, p in m.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    assert all(p.grad is None for p in m.parameters())          # grads_after_backward clears them


def test_freeze_seed_cnn_and_everything():
    m = SeedCNN(n_classes=4, widths=(4, 4, 8), hidden=16)
    x, y = batch()
    assert freeze(m) == ["fc2.weight", "fc2.bias"]
    assert grads_after_backward(m, x, y) == ["fc2.weight", "fc2.bias"]
    assert freeze(m, except_head=False) == []
    assert freeze(nn.Sequential(nn.Conv2d(3, 2, 3)), except_head=False) == []   # no head needed


def test_unfreeze_restores_all():
    m = replace_head(SmallResNet(10), 4)
    freeze(m)
    unfreeze(m)
    names = [n for n, _ in m.named_parameters()]
    assert trainable(m) == names
    assert grads_after_backward(m, *batch()) == names
    assert not any(hasattr(mod, "_frozen_bn_hook") for mod in m.modules())
    freeze(m); freeze(m)                                        # freezing twice leaves one hook per layer
    assert sum(len(mod._forward_pre_hooks) for mod in m.modules()) == sum(isinstance(mod, nn.BatchNorm2d) for mod in m.modules())


def test_frozen_batchnorm_statistics():
    x, _ = batch()
    m = replace_head(SmallResNet(10), 4)
    stats = {k: v.clone() for k, v in m.state_dict().items() if "running" in k}
    freeze(m)
    m.train()(x + 1)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in stats.items())
    assert m.training                                           # the model itself stays in training mode
    freeze(m, train_bn=True)
    m.train()(x + 1)
    assert not torch.equal(stats["bn1.running_mean"], m.bn1.running_mean)
    unfreeze(m); before = m.bn1.running_mean.clone()
    m.train()(x + 2)
    assert not torch.equal(before, m.bn1.running_mean)


def test_fine_tune_head_changes_only_head():
    train, val, classes = tiny_loaders()
    m = replace_head(SmallResNet(10, widths=(4, 8, 8)), len(classes))
    before = copy.deepcopy(m.state_dict())
    h = fine_tune(m, train, val, "head", epochs=1, lr=0.1, device="cpu", progress=False)
    assert len(h) == 1 and 0 <= h.final["val_acc"] <= 1
    after = m.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"]                   # no weight, no batch-norm statistic moved
    with pytest.raises(ValueError, match="strategy must be 'head' or 'full'"): fine_tune(m, train, strategy="frozen")


def test_reinit():
    m = SmallResNet(4, widths=(4, 8, 8))
    r = reinit(copy.deepcopy(m))
    assert not torch.equal(m.conv1.weight, r.conv1.weight) and not torch.equal(m.fc.weight, r.fc.weight)


def test_compare_transfer():
    train, val, classes = tiny_loaders()
    pre = SmallResNet(10, widths=(4, 8, 8))
    snapshot = copy.deepcopy(pre.state_dict())
    rep = compare_transfer(pre, len(classes), train, val, epochs=2, lr={"scratch": 0.05, "head": 0.1, "full": 0.05}, device="cpu")
    assert [r.strategy for r in rep.runs] == list(STRATEGIES)
    assert [t.label for t in rep.timings] == list(STRATEGIES)
    assert all(t.device == "cpu" for t in rep.timings)          # where each ran (mutmut, seed 929: None survived)
    head, full = rep.runs[1], rep.runs[2]
    assert head.trainable == 8 * 4 + 4 and full.trainable == full.total
    assert all(len(r.history) == 2 for r in rep.runs) and "val acc" in str(rep)
    assert all(torch.equal(v, pre.state_dict()[k]) for k, v in snapshot.items())   # the pretrained model is untouched
    assert trainable(pre) == [n for n, _ in pre.named_parameters()]
    with pytest.raises(ValueError, match="strategies must be some of"): compare_transfer(pre, 4, train, val, strategies=("linear",))
    with pytest.raises(ValueError, match="lr has no value for"): compare_transfer(pre, 4, train, val, lr={"head": 0.1})


def test_rotation_task():
    x, y, classes = rotation_task(3, seed=1)
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.uint8 and y.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert len(classes) == 4
    assert torch.equal(x, rotation_task(3, seed=1)[0]) and not torch.equal(x, rotation_task(3, seed=2)[0])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_per_class must be an int >= 1"): rotation_task(bad)


# ---- torchvision model zoo, offline --------------------------------------------------------------------------------
@pytest.fixture
def offline(tmp_path, monkeypatch):
    "An empty torch hub cache, and every way to the network patched to fail the test."
    def no_network(*a, **k): raise AssertionError("a network access was attempted")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for target, name in ((torch.hub, "load_state_dict_from_url"), (torch.hub, "download_url_to_file"),
                         (urllib.request, "urlopen"), (socket, "create_connection"), (socket.socket, "connect")):
        monkeypatch.setattr(target, name, no_network)
    return tmp_path


def test_offline_missing_weights_error(offline):
    dest = offline / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert hub_weights_path("resnet18") == dest
    with pytest.raises(WeightsNotFoundError) as e: zoo_resnet("resnet18", 4, weights="default")
    msg = str(e.value)
    for part in ("https://download.pytorch.org/models/resnet18-f37072fd.pth", str(dest), "TORCH_HOME", "weights="):
        assert part in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(WeightsNotFoundError, match="does not exist"): load_zoo_weights("resnet18", offline / "nope.pth")


def test_weights_from_local_file_and_hub_cache(offline):
    src = zoo_resnet("resnet18", 1000, small_input=False)
    f = offline / "mine.pth"
    torch.save(src.state_dict(), f)
    m = zoo_resnet("resnet18", 4, weights=f)
    assert m.not_pretrained == ["conv1.weight", "fc.weight", "fc.bias"]
    assert torch.equal(m.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    same = zoo_resnet("resnet18", 1000, weights=f, small_input=False)
    assert same.not_pretrained == []
    # a file in the hub cache whose bytes don't match the hash in its name is refused
    hub = hub_weights_path("resnet18"); hub.parent.mkdir(parents=True)
    hub.write_bytes(f.read_bytes())
    with pytest.raises(ValueError, match="damaged or not the published file"): zoo_resnet("resnet18", 4, weights="default")


def test_weights_bad_files(offline):
    junk = offline / "junk.pth"; junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"can't be read as the weights of 'resnet18' \(UnpicklingError"): load_zoo_weights("resnet18", junk)
    lst = offline / "list.pth"; torch.save([1, 2], lst)
    with pytest.raises(ValueError, match="not a state dict"): load_zoo_weights("resnet18", lst)
    from safetensors.torch import save_file
    st = offline / "w.safetensors"; save_file({"fc.bias": torch.zeros(1000)}, str(st))
    assert set(load_zoo_weights("resnet18", st)) == {"fc.bias"}


def test_zoo_bad_arguments():
    with pytest.raises(ValueError, match="must be a torchvision ResNet"): zoo_resnet("vgg16")
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"): zoo_resnet("resnet18", 1)
    with pytest.raises(ValueError, match="not a torchvision classification model"): hub_weights_path("resnet7")


def test_load_matching():
    a, b = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4)), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 5))
    assert load_matching(b, a.state_dict()) == ["1.weight", "1.bias"]
    assert torch.equal(a[0].weight, b[0].weight)


def test_weights_are_read_without_unpickling_objects(offline):
    "weights_only: a .pth holding any object but tensors and containers is refused, never executed or returned."
    from pathlib import PurePosixPath
    f = offline / "objects.pth"
    torch.save({"fc.bias": torch.zeros(2), "note": PurePosixPath("x")}, f)
    with pytest.raises(ValueError, match="can't be read as the weights of 'resnet18'"): load_zoo_weights("resnet18", f)


def test_a_hash_mismatch_names_the_expected_prefix(offline):
    f = offline / "resnet18-f37072fd.pth"
    torch.save({"fc.bias": torch.zeros(2)}, f)
    with pytest.raises(ValueError, match="does not start with f37072fd, as its name says"): load_zoo_weights("resnet18", f)


def test_zoo_resnet_defaults_and_its_small_input_stem():
    m = zoo_resnet(n_classes=4)                              # resnet18 by default
    assert sum(p.numel() for p in m.parameters()) == 11_170_884
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and isinstance(m.maxpool, nn.Identity)
    assert m.layer1(m.relu(m.bn1(m.conv1(torch.rand(1, 3, 32, 32))))).shape[-2:] == (32, 32)   # full resolution kept


def test_rotation_task_names_an_empty_shape_list():
    with pytest.raises(ValueError, match="rotation_task: shapes is empty"): rotation_task(2, shapes=())


def test_transfer_report_plot():
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    train, val, classes = tiny_loaders(2)
    rep = compare_transfer(SmallResNet(10, widths=(4, 4, 4)), len(classes), train, val, epochs=2, strategies=("head",), device="cpu")
    axs = rep.plot()
    assert [ax.get_title() for ax in axs] == ["accuracy per epoch", "accuracy against time"]
    assert axs[0].get_xlabel() == "epoch" and axs[0].get_ylabel() == "validation accuracy"
    for ax in axs:
        (line,) = ax.get_lines()
        assert line.get_label() == "head" and line.get_marker() == "o" and len(line.get_xdata()) == 2
    assert list(axs[0].get_lines()[0].get_xdata()) == [1, 2]
    h = rep.runs[0].history
    assert list(axs[1].get_lines()[0].get_xdata()) == pytest.approx([h[0]["seconds"], h[0]["seconds"] + h[1]["seconds"]])
    plt.close("all")


def test_scratch_starts_from_new_weights_and_the_others_from_the_pretrained(monkeypatch):
    import gpuvision_nb.transfer as T
    starts = {}
    kwargs = []
    def spy(model, train, val, strategy, epochs, lr, **kw):
        starts[len(starts)] = copy.deepcopy(model.state_dict()); kwargs.append(kw)
        return T.History([{"epoch": 1, "val_acc": 0.5, "seconds": 0.1, "images_per_second": 10.0}])
    monkeypatch.setattr(T, "fine_tune", spy)
    train, val, classes = tiny_loaders(2)
    pre = SmallResNet(10, widths=(4, 4, 4))
    with torch.no_grad():                                  # "trained": unlike any fresh initialisation, whatever the seed
        for p in pre.parameters(): p.add_(1.0)
    rep = compare_transfer(pre, len(classes), train, val, epochs=1, device="cpu", weight_decay=0.25)
    assert [k["weight_decay"] for k in kwargs] == [0.25] * 3      # fit's own settings reach every strategy's run
    same = [torch.equal(s["conv1.weight"], pre.state_dict()["conv1.weight"]) for s in starts.values()]
    assert same == [False, True, True]                     # scratch, head, full
    assert [list(r) for r in rep.table_rows()] == [["strategy", "trains", "val acc", "best val acc", "train time", "img/s"]] * 3


def test_zoo_messages_name_their_function_and_what_was_found(offline):
    with pytest.raises(ValueError, match="zoo_resnet: n_classes must be"): zoo_resnet("resnet18", 1)
    lst = offline / "list.pth"; torch.save([1, 2], lst)
    with pytest.raises(ValueError, match="holds a list, not a state dict of 'resnet18'"): load_zoo_weights("resnet18", lst)
    with pytest.raises(WeightsNotFoundError, match="resnet18-f37072fd.pth"): load_zoo_weights()   # resnet18 by default


# ---- tools/mutate.py transfer --sample 25 --seed 708: survivors killed ------------------------------------------
def test_compare_transfer_trains_without_progress_bars(monkeypatch):
    "Its runs draw no bars of their own (mutmut: dropping progress=False survived; fine_tune stubbed: the flag it gets is checked)."
    import gpuvision_nb.transfer as T
    from gpuvision_nb.train import History
    asked = []
    def fine_tune(*a, **kw): asked.append(kw.get("progress", "not given")); return History()
    monkeypatch.setattr(T, "fine_tune", fine_tune)
    compare_transfer(SmallResNet(10, widths=(4, 8, 8)), 4, [], [], strategies=("head", "full"))
    assert asked == [False, False]


def test_freeze_keeps_a_parametrized_heads_parameters_training():
    """A weight-normalised head keeps its weight in sub-module 'head.parametrizations.weight': it trains too
    (mutmut: name.startswith(head + '.') → head + 'XX.XX' survived)."""
    from torch.nn.utils.parametrizations import weight_norm
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), weight_norm(nn.Linear(4, 2)))
    assert sorted(freeze(model)) == ["2.bias", "2.parametrizations.weight.original0", "2.parametrizations.weight.original1"]


def test_weights_are_read_without_unpickling_even_when_the_environment_allows_it(offline, monkeypatch):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 makes torch.load unpickle objects unless weights_only is passed explicitly
    (mutmut: weights_only=True → None survived: the same under torch's default)."""
    from pathlib import PurePosixPath
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    f = offline / "objects.pth"
    torch.save({"fc.bias": torch.zeros(2), "note": PurePosixPath("x")}, f)
    with pytest.raises(ValueError, match="can't be read as the weights of 'resnet18'"): load_zoo_weights("resnet18", f)


def test_rotation_task_refuses_no_shapes_word_for_word():
    "mutmut: the message → 'XX…XX' survived."
    from gpuvision_nb.transfer import rotation_task
    with pytest.raises(ValueError, match=r"^rotation_task: shapes is empty$"): rotation_task(2, shapes=())


# ---- tools/mutate.py transfer --sample 25 --seed 929: the survivors, each killed ---------------------------------
def test_fine_tune_trains_everything_by_default():
    "mutmut: the default strategy 'full' → 'XXfullXX' (every call without strategy raised) survived."
    train, val, classes = tiny_loaders()
    m = replace_head(SmallResNet(10, widths=(4, 8, 8)), len(classes))
    freeze(m, except_head=True)                                 # as a 'head' run leaves it: 'full' unfreezes
    before = copy.deepcopy(m.state_dict())
    fine_tune(m, train, epochs=1, lr=0.1, device="cpu", progress=False)
    assert not torch.equal(before["conv1.weight"], m.state_dict()["conv1.weight"]) and all(p.requires_grad for p in m.parameters())


def test_zoo_weights_are_read_onto_the_cpu(offline, monkeypatch):
    """A checkpoint saved on a GPU holds CUDA tensors; read without map_location='cpu' it fails on a machine without one
    (mutmut: map_location dropped survived: every test's file was saved on the CPU)."""
    import gpuvision_nb.transfer as T
    f = offline / "mine.pth"; torch.save(nn.Linear(2, 2).state_dict(), f)
    seen, load = [], torch.load
    monkeypatch.setattr(T.torch, "load", lambda *a, **k: seen.append(k.get("map_location")) or load(*a, **k))
    assert set(T.load_zoo_weights("resnet18", f)) == {"weight", "bias"} and seen == ["cpu"]
