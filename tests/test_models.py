"The repaired seed CNN, the small ResNet, parameter/FLOP counting, the summary, in_channels, model_config and TorchScript (chapter 04)."
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gpuvision_nb.device import set_seed
from gpuvision_nb.models import (MODELS, ModelSummary, ResBlock, SeedCNN, SmallResNet, build_model, check_images,
                                 count_params, evaluating, flops_per_image, get_model, model_config, step_cost, summary,
                                 time_model)

NAMES = list(MODELS)
PARAMS = {"seed": 4_312_522, "resnet": 308_650}
FLOPS = {"seed": 40_249_344, "resnet": 98_241_024}


def conv_flops(c_in, c_out, hw, k=3, stride=1):
    return 2 * c_in * k * k * c_out * (hw // stride) ** 2


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bs", [1, 7])
def test_output_shape_and_dtype(name, bs):
    out = get_model(name)(torch.randn(bs, 3, 32, 32))
    assert out.shape == (bs, 10) and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_n_classes_sets_the_output_width(name):
    assert get_model(name, n_classes=3)(torch.randn(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize("cls", [SeedCNN, SmallResNet])
@pytest.mark.parametrize("bad", [1, 0, -3, 2.0, True, "10", None])
def test_n_classes_validation(cls, bad):
    with pytest.raises(ValueError, match=f"{cls.__name__}: n_classes must be an int >= 2"):
        cls(n_classes=bad)


@pytest.mark.parametrize("cls", [SeedCNN, SmallResNet])
@pytest.mark.parametrize("bad", [(64, 64), (64, 0, 128), (64, 64, 1.5), "abc", 64])
def test_widths_validation(cls, bad):
    with pytest.raises(ValueError, match="widths must be 3 positive"):
        cls(widths=bad)


@pytest.mark.parametrize("bad", [0, 1.5, True])
def test_hidden_validation(bad):
    with pytest.raises(ValueError, match="SeedCNN: hidden must be an int >= 1"):
        SeedCNN(hidden=bad)


def test_seed_keeps_the_seed_article_layers():
    m = SeedCNN()
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in (m.conv1, m.conv2, m.conv3)] == \
        [(3, 64, (3, 3), (1, 1)), (64, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1))]
    assert (m.fc1.in_features, m.fc1.out_features, m.fc2.in_features, m.fc2.out_features) == (128 * 8 * 8, 512, 512, 10)
    assert isinstance(m, nn.Sequential) and [n for n, _ in m.named_children()][:3] == ["conv1", "relu1", "pool1"]


def test_smaller_seed_can_be_rebuilt():
    m = SeedCNN(n_classes=4, widths=(8, 16, 32), hidden=64)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    assert (m.conv3.out_channels, m.fc1.in_features, m.widths, m.hidden) == (32, 32 * 64, (8, 16, 32), 64)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_are_exact(name):
    assert count_params(get_model(name)) == PARAMS[name]


def test_parameter_count_by_formula():
    by_hand = (3 * 9 * 64 + 64) + (64 * 9 * 64 + 64) + (64 * 9 * 128 + 128) + (8192 * 512 + 512) + (512 * 10 + 10)
    assert count_params(SeedCNN()) == by_hand
    assert 4_250_000 < by_hand < 4_350_000                      # "about 4.3M"


def test_count_params_trainable_only():
    m = SeedCNN()
    m.fc1.requires_grad_(False)
    assert count_params(m, trainable_only=True) == PARAMS["seed"] - (8192 * 512 + 512)
    with pytest.raises(TypeError, match="must be an nn.Module"):
        count_params([1, 2])


@pytest.mark.parametrize("name", NAMES)
def test_flops_per_image_are_exact(name):
    assert flops_per_image(get_model(name)) == FLOPS[name] > 0


def test_flops_match_the_formulas():
    seed = conv_flops(3, 64, 32) + conv_flops(64, 64, 16) + conv_flops(64, 128, 8) + 2 * 8192 * 512 + 2 * 512 * 10
    resnet = (conv_flops(3, 32, 32) + 2 * conv_flops(32, 32, 32)
              + conv_flops(32, 64, 32, stride=2) + conv_flops(64, 64, 16) + conv_flops(32, 64, 32, k=1, stride=2)
              + conv_flops(64, 128, 16, stride=2) + conv_flops(128, 128, 8) + conv_flops(64, 128, 16, k=1, stride=2)
              + 2 * 128 * 10)
    assert (seed, resnet) == (FLOPS["seed"], FLOPS["resnet"])


@pytest.mark.parametrize("name", NAMES)
def test_flops_backward_costs_two_to_three_forwards_and_leaves_no_trace(name):
    m = get_model(name)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fwd, both = flops_per_image(m), flops_per_image(m, backward=True)
    assert 2 * fwd < both < 3 * fwd
    assert all(p.grad is None for p in m.parameters()) and m.training
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())   # BN running stats untouched


