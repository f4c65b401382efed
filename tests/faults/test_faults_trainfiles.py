"""Fault corpus, training data files: hostile paths and contents for ``graphspec train``.

Data problems stop the run before any epoch: a path that is not a regular
file or a damaged archive is exit 4, data that do not fit (or hold NaN/Inf)
exit 5 -- and a run that fails this way leaves no run folder behind.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from harness import expect, hostile_path, run_cli, tiny_spec


def _spec(folder, source: str) -> object:
    text = (
        "graphspec: 1\nname: data_case\ninputs:\n  x: {shape: [batch, 4]}\n"
        "nodes:\n  fc: {op: Linear, in: x, out_features: 3}\noutputs: [fc]\n"
        f"train:\n  task: classify\n  data: {source!r}\n  epochs: 1\n  batch_size: 8\n"
    )
    return tiny_spec(folder, "train.yaml", text)


def _train(tmp_path, source: str):
    r = run_cli("train", _spec(tmp_path, source), "--runs-dir", tmp_path / "runs", "--quiet", cwd=tmp_path, timeout=300)
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a failed run left its folder behind"
    return r


@pytest.mark.parametrize("kind", ["missing", "fifo", "dev_zero", "directory", "sparse_huge"])
@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_hostile_data_path(tmp_path, kind, suffix):
    p = hostile_path(kind, tmp_path, suffix)
    expect(_train(tmp_path, p.name), 4, names=[p.name])


def _good(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def test_nan_inputs_are_exit_5(tmp_path):
    x, y = _good()
    x[7, 2] = np.nan
    x[9, 0] = np.inf
    np.savez(tmp_path / "d.npz", x=x, target=y)
    expect(_train(tmp_path, "d.npz"), 5, contains=["NaN/Inf", "2 example(s)", "index 7"])


def test_object_array_data_is_exit_4(tmp_path):
    _, y = _good()
    np.savez(tmp_path / "d.npz", x=np.array([[None] * 4] * 40, dtype=object), target=y)
    expect(_train(tmp_path, "d.npz"), 4, names=["d.npz"])


def test_zip_bomb_data_is_exit_4(tmp_path):
    p = tmp_path / "d.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (8 * 1024**2, 4)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("x.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        for _ in range(8):
            f.write(bytes(16 * 1024**2))
    expect(_train(tmp_path, "d.npz"), 4, names=["d.npz"], contains=["zip bomb"])


def test_truncated_npz_is_exit_4(tmp_path):
    x, y = _good()
    np.savez(tmp_path / "d.npz", x=x, target=y)
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(data[: len(data) // 2])
    expect(_train(tmp_path, "d.npz"), 4, names=["d.npz"])


def test_wrong_shape_data_is_exit_5(tmp_path):
    x, y = _good()
    np.savez(tmp_path / "d.npz", x=np.concatenate([x, x], axis=1), target=y)
    expect(_train(tmp_path, "d.npz"), 5, contains=["graph input 'x'"])


def test_csv_binary_junk(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,b,c,d,y\n" + bytes(range(256)))
    r = _train(tmp_path, "d.csv")
    expect(r, (4, 5), names=["d.csv"])


def test_text_data_fifo(tmp_path):
    os.mkfifo(tmp_path / "corpus.txt")
    text = (
        "graphspec: 1\nname: lm\ninputs:\n  x: {shape: [batch, 16], dtype: int64}\n"
        "nodes:\n  emb: {op: Embedding, in: x, num_embeddings: 256, embedding_dim: 8}\n"
        "  head: {op: Linear, in: emb, out_features: 256}\noutputs: [head]\n"
        "train:\n  task: sequence\n  data: {source: 'text:corpus.txt', seq_len: 16}\n  epochs: 1\n"
    )
    spec = tiny_spec(tmp_path, "lm.yaml", text)
    r = run_cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", cwd=tmp_path, timeout=300)
    expect(r, 4, names=["corpus.txt"])
