"""Run files are written atomically: a failed write leaves the old file and no debris."""

from __future__ import annotations

import os

import pytest
import torch

from graphspec.errors import GraphspecError
from graphspec.train import checkpoint as ck


def test_atomic_write_replaces(tmp_path):
    p = tmp_path / "f.txt"
    ck.atomic_write(p, "one", mode="w")
    ck.atomic_write(p, b"two")
    assert p.read_text() == "two"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_failed_write_keeps_old_file(tmp_path):
    p = tmp_path / "f.bin"
    ck.atomic_write(p, b"good")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        ck.atomic_write(p, boom)
    assert p.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["f.bin"]


def _state(**kw):
    """A structurally complete training state (load_state checks every key the engine reads)."""
    st = {
        "format": ck.STATE_FORMAT, "spec_name": "s", "task": "classify", "epoch": 3, "step": 30, "wall_s": 1.0,
        "best_value": 0.5, "best_epoch": 2, "bad_epochs": 1, "weights": {}, "task_state": {}, "rng": ck.rng_state(),
    }
    st.update(kw)
    return st


def test_weights_and_state_round_trip(tmp_path):
    w = {"fc.weight": torch.randn(3, 2), "fc.bias": torch.zeros(3)}
    ck.save_weights(tmp_path / "w.safetensors", w, {"epoch": 3})
    back, meta = ck.load_weights(tmp_path / "w.safetensors")
    assert torch.equal(back["fc.weight"], w["fc.weight"]) and meta["epoch"] == "3"
    state = _state(weights=w)
    ck.save_state(tmp_path / "s.pt", state)
    loaded = ck.load_state(tmp_path / "s.pt")  # torch.load(weights_only=True) inside
    assert loaded["epoch"] == 3


def test_rng_state_restores_every_generator(tmp_path):
    import random

    import numpy as np

    ck.seed_everything(1)
    saved = ck.rng_state()
    ck.save_state(tmp_path / "s.pt", _state(rng=saved))
    a = (torch.rand(3), np.random.rand(3), random.random())
    ck.set_rng_state(ck.load_state(tmp_path / "s.pt")["rng"])
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_corrupt_and_foreign_files(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"garbage")
    with pytest.raises(GraphspecError, match="corrupt"):
        ck.load_weights(tmp_path / "w.safetensors")
    (tmp_path / "s.pt").write_bytes(b"garbage")
    with pytest.raises(GraphspecError, match="corrupt"):
        ck.load_state(tmp_path / "s.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(GraphspecError, match="not a graphspec training state"):
        ck.load_state(tmp_path / "other.pt")


@pytest.mark.parametrize(
    "bad",
    [{"epoch": -1}, {"step": "3"}, {"best_epoch": 9}, {"rows": "[{]"}, {"rows": '[{"epoch": 1}, {"epoch": 2}, {"epoch": 3}, {"epoch": 4}]'}, {"weights": {"a": 1}}],
)
def test_structurally_wrong_state_is_a_checkpoint_error(tmp_path, bad):
    ck.save_state(tmp_path / "s.pt", _state(**bad))
    with pytest.raises(GraphspecError, match="damaged") as info:
        ck.load_state(tmp_path / "s.pt")
    assert info.value.exit_code == 8


def test_metrics_files(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5, "note": "a,b"}, {"epoch": 2, "train_loss": 0.25, "val_loss": float("nan")}]
    ck.write_metrics(tmp_path, rows)
    assert ck.read_metrics(tmp_path)[0] == rows[0]
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,note,val_loss" and lines[1] == '1,0.5,"a,b",'