def test_flops_scale_with_image_size_for_the_resnet():
    assert flops_per_image(SmallResNet(), (3, 64, 64)) == pytest.approx(4 * FLOPS["resnet"], rel=1e-3)


@pytest.mark.parametrize("size", [(32, 32), (3, 32), (3, 0, 32), "3x32x32"])
def test_flops_bad_input_size(size):
    with pytest.raises(ValueError, match="input_size"):
        flops_per_image(SeedCNN(), size)


@pytest.mark.parametrize("shape, msg", [((4, 3, 64, 64), r"\(N, 3, 32, 32\), got \(64, 64\) images"),
                                        ((4, 1, 32, 32), r"got 1 channel\(s\).*repeat the channel"),
                                        ((3, 32, 32), "add a batch dimension"),
                                        ((2, 4, 3, 32, 32), "got a 5-d tensor")])
def test_seed_wrong_input_shape_names_the_expected_shape(shape, msg):
    with pytest.raises(ValueError, match=r"SeedCNN expects a batch of images shaped \(N, 3, 32, 32\)") as e:
        SeedCNN()(torch.randn(*shape))
    assert e.match(msg)


def test_resnet_takes_any_size_but_needs_three_channels():
    m = SmallResNet().eval()
    assert m(torch.randn(2, 3, 64, 48)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"SmallResNet expects a batch of images shaped \(N, 3, H, W\)"):
        m(torch.randn(2, 1, 32, 32))


def test_check_images_rejects_non_tensors():
    with pytest.raises(TypeError, match="as a torch.Tensor"):
        check_images([[1.0]], "demo")


@pytest.mark.parametrize("bad", ["vgg", "", None, 3])
def test_get_model_unknown_names(bad):
    with pytest.raises(ValueError, match=r"unknown model .*choose one of \['seed', 'resnet'\]"):
        get_model(bad)


def test_get_model_names_are_forgiving_and_fresh():
    assert type(get_model(" SEED ")) is SeedCNN and type(get_model("resnet")) is SmallResNet
    assert get_model("seed") is not get_model("seed")


@pytest.mark.parametrize("name", NAMES)
def test_models_learn_a_tiny_batch(name):
    set_seed(0)
    m = get_model(name)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(m(x), y)
        losses.append(loss.item())
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    assert losses[-1] < 0.75 * losses[0], losses
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_input_and_model(name):
    m = get_model(name).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ref = m(x)
        assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)
        m = m.to(memory_format=torch.channels_last)
        assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_is_deterministic(name):
    m = get_model(name).eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
        assert torch.equal(m(x[:1]), m(x)[:1]) or torch.allclose(m(x[:1]), m(x)[:1], atol=1e-5)   # no batch coupling


def test_resblock_shortcuts():
    assert isinstance(ResBlock(8, 8).shortcut, nn.Identity)
    b = ResBlock(8, 16, stride=2)
    assert b.shortcut.conv.kernel_size == (1, 1) and b(torch.randn(2, 8, 10, 10)).shape == (2, 16, 5, 5)


def test_evaluating_restores_mixed_modes():
    m = SmallResNet()
    m.layer1.eval()
    with evaluating(m):
        assert not any(x.training for x in m.modules())
    assert m.training and not m.layer1.training and m.layer2.training


