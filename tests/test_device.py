"Device selection, the device report and seeding (chapter 01)."
import json, os, random, re
from unittest import mock

import numpy as np
import pytest
import torch

from gpuvision_nb.device import (DEVICE_ENV, DeviceReport, DeviceUnavailableError, available_devices, device_report,
                                 get_device, set_seed, synchronize)

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.mark.parametrize("spec", ["cpu", "CPU", " cpu ", torch.device("cpu")])
def test_cpu_spellings(spec):
    assert get_device(spec) == torch.device("cpu")


def test_auto_is_the_best_available():
    assert str(get_device("auto")) == available_devices()[0] or get_device().type == "cuda"
    assert get_device(None) == get_device("auto")


@pytest.mark.parametrize("spec, msg", [("gpu", "unknown device 'gpu'"), ("cuda:x", "unknown device"),
                                       ("", "unknown device"), ("meta", "not supported"), ("xla", "device")])
def test_unknown_device_strings(spec, msg):
    with pytest.raises(ValueError, match=msg):
        get_device(spec)


def test_wrong_type():
    with pytest.raises(TypeError, match="must be a str or torch.device, not int"):
        get_device(3)


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_gpu_is_an_error_not_a_fallback(spec):
    with pytest.raises(DeviceUnavailableError, match="torch sees no CUDA GPU"):
        get_device(spec)


def test_cuda_index_out_of_range():
    with mock.patch("torch.cuda.is_available", return_value=True), mock.patch("torch.cuda.device_count", return_value=2), \
         mock.patch("torch.cuda.current_device", return_value=0):
        assert get_device("cuda:1") == torch.device("cuda", 1)
        assert get_device("cuda") == torch.device("cuda", 0)
        with pytest.raises(DeviceUnavailableError, match=r"^get_device\(prefer='cuda:5'\): 'cuda:5' is not available: "
                                                         r"this machine has 2 CUDA GPU\(s\); use cuda:0..cuda:1\.$"):
            get_device("cuda:5")


def test_checking_a_device_without_resolving_it_asks_cuda_only_what_it_has():
    """`resolve=False` (what `gpuvision --device` checks as it is parsed, before `--nproc` starts its processes) asks
    CUDA whether it is there and how many GPUs it has, not which is current (that would set CUDA up in the launcher)."""
    from gpuvision_nb.device import _check_available
    with mock.patch("torch.cuda.is_available", return_value=True), mock.patch("torch.cuda.device_count", return_value=2), \
         mock.patch("torch.cuda.current_device", side_effect=AssertionError("current_device asked")):
        assert _check_available(torch.device("cuda"), "x", resolve=False) == torch.device("cuda")
        assert _check_available(torch.device("cuda", 1), "x", resolve=False) == torch.device("cuda", 1)
        with pytest.raises(DeviceUnavailableError, match=r"^x: 'cuda:2' is not available"):
            _check_available(torch.device("cuda", 2), "x", resolve=False)


def test_mps_unavailable():
    with mock.patch("gpuvision_nb.device._mps_available", return_value=False):
        with pytest.raises(DeviceUnavailableError, match="mps"):
            get_device("mps")


def test_env_overrides_auto_only(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "nonsense")
    with pytest.raises(ValueError, match=f"environment variable {DEVICE_ENV}='nonsense'"):
        get_device()
    assert get_device("cpu") == torch.device("cpu")       # an explicit argument wins
    monkeypatch.setenv(DEVICE_ENV, "  ")                  # blank means unset
    assert get_device() == get_device("auto")


@no_cuda
def test_env_cuda_without_gpu(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(DeviceUnavailableError, match=DEVICE_ENV):
        get_device()


def test_synchronize_is_safe_everywhere():
    synchronize(); synchronize("cpu"); synchronize(torch.device("cpu"))


def test_device_report_fields_and_rendering():
    rep = device_report()
    assert isinstance(rep, DeviceReport) and isinstance(rep, dict)
    for key in ("python", "torch", "cuda_build", "cudnn", "cpu", "cpu_logical_cores", "torch_threads",
                "cuda_available", "gpus", "mps_available", "auto_device"):
        assert key in rep, key
    assert rep["torch"] == torch.__version__ and rep["torch_threads"] == torch.get_num_threads()
    json.dumps(rep)                                        # plain data: serializable as-is
    text = str(rep)
    assert "torch_threads" in text and torch.__version__ in text
    assert rep._repr_markdown_().startswith("| | |")


def test_device_report_survives_a_bad_env(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "warp-drive")
    assert device_report()["auto_device"].startswith("error: ")


def test_device_report_lists_gpus():
    props = mock.Mock(major=9, minor=0, total_memory=80 * 2**30, multi_processor_count=132)
    props.name = "Fake H100"
    with mock.patch("torch.cuda.is_available", return_value=True), mock.patch("torch.cuda.device_count", return_value=1), \
         mock.patch("torch.cuda.get_device_properties", return_value=props), mock.patch("torch.cuda.current_device", return_value=0), \
         mock.patch("torch.backends.cudnn.version", return_value=91000):
        rep = device_report()
    assert rep["cudnn"] == 91000 and rep["cuda_available"] is True
    assert rep["gpus"] == [{"index": 0, "name": "Fake H100", "capability": "9.0", "memory_gib": 80.0, "multiprocessors": 132}]
    assert "gpu 0" in str(rep) and "compute capability 9.0" in str(rep)


def test_set_seed_repeats_all_generators():
    set_seed(123); a = (random.random(), np.random.rand(), torch.rand(2))
    set_seed(123); b = (random.random(), np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True, None])
