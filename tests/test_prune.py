"Tests of gpuvision_nb.prune: exact sparsity, physically rebuilt models, 2:4 checks, bad arguments."
import copy

import pytest
import torch
import torch.nn as nn

from gpuvision_nb.models import SeedCNN, SmallResNet, count_params
from gpuvision_nb.prune import (SemiStructuredError, channel_groups, is_2to4, make_permanent, mask_2to4, nonzero_params,
                                plan_channels, prune_2to4, prune_channels, prune_unstructured, pruned_copy, rebuild,
                                semi_structured_problems, sparsity_report, sparsity_curve, to_semi_structured,
                                zeroing_removed)


@pytest.fixture
def seed():
    torch.manual_seed(0)
    return SeedCNN(widths=(8, 8, 16), hidden=32).eval()


def resnet(widths=(8, 16, 32)):
    "A SmallResNet with random BatchNorm statistics, so a removed channel's BN output is not trivially zero."
    torch.manual_seed(0)
    m = SmallResNet(widths=widths).eval()
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):
        bn.weight.data.uniform_(0.5, 1.5); bn.bias.data.normal_(); bn.running_mean.normal_(); bn.running_var.uniform_(0.5, 2)
    return m


# --- unstructured -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9])
def test_per_layer_sparsity_exact(seed, amount):
    r = sparsity_report(prune_unstructured(seed, amount))
    for name, _, zeros, n, stored in r.rows:
        assert zeros == round(amount * n), name
        assert stored == "dense + mask"
    assert r.zeros == sum(round(amount * n) for *_, n, _ in r.rows)


def test_global_sparsity_exact_and_uneven(seed):
    r = sparsity_report(prune_unstructured(seed, 0.8, scope="global"))
    assert r.zeros == round(0.8 * r.total)
    assert r.sparsity == r.zeros / r.total
    assert len({round(r[n], 3) for n, *_ in r.rows}) > 1          # spread unevenly over the layers


def test_selected_layers_and_existing_zeros(seed):
    with torch.no_grad(): seed.fc2.weight[:, :4] = 0              # zeros that were there before count too
    r = sparsity_report(prune_unstructured(seed, 0.5, layers=["conv1"]))
    assert r["conv1"] == 0.5 and r["conv2"] == 0 and r["fc2"] == 4 * 10 / seed.fc2.weight.numel()
    with pytest.raises(KeyError, match="no layer 'relu1'"): r["relu1"]


def test_make_permanent(seed):
    x = torch.randn(2, 3, 32, 32)
    pruned = prune_unstructured(seed, 0.7, scope="global")
    with torch.no_grad(): want = pruned(x)
    zeros = sparsity_report(pruned).zeros
    make_permanent(pruned)
    assert not any(n.endswith(("_orig", "_mask")) for n in pruned.state_dict())
    assert sparsity_report(pruned).zeros == zeros and sparsity_report(pruned).rows[0][4] == "dense"
    with torch.no_grad(): torch.testing.assert_close(pruned(x), want)
    copy.deepcopy(pruned)                                         # an ordinary model again


def test_nonzero_params_counts_masked_weights(seed):
    full = nonzero_params(seed)
    pruned = pruned_copy(seed, 0.5, "unstructured")
    assert nonzero_params(seed) == full                           # the original is untouched
    assert nonzero_params(pruned) == full - sparsity_report(pruned).zeros


@pytest.mark.parametrize("amount", [1.0, 1, -0.1, 1.5, True, "0.5", None, float("nan")])
def test_bad_amount(seed, amount):
    for fn in (lambda: prune_unstructured(seed, amount), lambda: prune_channels(seed, amount)):
        with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\)"): fn()


