"""Fault corpus, checkpoints and weights: crafted, damaged or hostile run files.

One real run (digits MLP, one epoch) is trained once per module; every case
copies its folder and damages one file. A structurally wrong resume state is
exit 8 (``checkpoint``); a path that is not a regular file is exit 4.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest
from harness import SPECS, expect, hostile_path, run_cli

torch = pytest.importorskip("torch")

SPEC = SPECS / "digits_mlp.yaml"
FAST = ["--set", "train.batch_size=256", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    r = run_cli("train", SPEC, "--runs-dir", root / "runs", "--name", "base", "--epochs", "1", *FAST, cwd=root, timeout=600)
    expect(r, 0)
    return root / "runs" / "base"


@pytest.fixture
def run(trained, tmp_path):
    dest = tmp_path / "runs" / "r"
    shutil.copytree(trained, dest)
    return dest


def _state(run_dir):
    return torch.load(run_dir / "last.state.pt", weights_only=True)


def _save(run_dir, obj, name="last.state.pt"):
    buf = io.BytesIO()
    torch.save(obj, buf)
    (run_dir / name).write_bytes(buf.getvalue())


def _resume(run_dir, cwd):
    return run_cli("train", SPEC, "--runs-dir", run_dir.parent, "--name", run_dir.name, "--resume", "--epochs", "2", *FAST, cwd=cwd, timeout=300)


def _edit(key, value):
    def damage(st):
        if value is _DROP:
            st.pop(key)
        else:
            st[key] = value
        return st

    return damage


_DROP = object()

STATE_DAMAGE = {
    "missing_epoch": _edit("epoch", _DROP),
    "missing_weights": _edit("weights", _DROP),
    "missing_rng": _edit("rng", _DROP),
    "missing_task_state": _edit("task_state", _DROP),
    "negative_epoch": _edit("epoch", -3),
    "string_epoch": _edit("epoch", "1"),
    "float_step": _edit("step", 1.5),
    "negative_step": _edit("step", -1),
    "bool_best_epoch": _edit("best_epoch", True),
    "best_after_epoch": _edit("best_epoch", 99),
    "nan_wall": _edit("wall_s", float("nan")),
    "rows_not_json": _edit("rows", "[{oops"),
    "rows_not_list": _edit("rows", json.dumps({"epoch": 1})),
    "rows_without_epoch": _edit("rows", json.dumps([{"loss": 1.0}])),
    "rows_too_many": _edit("rows", json.dumps([{"epoch": 1}, {"epoch": 2}, {"epoch": 3}])),
    "weights_not_tensors": _edit("weights", {"hidden.0.fc.weight": [1, 2, 3]}),
    "rng_empty": _edit("rng", {}),
    "wrong_format": _edit("format", "something-else"),
    "other_spec": _edit("spec_name", "resnet18"),
}


@pytest.mark.parametrize("case", sorted(STATE_DAMAGE))
def test_damaged_resume_state_is_exit_8(run, tmp_path, case):
    _save(run, STATE_DAMAGE[case](_state(run)))
    expect(_resume(run, tmp_path), 8, names=["last.state.pt" if case not in ("other_spec",) else "runs/r"])


def test_wrong_weight_shapes_in_state_is_exit_8(run, tmp_path):
    st = _state(run)
    st["weights"] = {k: torch.zeros(3, 3) for k in st["weights"]}
    _save(run, st)
    expect(_resume(run, tmp_path), 8)


STATE_BYTES = {
    "garbage": b"not a torch file at all" * 20,
    "empty": b"",
    "zip_junk": b"PK\x03\x04" + bytes(200),
}


@pytest.mark.parametrize("case", sorted(STATE_BYTES) + ["truncated", "not_a_dict", "pickled_object"])
def test_corrupt_resume_state_is_exit_8(run, tmp_path, case):
    p = run / "last.state.pt"
    if case == "truncated":
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif case == "not_a_dict":
        _save(run, [1, 2, 3])
    elif case == "pickled_object":
        _save(run, {"format": "graphspec-train-1", "x": io.StringIO("not allowed by weights_only")})
    else:
        p.write_bytes(STATE_BYTES[case])
    expect(_resume(run, tmp_path), 8, names=["last.state.pt"])


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev_zero", "sparse_huge"])
def test_hostile_resume_state_is_exit_4(run, tmp_path, kind):
    (run / "last.state.pt").unlink()
    made = hostile_path(kind, run, ".pt")
    made.rename(run / "last.state.pt")
    expect(_resume(run, tmp_path), 4, names=["last.state.pt"])


# ---------------------------------------------------------------- weights files
@pytest.mark.parametrize("case", ["garbage", "truncated", "empty"])
def test_export_with_corrupt_weights_is_exit_8(run, tmp_path, case):
    p = run / "best.safetensors"
    data = p.read_bytes()
    p.write_bytes({"garbage": b"\xff" * 64, "truncated": data[: len(data) // 2], "empty": b""}[case])
    r = run_cli("export", SPEC, "--weights", p, "-o", tmp_path / "m.onnx", "--no-parity", cwd=tmp_path, timeout=300)
    expect(r, 8, names=["best.safetensors"])
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "sparse_huge"])
def test_export_with_hostile_weights_is_exit_4(tmp_path, kind):
    p = hostile_path(kind, tmp_path, ".safetensors")
    r = run_cli("export", SPEC, "--weights", p, "-o", tmp_path / "m.onnx", "--no-parity", cwd=tmp_path, timeout=300)
    expect(r, 4, names=[p.name])


@pytest.mark.parametrize("case", ["garbage", "fifo"])
def test_evaluate_with_damaged_weights(run, tmp_path, case):
    p = run / "best.safetensors"
    p.unlink()
    if case == "fifo":
        import os

        os.mkfifo(p)
    else:
        p.write_bytes(b"\x00" * 100)
    r = run_cli("evaluate", SPEC, "--run", run, "--device", "cpu", cwd=tmp_path, timeout=300)
    expect(r, 8 if case == "garbage" else 4, names=["best.safetensors"])
