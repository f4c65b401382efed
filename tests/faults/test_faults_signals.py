"""Fault corpus, signals: SIGKILL at chosen moments never leaves a torn artifact.

Each writer is started over a previous version of its output and killed after
a delay from a fixed, seeded list (early, mid-way, late). Afterwards the final
name holds the previous file or a complete new one -- never a prefix.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from harness import SPECS, expect, kill_after, run_cli, start_cli, tiny_onnx, tiny_spec

OLD = b"the previous version\n"
DELAYS = sorted(random.Random(7).uniform(0.2, 6.0) for _ in range(3))  # seconds after start


def _old_or_complete(path, check) -> str:
    data = path.read_bytes()
    if data == OLD:
        return "old"
    check(path)  # raises when the file is torn
    return "new"


def _json(p):
    json.loads(p.read_text())


def _python(p):
    compile(p.read_text(), str(p), "exec")


def _onnx(p):
    import onnx

    onnx.checker.check_model(onnx.load(str(p)))


def _npz(p):
    with np.load(p, allow_pickle=False) as z:
        assert z.files and all(z[k].size for k in z.files)


@pytest.mark.parametrize("delay", DELAYS, ids=lambda d: f"{d:.1f}s")
@pytest.mark.parametrize("writer", ["schema", "codegen", "export", "infer", "viz"])
def test_sigkill_leaves_old_or_complete_file(tmp_path, writer, delay):
    spec = tiny_spec(tmp_path)
    argv, name, check = {
        "schema": (["schema"], "s.json", _json),
        "codegen": (["codegen", spec], "m.py", _python),
        "export": (["export", spec, "--no-parity"], "m.onnx", _onnx),
        "infer": (["infer", tiny_onnx(tmp_path), "--input", "in.npy"], "o.npz", _npz),
        "viz": (["viz", spec], "g.dot", lambda p: p.read_text().rstrip().endswith("}") or pytest.fail("torn .dot")),
    }[writer]
    np.save(tmp_path / "in.npy", np.ones((2, 4), np.float32))
    out = tmp_path / name
    out.write_bytes(OLD)
    kill_after(start_cli(*argv, "-o", out, cwd=tmp_path), delay)
    _old_or_complete(out, check)


@pytest.mark.parametrize("delay", DELAYS, ids=lambda d: f"{d:.1f}s")
def test_sigkill_during_training_then_resume(tmp_path, delay):
    """Killed at any moment, a run continues with --resume (from its checkpoint, or from scratch)."""
    runs = tmp_path / "runs"
    args = ["train", SPECS / "digits_mlp.yaml", "--runs-dir", runs, "--name", "k", "--epochs", "2", "--quiet", "--set", "train.batch_size=64"]
    kill_after(start_cli(*args, cwd=tmp_path), delay + 2)  # torch takes ~2 s to import
    if not (runs / "k").exists():  # killed before it claimed its folder: a plain start works
        expect(run_cli(*args, cwd=tmp_path, timeout=600), 0)
        return
    if (runs / "k" / "results.json").exists():
        return  # it finished before the kill: nothing to resume
    for f in ("last.safetensors", "metrics.jsonl", "spec.yaml"):
        p = runs / "k" / f
        if p.exists():
            assert p.stat().st_size > 0, f"{f} is torn"
    expect(run_cli(*args, "--resume", cwd=tmp_path, timeout=600), 0)
    assert json.loads((runs / "k" / "results.json").read_text())["epochs"] == 2