def test_unsupported_layers(seed):
    with pytest.raises(ValueError, match="'relu1' is a ReLU"): prune_unstructured(seed, 0.5, layers=["relu1"])
    with pytest.raises(ValueError, match="no layer 'conv9'"): prune_unstructured(seed, 0.5, layers="conv9")
    with pytest.raises(ValueError, match="layers is empty"): prune_unstructured(seed, 0.5, layers=[])
    with pytest.raises(ValueError, match="scope must be"): prune_unstructured(seed, 0.5, scope="net")
    with pytest.raises(ValueError, match="no Conv2d and Linear layers"): prune_unstructured(nn.Sequential(nn.ReLU()), 0.5)
    with pytest.raises(TypeError, match="must be an nn.Module"): sparsity_report("model")
    with pytest.raises(ValueError, match="method must be one of"): pruned_copy(seed, 0.5, "random")


# --- structured ---------------------------------------------------------------------------------------------------
def test_seed_rebuilt_shapes(seed):
    small = prune_channels(seed, 0.5, layers=["conv1", "conv2", "conv3", "fc1"])
    assert small.widths == (4, 4, 8) and small.hidden == 16
    assert small.fc1.weight.shape == (16, 8 * 8 * 8) and small.fc2.weight.shape == (10, 16)
    SeedCNN(widths=small.widths, hidden=small.hidden).load_state_dict(small.state_dict())    # strict
    assert seed.widths == (8, 8, 16) and seed.conv1.out_channels == 8                          # original untouched
    assert count_params(small) < count_params(seed) / 3
    assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_seed_default_prunes_convs_only(seed):
    small = prune_channels(seed, 0.25)
    assert small.widths == (6, 6, 12) and small.hidden == 32
    assert prune_channels(seed, 0.99).widths == (1, 1, 1)          # at least one channel survives


def test_resnet_rebuilt_shapes():
    net = resnet()
    small = prune_channels(net, 0.5)
    assert small.widths == (4, 8, 16)
    SmallResNet(widths=(4, 8, 16)).load_state_dict(small.state_dict())     # uniform pruning = a narrower SmallResNet
    assert isinstance(small.layer1.shortcut, nn.Identity)
    assert small.layer2.shortcut.conv.weight.shape == (8, 4, 1, 1) and small.fc.in_features == 16
    inner = prune_channels(net, 0.5, layers=["layer2.conv1"])
    assert inner.layer2.conv1.out_channels == 8 and inner.layer2.bn1.num_features == 8
    assert inner.layer2.conv2.in_channels == 8 and inner.layer2.conv2.out_channels == 16


@pytest.mark.parametrize("make", [lambda: SeedCNN(widths=(8, 8, 16), hidden=32), resnet])
@pytest.mark.parametrize("amount", [0.25, 0.5, 0.75])
def test_rebuilt_equals_zeroed_channels(make, amount):
    torch.manual_seed(1)
    net = make().eval()
    keep = plan_channels(net, amount, layers=[g.name for g in channel_groups(net)])
    small = rebuild(net, keep).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        full = net(x)
        with zeroing_removed(net, keep): want = net(x)
        got = small(x)
        assert torch.equal(net(x), full)                          # the hooks are gone after the block
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(full, want, atol=1e-4)              # removing channels did change the function


def test_keep_lowest_scores_removed(seed):
    with torch.no_grad(): seed.conv1.weight[[1, 5]] *= 1e-3        # two filters of tiny weights
    keep = plan_channels(seed, 0.25, layers="conv1")
    assert keep["conv1"].tolist() == [0, 2, 3, 4, 6, 7]


def test_resnet_groups_tie_residual_channels():
    groups = {g.name: g for g in channel_groups(resnet())}
    assert list(groups) == ["conv1", "layer1.conv1", "layer2.conv1", "layer2.conv2", "layer3.conv1", "layer3.conv2"]
    assert [p for p, _ in groups["conv1"].producers] == ["conv1", "layer1.conv2"]
    assert ("layer2.shortcut.conv", 1) in groups["conv1"].consumers
    assert ("fc", 1) in groups["layer3.conv2"].consumers


