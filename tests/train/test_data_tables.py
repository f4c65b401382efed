"""CSV tables with text labels, categorical features (one-hot or codes), standardising, and class names through export/infer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import last_json, run_subprocess

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import data as D
from graphspec.train.engine import resolve_config

SPECIES = ["setosa", "versicolor", "virginica"]


def write_iris(path: Path, colors=("red", "green")) -> Path:
    """An iris-like table: four numbers, a colour category and a text label."""
    from sklearn.datasets import load_iris

    d = load_iris()
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "color", "species"])
        for x, y in zip(d.data, d.target):
            w.writerow([*x, rng.choice(list(colors)), SPECIES[y]])
    return path


def spec_text(inputs: str, data: str, classes: int = 3, nodes: str | None = None) -> str:
    nodes = nodes or f"  fc1: {{op: Linear, in: x, out_features: 16}}\n  act: {{op: ReLU, in: fc1}}\n  fc2: {{op: Linear, in: act, out_features: {classes}}}\n"
    return (
        "graphspec: 1\nname: iris\ninputs:\n" + inputs + "nodes:\n" + nodes + "outputs: {logits: fc2}\n"
        f"train:\n  task: classify\n  data: {data}\n  epochs: 40\n  batch_size: 16\n  optimizer: {{lr: 0.01}}\n"
    )


def splits(text: str, spec_dir: Path):
    spec = graphspec.load(str(spec_dir / "s.yaml"), text=text)
    cfg, _ = resolve_config(spec)
    return D.load_splits(cfg, spec.graph(), spec_dir, cfg.task)


def test_text_labels_become_classes_and_categories_one_hot(tmp_path):
    write_iris(tmp_path / "iris.csv")
    s = splits(spec_text("  x: {shape: [batch, 6]}\n", "{source: iris.csv, target: species, standardize: true}"), tmp_path)
    assert s.meta["class_names"] == SPECIES
    x = s.train.inputs["x"].numpy()
    assert x.shape[1] == 6  # 4 numbers + 2 colours
    assert np.allclose(x[:, :4].mean(0), 0, atol=1e-5) and np.allclose(x[:, :4].std(0), 1, atol=1e-4)  # on the training split
    assert set(np.unique(x[:, 4:])) == {0.0, 1.0} and np.all(x[:, 4:].sum(1) == 1)
    color = s.meta["features"]["x"][4]
    assert color["categories"] == ["green", "red"] and color["encoding"] == "onehot"


def test_codes_for_an_embedding_input(tmp_path):
    write_iris(tmp_path / "iris.csv")
    inputs = "  x: {shape: [batch, 4]}\n  c: {shape: [batch, 1], dtype: int64}\n"
    nodes = (
        "  emb: {op: Embedding, in: c, num_embeddings: 2, embedding_dim: 3}\n  ef: {op: Flatten, in: emb}\n"
        "  cat: {op: Concat, in: [x, ef], dim: 1}\n  fc2: {op: Linear, in: cat, out_features: 3}\n"
    )
    text = spec_text(inputs, "{source: iris.csv, target: species, encoding: codes, inputs: {x: [sepal_length, sepal_width, petal_length, petal_width], c: [color]}}", nodes=nodes)
    s = splits(text, tmp_path)
    c = s.train.inputs["c"]
    assert c.dtype.is_floating_point is False and set(c.unique().tolist()) <= {0, 1}


def test_unknown_category_at_test_time(tmp_path):
    path = write_iris(tmp_path / "iris.csv")
    rows = path.read_text().splitlines()
    # a colour that only the held-out rows can hold: the last data row gets a new one
    spec = graphspec.load(str(tmp_path / "s.yaml"), text=spec_text("  x: {shape: [batch, 6]}\n", "{source: iris.csv, target: species}"))
    cfg, _ = resolve_config(spec)
    test_row = int(D.split_indices(150, cfg.val_split, cfg.test_split, cfg.split_seed)[2][0])
    cells = rows[test_row + 1].split(",")
    cells[4] = "purple"
    rows[test_row + 1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(GraphspecError) as e:
        D.load_splits(cfg, spec.graph(), tmp_path, "classify")
    msg = str(e.value)
    assert "'purple'" in msg and "color" in msg and f"row {test_row + 2}" in msg and e.value.exit_code == 5
    s = splits(spec_text("  x: {shape: [batch, 6]}\n", "{source: iris.csv, target: species, unknown: zero}"), tmp_path)
    assert len(s.test) == 23


def test_text_target_for_regression_is_an_error(tmp_path):
    write_iris(tmp_path / "iris.csv")
    text = spec_text("  x: {shape: [batch, 6]}\n", "{source: iris.csv, target: species}").replace("task: classify", "task: regress")
    with pytest.raises(GraphspecError) as e:
        splits(text.replace("out_features: 3", "out_features: 1"), tmp_path)
    assert "holds text" in str(e.value)


def test_iris_trains_exports_and_infer_prints_label_names(tmp_path):
    """The 'done when' of issue 9: a string target trains; infer on the export prints label names."""
    write_iris(tmp_path / "iris.csv")
    (tmp_path / "iris.yaml").write_text(spec_text("  x: {shape: [batch, 6]}\n", "{source: iris.csv, target: species, standardize: true}"))
    r = run_subprocess("train", "iris.yaml", "--runs-dir", "runs", "--name", "i", "--quiet", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert last_json(r.stdout)["test_accuracy"] >= 0.85
    mapping = json.loads((tmp_path / "runs" / "i" / "data.json").read_text())
    assert mapping["class_names"] == SPECIES
    r = run_subprocess("export", "iris.yaml", "--weights", "runs/i", "-o", "iris.onnx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    feats = mapping["features"]["x"]
    x = np.array([[5.0, 3.4, 1.5, 0.2], [6.0, 2.9, 4.5, 1.5], [7.2, 3.2, 6.0, 1.8]])
    x = (x - [f["mean"] for f in feats[:4]]) / [f["std"] for f in feats[:4]]
    x = np.concatenate([x, np.tile([[0.0, 1.0]], (3, 1))], axis=1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = run_subprocess("infer", "iris.onnx", "-i", "x.npy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "class per row: setosa versicolor virginica" in r.stdout
    r = run_subprocess("infer", "iris.onnx", "-i", "x.npy", "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["outputs"]["logits"]["class_names"] == SPECIES
    r = run_subprocess("evaluate", "iris.yaml", "--run", "runs/i", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "per-class accuracy (test split):" in r.stdout and "versicolor" in r.stdout
    png = tmp_path / "runs" / "i" / "confusion_test.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
