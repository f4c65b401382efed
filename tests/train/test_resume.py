"""A run SIGKILLed mid-way and resumed ends bit-identical to an uninterrupted one (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import SPECS, run_subprocess

# the MLP has dropout, so this also checks that RNG states are restored
ARGS = [str(SPECS / "digits_mlp.yaml"), "--set", "train.epochs=5", "--set", "train.batch_size=16", "--device", "cpu", "--quiet"]


def _weights(path):
    return load_file(str(path))


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    from conftest import run_cli

    runs = tmp_path / "runs"
    assert run_cli("train", *ARGS, "--runs-dir", runs, "--name", "full") == 0  # in-process: same code, one start-up less

    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphspec", "train", *ARGS, "--runs-dir", str(runs), "--name", "killed"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    state_file = runs / "killed" / "last.state.pt"
    deadline = time.time() + 600
    while not state_file.exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(state_file, weights_only=True)["epoch"]
    assert 1 <= killed_at < 5, f"killed at epoch {killed_at}: too late to test a resume"

    resumed = run_subprocess("train", *ARGS, "--runs-dir", runs, "--name", "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr

    a, b = _weights(runs / "full" / "last.safetensors"), _weights(runs / "killed" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa = torch.load(runs / "full" / "last.state.pt", weights_only=True)
    sb = torch.load(runs / "killed" / "last.state.pt", weights_only=True)
    assert sa["step"] == sb["step"] and sa["epoch"] == sb["epoch"] == 5
    for pa, pb in zip(sa["task_state"]["optimizers"]["main"]["state"].values(), sb["task_state"]["optimizers"]["main"]["state"].values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"])
    # the metrics of the resumed run cover every epoch once
    import json

    rows = [json.loads(l) for l in (runs / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    full_rows = [json.loads(l) for l in (runs / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in full_rows]


def test_resume_in_process_continues_from_last_epoch(tmp_path, cli):
    """Stop after 2 of 4 epochs by hand (a shortened copy of the state), resume, compare."""
    import graphspec
    from graphspec.train.engine import RunOptions, train

    spec = graphspec.load(str(SPECS / "digits_lenet5.yaml"), set={"train.epochs": 3})
    full = train(spec, RunOptions(name="full", runs_dir=str(tmp_path), progress="quiet"))

    class Stop(Exception):
        pass

    # interrupt the second run right after its second checkpoint
    from graphspec.train import engine

    original = engine._save_checkpoint
    calls = {"n": 0}

    def save_then_stop(*a, **kw):
        original(*a, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop

    engine._save_checkpoint = save_then_stop
    try:
        with pytest.raises(Stop):
            train(spec, RunOptions(name="part", runs_dir=str(tmp_path), progress="quiet"))
    finally:
        engine._save_checkpoint = original
    res = train(spec, RunOptions(name="part", runs_dir=str(tmp_path), progress="quiet", resume=True))
    assert res["test_loss"] == full["test_loss"] and res["epochs"] == 3
    a, b = _weights(tmp_path / "full" / "last.safetensors"), _weights(tmp_path / "part" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
