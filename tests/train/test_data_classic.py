"""MNIST/Fashion-MNIST IDX and CIFAR-10/100 binary readers on tiny files written in the published formats."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import data as D
from graphspec.train.data.classic import read_idx
from graphspec.train.engine import resolve_config

SPEC = """graphspec: 1
name: t
inputs:
  image: {{shape: [batch, {c}, {h}, {h}]}}
nodes:
  flat: {{op: Flatten, in: image}}
  fc: {{op: Linear, in: flat, out_features: {k}}}
outputs: {{out: fc}}
train:
  task: classify
  data: {data}
"""


def splits(data: str, c=1, h=28, k=10):
    spec = graphspec.load("t.yaml", text=SPEC.format(c=c, h=h, k=k, data=data))
    cfg, _ = resolve_config(spec)
    return D.load_splits(cfg, spec.graph(), None, "classify")


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX format: 0, 0, type 0x08 (ubyte), ndim, big-endian int32 dims, then the data."""
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_mnist(root: Path, n_train=20, n_test=10, gz=False) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            name = f"{split}-{kind}-ubyte"
            data = idx_bytes(np.asarray(arr))
            if gz:
                (root / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


def write_cifar(root: Path, classes=10, per_file=6) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    nl = 1 if classes == 10 else 2
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"] if classes == 10 else ["train.bin", "test.bin"]
    for f in files:
        recs = []
        for i in range(per_file):
            labels = bytes([i % classes]) if nl == 1 else bytes([i % 20, i % classes])
            recs.append(labels + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes())
        (root / f).write_bytes(b"".join(recs))
    if classes == 10:
        (root / "batches.meta.txt").write_text("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n")
    return root


def test_read_idx_round_trip(tmp_path):
    a = np.arange(24).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(a))
    assert np.array_equal(read_idx(tmp_path / "a-idx3-ubyte"), a)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_official_split(tmp_path, gz):
    root = write_mnist(tmp_path / "m", gz=gz)
    s = splits(f'{{source: "mnist:{root}"}}')
    assert len(s.test) == 10 and len(s.train) + len(s.val) == 20 and len(s.val) == 3
    assert s.meta["class_names"][3] == "3" and s.meta["official_split"]
    x = s.test.inputs["image"][np.arange(10)]
    assert tuple(x.shape) == (10, 1, 28, 28) and float(x.max()) <= 1.0
    assert s.test.target.tolist() == list(range(10))


def test_fashion_mnist_names(tmp_path):
    root = write_mnist(tmp_path / "f")
    s = splits(f'{{source: "fashion_mnist:{root}"}}')
    assert s.meta["class_names"][0] == "T-shirt/top"


def test_cifar10_binary(tmp_path):
    root = write_cifar(tmp_path / "c" / "cifar-10-batches-bin").parent  # as unpacked from the tarball
    s = splits(f'{{source: "cifar10:{root}", transforms: {{crop: 28, random_crop: true, padding: 2, hflip: true, mean: auto}}}}', c=3, h=28)
    assert len(s.test) == 6 and len(s.train) + len(s.val) == 30
    assert s.meta["class_names"][9] == "truck"
    assert tuple(s.train.inputs["image"][np.arange(4)].shape) == (4, 3, 28, 28)


def test_cifar100_binary_uses_the_fine_label(tmp_path):
    root = write_cifar(tmp_path / "c100", classes=100, per_file=8)
    s = splits(f'{{source: "cifar100:{root}"}}', c=3, h=32, k=100)
    assert s.test.target.tolist() == list(range(8))


def test_missing_file_says_which_and_where(tmp_path):
    root = write_mnist(tmp_path / "m")
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "mnist:{root}"}}')
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and "lecun.com" in msg and e.value.exit_code == 4
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "cifar10:{tmp_path / "none"}"}}', c=3, h=32)
    assert "cs.toronto.edu" in str(e.value)


def test_truncated_idx_and_cifar_are_clean_errors(tmp_path):
    root = write_mnist(tmp_path / "m")
    f = root / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "mnist:{root}"}}')
    assert "truncated" in str(e.value) and "train-images-idx3-ubyte" in str(e.value) and e.value.exit_code == 5
    root = write_mnist(tmp_path / "g", gz=True)
    g = root / "train-labels-idx1-ubyte.gz"
    g.write_bytes(g.read_bytes()[:-12])
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "mnist:{root}"}}')
    assert "train-labels-idx1-ubyte.gz" in str(e.value)
    croot = write_cifar(tmp_path / "c")
    b = croot / "data_batch_3.bin"
    b.write_bytes(b.read_bytes()[:-7])
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "cifar10:{croot}"}}', c=3, h=32)
    assert "data_batch_3.bin" in str(e.value) and "truncated" in str(e.value)


def test_wrong_input_shape_names_both(tmp_path):
    root = write_cifar(tmp_path / "c")
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "cifar10:{root}"}}', c=1, h=28)
    assert "[3, 32, 32]" in str(e.value) and "[batch, 1, 28, 28]" in str(e.value) and e.value.exit_code == 5
