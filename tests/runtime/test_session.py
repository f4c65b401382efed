import numpy as np
import pytest

from graphspec.errors import ExitCode, GraphspecError
from graphspec.runtime.session import Session


def feeds(batch=2, seq=4):
    return {"x": np.ones((batch, 3), np.float32), "tokens": np.zeros((batch, seq), np.int64)}


def messages(exc):
    return [d.message for d in exc.value.diagnostics]


def test_runs_and_reports_interface(tiny_onnx):
    s = Session(tiny_onnx, provider="cpu", threads=1)
    assert s.provider == "cpu" and s.providers == ["CPUExecutionProvider"]
    assert [i.name for i in s.inputs] == ["x", "tokens"]
    assert s.inputs[0].shape == ("batch", 3) and s.inputs[0].dtype_name == "float32"
    out = s.run(feeds())
    assert list(out) == ["y", "n"]
    np.testing.assert_allclose(out["y"], np.full((2, 2), [6.0, 9.0], np.float32))
    assert (out["n"] == 1).all()
    assert s.metadata["graphspec.name"] == "tiny"
    assert s.spec_interface("graphspec.inputs")[0]["name"] == "x"


def test_session_options_are_tuned(tiny_onnx):
    import onnxruntime as ort

    from graphspec.runtime.session import session_options

    so = session_options(3)
    assert so.intra_op_num_threads == 3
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert so.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert so.log_severity_level == 3


@pytest.mark.parametrize("batch,seq", [(1, 1), (7, 13)])
def test_symbolic_dims_take_any_size(tiny_onnx, batch, seq):
    out = Session(tiny_onnx, provider="cpu").run(feeds(batch, seq))
    assert out["y"].shape == (batch, 2) and out["n"].shape == (batch, seq)


def test_wrong_name(tiny_onnx):
    f = feeds()
    f["X"] = f.pop("x")
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run(f)
    assert info.value.exit_code == ExitCode.DATA
    msgs = messages(info)
    assert any("no input named 'X'" in m for m in msgs)
    assert any("'x' is missing" in m and "[batch, 3]" in m for m in msgs)
    assert "did you mean 'x'" in info.value.diagnostics[0].hint


def test_wrong_fixed_dim_names_both_shapes(tiny_onnx):
    f = feeds()
    f["x"] = np.ones((2, 5), np.float32)
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run(f)
    (msg,) = messages(info)
    assert "expected shape [batch, 3]" in msg and "received shape [2, 5]" in msg and "dim 1 must be 3" in msg
    assert info.value.exit_code == 5


def test_wrong_rank(tiny_onnx):
    f = feeds()
    f["x"] = np.ones((2, 3, 1), np.float32)
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run(f)
    assert "rank 2" in messages(info)[0] and "[2, 3, 1]" in messages(info)[0]


def test_wrong_dtype(tiny_onnx):
    f = feeds()
    f["x"] = f["x"].astype(np.float64)
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run(f)
    (msg,) = messages(info)
    assert "expected dtype float32, received float64" in msg
    assert "astype" in info.value.diagnostics[0].hint


def test_symbolic_dim_must_agree_across_inputs(tiny_onnx):
    f = feeds()
    f["tokens"] = np.zeros((3, 4), np.int64)
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run(f)
    (msg,) = messages(info)
    assert "'batch' is 2 in input 'x' but 3 in input 'tokens'" in msg


def test_every_problem_is_reported_at_once(tiny_onnx):
    with pytest.raises(GraphspecError) as info:
        Session(tiny_onnx, provider="cpu").run({"x": np.ones((2, 4), np.float64)})
    assert len(info.value.diagnostics) == 3  # dtype, shape, missing tokens


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(GraphspecError) as info:
        Session(tmp_path / "nope.onnx", provider="cpu")
    assert info.value.exit_code == ExitCode.FILE
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(GraphspecError) as info:
        Session(bad, provider="cpu")
    assert info.value.exit_code == ExitCode.FILE


def test_spin_policies():
    from graphspec.runtime.session import session_options

    assert session_options(1, spin="run").get_session_config_entry("session.force_spinning_stop") == "1"
    assert session_options(1, spin="never").get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError):
        session_options(1, spin="sometimes")
