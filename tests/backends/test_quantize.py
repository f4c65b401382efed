"""export --precision int8/fp16: real quantization with onnxruntime, real checks against fp32.

The trained-model cases train digits_mlp briefly with the engine (CLI), so that
agreement and accuracy mean something; the LSTM/GRU cases only look at what was
quantized, which does not depend on training.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphspec
from graphspec.backends import quantize as q
from graphspec.errors import GraphspecError


def _cli(*args, cwd, ok=True):
    r = subprocess.run([sys.executable, "-m", "graphspec", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=900)
    if ok:
        assert r.returncode == 0, f"{args} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """digits_mlp trained for 15 epochs and exported to fp32: (folder, run, fp32 path)."""
    tmp = tmp_path_factory.mktemp("mlp")
    _cli("train", "digits_mlp", "--set", "train.epochs=15", "--runs-dir", tmp / "runs", "--name", "mlp", "--device", "cpu", "--quiet", cwd=tmp)
    _cli("export", "digits_mlp", "--set", "train.epochs=15", "--weights", tmp / "runs" / "mlp", "-o", tmp / "fp32.onnx", cwd=tmp)
    return tmp, tmp / "runs" / "mlp", tmp / "fp32.onnx"


def _convert_in_child(src, dst, precision: str, spec: str, **kw) -> dict:
    """``quantize.convert`` in a child process, as its JSON report.

    onnxruntime's quantizer segfaulted once in-process here (not reproducible);
    a child keeps such a crash from taking a pytest worker down with it.
    """
    code = (
        "import json, sys, graphspec\n"
        "from graphspec.backends import quantize as q\n"
        "from graphspec.train.calibration import from_spec\n"
        "spec = graphspec.load(sys.argv[4])\n"
        "rep = q.convert(sys.argv[1], sys.argv[2], sys.argv[3], from_spec(spec, spec.graph()), **json.loads(sys.argv[5]))\n"
        "print(json.dumps(rep.to_json()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(src), str(dst), precision, spec, json.dumps(kw)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"convert -> {r.returncode}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _data(name: str):
    from graphspec.train.calibration import from_spec

    spec = graphspec.load(name)
    return from_spec(spec, spec.graph())


def test_export_int8_cli(mlp):
    import onnx

    tmp, run, fp32 = mlp
    r = _cli("export", "digits_mlp", "--set", "train.epochs=15", "--weights", run, "-o", tmp / "int8.onnx", "--precision", "int8", "--json", cwd=tmp)
    out = json.loads(r.stdout)
    p = out["precision"]
    assert p["passed"] and p["precision"] == "int8"
    assert p["quantized_ops"] == {"Gemm": 3} and not p["fp32_ops"]
    assert p["calibration"].startswith("train split of 'digits'")
    assert p["examples"] == 540 and p["test_examples"] == 271
    assert min(p["agreement"].values()) >= 0.99 and p["accuracy_change_points"] >= -0.5
    assert p["size_ratio"] < 0.5
    saved = json.loads(Path(out["precision_report"]).read_text())
    assert saved["agreement"] == p["agreement"]
    meta = {m.key: m.value for m in onnx.load(str(tmp / "int8.onnx")).metadata_props}
    assert meta["graphspec.precision"] == "int8"
    assert meta["graphspec.calibration"] == p["calibration"]
    assert json.loads(meta["graphspec.precision_check"])["agreement"] == p["agreement"]
    assert "graphspec.spec" in meta  # the export's own metadata survives quantization
    ops = {n.op_type for n in onnx.load(str(tmp / "int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_fp16_keeps_fp32_io(mlp):
    import onnx

    tmp, _, fp32 = mlp
    rep = _convert_in_child(fp32, tmp / "fp16.onnx", "fp16", "digits_mlp")
    assert rep["passed"] and f"<= {q.FP16_ATOL:g}" in rep["criterion"]
    assert max(rep["max_abs"].values()) <= 1e-2
    assert 0.4 < rep["size_ratio"] < 0.6
    m = onnx.load(str(tmp / "fp16.onnx"))
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in list(m.graph.input) + list(m.graph.output))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in m.graph.initializer)


def test_check_fails_on_another_model(mlp, tmp_path):
    """The check can fail: an untrained model against the trained one disagrees."""
    tmp, _, fp32 = mlp
    _cli("export", "digits_mlp", "-o", tmp_path / "untrained.onnx", "--no-parity", cwd=tmp_path)
    rep = q.check(fp32, tmp_path / "untrained.onnx", "int8", _data("digits_mlp"))
    assert not rep.passed
    assert rep.agreement["logits"] < 0.5
    assert any("agreement" in f for f in rep.failures) and any("points below" in f for f in rep.failures)
    err = rep.error()
    assert err.diagnostics[0].code == "parity"


def test_lstm_is_quantized_dynamic(tmp_path):
    import onnx

    _cli("export", "digits_lstm", "-o", tmp_path / "lstm.onnx", "--no-parity", cwd=tmp_path)
    rep = _convert_in_child(tmp_path / "lstm.onnx", tmp_path / "lstm.int8.onnx", "int8", "digits_lstm")
    assert rep["method"].startswith("dynamic")
    assert rep["quantized_ops"].get("DynamicQuantizeLSTM") == 1 and "LSTM" not in rep["fp32_ops"]
    assert "LSTM" not in {n.op_type for n in onnx.load(str(tmp_path / "lstm.int8.onnx")).graph.node}


def test_gru_stays_fp32_with_a_note(tmp_path):
    _cli("export", "digits_gru", "-o", tmp_path / "gru.onnx", "--no-parity", cwd=tmp_path)
    rep = _convert_in_child(tmp_path / "gru.onnx", tmp_path / "gru.int8.onnx", "int8", "digits_gru", min_agreement=0.0, max_loss=100)
    assert rep["method"].startswith("static")
    assert rep["fp32_ops"].get("GRU") == 1 and rep["quantized_ops"].get("Gemm") == 1
    assert any("GRU stays fp32" in n for n in rep["notes"])


def test_report_failures():
    rep = q.PrecisionReport(precision="int8", method="static", calibration="x", checked_on="held-out", examples=100, min_agreement=0.99, atol=None)
    rep.agreement = {"logits": 0.995}
    rep.accuracy_fp32, rep.accuracy = 0.99, 0.986
    assert rep.passed  # 0.4 points
    rep.accuracy = 0.98
    assert [f for f in rep.failures if "points below" in f]
    rep.accuracy = 0.99
    rep.agreement = {"logits": 0.98}
    assert not rep.passed
    half = q.PrecisionReport(precision="fp16", method="f", calibration=None, checked_on="h", examples=1, min_agreement=0.99, atol=1e-2)
    half.max_abs = {"y": 0.02}
    assert not half.passed and "atol" in half.failures[0]
    half.max_abs = {"y": float("nan")}
    assert not half.passed


def test_reader_equal_batches():
    feeds = {"x": np.zeros((130, 3), np.float32)}
    sizes = [len(b["x"]) for b in q._Reader(feeds, batch=64)]
    assert sizes == [64, 64]  # histogram calibrators stack batches: no ragged last one
    assert [len(b["x"]) for b in q._Reader({"x": np.zeros((10, 3), np.float32)}, batch=64)] == [10]


def test_calibration_file_checks(tmp_path):
    from graphspec.train.calibration import from_file

    g = graphspec.load("digits_lenet5").graph()
    good = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float64)
    np.savez(tmp_path / "ok.npz", image=good)
    data = from_file(tmp_path / "ok.npz", g)
    assert data.inputs["image"].dtype == np.float32 and data.inputs["image"].shape == (20, 1, 8, 8)
    np.savez(tmp_path / "bad.npz", image=good[:, :, :4])
    with pytest.raises(GraphspecError) as e:
        from_file(tmp_path / "bad.npz", g)
    assert e.value.diagnostics[0].code == "data" and "bad.npz" in e.value.diagnostics[0].message
    np.savez(tmp_path / "other.npz", rows=good)
    with pytest.raises(GraphspecError) as e:
        from_file(tmp_path / "other.npz", g)
    assert "'image'" in e.value.diagnostics[0].message and "rows" in e.value.diagnostics[0].message


def test_bench_compares_precisions(tmp_path):
    r = _cli("bench", "digits_mlp", "--precision", "fp32,int8,fp16", "--backends", "ort-cpu", "--threads", "1", "--repeat", "5", "--warmup", "1", "--gap-ms", "0", "--json", cwd=tmp_path)
    rep = json.loads(r.stdout)
    backends = rep["results"][0]["backends"]
    assert {"ort-cpu", "ort-cpu-int8", "ort-cpu-fp16"} <= set(backends)
    assert backends["ort-cpu-int8"]["calls"] == backends["ort-cpu"]["calls"] == 5  # same interleaved rounds
    assert any(n.startswith("int8: static QDQ") for n in rep["notes"])
    bad = _cli("bench", "digits_mlp", "--precision", "int4", cwd=tmp_path, ok=False)
    assert bad.returncode == 2 and "int4" in bad.stderr
