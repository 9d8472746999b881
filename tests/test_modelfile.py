"Appendix A4 (gpuvision_nb.modelfile): export_model / load_exported and the int8 state's plain-tensor layout."
import hashlib, json, re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gpuvision_nb.checkpoint import CheckpointError
from gpuvision_nb.modelfile import _flatten_state, _signature, _tensor_module, _unflatten_state, export_model, load_exported, manifest_for


def test_manifest_sits_beside_the_model_file(tmp_path):
    assert manifest_for(tmp_path / "m.safetensors") == tmp_path / "m.safetensors.manifest.json"


def _same(a, b) -> bool:
    "Equal states: the same values, dtypes, quantization parameters, None and tuples in the same places."
    if a is None or b is None or isinstance(a, torch.dtype): return a == b
    if isinstance(a, tuple): return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if a.is_quantized:
        per_channel = a.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        return b.is_quantized and a.dtype == b.dtype and torch.equal(a.int_repr(), b.int_repr()) and (
            torch.equal(a.q_per_channel_scales(), b.q_per_channel_scales()) and torch.equal(a.q_per_channel_zero_points(), b.q_per_channel_zero_points())
            and a.q_per_channel_axis() == b.q_per_channel_axis() if per_channel else (a.q_scale(), a.q_zero_point()) == (b.q_scale(), b.q_zero_point()))
    return a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")        # deprecated in torch 2.14, still what int8 models hold
def test_flatten_and_unflatten_round_trip_every_kind_of_state_entry(tmp_path):
    """mutmut (modelfile, seed 23): the 'none' kind of the layout renamed (a None entry then crashes the rebuild) survived.
    Writing this test found a real bug: a per-tensor quint8 tensor with zero point 3 came back with 255 wherever it
    held 0 (uint8 minus a 0-d int64 tensor stays uint8 and wrapped); fixed in nbs/A4_modelfile.ipynb."""
    w = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    state = {"none": None, "dtype": torch.qint8, "plain": w,
             "q": torch.quantize_per_tensor(w, 0.05, 3, torch.quint8),            # values below the zero point
             "q8": torch.quantize_per_tensor(torch.tensor([-100.0, -6.5, 0.0, 6.3]), 0.05, 3, torch.qint8),   # -128 - 3
             "qc": torch.quantize_per_channel(w, torch.tensor([0.1, 0.2, 0.05, 0.3], dtype=torch.float64), torch.tensor([0, 1, -1, 2]), 0, torch.qint8),
             "packed": (torch.quantize_per_tensor(w, 0.1, 0, torch.qint8), None, (torch.arange(3), torch.float32))}
    tensors, layout = _flatten_state(state)
    assert all(not t.is_quantized for t in tensors.values())
    assert layout["none"] == {"kind": "none"} and layout["dtype"] == {"kind": "dtype", "dtype": "qint8"}
    json.dumps(layout)                                                               # the layout is plain JSON
    back = _unflatten_state(tensors, json.loads(json.dumps(layout)))
    assert list(back) == list(state) and all(_same(state[k], back[k]) for k in state)
    export_model(_tensor_module(tensors), tmp_path / "q.safetensors")               # stored and checked like any model
    assert load_exported(tmp_path / "q.safetensors", _tensor_module({k: torch.zeros_like(t) for k, t in tensors.items()}))
    with pytest.raises(TypeError, match="can't store bad of type str"): _flatten_state({"bad": "x"})


