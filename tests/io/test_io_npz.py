""".npz/.npy members are checked before they are inflated."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from graphspec.errors import GraphspecError
from graphspec.io import load_npy, load_npz


def _err(fn, *a, **kw) -> GraphspecError:
    with pytest.raises(GraphspecError) as info:
        fn(*a, **kw)
    assert info.value.exit_code == 4
    return info.value


def test_plain_and_compressed_load(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones((2, 3), np.float32), y=np.arange(2))
    np.savez_compressed(tmp_path / "b.npz", x=np.zeros((4,)), names=np.array(["cat", "dog"]))
    a, b = load_npz(tmp_path / "a.npz"), load_npz(tmp_path / "b.npz")
    assert a["x"].shape == (2, 3) and list(b["names"]) == ["cat", "dog"]


def test_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    assert "not allowed" in str(_err(load_npz, tmp_path / "o.npz"))
    np.save(tmp_path / "o.npy", np.array([None], dtype=object), allow_pickle=True)
    assert "not allowed" in str(_err(load_npy, tmp_path / "o.npy"))


def test_zip_bomb_is_refused_from_headers(tmp_path):
    # 128 MiB of zeros; deflate squeezes it to ~130 KB. Refused before inflating.
    p = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (32 * 1024**2,)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("x.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        chunk = bytes(16 * 1024**2)
        for _ in range(8):
            f.write(chunk)
    assert "zip bomb" in str(_err(load_npz, p, max_inflated=8 * 1024**3))

    np.savez(tmp_path / "ok.npz", x=np.ones(1000))
    assert "limit" in str(_err(load_npz, tmp_path / "ok.npz", max_inflated=1024))


def test_declared_size_must_match(tmp_path):
    np.save(tmp_path / "t.npy", np.ones((100,), np.float64))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-8])  # truncated by one value
    assert "truncated" in str(_err(load_npy, tmp_path / "t.npy"))


def test_garbage_and_non_npy_members(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable .npz" in str(_err(load_npz, tmp_path / "g.npz"))
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as zf:
        zf.writestr("evil.pkl", b"cos\nsystem\n")
    assert "not a .npy array" in str(_err(load_npz, tmp_path / "t.npz"))
    (tmp_path / "h.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}")
    assert "not a valid .npy" in str(_err(load_npy, tmp_path / "h.npy"))