def test_set_seed_bad_values(bad):
    with pytest.raises(ValueError, match="seed must be an int"):
        set_seed(bad)


def test_set_seed_deterministic_toggles():
    try:
        assert set_seed(5, deterministic=True) == 5
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    finally:
        set_seed(0)
    assert not torch.are_deterministic_algorithms_enabled()


# --- datasheets and predictions (GPUS, gpu_spec, predict_rate) ---
from gpuvision_nb.device import DATASHEET, GPUS, GPUSpec, Prediction, dense, gpu_spec, predict_rate


def test_every_datasheet_entry_is_cited_and_dense():
    for g in GPUS.values():
        assert g.source.startswith("https://") and g.checked.startswith("https://") and g.source != g.checked, g.name
        assert set(g.peak) == {"fp32", "tf32", "bf16", "fp16"}, g.name
        assert 1e11 < g.bandwidth < 1e14 and 1e9 < g.memory < 1e12, g.name          # B/s and bytes, not GB
        for p, v in g.peak.items():
            assert v is None or 1e12 < v < 1e16, (g.name, p)                        # FLOP/s, not TFLOP/s
    # dense, not with-sparsity: on A100/H100 the 16-bit tensor peak is 2x the tf32 one
    for name in ("A100 SXM 80GB", "H100 SXM", "H200"):
        assert GPUS[name].peak["bf16"] / GPUS[name].peak["tf32"] == pytest.approx(2, rel=1e-3)   # 1979 / 989 as printed
    assert dense(1979e12) == 989.5e12 == GPUS["H100 SXM"].peak["bf16"]


@pytest.mark.parametrize("torch_name, key", [("NVIDIA H200", "H200"), ("NVIDIA H100 80GB HBM3", "H100 SXM"),
                                             ("NVIDIA H100 SXM5 80GB", "H100 SXM"), ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
                                             ("NVIDIA L4", "L4"), ("Tesla T4", "T4"), ("NVIDIA GeForce RTX 4090", "RTX 4090"),
                                             ("Apple M2 Max", "Apple M2 Max"), ("rtx 4090", "RTX 4090")])
def test_gpu_spec_matches_torch_names(torch_name, key):
    assert gpu_spec(torch_name) is GPUS[key]


@pytest.mark.parametrize("name", ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "NVIDIA H200 NVL", "NVIDIA A100-PCIE-40GB",
                                  "NVIDIA L40S", "NVIDIA GeForce RTX 4080", ""])
def test_gpu_spec_refuses_other_products(name):
    with pytest.raises(ValueError, match="no datasheet entry"):
        gpu_spec(name)
    with pytest.raises(TypeError, match="must be a str"):
        gpu_spec(None)


def test_predict_rate_by_hand():
    # H100 SXM, bf16: 1,979 TFLOP/s with sparsity -> 989.5e12 dense; 3.35 TB/s.
    # 1 GFLOP and 1 MB per item: compute 989.5e12 / 1e9 = 989,500/s, memory 3.35e12 / 1e6 = 3,350,000/s.
    p = predict_rate(1e9, 1e6, "H100 SXM", "bf16", unit="img")
    assert (p.compute, p.memory, p.bound, p.binding) == (989_500.0, 3_350_000.0, 989_500.0, "compute")
    # the same work in fp32 (67 TFLOP/s, no tensor cores): 67,000/s
    assert predict_rate(1e9, 1e6, "H100 SXM", "fp32").compute == 67_000.0
    # a memory-heavy item on the H200 (4.8 TB/s): 48 MB per item -> 100,000/s, memory-bound
    q = predict_rate(1e6, 48e6, "NVIDIA H200", "bf16")
    assert (q.memory, q.binding) == (100_000.0, "memory")
    assert q.ratio(50_000) == 0.5


