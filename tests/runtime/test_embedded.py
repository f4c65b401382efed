"""The spec embedded in a model's metadata: rebuilt torch-free, and the budget of an inference run."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from graphspec.errors import GraphspecError
from graphspec.passes import budget
from graphspec.runtime import embedded
from graphspec.runtime.session import Session

SPEC = """\
graphspec: 1
name: relu
inputs:
  x: {shape: [batch, 4]}
nodes:
  act: {op: ReLU, in: x}
outputs: {y: act}
"""


def relu_model(path, meta):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return str(path)


def test_load_embedded_and_sizes(tmp_path):
    sess = Session(relu_model(tmp_path / "m.onnx", {"graphspec.spec": SPEC, "graphspec.name": "../../etc/passwd"}), provider="cpu")
    spec, g = embedded.load_embedded(sess.metadata)
    assert spec.name == "relu" and list(g.outputs) == ["y"]
    assert embedded.sizes_from_feeds(g, {"x": np.zeros((7, 4), np.float32)}) == {"batch": 7}
    assert embedded.load_embedded({}) is None


def test_inference_budget(tmp_path):
    path = relu_model(tmp_path / "m.onnx", {"graphspec.spec": SPEC, "graphspec.name": "relu"})
    sess = Session(path, provider="cpu")
    feeds = {"x": np.broadcast_to(np.float32(0), (10**6, 4))}  # a view: nothing allocated
    embedded.check_inference_budget(sess, feeds, path)  # 32 MB: within the default
    budget.set_limit(2**20)
    try:
        with pytest.raises(GraphspecError) as info:
            embedded.check_inference_budget(sess, feeds, path)
    finally:
        budget.set_limit(None)
    d = info.value.diagnostics[0]
    assert d.code == "too-large" and "inference with graph 'main'" in d.message and "batch=1000000" in d.message


def test_models_without_a_loadable_spec_are_not_judged(tmp_path):
    broken = relu_model(tmp_path / "b.onnx", {"graphspec.spec": "graphspec: 1\nnodes: [", "graphspec.name": "x"})
    budget.set_limit(1)
    try:
        embedded.check_inference_budget(Session(broken, provider="cpu"), {"x": np.zeros((2, 4), np.float32)}, broken)
        plain = relu_model(tmp_path / "p.onnx", {})
        embedded.check_inference_budget(Session(plain, provider="cpu"), {"x": np.zeros((2, 4), np.float32)}, plain)
    finally:
        budget.set_limit(None)