def test_structured_bad_arguments(seed):
    with pytest.raises(ValueError, match=r"no channel group\(s\) \['fc2'\]"): prune_channels(seed, 0.5, layers=["fc2"])
    with pytest.raises(TypeError, match="supports SeedCNN and SmallResNet"): prune_channels(nn.Sequential(nn.Conv2d(3, 4, 3)), 0.5)
    masked = prune_unstructured(copy.deepcopy(seed), 0.5)
    with pytest.raises(ValueError, match="make_permanent"): prune_channels(masked, 0.5)
    with pytest.raises(ValueError, match="make_permanent"): rebuild(masked, {"conv1": [0]})
    with pytest.raises(ValueError, match=r"distinct channel indices in \[0, 8\)"): rebuild(seed, {"conv1": [0, 8]})
    with pytest.raises(ValueError, match="distinct"): rebuild(seed, {"conv1": [1, 1]})
    with pytest.raises(ValueError, match="no channel group 'conv7'"): rebuild(seed, {"conv7": [0]})


def test_sparsity_curve(seed):
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    calls = []
    rows = sparsity_curve(seed, data, [0.0, 0.5], "structured", finetune=calls.append, device="cpu")
    assert [r["amount"] for r in rows] == [0.0, 0.5] and len(calls) == 2
    assert rows[0]["params"] == count_params(seed) > rows[1]["params"]
    assert all(0 <= r["acc"] <= 1 and "acc_finetuned" in r for r in rows)
    rows = sparsity_curve(seed, data, [0.5], "unstructured", device="cpu")
    assert rows[0]["params"] == count_params(seed) and "acc_finetuned" not in rows[0]


# --- 2:4 ----------------------------------------------------------------------------------------------------------
def test_mask_2to4_exact():
    w = torch.randn(32, 64)
    m = mask_2to4(w)
    assert (m.view(32, 16, 4).sum(2) == 2).all()
    kept = (w.abs() * m).view(32, 16, 4); dropped = (w.abs() * ~m).view(32, 16, 4)
    assert (kept.max(2).values >= dropped.max(2).values).all()
    lin = prune_2to4(nn.Linear(64, 32))
    assert is_2to4(lin.weight) and int((lin.weight == 0).sum()) == 32 * 64 // 2
    assert not is_2to4(torch.ones(4, 8)) and not is_2to4(torch.zeros(4, 6))


def test_2to4_constraint_errors():
    with pytest.raises(SemiStructuredError, match="multiple of 4"): mask_2to4(torch.randn(4, 6))
    with pytest.raises(ValueError, match="only Linear layers"): prune_2to4(SeedCNN(), layers=["conv1"])
    p = semi_structured_problems(nn.Linear(100, 10))
    assert any("torch.float32" in s for s in p) and any("10×100" in s for s in p)
    assert semi_structured_problems(nn.Conv2d(3, 8, 3)) == ["it is a Conv2d; 2:4 sparse kernels here are for nn.Linear layers"]
    assert any("not in the 2:4 pattern" in s for s in semi_structured_problems(nn.Linear(64, 32).half()))
    good = prune_2to4(nn.Linear(128, 64)).half()
    if not torch.cuda.is_available():
        assert semi_structured_problems(good) == ["it is on cpu; 2:4 sparse kernels need a CUDA GPU"]
    model = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(SemiStructuredError) as e: to_semi_structured(model)
    assert "0: its weights are torch.float32" in str(e.value) and "2: its weight is 10×64" in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())     # nothing was changed


@pytest.mark.skipif(not (torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)),
                    reason="needs a CUDA GPU of compute capability >= 8.0")
def test_2to4_on_gpu():
    lin = prune_2to4(nn.Linear(256, 128, device="cuda", dtype=torch.float16))
    x = torch.randn(64, 256, device="cuda", dtype=torch.float16)
    with torch.inference_mode(): want = lin(x)
    sparse = to_semi_structured(copy.deepcopy(lin))
    with torch.inference_mode(): torch.testing.assert_close(sparse(x), want, rtol=2e-2, atol=2e-2)


def test_pruned_models_describe_themselves():
    from gpuvision_nb.models import build_model, model_config
    for full in (SeedCNN(4), SmallResNet(4)):
        slim = prune_channels(full.eval(), 0.5)
        twin = build_model(model_config(slim))
        twin.load_state_dict(slim.state_dict())                          # strict: the config has every width
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad(): assert torch.equal(twin.eval()(x), slim.eval()(x))


