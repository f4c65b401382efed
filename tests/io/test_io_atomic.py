"""Atomic writes: whole files at the final name, the umask's mode, exit 4 on errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from graphspec.errors import GraphspecError
from graphspec.io import atomic_write


def test_writes_bytes_text_and_callables(tmp_path):
    atomic_write(tmp_path / "a", b"abc")
    atomic_write(tmp_path / "b", "hé", mode="w")
    atomic_write(tmp_path / "c", lambda f: f.write(b"xyz"))
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"abc", "hé".encode(), b"xyz"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "m", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o640  # not mkstemp's 0600


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "keep"
    p.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == b"old" and sorted(x.name for x in tmp_path.iterdir()) == ["keep"]


def test_os_errors_are_exit_4_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "missing" / "a.onnx", tmp_path / "file" / "a.onnx", tmp_path):
        with pytest.raises(GraphspecError) as info:
            atomic_write(target, b"x")
        assert info.value.exit_code == 4 and str(target) in str(info.value)


def test_full_disk_keeps_the_old_file(tmp_path):
    """Under ``prlimit --fsize`` the write fails (EFBIG) and the old file stays."""
    p = tmp_path / "model.onnx"
    p.write_bytes(b"old")
    code = f"from graphspec.io import atomic_write\natomic_write({str(p)!r}, b'x' * 100000)"
    r = subprocess.run(["prlimit", "--fsize=4096", sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and "file-write" in r.stderr and "model.onnx" in r.stderr
    assert p.read_bytes() == b"old" and sorted(x.name for x in tmp_path.iterdir()) == ["model.onnx"]
