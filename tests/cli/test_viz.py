"""graphspec viz: dot, Mermaid, SVG and PNG drawings, with and without Graphviz."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graphspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted((ROOT / "specs").glob("*.yaml"))
HAVE_DOT = shutil.which("dot") is not None

RESNETISH = """
graphspec: 1
name: resnetish
blocks:
  Basic:
    params: {c: null}
    nodes:
      conv1: {op: Conv2d, in: x, out_channels: "${c}", kernel_size: 3, padding: 1, bias: false}
      bn1: {op: BatchNorm2d, in: conv1}
      relu: {op: ReLU, in: bn1}
      conv2: {op: Conv2d, in: relu, out_channels: "${c}", kernel_size: 3, padding: 1, bias: false}
      add: {op: Add, in: [conv2, x]}
    outputs: add
  Down:
    params: {c: null}
    nodes:
      conv1: {op: Conv2d, in: x, out_channels: "${c}", kernel_size: 3, stride: 2, padding: 1}
      downsample:
        op: Sequential
        in: x
        layers:
          - {op: Conv2d, out_channels: "${c}", kernel_size: 1, stride: 2}
          - {op: BatchNorm2d}
      add: {op: Add, in: [conv1, downsample]}
    outputs: add
inputs:
  image: {shape: [batch, 3, 32, 32]}
nodes:
  stem: {op: Conv2d, in: image, out_channels: 16, kernel_size: 3, padding: 1}
  layer1: {op: Basic, in: stem, repeat: 2, c: 16}
  layer2:
    op: Sequential
    in: layer1
    layers:
      - {op: Down, c: 32}
      - {op: Basic, c: 32}
  pool: {op: AdaptiveAvgPool2d, in: layer2, output_size: 1}
  flat: {op: Flatten, in: pool}
  fc: {op: Linear, in: flat, out_features: 10}
outputs: {logits: fc}
"""

LSTM = """
graphspec: 1
name: seq
inputs:
  x: {shape: [batch, seq, 8]}
nodes:
  lstm: {op: LSTM, in: x, hidden_size: 16}
  last: {op: Select, in: lstm.output, dim: 1, index: -1}
  fc: {op: Linear, in: last, out_features: 2}
outputs: [fc, lstm.h_n]
"""

MULTI = """
graphspec: 1
name: twin
blocks:
  dec:
    nodes:
      fc: {op: Linear, in: x, out_features: 4}
    outputs: fc
graphs:
  full:
    inputs: {x: {shape: [batch, 8]}}
    nodes:
      enc: {op: Linear, in: x, out_features: 2}
      decoder: {op: dec, in: enc}
    outputs: decoder
  decoder:
    inputs: {z: {shape: [batch, 2]}}
    nodes:
      decoder: {op: dec, in: z}
    outputs: decoder
