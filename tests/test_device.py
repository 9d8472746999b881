"Device selection, the device report and seeding (chapter 01)."
import json, random
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
    with pytest.raises(TypeError, match="must be a str or torch.device"):
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
        with pytest.raises(DeviceUnavailableError, match=r"has 2 CUDA GPU\(s\): use cuda:0..cuda:1"):
            get_device("cuda:5")


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