def test_pretrained_digits_trains_once_then_loads(tmp_path, monkeypatch):
    import gpuvision_nb.prune as P, gpuvision_nb.train as T      # chapter 06 (train) defines the digits recipe
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    monkeypatch.setattr(T, "DIGITS_RECIPE", {**T.DIGITS_RECIPE, "epochs": 1, "batch_size": 256})
    m1, d1 = P.pretrained_digits("cpu")
    assert m1.conv1.in_channels == 1 and d1.in_channels == 1 and d1.classes == [str(k) for k in range(10)]
    assert d1.train.augment == "crop" and len(list((tmp_path / "pretrained").iterdir())) == 1
    m2, _ = P.pretrained_digits("cpu")                                   # from the cache: the same weights
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


# ---- make mutate (prune, seed 5, sample 40): survivors and unreached mutants killed ---------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_channel_pruning_keeps_the_dtype(seed, dtype):
    "A half- or double-precision model stays so after rebuilding: every new layer, fc1 and fc2 included."
    small = prune_channels(seed.to(dtype), 0.5)
    assert {p.dtype for p in small.parameters()} == {dtype}
    assert small(torch.randn(2, 3, 32, 32, dtype=dtype)).dtype == dtype


def test_error_messages_name_the_function(seed):
    from gpuvision_nb.prune import prunable_layers
    with pytest.raises(ValueError, match=r"^prunable_layers: ReLU has no Conv2d and Linear layers to prune$"):
        prunable_layers(nn.ReLU())
    with pytest.raises(ValueError, match=r"^prune_unstructured: amount must be a fraction"): prune_unstructured(seed, 1.0)


def test_pruning_slider_checks_max_amount(seed):
    pytest.importorskip("ipywidgets")
    from gpuvision_nb.prune import pruning_slider
    with pytest.raises(ValueError, match=r"^pruning_slider\(max_amount\): amount must be a fraction"):
        pruning_slider(seed, [], max_amount=1.0)


def test_sparsity_curve_prunes_only_the_layers_named(seed):
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    row, = sparsity_curve(seed, data, [0.5], "unstructured", layers=["fc1"], device="cpu")
    assert row["nonzero"] == count_params(seed) - round(0.5 * seed.fc1.weight.numel())


def test_finetune_runs_the_epochs_at_the_rate_asked(seed, capsys):
    from gpuvision_nb.prune import finetune
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    h = finetune(seed, data, epochs=2, lr=1e-3, device="cpu")
    assert len(h) == 2 and max(e["lr"] for e in h) == pytest.approx(1e-3) and capsys.readouterr() == ("", "")


def test_plot_curves_draws_each_curve_and_the_baseline():
    import matplotlib; matplotlib.use("Agg")
    from gpuvision_nb.prune import plot_curves
    s = [{"method": "structured", "amount": a, "acc": acc, "acc_finetuned": acc + .1} for a, acc in ((0, .8), (.5, .6))]
    u = [{"method": "unstructured", "amount": a, "acc": acc} for a, acc in ((0, .8), (.5, .7))]
    ax = plot_curves(u, s, baseline=0.8)       # the fine-tuned curve second: its colour must be its curve's, not the cycle's
    lines = {l.get_label(): l for l in ax.get_lines()}
    assert list(lines) == ["unpruned", "unstructured, pruned", "structured, pruned", "structured, pruned + fine-tuned"]
    assert lines["unpruned"].get_linestyle() == ":" and list(lines["unstructured, pruned"].get_ydata()) == [.8, .7]
    assert lines["structured, pruned"].get_color() == lines["structured, pruned + fine-tuned"].get_color() \
        != lines["unstructured, pruned"].get_color()
    assert ax.get_ylim() == (0, 1.02)                     # the whole accuracy range (mutmut, seed 925: 0 → 1 survived)