def test_a_signed_export_checks_its_key(tmp_path):
    "The HMAC covers the manifest (not its own field); a wrong key, or none signed, is refused by name."
    m = nn.Linear(3, 2)
    p = export_model(m, tmp_path / "m.safetensors", meta={"classes": ["a", "b"]}, key=b"k1")
    man = json.loads(manifest_for(p).read_text())
    assert man["hmac_sha256"] == _signature(man, b"k1") and man["meta"] == {"classes": ["a", "b"]}
    assert man["bytes"] == p.stat().st_size and man["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert man["tensors"] == {"weight": ["float32", [2, 3]], "bias": ["float32", [2]]} and man["file"] == "m.safetensors"
    assert load_exported(p, nn.Linear(3, 2), key=b"k1")["format"] == 1
    with pytest.raises(CheckpointError, match="is not signed with this key"): load_exported(p, nn.Linear(3, 2), key=b"k2")
    unsigned = export_model(m, tmp_path / "u.safetensors")
    with pytest.raises(CheckpointError, match="is not signed with this key"): load_exported(unsigned, nn.Linear(3, 2), key=b"k1")
    with pytest.raises(ValueError, match="key must be non-empty bytes"): export_model(m, tmp_path / "e.safetensors", key=b"")
    with pytest.raises(ValueError, match="must end in .safetensors"): export_model(m, tmp_path / "m.pt")


def test_export_makes_missing_parent_folders_and_refuses_a_file_as_one(tmp_path):
    "mutmut (modelfile, seed 23 after the fix): `mkdir(parents=True)` → `parents=None` (nested --out folders) survived."
    p = export_model(nn.Linear(2, 2), tmp_path / "a" / "b" / "m.safetensors")
    assert p.is_file() and manifest_for(p).is_file()
    (tmp_path / "f").write_text("")
    with pytest.raises(CheckpointError, match=r"can't create folder .*f/x"): export_model(nn.Linear(2, 2), tmp_path / "f" / "x" / "m.safetensors")


# ---- tools/mutate.py modelfile --sample 25 --seed 707: survivors killed -----------------------------------------
def test_weights_under_other_names_are_listed_missing_and_unexpected(tmp_path):
    "safetensors is asked for the lists, not its own error (mutmut: strict=False → True survived)."
    path = export_model(nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match=r"m\.safetensors does not fit this model: missing \['0\.bias', '0\.weight'\], "
                                              r"unexpected \['bias', 'weight'\]$"):
        load_exported(path, nn.Sequential(nn.Linear(2, 2)))


def test_a_description_whose_classes_are_no_list_is_refused_with_the_limit(tmp_path):
    "mutmut: LIMITS['n_classes'] → LIMITS['N_CLASSES'] in the message survived (a KeyError instead)."
    from gpuvision_nb.modelfile import _check_sizes
    meta = {"model": {"arch": "seed", "kwargs": {"n_classes": 2}}, "size": 32, "classes": "ab"}
    with pytest.raises(CheckpointError, match=r"^m\.json describes an impossible model: classes must be a list of at most 100,000 names$"):
        _check_sizes(meta, Path("m.json"))


def test_a_model_file_without_manifest_or_description_says_what_to_do(tmp_path):
    "mutmut: the message's second half upper-cased survived."
    from safetensors.torch import save_file
    from gpuvision_nb.modelfile import _load_single
    save_file({"w": torch.zeros(2)}, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match=r"m\.safetensors has no manifest m\.safetensors\.manifest\.json next to it and no description inside "
                                              r"\(written before descriptions were embedded\): copy its manifest with it, "
                                              r"or re-export it$"):
        _load_single(tmp_path / "m.safetensors", None, None)


# ---- tools/mutate.py modelfile --sample 25 --seed 930: the survivors, each killed --------------------------------
@pytest.mark.parametrize("into, missing, unexpected", [
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), "['1.bias', '1.weight']", "[]"),   # a layer too many
    (lambda: nn.Sequential(nn.ReLU()), "[]", "['0.bias', '0.weight']")])                          # too few
def test_a_file_that_fits_only_part_of_the_model_is_refused(tmp_path, into, missing, unexpected):
    "Only missing, or only unexpected, weights are enough to refuse (mutmut: `missing or unexpected` → `and` survived)."
    path = export_model(nn.Sequential(nn.Linear(2, 2)), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match=re.escape(f"does not fit this model: missing {missing}, unexpected {unexpected}")):
        load_exported(path, into())


def test_with_metadata_adds_to_the_metadata_already_there():
    "mutmut: header.get('__metadata__', {}) → header.get(None, {}) (the earlier entries dropped) survived."
    import struct
    from safetensors.torch import save
    from gpuvision_nb.modelfile import with_metadata
    data = with_metadata(with_metadata(save({"w": torch.zeros(2)}, metadata={"format": "pt"}), {"a": "1"}), {"b": "2"})
    n = struct.unpack("<Q", data[:8])[0]
    assert json.loads(data[8:8 + n])["__metadata__"] == {"format": "pt", "a": "1", "b": "2"}


def test_an_int8_file_of_another_layout_says_what_to_do():
    "mutmut: the second half of the message (what to do instead) survived: no test read it."
    from gpuvision_nb.modelfile import _int8_carrier
    with pytest.raises(CheckpointError, match=re.escape(f"m.safetensors was quantized with another module layout than this torch "
                                                        f"({torch.__version__}) makes: export the fp32 model and quantize it here")):
        _int8_carrier(nn.Linear(2, 2), {"int8": {"layout": "another"}}, Path("m.safetensors"))