@pytest.mark.parametrize("name", NAMES)
def test_summary_totals_and_rendering(name):
    m = get_model(name)
    s = summary(m)
    assert isinstance(s, ModelSummary) and (s.params, s.flops) == (PARAMS[name], FLOPS[name])
    assert sum(l.params for l in s.layers) == s.params and sum(l.flops for l in s.layers) == s.flops
    assert s.layers[-1].shape == (10,) and s.layers[0].name == "conv1"
    text = str(s)
    assert f"{PARAMS[name]:,}" in text and text.splitlines()[-1].startswith("total")
    assert "<table>" in s._repr_html_() and m.training


def test_summary_shapes_follow_the_seed_pipeline():
    shapes = {l.name: l.shape for l in summary(SeedCNN()).layers}
    assert shapes["pool1"] == (64, 16, 16) and shapes["conv3"] == (128, 8, 8) and shapes["flatten"] == (8192,)


def test_summary_errors():
    with pytest.raises(ValueError, match="input_size"):
        summary(SeedCNN(), (32, 32))
    with pytest.raises(TypeError, match="must be an nn.Module"):
        summary("seed")


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_time_model_labels_and_work(mode):
    t = time_model("seed", mode, "cpu", batch_size=2, min_run_time=0.01)
    assert (t.label, t.device, t.items, t.unit) == (f"seed · {mode}", "cpu", 2, "img") and t.rate > 0
    assert t.params == {"model": "seed", "mode": mode, "batch": 2}


def test_time_model_errors():
    with pytest.raises(ValueError, match="mode must be"):
        time_model("seed", "predict")
    with pytest.raises(ValueError, match="batch_size must be"):
        time_model("seed", batch_size=0)
    with pytest.raises(ValueError, match="unknown model"):
        time_model("vgg")


# ---- in_channels, size ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_one_channel_models(name):
    m = get_model(name, n_classes=4, in_channels=1).eval()
    assert m.conv1.in_channels == 1 and m(torch.randn(2, 1, 32, 32)).shape == (2, 4)
    assert count_params(get_model(name)) - count_params(get_model(name, in_channels=1)) == 2 * 9 * m.conv1.out_channels
    with pytest.raises(ValueError, match=r"\(N, 1, .*convert the images to grey"): m(torch.randn(2, 3, 32, 32))


def test_seed_size_shapes_fc1():
    m = get_model("seed", size=64)
    assert m.fc1.in_features == 128 * 16 * 16 and m(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\)"): m(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 4"): SeedCNN(size=30)
    with pytest.raises(ValueError, match="get_model: size"): get_model("resnet", size=0)


@pytest.mark.parametrize("bad", [0, 65, 1.0, True])
def test_in_channels_validation(bad):
    for cls in (SeedCNN, SmallResNet):
        with pytest.raises(ValueError, match=f"{cls.__name__}: in_channels must be an int in"): cls(in_channels=bad)


# ---- model_config / build_model -------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", [SeedCNN(), SeedCNN(3, (8, 9, 10), 11, in_channels=1, size=16), SmallResNet(),
                                   SmallResNet(4, (8, 16, 24), in_channels=1, mids=(5, 6, 7))], ids=lambda m: str(model_config(m)))
def test_build_model_inverts_model_config(model):
    import json
    cfg = json.loads(json.dumps(model_config(model)))                   # JSON round trip, as in a manifest
    twin = build_model(cfg)
    twin.load_state_dict(model.state_dict())                            # strict
    assert type(twin) is type(model) and model_config(twin) == cfg
    x = torch.randn(2, model.conv1.in_channels, *(2 * [model.size if isinstance(model, SeedCNN) else 24]))
    with torch.no_grad(): assert torch.equal(twin.eval()(x), model.eval()(x))


