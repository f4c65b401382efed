"""`graphspec inspect`: per-node table, totals, --json, --dims, --graph, --depth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "spec" / "fixtures" / "features.yaml"

TWO_GRAPHS = """graphspec: 1
dims: {batch: 2}
blocks:
  dec: {inputs: [z], nodes: {fc: {op: Linear, in: z, out_features: 8}}, outputs: fc}
graphs:
  full:
    inputs: {x: {shape: [batch, 8]}}
    nodes:
      enc: {op: Linear, in: x, out_features: 3}
      decoder: {op: dec, in: enc}
    outputs: {recon: decoder}
  decoder:
    inputs: {z: {shape: [batch, 3]}}
    nodes: {decoder: {op: dec, in: z}}
    outputs: {image: decoder}
"""


def inspect_json(capsys, *argv) -> dict:
    rc = main(["inspect", *map(str, argv), "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


def test_json_totals(capsys):
    doc = inspect_json(capsys, FIXTURE)
    assert doc["spec"] == "mlp" and doc["file"] == str(FIXTURE)
    assert doc["total_params"] == 15000
    assert doc["total_macs"] == 14856
    assert doc["dims"] == {"batch": 1}
    [graph] = doc["graphs"]
    assert graph["total_params"] == sum(r["params"] for r in graph["nodes"])
    assert graph["inputs"] == {"x": {"shape": ["batch", 64], "dtype": "float32"}}
    assert graph["outputs"] == {"logits": {"node": "head.2", "shape": ["batch", 10]}}
    tied = next(r for r in graph["nodes"] if r["node"] == "tied")
    assert tied["shared_with"] == "head2" and tied["params"] == 0
    body = next(r for r in graph["nodes"] if r["node"] == "body.1.add")
    assert body["op"] == "Add" and body["inputs"] == ["body.1.a.act", "body.0.add"]


def test_dims_scale_macs_not_params(capsys):
    base = inspect_json(capsys, FIXTURE)
    scaled = inspect_json(capsys, FIXTURE, "--dims", "batch=4")
    assert scaled["dims"] == {"batch": 4}
    assert scaled["total_macs"] == 4 * base["total_macs"]
    assert scaled["total_params"] == base["total_params"]


@pytest.mark.parametrize("dims", ["batch=0", "batch=x", "batch", "batch=-1"])
def test_bad_dims_is_a_usage_error(capsys, dims):
    rc = main(["inspect", str(FIXTURE), "--dims", dims])
    assert rc == 2
    assert "Traceback" not in capsys.readouterr().err


def test_set_changes_the_table(capsys):
    doc = inspect_json(capsys, FIXTURE, "--set", "params.hidden=32")
    assert doc["total_params"] < 15000
    stem = next(r for r in doc["graphs"][0]["nodes"] if r["node"] == "stem.fc")
    assert stem["output_shape"] == ["batch", 32]


def test_several_graphs(capsys, tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_GRAPHS)
    doc = inspect_json(capsys, spec)
    assert [g["graph"] for g in doc["graphs"]] == ["full", "decoder"]
    assert "total_params" not in doc  # one total per graph
    assert doc["graphs"][1]["total_params"] == 32
    doc = inspect_json(capsys, spec, "--graph", "decoder")
    assert doc["total_params"] == 32 and doc["total_macs"] == 2 * 3 * 8
    rc = main(["inspect", str(spec), "--graph", "decodr"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown-graph" in err and "did you mean 'decoder'" in err


def test_depth_collapses_blocks(capsys):
    doc = inspect_json(capsys, FIXTURE, "--depth", "1")
    rows = {r["node"]: r for r in doc["graphs"][0]["nodes"]}
    assert list(rows) == ["stem", "body", "head", "head2", "tied"]
    assert rows["body"]["params"] == 2 * 4160
    assert sum(r["params"] for r in rows.values()) == doc["total_params"]


def test_text_table(capsys):
    assert main(["inspect", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "total params: 15,000 (15.0k)" in out
    assert "tied (shares head2)" in out
    assert "output logits: head.2 [batch, 10]" in out


def test_invalid_spec_exit_3(capsys):
    rc = main(["inspect", str(ROOT / "tests" / "bad_specs" / "shape_mismatch.yaml")])
    assert rc == 3
    assert "error: shape:" in capsys.readouterr().err