# ---- make mutate (prune, unseen seed 61, sample 40: 59%): survivors killed ------------------------------------------
def test_is_2to4_of_a_short_wide_weight():
    "2 output rows of 4 inputs: the 4-groups run along each row, whatever the number of rows."
    assert is_2to4(torch.tensor([[1., 1., 0., 0.], [0., 2., 0., 3.]])) and not is_2to4(torch.tensor([[1., 1., 1., 0.], [0.] * 4]))


def test_to_semi_structured_checks_linear_layers_only():
    "A CNN's conv layers are left alone (not reported as problems); the message names the function and each Linear."
    with pytest.raises(SemiStructuredError, match=r"^to_semi_structured can't convert:\n  fc1: ") as e:
        to_semi_structured(SeedCNN(widths=(4, 4, 8), hidden=32))
    assert {line.split(":")[0].strip() for line in str(e.value).splitlines()[1:]} == {"fc1", "fc2"}


def test_sparsity_curve_defaults_and_report_errors(seed):
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    assert sparsity_curve(seed, data, [0.25], device="cpu")[0]["method"] == "structured"
    with pytest.raises(ValueError, match=r"^sparsity_report: the model has no layer 'fc9'"): sparsity_report(seed, ["fc9"])


def test_pruning_slider_shows_each_pruned_copy(seed, capsys):
    "Outside a kernel the widget's output lands on stdout: one line per position, the copy's non-zeros and accuracy."
    pytest.importorskip("ipywidgets")
    from gpuvision_nb.prune import pruning_slider
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    box = pruning_slider(seed, data, "unstructured", device="cpu")
    slider = box.children[0]
    assert (slider.max, slider.readout_format, slider.value) == (0.95, ".0%", 0.0)
    assert f"0% pruned: {count_params(seed):,} non-zero parameters (100.0%), validation accuracy" in capsys.readouterr().out
    slider.value = 0.5
    n = nonzero_params(pruned_copy(seed, 0.5, "unstructured"))
    assert f"50% pruned: {n:,} non-zero parameters" in capsys.readouterr().out


# ---- make mutate (prune, unseen seed 97, sample 40: 76%): survivors killed ------------------------------------------
def test_rebuilt_batch_norms_keep_their_settings_and_dtype():
    "A pruned ResNet's new BatchNorms keep eps, momentum, the batch count and the dtype of the originals."
    m = resnet()
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):
        bn.eps, bn.momentum = 1e-5 + 1e-3, 0.3
        bn.num_batches_tracked.fill_(7)
    small = prune_channels(m.to(torch.float64), 0.5)
    bns = [x for x in small.modules() if isinstance(x, nn.BatchNorm2d)]
    assert bns and all((bn.eps, bn.momentum, int(bn.num_batches_tracked), bn.weight.dtype, bn.running_var.dtype) ==
                       (1e-5 + 1e-3, 0.3, 7, torch.float64, torch.float64) for bn in bns)


def test_more_error_messages_name_the_function(seed):
    pytest.importorskip("ipywidgets")
    from gpuvision_nb.prune import pruning_slider
    with pytest.raises(ValueError, match=r"^pruning_slider: method must be one of \('structured', 'unstructured'\), got 'random'$"):
        pruning_slider(seed, [], "random")
    with pytest.raises(ValueError, match=r"^rebuild: the model still carries unstructured pruning masks"):
        rebuild(prune_unstructured(seed, 0.5), {})


def test_sparsity_report_table(seed):
    rows = sparsity_report(prune_unstructured(seed, 0.5, layers=["fc2"])).table_rows()
    assert rows[-2] == {"layer": "fc2", "type": "Linear", "weights": "320", "zeros": "160", "sparsity": "50.00%",
                        "stored as": "dense + mask"}
    assert rows[-1]["layer"] == "total" and rows[-1]["zeros"] == "160"


