import numpy as np
import pytest

from graphspec.errors import ExitCode, GraphspecError
from graphspec.runtime.inference import format_summary, load_inputs, save_outputs, summarize


def test_npy_feeds_a_single_input_model(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    assert list(load_inputs(tmp_path / "x.npy", ["image"])) == ["image"]


def test_npy_with_several_inputs_is_a_data_error(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    with pytest.raises(GraphspecError) as info:
        load_inputs(tmp_path / "x.npy", ["a", "b"])
    assert info.value.exit_code == ExitCode.DATA
    assert "np.savez" in info.value.diagnostics[0].hint


def test_npz_named_and_unnamed(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones(2), y=np.zeros(3))
    assert sorted(load_inputs(tmp_path / "a.npz", ["x", "y"])) == ["x", "y"]
    np.savez(tmp_path / "b.npz", np.ones(2))
    assert list(load_inputs(tmp_path / "b.npz", ["image"])) == ["image"]


def test_bad_files(tmp_path):
    with pytest.raises(GraphspecError) as info:
        load_inputs(tmp_path / "missing.npz", ["x"])
    assert info.value.exit_code == ExitCode.FILE
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(GraphspecError) as info:
        load_inputs(tmp_path / "x.csv", ["x"])
    assert info.value.exit_code == ExitCode.USAGE
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(GraphspecError) as info:
        load_inputs(tmp_path / "junk.npy", ["x"])
    assert info.value.exit_code == ExitCode.FILE


def test_save_outputs(tmp_path):
    outs = {"a": np.ones(2), "b": np.zeros(1)}
    save_outputs(tmp_path / "o.npz", outs)
    with np.load(tmp_path / "o.npz") as z:
        assert sorted(z.files) == ["a", "b"]
    save_outputs(tmp_path / "one.npy", {"a": np.ones(2)})
    with pytest.raises(GraphspecError):
        save_outputs(tmp_path / "two.npy", outs)


def test_summary_has_argmax_for_2d():
    arr = np.array([[0.1, 0.9], [0.8, 0.2], [np.nan, 1.0]], np.float32)
    s = summarize("logits", arr)
    assert s["argmax"] == [1, 0, 0] or s["argmax"][:2] == [1, 0]
    assert s["non_finite"] == 1 and s["max"] == pytest.approx(1.0)
    text = format_summary(s)
    assert "logits: [3, 2] float32" in text and "argmax per row" in text
    assert "argmax" not in summarize("h", np.zeros((2, 3, 4), np.float32))