def test_predict_rate_units_scale():
    "Twice the FLOPs halves the compute bound; twice the bytes halves the memory bound; a faster GPU raises both."
    a, b = predict_rate(2e8, 1e6, "A100 SXM 80GB", "tf32"), predict_rate(4e8, 2e6, "A100 SXM 80GB", "tf32")
    assert b.compute == a.compute / 2 and b.memory == a.memory / 2
    assert predict_rate(2e8, 1e6, "H200", "tf32").compute > a.compute


def test_prediction_is_labelled_never_a_measurement():
    p = predict_rate(117.2e6, 1.67e6, "H200", "bf16", unit="img")
    assert isinstance(p, Prediction) and p.label == DATASHEET
    s = str(p)
    assert "datasheet bound, not a measurement" in s and "img/s" in s and "H200 · bf16" in s and "memory-bound" in s


@pytest.mark.parametrize("args, msg", [((-1, 1, "H200"), "flops_per_item must be"), ((1, float("nan"), "H200"), "bytes_per_item must be"),
                                       ((True, 1, "H200"), "flops_per_item must be"), ((1, 1, "H200", "int8"), "precision must be one of"),
                                       ((0, 0, "H200"), "both 0"), ((1, 0, "T4", "bf16"), "publishes no bf16 rate")])
def test_predict_rate_bad_input(args, msg):
    with pytest.raises(ValueError, match=msg):
        predict_rate(*args)


def test_missing_figures_give_a_partial_bound():
    m = predict_rate(1e9, 4e6, "Apple M2 Max", "fp32")
    assert m.compute is None and m.memory == 100_000.0 and m.binding == "memory" and "compute —" in str(m)


# ---- make mutate (device, seed 5, sample 40): survivors and unreached mutants killed --------------------------------
from gpuvision_nb.device import cpu_name, datasheet_rows, device_name


def _cpuinfo_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.lower().startswith("model name")), None)
    except OSError: return None


@pytest.mark.skipif(_cpuinfo_model() is None, reason="needs a /proc/cpuinfo with a 'model name' line (Linux x86-64)")
def test_cpu_name_is_the_model_name_not_the_architecture():
    "The report names the CPU model ('AMD EPYC ...'), not just 'x86_64' (mutmut: a wrong path fell back to platform)."
    assert cpu_name() == _cpuinfo_model() and cpu_name() not in ("x86_64", "unknown CPU")


def test_cpu_name_falls_back_without_proc(monkeypatch):
    monkeypatch.setattr("builtins.open", mock.Mock(side_effect=OSError("no /proc")))
    monkeypatch.setattr("platform.processor", lambda: ""); monkeypatch.setattr("platform.machine", lambda: "arm64")
    assert cpu_name() == "arm64"


def test_device_report_names_the_cpu():
    rep = device_report()
    assert rep["cpu"] == cpu_name() and rep["cpu"] and rep["cpu_logical_cores"] == os.cpu_count()


def test_device_report_on_a_mac_picks_mps():
    "With MPS and no CUDA the report says mps is available and that get_device() picks it."
    with mock.patch("torch.cuda.is_available", return_value=False), \
         mock.patch("gpuvision_nb.device._mps_available", return_value=True):
        rep = device_report()
    assert rep["mps_available"] is True and rep["auto_device"] == "mps" and rep["gpus"] == []
    with mock.patch("gpuvision_nb.device._mps_available", return_value=False):
        assert device_report()["mps_available"] is False