# ---- tools/mutate.py prune --sample 25 --seed 703: survivors killed ------------------------------------------------
def test_mask_2to4_of_a_head_whose_outputs_are_not_a_multiple_of_4():
    "A 3-class head: 2 of every 4 inputs kept in each row (mutmut: reshape(weight.shape[0], ...) → shape[1] survived: it raised)."
    w = torch.tensor([[4., 1., 3., 2., 0., 5., 6., 0.], [1., 2., 3., 4., 8., 7., 6., 5.], [-9., 1., 1., 9., 0., 0., 1., 2.]])
    assert mask_2to4(w).int().tolist() == [[1, 0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 1, 1, 1, 0, 0], [1, 0, 0, 1, 0, 0, 1, 1]]


def test_plot_curves_labels_the_accuracy_axis_and_keeps_the_legend_small():
    "mutmut: ylabel 'validation accuracy' → None and the legend's fontsize 8 → 9 survived."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gpuvision_nb.prune import plot_curves
    ax = plot_curves([{"method": "unstructured", "amount": 0, "acc": .8}])
    assert ax.get_ylabel() == "validation accuracy" and {t.get_fontsize() for t in ax.get_legend().get_texts()} == {8}
    plt.close(ax.figure)


def test_prunable_layers_names_the_type_it_got():
    "mutmut: type(model) → type(None) in the TypeError survived (it said 'got NoneType' for anything)."
    from gpuvision_nb.prune import prunable_layers
    with pytest.raises(TypeError, match=r"^prunable_layers: model must be an nn.Module, got str$"): prunable_layers("fc1")


def test_pruning_slider_prunes_structured_by_default_and_only_the_layers_named(seed, capsys):
    "mutmut: the default method 'structured' → 'STRUCTURED' (it raised) and pruned_copy without `layers` survived."
    pytest.importorskip("ipywidgets")
    from gpuvision_nb.prune import pruning_slider
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    box = pruning_slider(seed, data, layers=["fc1"], device="cpu")
    capsys.readouterr(); box.children[0].value = 0.5
    n = nonzero_params(pruned_copy(seed, 0.5, "structured", ["fc1"]))
    assert n != nonzero_params(pruned_copy(seed, 0.5, "structured")) and \
        f"50% pruned: {n:,} non-zero parameters" in capsys.readouterr().out


def test_time_2to4_records_size_batch_dtype_and_kind(monkeypatch):
    """The timing records' params (n, batch, dtype, kind), on a CPU with the CUDA-only conversion and the timer stubbed
    (mutmut: the key 'batch' → 'BATCH' reached no test: time_2to4 needs a GPU)."""
    import gpuvision_nb.prune as P
    monkeypatch.setattr(P, "to_semi_structured", lambda m: m)
    monkeypatch.setattr(P, "time_fn", lambda *a, **k: k["params"])
    assert P.time_2to4(sizes=(8,), batch=4, dtype=torch.float32, device="cpu") == [
        {"n": 8, "batch": 4, "dtype": "torch.float32", "kind": kind} for kind in ("dense", "2:4 sparse")]


# ---- tools/mutate.py prune --sample 25 --seed 925: the survivors, each killed ------------------------------------
def test_slicing_a_dilated_convolution_keeps_its_dilation():
    "mutmut: _slice_layer's m.dilation dropped survived: every test's convolution had dilation 1."
    from gpuvision_nb.prune import _slice_layer
    torch.manual_seed(0)
    conv, x = nn.Conv2d(3, 8, 3, padding=2, dilation=2), torch.randn(2, 3, 9, 9)
    small = _slice_layer(conv, out_idx=[0, 5], in_idx=[0, 1, 2])
    assert small.dilation == (2, 2) and torch.allclose(small(x), conv(x)[:, [0, 5]], atol=1e-6)


def test_the_pruning_slider_says_which_pruning_it_does(seed):
    "mutmut: the slider's description dropped survived."
    pytest.importorskip("ipywidgets")
    import ipywidgets as widgets
    from gpuvision_nb.prune import pruning_slider
    data = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))]
    box = pruning_slider(seed, data, method="unstructured", device="cpu")
    slider, = [w for w in box.children if isinstance(w, widgets.FloatSlider)]
    assert (slider.description, slider.value, slider.max) == ("unstructured pruning", 0.0, 0.95)
