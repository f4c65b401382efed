"""Checked reads refuse what is not a regular file, and big files, before reading."""

from __future__ import annotations

import os

import pytest

from graphspec.errors import GraphspecError
from graphspec.io import check_input_file, read_bytes, read_text


def _err(fn, *a, **kw) -> GraphspecError:
    with pytest.raises(GraphspecError) as info:
        fn(*a, **kw)
    return info.value


def test_regular_file_reads(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"hello")
    assert check_input_file(p, what="x", limit_bytes=5) == p
    assert read_bytes(p, what="x", limit_bytes=5) == b"hello"
    assert read_text(p, what="x", limit_bytes=5) == "hello"


@pytest.mark.parametrize("fn", [check_input_file, read_bytes])
def test_fifo_is_refused_without_blocking(tmp_path, fn):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer: opening it for a plain read would block forever
    e = _err(fn, fifo, what="spec file", limit_bytes=100)
    assert e.exit_code == 4 and "named pipe" in e.diagnostics[0].message and str(fifo) in str(e)


@pytest.mark.parametrize("fn", [check_input_file, read_bytes])
def test_device_and_directory_are_refused(tmp_path, fn):
    for path, kind in (("/dev/zero", "character device"), (tmp_path, "directory")):
        e = _err(fn, path, what="data file", limit_bytes=100)
        assert e.exit_code == 4 and kind in str(e) and str(path) in str(e)


def test_missing_and_not_a_folder(tmp_path):
    e = _err(check_input_file, tmp_path / "nope.yaml", what="spec file")
    assert e.diagnostics[0].code == "file-not-found" and e.exit_code == 4
    (tmp_path / "f").write_text("x")
    e = _err(read_bytes, tmp_path / "f" / "x.yaml", what="spec file", limit_bytes=10)
    assert e.diagnostics[0].code == "file-unreadable" and "Not a directory" in str(e)


def test_size_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:  # sparse: 64 GiB claimed, nothing on disk
        f.truncate(64 * 1024**3)
    e = _err(read_bytes, big, what="weights file", limit_bytes=1024)
    assert e.diagnostics[0].code == "file-too-large" and e.exit_code == 4 and "68,719,476,736" in str(e)


def test_bad_utf8_names_the_offset(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"ab\xff")
    e = _err(read_text, p, what="text file", limit_bytes=10)
    assert "offset 2" in str(e) and e.exit_code == 4
