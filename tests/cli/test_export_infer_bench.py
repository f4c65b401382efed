"""graphspec export / infer / bench on the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from graphspec.cli.main import main

TINY = """\
graphspec: 1
name: tiny
dims: {batch: 1, seq: 5}
inputs:
  x: {shape: [batch, seq, 4]}
nodes:
  fc: {op: Linear, in: x, out_features: 3}
  pool: {op: Mean, in: fc, dim: 1}
outputs: {logits: pool, features: fc}
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export in a fresh process: the exporter's start-up chatter must not reach the terminal."""
    d = tmp_path_factory.mktemp("cli")
    spec = d / "tiny.yaml"
    spec.write_text(TINY)
    model = d / "tiny.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "export", str(spec), "-o", str(model)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # only graphspec's own progress lines (a slow machine makes the export "long")
    assert all(line.startswith("graphspec export: ") for line in proc.stderr.splitlines()), proc.stderr
    assert proc.stdout.startswith("exported tiny (graph main)") and "parity ok" in proc.stdout
    assert "✅" not in proc.stdout and "torch.onnx" not in proc.stdout and "Warning" not in proc.stdout
    return d, spec, model


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_export_json_structure(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    code, out, err = run_cli(["export", str(spec), "-o", str(tmp_path / "m.onnx"), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert {"model", "spec", "graph", "inputs", "outputs", "opset", "size_bytes", "dynamic_dims", "metadata", "timing", "parity", "parity_report"} <= set(doc)
    assert doc["spec"] == "tiny" and doc["graph"] == "main" and doc["dynamic_dims"] == ["batch", "seq"]
    assert doc["inputs"] == [{"name": "x", "shape": ["batch", "seq", 4], "dtype": "float32"}]
    assert [o["name"] for o in doc["outputs"]] == ["logits", "features"]
    assert doc["timing"]["export_seconds"] > 0 and "graphspec.spec" in doc["metadata"]
    p = doc["parity"]
    assert p["passed"] is True and p["atol"] == 1e-4 and p["rtol"] == 1e-3 and p["provider"] == "cpu"
    assert [pt["sizes"] for pt in p["points"]] == [{"batch": 1, "seq": 5}, {"batch": 3, "seq": 4}]
    assert set(p["outputs"]) == {"logits", "features"} and p["worst_output"] in ("logits", "features")
    assert json.loads((tmp_path / "m.parity.json").read_text()) == p


def test_export_text_report(exported, capsys, tmp_path):
    _, spec, _ = exported
    code, out, err = run_cli(["export", str(spec), "-o", str(tmp_path / "t.onnx")], capsys)
    assert code == 0 and err == ""
    assert "dynamic dims: batch, seq" in out and "parity ok" in out and "atol" in out and "t.parity.json" in out
    assert "✅" not in out and "[torch.onnx]" not in out


def test_export_parity_failure_exits_6_naming_the_output(tmp_path, capsys, monkeypatch):
    from graphspec.backends import parity

    real = parity.run_onnx

    def perturbed(session, feeds):
        out = real(session, feeds)
        out["features"] = out["features"] + 0.5
        return out

    monkeypatch.setattr(parity, "run_onnx", perturbed)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    code, out, err = run_cli(["export", str(spec), "-o", str(tmp_path / "bad.onnx"), "--json"], capsys)
    assert code == 6
    doc = json.loads(out)
    assert doc["parity"]["passed"] is False and doc["parity"]["worst_output"] == "features"
    assert "parity" in err and "'features'" in err
    code, out, err = run_cli(["export", str(spec), "-o", str(tmp_path / "bad.onnx")], capsys)
    assert code == 6 and "FAIL" in out and "error: parity" in err


def test_export_unknown_graph_and_output(capsys, tmp_path):
    code, _, err = run_cli(["export", "vae", "-o", str(tmp_path / "v.onnx")], capsys)
    assert code == 2 and "--graph" in err
    code, _, err = run_cli(["export", "vae", "--graph", "vae", "--outputs", "nope", "-o", str(tmp_path / "v.onnx")], capsys)
    assert code == 2 and "unknown-output" in err


def test_export_subgraph_and_graph(capsys, tmp_path):
    code, out, err = run_cli(["export", "vae", "--graph", "decoder", "-o", str(tmp_path / "dec.onnx"), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["graph"] == "decoder" and [i["name"] for i in doc["inputs"]] == ["z"] and doc["parity"]["passed"]
    code, out, err = run_cli(["export", "vae", "--graph", "vae", "--outputs", "mu,logvar", "-o", str(tmp_path / "enc.onnx"), "--json"], capsys)
    assert code == 0, err
    assert [o["name"] for o in json.loads(out)["outputs"]] == ["mu", "logvar"]


def test_export_bad_weights_is_exit_8(exported, capsys, tmp_path):
    _, spec, _ = exported
    junk = tmp_path / "w.safetensors"
    junk.write_bytes(b"garbage")
    code, _, err = run_cli(["export", str(spec), "--weights", str(junk), "-o", str(tmp_path / "x.onnx")], capsys)
    assert code == 8 and "checkpoint" in err


# ---------------------------------------------------------------- infer


def test_infer_npy_and_npz(exported, capsys, tmp_path):
    _, _, model = exported
    x = np.random.randn(6, 7, 4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(["infer", str(model), "--input", str(tmp_path / "x.npy")], capsys)
    assert code == 0, err
    assert "logits: [6, 3] float32" in out and "argmax per row" in out and "features: [6, 7, 3]" in out
    np.savez(tmp_path / "x.npz", x=x)
    code, out, err = run_cli(["infer", str(model), "-i", str(tmp_path / "x.npz"), "-o", str(tmp_path / "o.npz"), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["outputs"]["logits"]["shape"] == [6, 3] and len(doc["outputs"]["logits"]["argmax"]) == 6
    with np.load(tmp_path / "o.npz") as z:
        assert z["features"].shape == (6, 7, 3)


@pytest.mark.parametrize(
    "arrays,needles",
    [
        ({"y": np.zeros((2, 5, 4), np.float32)}, ["no input named 'y'", "'x' is missing"]),
        ({"x": np.zeros((2, 5, 3), np.float32)}, ["expected shape [batch, seq, 4]", "received shape [2, 5, 3]"]),
        ({"x": np.zeros((2, 5), np.float32)}, ["expected shape [batch, seq, 4] (rank 3)", "received shape [2, 5] (rank 2)"]),
        ({"x": np.zeros((2, 5, 4), np.float64)}, ["expected dtype float32, received float64"]),
    ],
    ids=["name", "shape", "rank", "dtype"],
)
def test_infer_input_mismatch_is_exit_5(exported, capsys, tmp_path, arrays, needles):
    _, _, model = exported
    np.savez(tmp_path / "in.npz", **arrays)
    code, out, err = run_cli(["infer", str(model), "--input", str(tmp_path / "in.npz")], capsys)
    assert code == 5
    for needle in needles:
        assert needle in err


def test_infer_missing_files(exported, capsys, tmp_path):
    _, _, model = exported
    code, _, err = run_cli(["infer", str(tmp_path / "nope.onnx"), "--input", "x.npy"], capsys)
    assert code == 4
    code, _, err = run_cli(["infer", str(model), "--input", str(tmp_path / "nope.npy")], capsys)
    assert code == 4


ENV_NO_PROVIDER = {k: v for k, v in os.environ.items() if k != "GRAPHSPEC_PROVIDER"}


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="a GPU is present")
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_forcing_a_gpu_provider_here_is_exit_9_without_loader_noise(exported, tmp_path, provider):
    _, _, model = exported
    np.save(tmp_path / "x.npy", np.zeros((1, 5, 4), np.float32))
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "infer", str(model), "-i", str(tmp_path / "x.npy"), "--provider", provider],
        capture_output=True, text=True, env=ENV_NO_PROVIDER, timeout=120,
    )
    assert proc.returncode == 9
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("graphspec: error: provider:") and "GPU" in lines[0]
    noise = [ln for ln in lines if "onnxruntime" in ln.lower() and "provider" not in ln.lower() or "libcu" in ln or "LoadLibrary" in ln or "[E:" in ln or "[W:" in ln]
    assert not noise, proc.stderr


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="a GPU is present")
def test_auto_provider_on_a_cpu_machine_is_silent(exported, tmp_path):
    _, _, model = exported
    np.save(tmp_path / "x.npy", np.zeros((1, 5, 4), np.float32))
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "infer", str(model), "-i", str(tmp_path / "x.npy"), "--json"],
        capture_output=True, text=True, env=ENV_NO_PROVIDER, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["providers"] == ["CPUExecutionProvider"]


# ---------------------------------------------------------------- bench


def test_bench_spec_json(exported, capsys, monkeypatch):
    import torch

    def no_compiler(*a, **k):
        raise RuntimeError("no C++ compiler for inductor")

    monkeypatch.setattr(torch, "compile", no_compiler)
    _, spec, _ = exported
    code, out, err = run_cli(["bench", str(spec), "--batch", "1,4", "--repeat", "5", "--warmup", "1", "--threads", "1", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["threads"] == 1 and doc["interleaved"] is True and [r["batch"] for r in doc["results"]] == [1, 4]
    res = doc["results"][0]["backends"]
    assert res["eager"]["ratio_to_eager"] == 1.0 and res["eager"]["calls"] == 5
    assert res["ort-cpu"]["median_ms"] > 0 and res["ort-cpu"]["p10_ms"] <= res["ort-cpu"]["p90_ms"]
    assert "no C++ compiler" in res["compile"]["unavailable"]
    assert "ort-cuda" not in res or "unavailable" in res["ort-cuda"]
    assert doc["export_seconds"] > 0


def test_bench_onnx_file_text(exported, capsys):
    _, _, model = exported
    code, out, err = run_cli(["bench", str(model), "--repeat", "5", "--warmup", "1", "--backends", "eager,ort-cpu"], capsys)
    assert code == 0, err
    assert "onnxruntime CPU" in out and "PyTorch eager" in out and "vs eager" in out
    assert "rebuilt from the spec" in out


def test_bench_bad_arguments(capsys):
    with pytest.raises(SystemExit) as info:  # argparse's range check: exit 2 before anything loads
        run_cli(["bench", "lenet5", "--batch", "0"], capsys)
    assert info.value.code == 2 and "batch sizes from 1" in capsys.readouterr().err
    assert run_cli(["bench", "lenet5", "--backends", "tpu"], capsys)[0] == 2
