"""The web bundle without a browser: files, model.json, vendored runtime, the server and serve-web."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from graphspec.errors import GraphspecError
from graphspec.web import bundle, serve, vendor_files

IMAGE_IN = [{"name": "image", "shape": ["batch", 1, 8, 8], "dtype": "float32"}]
ROWS_IN = [{"name": "rows", "shape": ["batch", 8, 8], "dtype": "float32"}]
LOGITS = [{"name": "logits", "shape": ["batch", 10], "dtype": "float32"}]


def _model(tmp_path: Path) -> Path:
    p = tmp_path / "m.onnx"
    p.write_bytes(b"not parsed by the writer")
    return p


def _write(tmp_path: Path, folder: Path, inputs=IMAGE_IN, **kw) -> dict:
    return bundle.write_bundle(folder, _model(tmp_path), name="digits", graph="main", inputs=inputs, outputs=LOGITS, dims={"batch": 1}, **kw)


def test_bundle_files_and_model_json(tmp_path):
    out = _write(tmp_path, tmp_path / "site", class_names=[f"digit {i}" for i in range(10)], value_ranges={"image": (0.0, 1.0)})
    site = tmp_path / "site"
    assert sorted(out["files"]) == ["app.mjs", "index.html", "model.json", "model.onnx", "ort-wasm-simd-threaded.wasm", "ort.wasm.bundle.min.mjs"]
    meta = json.loads((site / "model.json").read_text())
    assert meta["model"] == "model.onnx" and meta["runtime"] == "onnxruntime-web@1.30.0"
    assert meta["inputs"][0] == {"name": "image", "shape": ["batch", 1, 8, 8], "dtype": "float32", "kind": "image", "range": [0.0, 1.0], "channels": 1, "height": 8, "width": 8}
    assert meta["outputs"][0]["classes"][3] == "digit 3"
    wasm = (site / "ort-wasm-simd-threaded.wasm").read_bytes()
    assert wasm[:4] == b"\0asm" and len(wasm) == vendor_files.manifest()["files"]["ort-wasm-simd-threaded.wasm"]["size"]
    assert "ort.wasm.bundle.min.mjs" in (site / "app.mjs").read_text()


def test_numbers_input_and_default_class_names(tmp_path):
    _write(tmp_path, tmp_path / "site", inputs=ROWS_IN)
    meta = json.loads((tmp_path / "site" / "model.json").read_text())
    assert meta["inputs"][0]["kind"] == "numbers" and "range" not in meta["inputs"][0]
    assert meta["outputs"][0]["classes"] == [str(i) for i in range(10)]


def test_folder_rules(tmp_path):
    _write(tmp_path, tmp_path / "site")
    _write(tmp_path, tmp_path / "site")  # an earlier bundle is overwritten
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(GraphspecError) as e:
        _write(tmp_path, tmp_path / "mine")
    assert e.value.diagnostics[0].code == "file-exists"
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    with pytest.raises(GraphspecError) as e:
        _write(tmp_path, tmp_path / "no" / "such")
    assert e.value.diagnostics[0].code == "file-not-found"


def test_tampered_vendor_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "vendor"
    shutil.copytree(vendor_files.VENDOR, copy)
    monkeypatch.setattr(vendor_files, "VENDOR", copy)
    assert set(vendor_files.runtime_files()) == {"ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"}
    with open(copy / "ort.wasm.bundle.min.mjs", "ab") as f:
        f.write(b"\n// changed")
    with pytest.raises(GraphspecError) as e:
        vendor_files.runtime_files()
    assert e.value.diagnostics[0].code == "dependency" and "sha256" in e.value.diagnostics[0].message
    with pytest.raises(GraphspecError):  # nothing is written when the runtime is broken
        _write(tmp_path, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def _get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.headers["Content-Type"], r.read()


def test_server_mime_types(tmp_path):
    _write(tmp_path, tmp_path / "site")
    server = serve.make_server(tmp_path / "site", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        ctype, body = _get(base + "ort-wasm-simd-threaded.wasm")
        assert ctype == "application/wasm" and body[:4] == b"\0asm"
        assert _get(base + "app.mjs")[0].startswith("text/javascript")
        assert _get(base + "model.json")[0].startswith("application/json")
        assert b"app.mjs" in _get(base)[1]
    finally:
        server.shutdown()
        server.server_close()


def test_serve_web_cli(tmp_path):
    _write(tmp_path, tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphspec", "serve-web", str(tmp_path / "site"), "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        line = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        assert _get(f"http://127.0.0.1:{m.group(1)}/index.html")[0].startswith("text/html")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
