"""graphspec import on hostile ONNX files: clean errors, documented exit codes, nothing written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from harness import expect, run_cli

pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_import_onnx import small_cnn  # noqa: E402  (the one small ONNX model of the import tests)


def test_good_file_imports_and_validates(tmp_path):
    small_cnn(tmp_path / "m.onnx")
    r = run_cli("import", "m.onnx", "-o", "m.yaml", "--weights", "m.safetensors", cwd=tmp_path)
    expect(r, 0)
    r = run_cli("validate", "m.yaml", cwd=tmp_path)
    expect(r, 0, names=["m.yaml"])


def test_truncated_file_is_unreadable(tmp_path):
    small_cnn(tmp_path / "m.onnx")
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    r = run_cli("import", "cut.onnx", "-o", "out.yaml", cwd=tmp_path)
    expect(r, 4, names=["cut.onnx"], contains=["not a valid ONNX model"])
    assert not (tmp_path / "out.yaml").exists()


def test_non_onnx_files_are_refused(tmp_path):
    (tmp_path / "spec.onnx").write_text("graphspec: 1\nname: x\n")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "folder.onnx").mkdir()
    os.mkfifo(tmp_path / "pipe.onnx")
    for name in ("spec.onnx", "empty.onnx", "folder.onnx", "pipe.onnx", "missing.onnx"):
        r = run_cli("import", name, "-o", "out.yaml", cwd=tmp_path)
        expect(r, 4, names=[name])
    assert not (tmp_path / "out.yaml").exists()


def test_unsupported_op_exits_10_naming_the_node(tmp_path):
    small_cnn(tmp_path / "erf.onnx", unsupported=True)
    r = run_cli("import", "erf.onnx", "-o", "out.yaml", cwd=tmp_path)
    expect(r, 10, contains=["ONNX node 'act/Relu' (Erf)", "import-unsupported"])
    assert not (tmp_path / "out.yaml").exists()