def test_deterministic_seed_sets_the_cublas_workspace(monkeypatch):
    "Deterministic cuBLAS needs CUBLAS_WORKSPACE_CONFIG; set_seed sets it when unset and keeps a user's own value."
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        set_seed(1, deterministic=True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        set_seed(1, deterministic=True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    finally:
        set_seed(0)


def test_datasheet_rows_in_printed_units():
    "Chapter 01's datasheet table: TFLOP/s, TB/s, GB and the bf16 ridge, '—' where the vendor prints nothing."
    rows = {r["GPU"]: r for r in datasheet_rows()}
    assert list(rows) == list(GPUS)
    h100 = rows["H100 SXM"]   # 989.5 TFLOP/s dense bf16 / 3.35 TB/s = 295.4 FLOP/B
    assert h100 == {"GPU": "H100 SXM", "fp32 TFLOP/s": "67", "tf32 TFLOP/s": "494.5", "bf16 TFLOP/s": "989.5",
                    "fp16 TFLOP/s": "989.5", "TB/s": "3.35", "GB": "80", "bf16 ridge FLOP/B": "295"}
    assert rows["T4"]["bf16 TFLOP/s"] == "—" and rows["T4"]["bf16 ridge FLOP/B"] == "—" and rows["T4"]["GB"] == "16"
    assert [r["GPU"] for r in datasheet_rows({"L4": GPUS["L4"]})] == ["L4"]


def test_device_name_of_each_kind():
    assert device_name("cpu") == cpu_name() and device_name(torch.device("mps")) == "Apple MPS"
    with mock.patch("torch.cuda.get_device_name", side_effect=lambda i: f"GPU {i}"), \
         mock.patch("torch.cuda.current_device", return_value=2):
        assert device_name("cuda:1") == "GPU 1" and device_name("cuda") == "GPU 2"


# ---- make mutate (device, unseen seed 61, sample 40): survivors killed ----------------------------------------------
from gpuvision_nb.device import _mps_available


@no_cuda
def test_cuda_error_names_the_torch_build(monkeypatch):
    "A CPU-only torch wheel is the usual cause: the error says which torch and CUDA build ('none') this is."
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceUnavailableError, match=re.escape(f"torch {torch.__version__}, built with CUDA none)")):
        get_device("cuda")


def test_mps_is_seen_when_the_backend_says_so():
    with mock.patch("torch.backends.mps.is_available", return_value=True):
        assert _mps_available() is True and "mps" in available_devices()
    with mock.patch("torch.backends.mps.is_available", return_value=False):
        assert _mps_available() is False


def test_available_devices_lists_every_gpu_first():
    with mock.patch("torch.cuda.is_available", return_value=True), mock.patch("torch.cuda.device_count", return_value=2), \
         mock.patch("gpuvision_nb.device._mps_available", return_value=False):
        assert available_devices() == ["cuda:0", "cuda:1", "cpu"]


def test_predict_rate_nothing_to_bound_message():
    with pytest.raises(ValueError, match=r"^predict_rate: flops_per_item and bytes_per_item are both 0$"):
        predict_rate(0, 0, "H200")


def test_set_seed_default_is_zero():
    "set_seed() with no argument seeds 0, the seed the course's recorded runs used."
    assert set_seed() == 0 and torch.initial_seed() == 0


def test_synchronize_waits_on_the_named_gpu():
    with mock.patch("torch.cuda.synchronize") as sync:
        synchronize("cuda:1")
    sync.assert_called_once_with(torch.device("cuda:1"))


def test_prediction_prints_its_figures():
    p = predict_rate(1e9, 1e6, "H100 SXM", "bf16", unit="img")
    assert str(p).startswith("H100 SXM · bf16: at most 989,500 img/s, compute-bound (compute 989,500, memory 3,350,000)")


# ---- make mutate (device, unseen seed 97, sample 40: 86% killed): survivors killed ----------------------------------
def test_device_report_versions_and_blanks():
    import torchvision
    assert device_report()["torchvision"] == torchvision.__version__
    assert str(DeviceReport(cudnn=None)) == f"{'cudnn':<18} —" and "| cudnn | — |" in DeviceReport(cudnn=None)._repr_markdown_()


def test_predict_rate_fractional_bytes():
    "Less than a byte per item (a bit-packed mask, say) still gives a memory bound: 4.8e12 B/s ÷ 0.5 B."
    assert predict_rate(1e9, 0.5, "H200").memory == 9.6e12


def test_synchronize_waits_on_mps():
    with mock.patch("torch.mps.synchronize") as sync:
        synchronize("mps")
    sync.assert_called_once_with()


def test_the_cpu_and_mps_are_one_device_each(monkeypatch):
    """'cpu:1' was taken (torch.device accepts it): `gpuvision train --device cpu:1` trained, then could not load its own
    checkpoint (its tensors tagged with a device no loader knows). Refused now, with GPUVISION_DEVICE too; 'cpu:0' is 'cpu'."""
    assert get_device("cpu:0") == torch.device("cpu") and str(get_device(" CPU:0 ")) == "cpu"
    for spec in ("cpu:1", "mps:1", "mps:7"):
        with pytest.raises(ValueError, match=f"{spec!r}: there is one"): get_device(spec)
    monkeypatch.setenv("GPUVISION_DEVICE", "cpu:1")
    with pytest.raises(ValueError, match="environment variable GPUVISION_DEVICE='cpu:1'"): get_device()


def test_device_report_names_the_operating_system_and_torchvision():
    "tools/mutate.py device --seed 906: the report's platform line (which OS a reading came from) went unchecked."
    import platform, torchvision
    rep = device_report()
    assert rep["platform"] == platform.platform(terse=True) and rep["torchvision"] == torchvision.__version__
    lines = str(rep).splitlines()
    assert f"{'platform':<18} {platform.platform(terse=True)}" in lines and f"{'torchvision':<18} {torchvision.__version__}" in lines
