"""Data sources, the fixed split, and checks of data against the graph's inputs."""

from __future__ import annotations

import numpy as np
import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import data as D
from graphspec.train.engine import resolve_config

from conftest import SPECS


def spec_text(inputs: str, nodes: str, train: str) -> str:
    return f"graphspec: 1\nname: t\ninputs:\n{inputs}nodes:\n{nodes}outputs: {{out: fc}}\ntrain:\n{train}"


def splits_of(text: str, spec_dir=None):
    spec = graphspec.load("t.yaml", text=text)
    cfg, cls = resolve_config(spec)
    return D.load_splits(cfg, spec.graph(), spec_dir, cfg.task)


IMG = "  image: {shape: [batch, 1, 8, 8]}\n"
IMG_NODES = "  flat: {op: Flatten, in: image}\n  fc: {op: Linear, in: flat, out_features: 10}\n"


def test_digits_split_is_fixed_and_sized():
    s = splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: digits\n"))
    assert (len(s.train), len(s.val), len(s.test)) == (1257, 269, 271)
    x = s.train.inputs["image"]
    assert tuple(x.shape[1:]) == (1, 8, 8) and float(x.max()) == 1.0 and float(x.min()) == 0.0
    again = splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: digits\n  seed: 5\n"))
    assert np.array_equal(s.test.target.numpy(), again.test.target.numpy())  # the training seed does not move the split
    other = splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: digits\n  split_seed: 1\n"))
    assert not np.array_equal(s.test.target.numpy(), other.test.target.numpy())


def test_digits_rows_for_sequences():
    text = spec_text("  rows: {shape: [batch, 8, 8]}\n", "  flat: {op: Flatten, in: rows}\n  fc: {op: Linear, in: flat, out_features: 10}\n", "  task: sequence\n  data: digits_rows\n")
    s = splits_of(text)
    assert tuple(s.train.inputs["rows"].shape[1:]) == (8, 8)


def test_shape_mismatch_names_data_and_input(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "digits_lenet5.yaml", "--set", "train.data=digits_rows", "--set", "train.task=sequence", "--runs-dir", tmp_path, "--quiet")
    assert rc == 5
    err = capsys.readouterr().err
    assert "data 'digits_rows'" in err and "graph input 'image' is [batch, 1, 8, 8]" in err
    assert not any(tmp_path.iterdir())


def test_class_count_mismatch(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "digits_mlp.yaml", "--set", "params.classes=5", "--runs-dir", tmp_path, "--quiet")
    assert rc == 5
    err = capsys.readouterr().err
    assert "10 classes" in err and "5 classes" in err and "params.classes=10" in err


def test_npz_inputs_by_name(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", image=rng.random((40, 1, 8, 8)), target=rng.integers(0, 10, 40))
    s = splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: d.npz\n"), spec_dir=tmp_path)
    assert len(s.train) + len(s.val) + len(s.test) == 40
    assert s.train.inputs["image"].dtype.is_floating_point  # float64 cast to the input's float32


def test_npz_missing_input_array(tmp_path):
    np.savez(tmp_path / "d.npz", pixels=np.zeros((10, 1, 8, 8)), target=np.zeros(10, dtype=np.int64))
    with pytest.raises(GraphspecError) as exc:
        splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: d.npz\n"), spec_dir=tmp_path)
    d = exc.value.diagnostics[0]
    assert d.code == "data" and "'image'" in d.message and "'pixels'" in d.message


def test_npz_dtype_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", tokens=np.zeros((10, 4), dtype=np.float32), target=np.zeros(10, dtype=np.int64))
    text = spec_text(
        "  tokens: {shape: [batch, 4], dtype: int64}\n",
        "  emb: {op: Embedding, in: tokens, num_embeddings: 5, embedding_dim: 3}\n  flat: {op: Flatten, in: emb}\n  fc: {op: Linear, in: flat, out_features: 2}\n",
        "  task: classify\n  data: d.npz\n",
    )
    with pytest.raises(GraphspecError) as exc:
        splits_of(text, spec_dir=tmp_path)
    assert "float32" in exc.value.diagnostics[0].message and "int64" in exc.value.diagnostics[0].message


def test_npz_length_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", image=np.zeros((10, 1, 8, 8)), target=np.zeros(9, dtype=np.int64))
    with pytest.raises(GraphspecError, match="differ in length"):
        splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: d.npz\n"), spec_dir=tmp_path)


def test_missing_file_is_a_file_error(tmp_path):
    with pytest.raises(GraphspecError) as exc:
        splits_of(spec_text(IMG, IMG_NODES, "  task: classify\n  data: nope.npz\n"), spec_dir=tmp_path)
    assert exc.value.diagnostics[0].code == "file-not-found"


CSV_SPEC = spec_text("  x: {shape: [batch, 3]}\n", "  fc: {op: Linear, in: x, out_features: 1}\n", "  task: regress\n  data: {source: d.csv, target: y}\n")


def test_csv_columns_and_target(tmp_path):
    rows = ["a,b,c,y"] + [f"{i},{i * 2},{i % 3},{i * 0.5}" for i in range(30)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    s = splits_of(CSV_SPEC, spec_dir=tmp_path)
    assert tuple(s.train.inputs["x"].shape[1:]) == (3,) and tuple(s.train.target.shape[1:]) == (1,)


def test_csv_bad_cell_names_row_and_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c,y\n1,2,3,4\n1,x,3,4\n")
    with pytest.raises(GraphspecError) as exc:
        splits_of(CSV_SPEC, spec_dir=tmp_path)
    assert ":3:" in exc.value.diagnostics[0].message and "'b'" in exc.value.diagnostics[0].message


def test_csv_column_count_must_fit_input(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i},{i}\n" for i in range(10)))
    with pytest.raises(GraphspecError) as exc:
        splits_of(CSV_SPEC, spec_dir=tmp_path)
    assert exc.value.diagnostics[0].code == "data" and "[2]" in exc.value.diagnostics[0].message


def test_sine_and_text_sources():
    x, y = D.sine(20, 16, 3)
    assert x.shape == (20, 16, 1) and y.shape == (20, 3)
    s = splits_of(
        spec_text(
            "  tokens: {shape: [batch, seq], dtype: int64}\n",
            "  emb: {op: Embedding, in: tokens, num_embeddings: 256, embedding_dim: 4}\n  fc: {op: Linear, in: emb, out_features: 256}\n",
            "  task: sequence\n  data: {source: 'text:graphspec/train/data/fables.txt', seq_len: 32}\n",
        )
    )
    x, y = s.train.inputs["tokens"], s.train.target
    assert x.shape[1] == 32 and y.shape == x.shape and bool((x[:, 1:] == y[:, :-1]).all())
    assert len(s.val) > 0 and len(s.test) > 0


def test_regress_target_shape_checked(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "sine_lstm.yaml", "--set", "train.data.horizon=3", "--runs-dir", tmp_path, "--quiet")
    assert rc == 5
    assert "shape [3] per example" in capsys.readouterr().err