"""


@pytest.fixture
def resnetish(tmp_path) -> Path:
    p = tmp_path / "resnetish.yaml"
    p.write_text(RESNETISH)
    return p


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def balanced_dot(text: str) -> bool:
    return text.count("{") == text.count("}")


def test_dot_clusters_labels_and_shapes(resnetish, tmp_path, capsys):
    out = tmp_path / "g.dot"
    code, _, err = run(capsys, "viz", resnetish, "-o", out)
    assert code == 0, err
    text = out.read_text()
    assert text.startswith('digraph "resnetish" {') and balanced_dot(text)
    # nested clusters: repeat > block call; Sequential > block > Sequential
    labels = re.findall(r'label="([^"]*)"; labeljust', text)
    assert "layer1 (repeat ×2)" in labels
    assert "layer1.0 (Basic)" in labels and "layer1.1 (Basic)" in labels
    assert "layer2 (Sequential)" in labels and "layer2.0 (Down)" in labels
    assert "layer2.0.downsample (Sequential)" in labels
    # a node is 'name\nOp', its id the module path
    assert '"layer1.0.conv1" [label="conv1\\nConv2d"' in text
    assert '"layer2.0.downsample.1" [label="1\\nBatchNorm2d"' in text
    # edges carry the source's output shape
    assert '"image" -> "stem" [label=" [batch, 3, 32, 32]"]' in text
    assert '"layer2.0.conv1" -> "layer2.0.add" [label=" [batch, 32, 16, 16]"]' in text
    assert '"fc" -> "output:logits" [label=" [batch, 10]"]' in text
    # the downsample cluster sits inside the Down block's cluster, inside layer2's
    i_seq = text.index('label="layer2 (Sequential)"')
    i_down = text.index('label="layer2.0 (Down)"')
    i_ds = text.index('label="layer2.0.downsample (Sequential)"')
    assert i_seq < i_down < i_ds
    assert "wrote" in err and "dot" in err


def test_mermaid(resnetish, tmp_path, capsys):
    out = tmp_path / "g.mmd"
    code, _, err = run(capsys, "viz", resnetish, "-o", out)
    assert code == 0, err
    text = out.read_text()
    assert "flowchart TB" in text
    assert len(re.findall(r"^\s*subgraph ", text, re.M)) == len(re.findall(r"^\s*end$", text, re.M)) == 7
    assert 'subgraph c0 ["layer1 (repeat ×2)"]' in text
    assert '["conv1<br/>Conv2d"]' in text
    assert '-->|"[batch, 16, 32, 32]"|' in text
    # node ids are short identifiers, never module paths with dots
    for line in text.splitlines():
        m = re.match(r"\s*(\S+) -->", line)
        if m:
            assert re.fullmatch(r"n\d+", m.group(1))


def test_port_labels_and_outputs(tmp_path, capsys):
    spec = tmp_path / "seq.yaml"
    spec.write_text(LSTM)
    out = tmp_path / "g.dot"
    assert run(capsys, "viz", spec, "-o", out)[0] == 0
    text = out.read_text()
    assert '"lstm" -> "last" [label=" output [batch, seq, 16]"]' in text
    assert '"lstm" -> "output:lstm_h_n" [label=" h_n [1, batch, 16]"]' in text


def test_multi_graph_draws_all_or_one(tmp_path, capsys):
    spec = tmp_path / "twin.yaml"
    spec.write_text(MULTI)
    out = tmp_path / "all.dot"
    assert run(capsys, "viz", spec, "-o", out)[0] == 0
    text = out.read_text()
    assert 'label="graph full"' in text and 'label="graph decoder"' in text
    assert '"full/decoder.fc"' in text and '"decoder/decoder.fc"' in text
    one = tmp_path / "one.dot"
    assert run(capsys, "viz", spec, "--graph", "decoder", "-o", one)[0] == 0
    text = one.read_text()
    assert 'digraph "twin / decoder"' in text and "graph full" not in text
    code, _, err = run(capsys, "viz", spec, "--graph", "nope", "-o", one)
    assert code == 2 and "unknown-graph" in err


def test_set_overrides_apply(resnetish, tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert run(capsys, "viz", resnetish, "--set", "nodes.fc.out_features=3", "-o", out)[0] == 0
    assert '"fc" -> "output:logits" [label=" [batch, 3]"]' in out.read_text()


def test_unknown_suffix_is_a_usage_error(resnetish, tmp_path, capsys):
    code, _, err = run(capsys, "viz", resnetish, "-o", tmp_path / "g.jpeg")
    assert code == 2
    assert "usage" in err and ".png" in err
    assert not (tmp_path / "g.jpeg").exists()


def test_missing_folder_is_a_file_error(resnetish, tmp_path, capsys):
    code, _, err = run(capsys, "viz", resnetish, "-o", tmp_path / "no" / "g.dot")
    assert code == 4, err


def test_invalid_spec_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RESNETISH.replace("op: Flatten", "op: Flaten"))
    code, _, err = run(capsys, "viz", bad, "-o", tmp_path / "g.dot")
    assert code == 3 and "unknown-op" in err


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_matplotlib_renderer(resnetish, tmp_path, capsys, suffix):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"g.{suffix}"
    code, _, err = run(capsys, "viz", resnetish, "--renderer", "matplotlib", "-o", out)
    assert code == 0, err
    assert "via matplotlib" in err
    if suffix == "png":
        assert _is_png(out)
    else:
        text = out.read_text()
        assert "<svg" in text and "layer2.0.downsample (Sequential)" in text


def test_fallback_when_dot_is_missing(resnetish, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    out = tmp_path / "g.png"
    code, _, err = run(capsys, "viz", resnetish, "-o", out)
    assert code == 0, err
    assert "Graphviz 'dot' not found" in err and "matplotlib" in err
    assert _is_png(out)


def test_graphviz_requested_but_missing_is_a_dependency_error(resnetish, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    code, _, err = run(capsys, "viz", resnetish, "--renderer", "graphviz", "-o", tmp_path / "g.svg")
    assert code == 9
    assert "dependency" in err and "hint:" in err and "graphviz" in err.lower()


def test_no_renderer_at_all_is_a_dependency_error(resnetish, tmp_path, capsys, monkeypatch):
    import graphspec.viz as viz

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(viz, "_have_matplotlib", lambda: False)
    code, _, err = run(capsys, "viz", resnetish, "-o", tmp_path / "g.png")
    assert code == 9 and "dependency" in err
    # text formats need neither
    assert run(capsys, "viz", resnetish, "-o", tmp_path / "g.dot")[0] == 0


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_graphviz_renderer(resnetish, tmp_path, capsys, suffix):
    out = tmp_path / f"g.{suffix}"
    code, _, err = run(capsys, "viz", resnetish, "--renderer", "graphviz", "-o", out)
    assert code == 0, err
    assert "via Graphviz" in err
    if suffix == "png":
        assert _is_png(out)
    else:
        assert "<svg" in out.read_text()


@pytest.mark.parametrize("spec", ZOO, ids=lambda p: p.stem)
def test_zoo_text_formats(spec, tmp_path, capsys):
    dot, mmd = tmp_path / "g.dot", tmp_path / "g.mmd"
    assert run(capsys, "viz", spec, "-o", dot)[0] == 0
    assert run(capsys, "viz", spec, "-o", mmd)[0] == 0
    assert balanced_dot(dot.read_text())
    if HAVE_DOT:  # the dot source is valid Graphviz
        proc = subprocess.run(["dot", "-Tsvg", str(dot)], capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()


def test_layout_no_overlaps_and_nested_frames(resnetish):
    import graphspec
    from graphspec.viz import build_drawing
    from graphspec.viz.mpl import layout

    spec = graphspec.load(str(resnetish))
    d = build_drawing(spec, list(spec.graphs.values()))
    for direction in ("TB", "LR"):
        lay = layout(d, direction)
        boxes = [(lay["x"][n] - lay["size"][n][0] / 2, lay["y"][n] - lay["size"][n][1] / 2,
                  lay["x"][n] + lay["size"][n][0] / 2, lay["y"][n] + lay["size"][n][1] / 2) for n in d.nodes]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                assert not overlap, (direction, a, b)
        frames = lay["frames"]
        for cid, c in d.clusters.items():
            fx0, fy0, fx1, fy1 = frames[cid]
            for n in d.nodes.values():  # members inside their frames
                if cid in d.cluster_chain(n.cluster):
                    x, y = lay["x"][n.id], lay["y"][n.id]
                    assert fx0 < x < fx1 and fy0 < y < fy1
            if c.parent is not None:  # frames inside their parents
                px0, py0, px1, py1 = frames[c.parent]
                assert px0 <= fx0 and py0 <= fy0 and fx1 <= px1 and fy1 <= py1
        # edges go down the ranks (TB) / across them (LR)
        for points, e in lay["edges"]:
            coord = 1 if direction == "TB" else 0
            assert all(p[coord] < q[coord] for p, q in zip(points, points[1:]))


def test_viz_never_imports_torch(resnetish, tmp_path):
    code = (
        "import sys; from graphspec.cli.main import main; "
        f"rc = main(['viz', {str(resnetish)!r}, '-o', {str(tmp_path / 'g.dot')!r}]); "
        "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
