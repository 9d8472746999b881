"Appendix A4 (gpuvision_nb.modelfile): export_model / load_exported and the int8 state's plain-tensor layout."
import hashlib, json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gpuvision_nb.checkpoint import CheckpointError
from gpuvision_nb.modelfile import _flatten_state, _signature, _tensor_module, _unflatten_state, export_model, load_exported, manifest_for


def test_manifest_sits_beside_the_model_file(tmp_path):
    assert manifest_for(tmp_path / "m.safetensors") == tmp_path / "m.safetensors.manifest.json"