@pytest.mark.parametrize("name", NAMES)
def test_model_config_of_a_structurally_pruned_model(name):
    from gpuvision_nb.prune import channel_groups, plan_channels, rebuild
    set_seed(0)
    full = get_model(name, n_classes=5).eval()
    slim = rebuild(full, plan_channels(full, 0.4, layers=[g.name for g in channel_groups(full)])).eval()
    for attr in ("widths", "hidden"):                                   # model_config must not trust attributes
        if hasattr(slim, attr): setattr(slim, attr, "stale")
    cfg = model_config(slim)
    assert cfg != model_config(full)
    twin = build_model(cfg)
    twin.load_state_dict(slim.state_dict())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(twin.eval()(x), slim(x))


def test_model_config_and_build_model_errors():
    with pytest.raises(TypeError, match="describes SeedCNN and SmallResNet"): model_config(nn.Linear(2, 2))
    for bad in (None, {"arch": "vgg"}, {"arch": "seed", "kwargs": [1]}, "seed"):
        with pytest.raises(ValueError, match="config must be"): build_model(bad)
    with pytest.raises(ValueError, match="unexpected keyword argument 'depth'"): build_model({"arch": "seed", "kwargs": {"depth": 2}})
    with pytest.raises(ValueError, match="widths must be 3"): build_model({"arch": "resnet", "kwargs": {"widths": [1, 2]}})


# ---- TorchScript ----------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("model", [SeedCNN(), SmallResNet(), SeedCNN(2, (7, 5, 3), 9, in_channels=1, size=16),
                                   SmallResNet(3, (4, 8, 12), in_channels=1, mids=(3, 5, 7))], ids=lambda m: type(m).__name__)
