"""The web bundle in a real browser: Debian's chromium, headless, driven by playwright.

``graphspec export digits_lenet5 --weights RUN --web DIR`` is served by
``graphspec serve-web``'s server on 127.0.0.1; the page runs the model on
onnxruntime-web (wasm, one thread). Checked: the 271 test digits give the
same outputs as Python onnxruntime on the same model.onnx (max abs diff <=
1e-4, same predictions), and digits drawn on the canvas with the mouse are
classified correctly. Screenshots go to a tmp folder whose path is printed
(and to $GRAPHSPEC_ARTIFACTS when set).

Needs /usr/bin/chromium (``apt-get install -y chromium``; .ci/run installs it)
and the ``playwright`` Python package; never ``playwright install`` (it
downloads browsers). Skipped, with the reason shown, where either is missing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [pytest.mark.web, pytest.mark.slow]


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run the browser tests"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)


def _cli(*args, cwd):
    cmd = [sys.executable, "-m", "graphspec", *map(str, args)]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(cmd)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("web")
    _cli("train", "digits_lenet5", "--runs-dir", tmp / "runs", "--name", "lenet", "--device", "cpu", "--quiet", cwd=tmp)
    _cli("export", "digits_lenet5", "--weights", tmp / "runs" / "lenet", "-o", tmp / "lenet.onnx", "--web", tmp / "site", cwd=tmp)
    return tmp / "site"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("screenshots")
    print(f"\nbrowser screenshots: {d}")
    return d


def _save(shots: Path, page, name: str) -> None:
    path = shots / name
    page.screenshot(path=str(path))
    extra = os.environ.get("GRAPHSPEC_ARTIFACTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def page(bundle, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from graphspec.web.serve import make_server

    server = make_server(bundle, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    errors: list[str] = []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=ARGS, headless=True
        )
        pg = ctx.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(url)
        pg.wait_for_function("window.graphspec && (window.graphspec.ready || window.graphspec.error)", timeout=120_000)
        assert pg.evaluate("window.graphspec.error || null") is None, pg.evaluate("window.graphspec.error")
        yield pg
        ctx.close()
    server.shutdown()
    server.server_close()
    assert not errors, errors


def test_bundle_files(bundle):
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["app.mjs", "index.html", "model.json", "model.onnx", "ort-wasm-simd-threaded.wasm", "ort.wasm.bundle.min.mjs"]
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["inputs"][0]["kind"] == "image" and meta["inputs"][0]["range"] == [0.0, 1.0]
    assert meta["outputs"][0]["classes"] == [str(i) for i in range(10)]


def test_same_outputs_as_python_onnxruntime(bundle, page, shots):
    import graphspec
    from graphspec.runtime.session import Session
    from graphspec.train.calibration import from_spec

    spec = graphspec.load("digits_lenet5")
    data = from_spec(spec, spec.graph())
    x = data.test["image"]
    assert len(x) == 271
    ref = Session(str(bundle / "model.onnx"), provider="cpu").run({"image": x})["logits"]
    res = page.evaluate("async (d) => await window.graphspec.run({image: d})", x.ravel().tolist())
    got = np.asarray(res["outputs"]["logits"]["data"], dtype=np.float32).reshape(res["outputs"]["logits"]["dims"])
    assert got.shape == ref.shape == (271, 10)
    assert float(np.abs(got - ref).max()) <= 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert (got.argmax(1) == data.test_labels).mean() >= 0.97
    _save(shots, page, "after-271-digits.png")


def _draw(page, points) -> str:
    page.click("text=clear")
    box = page.locator("#draw").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x0 + px, y0 + py, steps=2)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#status').textContent === 'done'")
    return page.locator("table.prediction td.cls").first.inner_text()


def test_drawn_digits_are_classified(page, shots):
    zero = [(128 + 55 * math.sin(2 * math.pi * i / 48), 128 - 90 * math.cos(2 * math.pi * i / 48)) for i in range(49)]
    page.evaluate("document.querySelector('#status').textContent = ''")
    assert _draw(page, zero) == "0"
    _save(shots, page, "drawn-0.png")
    assert "ms" in page.locator("#latency").inner_text()
    page.evaluate("document.querySelector('#status').textContent = ''")
    one = [(128, 30 + 4 * i) for i in range(50)]
    assert _draw(page, one) == "1"
    _save(shots, page, "drawn-1.png")
