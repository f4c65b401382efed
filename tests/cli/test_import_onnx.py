"""`graphspec import model.onnx`: an ONNX file becomes a checked spec (and weights); no code runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphspec  # noqa: E402
from graphspec.cli.main import main  # noqa: E402


def small_cnn(path, *, unsupported: bool = False) -> None:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, exported-style names (batch dynamic)."""
    rng = np.random.default_rng(0)
    inits = {
        "stem.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "stem.bias": rng.standard_normal(4).astype(np.float32),
        "head.weight": rng.standard_normal((5, 4)).astype(np.float32),
        "head.bias": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["image", "stem.weight", "stem.bias"], ["c"], name="stem/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Erf" if unsupported else "Relu", ["c"], ["r"], name="act/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "head.weight", "head.bias"], ["logits"], name="head/Gemm", transB=1),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))


def test_import_onnx_writes_a_spec_and_weights_that_load_strict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small_cnn(tmp_path / "Small-CNN.onnx")
    rc = main(["import", "Small-CNN.onnx", "-o", "net.yaml", "--weights", "net.safetensors", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    report = json.loads(out)
    assert report["passed"] and report["strict_load"] and report["varies"]
    assert report["params"]["model"] == report["params"]["spec"] == 4 * 27 + 4 + 5 * 4 + 5
    spec = graphspec.load(str(tmp_path / "net.yaml"))
    assert spec.name == "small_cnn"
    assert spec.graph().inputs["image"].type.shape == ("batch", 3, 8, 8)
    from safetensors.torch import load_file

    module = spec.to_torch()
    module.load_state_dict(load_file(str(tmp_path / "net.safetensors")), strict=True)
    assert {"stem.weight", "head.bias"} <= set(module.state_dict())


def test_import_onnx_human_report_and_input_override(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small_cnn(tmp_path / "m.onnx")
    rc = main(["import", "m.onnx", "--input", "image=n,3,16,16", "-o", "m.yaml", "--name", "tiny"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "wrote m.yaml" in out and "vs onnxruntime" in out and "output logits" in out
    spec = graphspec.load(str(tmp_path / "m.yaml"))
    assert spec.name == "tiny" and spec.graph().inputs["image"].type.shape == ("n", 3, 16, 16)


def test_import_onnx_unsupported_and_misused_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small_cnn(tmp_path / "bad.onnx", unsupported=True)
    assert main(["import", "bad.onnx", "-o", "bad.yaml"]) == 10
    err = capsys.readouterr().err
    assert "ONNX node 'act/Relu' (Erf): no op stands for ONNX Erf" in err
    small_cnn(tmp_path / "good.onnx")
    assert main(["import", "good.onnx", "--args", "[1]", "-o", "bad.yaml"]) == 2
    assert main(["import", "good.onnx", "--input", "x=1,3,8,8", "-o", "bad.yaml"]) == 2
    assert "no input of" in capsys.readouterr().err
    assert not (tmp_path / "bad.yaml").exists()
    # a callable target still needs --input
    assert main(["import", "os:getcwd", "-o", "bad.yaml"]) == 2