def test_scripted_equals_eager(model, tmp_path):
    model.eval()
    scripted = torch.jit.script(model)
    size = model.size if isinstance(model, SeedCNN) else 20
    x = torch.randn(4, model.conv1.in_channels, size, size)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(scripted(x), ref)
        torch.jit.save(scripted, tmp_path / "m.pt")
        assert torch.equal(torch.jit.load(tmp_path / "m.pt")(x), ref)
    with pytest.raises(Exception, match="expects a batch of images shaped"): scripted(torch.randn(4, 2, size, size))
    with pytest.raises(Exception, match="expects a batch of images shaped"): scripted(torch.randn(1, *x.shape[1:], 1))  # 5-d
    if isinstance(model, SeedCNN):   # fc1 fixes the size: the scripted model names it too, not a shape error from fc1
        with pytest.raises(Exception, match="expects a batch of images shaped"): scripted(torch.randn(4, x.shape[1], size // 2, size))


# ---- make mutate (models, seed 5, sample 40): survivors killed -------------------------------------------------------
def test_parameterless_models_are_counted():
    "A model without parameters (pooling only) gets a float32 example image: 0 FLOPs, a summary, no AttributeError."
    pool = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(1))
    assert flops_per_image(pool) == 0 and summary(pool).layers[0].shape == (3, 16, 16)


def test_step_cost_weight_traffic_by_hand():
    "Training: 4 fp32 passes over the weights (read, gradient, SGD read+write) = 16 B/param; inference: read once, cast."
    m = SeedCNN(widths=(4, 4, 8), hidden=16)
    train, infer = step_cost(m, "bf16", 64), step_cost(m, "fp16", 64, backward=False)
    assert train["weight_bytes_per_step"] == 16 * count_params(m) and infer["weight_bytes_per_step"] == 2 * count_params(m)
    assert infer["bytes"] == 2 * 2 * infer["activation_elements"] + 2 * count_params(m) / 64
    with pytest.raises(ValueError, match=r"^step_cost: precision must be one of \['fp32', 'tf32', 'bf16', 'fp16'\], got 'int8'$"):
        step_cost(m, "int8")


def test_bad_mids_are_named():
    with pytest.raises(ValueError, match=r"^SmallResNet: mids must be 3 positive int\(s\), got \(4, 8\)$"):
        SmallResNet(mids=(4, 8))


# ---- make mutate (models, unseen seed 61, sample 40: 90%): survivors killed -----------------------------------------
def test_wrong_channel_count_gets_no_misleading_hint():
    "Only 1 → 3 and 3 → 1 channels get a hint; 2 channels for a colour model just says what was expected and got."
    with pytest.raises(ValueError, match=r"got 2 channel\(s\) in shape \(1, 2, 8, 8\)$"):
        check_images(torch.randn(1, 2, 8, 8), "m")


def test_roofline_bound_defaults_to_bf16_inference():
    from gpuvision_nb.models import roofline_bound
    m = SeedCNN(widths=(4, 4, 8), hidden=16)
    p = roofline_bound(m, "H200")
    assert (p.precision, p.bytes_per_item) == ("bf16", step_cost(m, "bf16", 2048, backward=False)["bytes"])


def test_step_cost_batch_size_error():
    with pytest.raises(ValueError, match=r"^step_cost: batch_size must be an int >= 1, got 0$"):
        step_cost("seed", "bf16", 0)


def test_time_model_batch_defaults_to_64_on_the_cpu(monkeypatch):
    "512 images per step suit a GPU; on the CPU the default is 64 (the timing itself is stubbed out here)."
    import gpuvision_nb.models as models
    monkeypatch.setattr(models, "time_fn", lambda step, **kw: kw)
    assert time_model("seed", "inference", "cpu")["items"] == 64


# ---- tools/mutate.py models --sample 25 --seed 705: survivors killed ----------------------------------------------
def test_a_res_block_adds_its_shortcut():
    "relu(bn2(conv2(...)) + shortcut(x)), with a 1×1-conv shortcut (mutmut: + → - survived)."
    torch.manual_seed(0)
    block, x = ResBlock(4, 8, stride=2).eval(), torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        main = block.bn2(block.conv2(block.relu1(block.bn1(block.conv1(x)))))
        assert torch.allclose(block(x), F.relu(main + block.shortcut(x)), rtol=1e-5, atol=1e-6)   # the same ops: rounding only


def test_time_model_inference_leaves_the_weights_alone(monkeypatch):
    "The inference step is a forward pass in eval mode, not an SGD step (mutmut: mode == 'inference' → 'XXinferenceXX' survived)."
    import gpuvision_nb.models as models
    torch.manual_seed(0); m = SeedCNN(widths=(4, 4, 8), hidden=8)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    monkeypatch.setattr(models, "get_model", lambda name: m)
    monkeypatch.setattr(models, "time_fn", lambda step, **kw: step())
    time_model("seed", "inference", "cpu", batch_size=2)
    assert not m.training and all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_size_errors_name_their_function():
    "mutmut: the who 'flops_per_image' and 'SeedCNN' of the size checks → 'XX…XX' survived."
    with pytest.raises(ValueError, match=r"^flops_per_image: input_size"): flops_per_image(SeedCNN(), (3, 32))
    with pytest.raises(ValueError, match=r"^SeedCNN: size must be"): SeedCNN(size=2)


# ---- tools/mutate.py models --sample 25 --seed 921: the survivors, each killed -----------------------------------
def test_flops_per_image_prints_nothing(capsys):
    "mutmut: FlopCounterMode(display=False) → True survived: every call printed torch's per-module FLOP table."
    flops_per_image(SeedCNN(), (3, 32, 32))
    assert capsys.readouterr() == ("", "")


def test_the_roofline_of_a_model_counts_images():
    "mutmut: roofline_bound's unit 'img' → 'IMG' survived."
    from gpuvision_nb.models import roofline_bound
    assert roofline_bound("seed", "H100 SXM").unit == "img"


def test_the_summary_total_row_has_the_layer_rows_columns():
    "mutmut: the total row's 'type' and 'FLOPs' keys renamed survived (a table with a column too many, and no total FLOPs)."
    rows = summary(SeedCNN()).table_rows()
    assert all(r.keys() == rows[0].keys() for r in rows) and rows[-1]["layer"] == "total" and rows[-1]["FLOPs"]


def test_seed_cnn_size_is_bounded_above():
    "mutmut: the upper bound MAX_SIZE dropped from SeedCNN's size check survived."
    from gpuvision_nb.data import MAX_SIZE
    with pytest.raises(ValueError, match=rf"SeedCNN: size must be an int in \[4, {MAX_SIZE}\]"): SeedCNN(size=MAX_SIZE + 4)
