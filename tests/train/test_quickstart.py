"""graphspec quickstart: train, export, check parity, compare accuracies (a shortened run)."""

from __future__ import annotations

import json

import pytest

from conftest import run_subprocess


@pytest.mark.slow
def test_quickstart_smoke(tmp_path):
    r = run_subprocess("quickstart", "--epochs", "3", "--runs-dir", tmp_path, "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res["parity_passed"] is True and res["test_samples"] == 271
    assert res["onnxruntime_test_accuracy"] == pytest.approx(res["torch_test_accuracy"], abs=1 / 271 + 1e-9)
    assert res["prediction_agreement"] >= 0.99
    for name in ("model.onnx", "model.parity.json", "best.safetensors", "test_inputs.npz"):
        assert (tmp_path / "digits_lenet5" / name).is_file(), name
    assert "[1/3]" in r.stderr and "[3/3]" in r.stderr
