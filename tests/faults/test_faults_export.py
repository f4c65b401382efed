"""Fault corpus: export, codegen and infer artifacts (issue 7 §7, §8).

NaN outputs never pass parity; artifacts carry no paths or traces of this
machine; generated code never executes a crafted file name; every failure is a
documented exit code. These cases run torch: each costs one export.
"""

from __future__ import annotations

import ast
import json

import pytest
from harness import assert_intact, expect, run_cli, snapshot, tiny_spec

NAN_SPEC = """\
graphspec: 1
name: nan_out
inputs:
  x: {shape: [batch, 4]}
nodes:
  zero: {op: Sub, in: [x, x]}
  nan: {op: Arith, in: zero, fn: rdiv, value: 0.0}
outputs: {y: nan}
"""

TWO_OUT = """\
graphspec: 1
name: two_out
inputs:
  x: {shape: [batch, 4]}
nodes:
  a: {op: Linear, in: x, out_features: 3}
  b: {op: ReLU, in: a}
  c: {op: Linear, in: b, out_features: 2}
outputs: {first: a, second: c}
"""


def test_nan_outputs_fail_parity(tmp_path):
    spec = tiny_spec(tmp_path, "nan.yaml", NAN_SPEC)
    r = run_cli("export", spec, "-o", "nan.onnx", "--json", cwd=tmp_path)
    expect(r, 6, contains=["NaN or Inf", "'y'"])
    report = json.loads((tmp_path / "nan.parity.json").read_text())  # still valid JSON
    assert report["passed"] is False


def test_artifacts_hold_no_paths_or_traces(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "t.onnx", "--quiet", cwd=tmp_path)
    expect(r, 0)
    raw = (tmp_path / "t.onnx").read_bytes() + (tmp_path / "t.parity.json").read_bytes()
    for leak in (str(tmp_path).encode(), b"site-packages", b".venv", b"Traceback", b"stack_trace", b"pkg.torch"):
        assert leak not in raw, leak
    assert oct((tmp_path / "t.onnx").stat().st_mode & 0o777) != "0o600"


def test_repeated_outputs_flags_keep_every_output(tmp_path):
    spec = tiny_spec(tmp_path, "two.yaml", TWO_OUT)
    r = run_cli("export", spec, "-o", "two.onnx", "--outputs", "first", "--outputs", "second", "--json", "--no-parity", cwd=tmp_path)
    expect(r, 0)
    assert [o["name"] for o in json.loads(r.stdout)["outputs"]] == ["first", "second"]


def test_opset_is_written_exactly(tmp_path):
    import onnx

    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "o.onnx", "--opset", "21", "--no-parity", "--json", cwd=tmp_path)
    expect(r, 0)
    model = onnx.load(str(tmp_path / "o.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [21]


def test_unknown_output_is_usage(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "t.onnx", "--outputs", "nope", cwd=tmp_path)
    expect(r, 2, contains=["nope"])


def test_output_must_be_onnx(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "t.pt", cwd=tmp_path)
    expect(r, 2, contains=["t.pt"])


def test_output_folder_missing(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "missing/t.onnx", cwd=tmp_path)
    expect(r, 4, contains=["missing"])


def test_weights_folder_without_checkpoints(tmp_path):
    spec = tiny_spec(tmp_path)
    (tmp_path / "run").mkdir()
    r = run_cli("export", spec, "-o", "t.onnx", "--weights", "run", cwd=tmp_path)
    expect(r, 8, contains=["run"])


def test_disk_full_keeps_the_previous_model(tmp_path):
    spec = tiny_spec(tmp_path)
    expect(run_cli("export", spec, "-o", "t.onnx", "--no-parity", cwd=tmp_path), 0)
    before = snapshot([tmp_path / "t.onnx"])
    wide = tiny_spec(tmp_path, "wide.yaml", TWO_OUT.replace("out_features: 3", "out_features: 20000"))
    r = run_cli("export", wide, "-o", "t.onnx", "--no-parity", cwd=tmp_path, fsize=100_000)
    expect(r, 4, contains=["t.onnx"])
    assert_intact(before)


def test_codegen_escapes_a_crafted_file_name(tmp_path):
    name = 'evil"""\nimport os\nos.system("touch PWNED")\n""".yaml'
    spec = tiny_spec(tmp_path, name)
    r = run_cli("codegen", spec, "-o", "out.py", cwd=tmp_path)
    expect(r, 0)
    code = (tmp_path / "out.py").read_text()
    tree = ast.parse(code)
    assert isinstance(tree.body[0], ast.Expr)  # the docstring, still one string
    assert not any(isinstance(n, ast.Import) and any(a.name == "os" for a in n.names) for n in tree.body)
    assert str(tmp_path) not in code  # the file name, never this machine's path
    import subprocess
    import sys

    subprocess.run([sys.executable, str(tmp_path / "out.py")], cwd=tmp_path, check=True, timeout=120)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_infer_on_an_absent_provider(tmp_path, provider):
    import numpy as np
    from harness import tiny_onnx

    model = tiny_onnx(tmp_path)
    np.savez(tmp_path / "x.npz", x=np.ones((2, 4), np.float32))
    r = run_cli("infer", model, "--input", "x.npz", "--provider", provider, cwd=tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})
    expect(r, (0, 9))  # 0 only on a machine where the provider really runs
