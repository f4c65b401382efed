"""Arrays read from disk per batch (.npy, uncompressed .npz members): a data set larger than the address space trains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import last_json

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import data as D
from graphspec.train.data.arrays import open_npy, open_npz
from graphspec.train.data.lazy import RowView
from graphspec.train.engine import resolve_config

SPEC = """graphspec: 1
name: big
inputs:
  image: {{shape: [batch, 1, {h}, {h}]}}
nodes:
  flat: {{op: Flatten, in: image}}
  fc: {{op: Linear, in: flat, out_features: 2}}
outputs: {{logits: fc}}
train:
  task: classify
  data: {data}
  epochs: 1
  batch_size: 256
"""


def splits(tmp_path: Path, data: str, h=4):
    spec = graphspec.load(str(tmp_path / "s.yaml"), text=SPEC.format(h=h, data=data))
    cfg, _ = resolve_config(spec)
    return D.load_splits(cfg, spec.graph(), tmp_path, "classify")


def test_npy_rows_are_read_per_batch(tmp_path):
    x = np.arange(40 * 16, dtype=np.float64).reshape(40, 1, 4, 4)  # float64 on disk, float32 input: cast per batch
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    s = splits(tmp_path, "{source: x.npy, target: y.npy}")
    arr = s.train.inputs["image"]
    assert isinstance(arr, RowView) and s.meta["streamed"]
    idx = np.array([5, 0, 3])
    want = x[arr.index[idx]].astype(np.float32)
    got = arr[idx].numpy()
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert len(s.train) + len(s.val) + len(s.test) == 40


def test_uncompressed_npz_members_stream_and_compressed_ones_say_why(tmp_path):
    x = np.random.default_rng(0).standard_normal((30, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", image=x, target=np.arange(30) % 2)
    members = open_npz(tmp_path / "d.npz")
    assert np.array_equal(members["image"][np.array([7, 2])], x[[7, 2]])
    s = splits(tmp_path, "{source: d.npz, mmap: true}")
    assert isinstance(s.test.inputs["image"], RowView)
    np.savez_compressed(tmp_path / "c.npz", image=x, target=np.arange(30) % 2)
    with pytest.raises(GraphspecError) as e:
        splits(tmp_path, "{source: c.npz, mmap: true}")
    assert "compressed" in str(e.value) and "c.npz" in str(e.value)


def test_truncated_npy_and_pickles_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 1, 4, 4), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-16])
    with pytest.raises(GraphspecError) as e:
        open_npy(tmp_path / "x.npy")
    assert "truncated" in str(e.value) and e.value.exit_code == 4
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(GraphspecError) as e:
        open_npy(tmp_path / "o.npy")
    assert "pickle" in str(e.value)


def test_wrong_shape_is_a_data_error_before_reading(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 3, 4, 4), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(10, np.int64))
    with pytest.raises(GraphspecError) as e:
        splits(tmp_path, "{source: x.npy, target: y.npy}")
    assert "[3, 4, 4]" in str(e.value) and e.value.exit_code == 5


def sparse_npy(path: Path, n: int, row: tuple[int, ...]) -> int:
    """An .npy of zeros written as a sparse file: big on paper, nothing on the disk."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n,) + row})
        size = f.tell() + n * 4 * int(np.prod(row))
        f.truncate(size)
    return size


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_array_larger_than_the_address_space_cap_trains(tmp_path):
    """1.7 GiB of examples train in a process capped at 1.5 GiB of address space (RAM and mappings);
    loading the same file whole fails under the cap, so the cap does bind."""
    cap = 1536 * 2**20
    size = sparse_npy(tmp_path / "x.npy", 28_000, (1, 128, 128))
    assert size > cap
    np.save(tmp_path / "y.npy", np.arange(28_000) % 2)
    (tmp_path / "big.yaml").write_text(SPEC.format(h=128, data="{source: x.npy, target: y.npy}"))
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    capped = ["prlimit", f"--as={cap}", sys.executable]
    whole = subprocess.run(capped + ["-c", "import numpy as np; np.load('x.npy')"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert whole.returncode != 0 and "MemoryError" in whole.stderr
    r = subprocess.run(capped + ["-m", "graphspec", "train", "big.yaml", "--runs-dir", "runs", "--quiet", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert last_json(r.stdout)["epochs"] == 1
