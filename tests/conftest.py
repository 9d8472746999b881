"Shared fixtures: every test writes its records to a private folder, never into nbs/results/."
import pytest


@pytest.fixture(autouse=True)
def _scratch_results(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUVISION_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("GPUVISION_DEVICE", raising=False)
