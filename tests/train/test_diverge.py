"""A NaN/Inf loss stops the run with exit 7 and leaves the last good checkpoint intact."""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from safetensors.torch import load_file

from conftest import SPECS

# SGD whose lr is multiplied by 1e8 after the first epoch: epoch 1 trains, epoch 2 explodes
EXPLODE = [
    "--set", "train.epochs=4",
    "--set", "train.optimizer={name: SGD, lr: 0.1}",
    "--set", "train.schedule={name: StepLR, step_size: 1, gamma: 1.0e+8}",
]


def test_nan_exits_7_and_keeps_checkpoint(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "digits_mlp.yaml", *EXPLODE, "--runs-dir", tmp_path, "--name", "x", "--quiet")
    assert rc == 7
    err = capsys.readouterr().err
    assert "diverged" in err and "epoch 2" in err and "last good checkpoint (epoch 1) is intact" in err
    assert "digits_mlp.yaml:" in err  # located at train.optimizer
    run = tmp_path / "x"
    state = torch.load(run / "last.state.pt", weights_only=True)
    assert state["epoch"] == 1
    weights = load_file(str(run / "last.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1] and math.isfinite(rows[0]["train_loss"])
    # the intact checkpoint still evaluates
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--set", "train.epochs=4", "--run", run, "--json") == 0


def test_huge_lr_diverges(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "digits_mlp.yaml", "--set", "train.optimizer={name: SGD, lr: 1.0e+30}", "--set", "train.epochs=2", "--runs-dir", tmp_path, "--name", "x", "--quiet")
    assert rc == 7
    assert "diverged" in capsys.readouterr().err


def test_nan_in_data_file(cli, capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((200, 1, 8, 8)).astype(np.float32)
    x[::3] = np.nan
    np.savez(tmp_path / "nan.npz", image=x, target=rng.integers(0, 10, 200))
    rc = cli("train", SPECS / "digits_lenet5.yaml", "--set", f"train.data={tmp_path / 'nan.npz'}", "--set", "train.epochs=2", "--runs-dir", tmp_path / "runs", "--name", "n", "--quiet")
    assert rc == 5  # NaN in the data is found before training (a data error), not as a diverged loss
    err = capsys.readouterr().err
    assert "nan.npz" in err and "NaN" in err
    assert not (tmp_path / "runs" / "n" / "last.safetensors").exists()
