"""Fault corpus, files written: output paths, a full disk, names that would be paths.

A write that cannot happen is exit 4 naming the path, and the file that was
there before is intact (atomic writes: temporary file, then os.replace).
A full disk is simulated with ``prlimit --fsize`` (writes past N bytes fail
with EFBIG). The first group never imports torch; the torch cases are last.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from harness import SPECS, assert_intact, expect, leftovers, run_cli, snapshot, tiny_onnx, tiny_spec

OLD = b"the previous file\n"


def _writers(tmp_path):
    """command argv (without -o) and the output suffix, for each non-torch writer."""
    spec = tiny_spec(tmp_path)
    model = tiny_onnx(tmp_path)
    np.save(tmp_path / "in.npy", np.ones((2, 4), np.float32))
    return {
        "schema": (["schema"], ".json"),
        "viz_dot": (["viz", spec], ".dot"),
        "viz_mermaid": (["viz", spec], ".mmd"),
        "infer_npz": (["infer", model, "--input", "in.npy"], ".npz"),
        "infer_npy": (["infer", model, "--input", "in.npy"], ".npy"),
    }


WRITERS = ["schema", "viz_dot", "viz_mermaid", "infer_npz", "infer_npy"]


@pytest.mark.parametrize("writer", WRITERS)
def test_full_disk_keeps_previous_file(tmp_path, writer):
    argv, suffix = _writers(tmp_path)[writer]
    out = tmp_path / f"out{suffix}"
    out.write_bytes(OLD)
    before = snapshot([out])
    r = run_cli(*argv, "-o", out, cwd=tmp_path, fsize=len(OLD) + 1, timeout=60)
    expect(r, 4, names=[out.name], contains=["file-write"])
    assert_intact(before)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_output_is_a_directory(tmp_path, writer):
    argv, suffix = _writers(tmp_path)[writer]
    out = tmp_path / f"out{suffix}"
    out.mkdir()
    (out / "keep").write_text("x")
    expect(run_cli(*argv, "-o", out, cwd=tmp_path, timeout=60), 4, names=[out.name])
    assert (out / "keep").read_text() == "x"


@pytest.mark.parametrize("writer", WRITERS)
def test_output_through_a_file(tmp_path, writer):
    argv, suffix = _writers(tmp_path)[writer]
    (tmp_path / "plain").write_bytes(OLD)
    out = tmp_path / "plain" / f"out{suffix}"
    expect(run_cli(*argv, "-o", out, cwd=tmp_path, timeout=60), 4, names=["plain"])
    assert (tmp_path / "plain").read_bytes() == OLD


@pytest.mark.parametrize("writer", ["schema", "viz_dot", "infer_npz"])
def test_output_in_missing_folder(tmp_path, writer):
    argv, suffix = _writers(tmp_path)[writer]
    out = tmp_path / "no" / "such" / f"out{suffix}"
    expect(run_cli(*argv, "-o", out, cwd=tmp_path, timeout=60), 4, names=[f"out{suffix}"])


@pytest.mark.parametrize("writer", ["schema", "viz_dot", "infer_npz"])
def test_output_name_too_long(tmp_path, writer):
    argv, suffix = _writers(tmp_path)[writer]
    out = tmp_path / ("n" * 300 + suffix)
    expect(run_cli(*argv, "-o", out, cwd=tmp_path, timeout=60), 4, names=["nnnnnnnn"])


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("writer", ["schema", "infer_npz"])
def test_files_follow_the_umask(tmp_path, writer, umask, mode):
    argv, suffix = _writers(tmp_path)[writer]
    out = tmp_path / f"out{suffix}"
    old = os.umask(umask)  # inherited by the child process
    try:
        r = run_cli(*argv, "-o", out, cwd=tmp_path, timeout=60)
    finally:
        os.umask(old)
    expect(r, 0)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_successful_write_replaces_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "schema.json"
    out.write_bytes(OLD)
    expect(run_cli("schema", "-o", out, cwd=tmp_path, timeout=60), 0)
    assert out.read_bytes() != OLD and out.read_text().lstrip().startswith("{")
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- names never become paths
BAD_SPEC_NAMES = ["../evil", "/tmp/evil", "a/b", ".hidden", "x\ny", "-rf", "a b"]


@pytest.mark.parametrize("name", BAD_SPEC_NAMES)
def test_spec_name_that_is_a_path_is_refused(tmp_path, name):
    text = f"graphspec: 1\nname: {name!r}\ninputs:\n  x: {{shape: [batch, 4]}}\nnodes:\n  fc: {{op: Linear, in: x, out_features: 3}}\noutputs: [fc]\n"
    spec = tiny_spec(tmp_path, "named.yaml", text.replace("'", '"') if "\n" in name else text)
    expect(run_cli("validate", spec, cwd=tmp_path, timeout=30), 3, names=["named.yaml"], contains=["bad-name"])


BAD_RUN_NAMES = ["../escape", "a/b", "..", ".", ".hidden", "-x", "x" * 200]


@pytest.mark.parametrize("name", BAD_RUN_NAMES, ids=lambda n: n[:12])
def test_run_name_that_is_a_path_is_refused(tmp_path, name):
    r = run_cli("train", SPECS / "digits_mlp.yaml", "--name", name, "--runs-dir", tmp_path / "runs", "--quiet", cwd=tmp_path, timeout=120)
    expect(r, 2, contains=["--name"])
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------- torch writers
def test_codegen_full_disk_keeps_previous_file(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "model.py"
    out.write_bytes(OLD)
    r = run_cli("codegen", spec, "-o", out, cwd=tmp_path, fsize=len(OLD) + 1, timeout=120)
    expect(r, 4, names=["model.py"])
    assert out.read_bytes() == OLD and leftovers(tmp_path) == []


def test_export_full_disk_keeps_previous_model(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "tiny.onnx"
    out.write_bytes(OLD)
    r = run_cli("export", spec, "-o", out, cwd=tmp_path, fsize=len(OLD) + 1, timeout=180)
    expect(r, 4, names=["tiny.onnx"])
    assert out.read_bytes() == OLD and leftovers(tmp_path) == []


def test_train_full_disk_is_exit_4_and_keeps_last_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    base = ["train", SPECS / "digits_mlp.yaml", "--runs-dir", runs, "--name", "r", "--quiet", "--set", "train.batch_size=256"]
    expect(run_cli(*base, "--epochs", "1", cwd=tmp_path, timeout=300), 0)
    files = [runs / "r" / n for n in ("last.safetensors", "last.state.pt")]
    before = snapshot(files)
    r = run_cli(*base, "--epochs", "2", "--resume", cwd=tmp_path, fsize=1000, timeout=300)
    expect(r, 4, names=["runs/r"])
    assert_intact(before)  # the checkpoint of epoch 1; small files may hold the complete new version
    for line in (runs / "r" / "metrics.jsonl").read_text().splitlines():
        json.loads(line)
    assert leftovers(runs / "r") == []


def test_os_error_anywhere_is_exit_4_naming_the_path(tmp_path):
    """An OSError no command caught itself still ends as exit 4 naming the path (cli/main.py)."""
    (tmp_path / "plain").write_bytes(OLD)
    r = run_cli("zoo", "lenet5", "-o", tmp_path / "plain" / "sub", cwd=tmp_path, timeout=60)
    expect(r, 4, names=["plain"])
    assert (tmp_path / "plain").read_bytes() == OLD
