"""DDP: 2 CPU processes (gloo) with the same global batch match one process."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from conftest import SPECS, last_json, run_cli, run_subprocess

# LeNet has no dropout, so both runs compute the same function; the last batch of
# each epoch (1257 = 39 * 32 + 9) splits unevenly, which loss_scale corrects
ARGS = [str(SPECS / "digits_lenet5.yaml"), "--set", "train.epochs=2", "--device", "cpu", "--quiet", "--json"]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, capsys):
    assert run_cli("train", *ARGS, "--runs-dir", tmp_path, "--name", "one") == 0
    one = last_json(capsys.readouterr().out)
    two = run_subprocess("train", *ARGS, "--runs-dir", tmp_path, "--name", "two", "--nproc", "2", timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    res = last_json(two.stdout)
    assert res["world_size"] == 2 and res["steps"] == one["steps"]
    a, b = load_file(str(tmp_path / "one" / "last.safetensors")), load_file(str(tmp_path / "two" / "last.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert res["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1 / 271 + 1e-9)
    assert res["val_loss"] == pytest.approx(one["val_loss"], rel=1e-4)
    # rank 0 alone wrote the run
    assert sorted(p.name for p in (tmp_path / "two").glob("*.safetensors")) == ["best.safetensors", "last.safetensors"]


@pytest.mark.slow
def test_ddp_divergence_keeps_exit_code(tmp_path):
    r = run_subprocess(
        "train", str(SPECS / "digits_mlp.yaml"), "--set", "train.optimizer={name: SGD, lr: 1.0e+30}", "--set", "train.epochs=1",
        "--runs-dir", tmp_path, "--nproc", "2", "--quiet", timeout=900,
    )
    assert r.returncode == 7, r.stderr[-3000:]
