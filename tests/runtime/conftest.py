import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper


def tiny_model(path):
    """y = x @ W (+ b) and n = tokens + 1: inputs x [batch, 3] float32, tokens [batch, seq] int64."""
    w = helper.make_tensor("W", TensorProto.FLOAT, [3, 2], np.arange(6, dtype=np.float32).tolist())
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["y"], name="fc/MatMul"),
        helper.make_node("Add", ["tokens", "one"], ["n"], name="inc/Add"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("n", TensorProto.INT64, ["batch", "seq"]),
        ],
        initializer=[w, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"graphspec.name": "tiny", "graphspec.inputs": '[{"name": "x", "shape": ["batch", 3], "dtype": "float32"}]'})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture
def tiny_onnx(tmp_path):
    return tiny_model(tmp_path / "tiny.onnx")
