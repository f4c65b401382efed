"""Checked reads: a regular file under a size limit, or exit 4 before reading.

Every file graphspec reads (specs, imports, weights, checkpoints, data, ONNX
models) goes through :func:`check_input_file` or :func:`read_bytes`, so a FIFO
cannot hang a command, ``/dev/zero`` cannot fill memory, and a folder or a
huge file is refused with a message naming it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from graphspec.errors import GraphspecError, Location

MiB = 1024 * 1024
GiB = 1024 * MiB

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _fail(code: str, message: str, path: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError.one(code, message, location=Location(path), hint=hint)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _check_stat(st: os.stat_result, name: str, what: str, limit_bytes: int | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _fail("file-unreadable", f"{what} {name} is {_kind(st.st_mode)}, not a regular file", name)
    if limit_bytes is not None and st.st_size > limit_bytes:
        raise _too_large(name, what, st.st_size, limit_bytes)


def _too_large(name: str, what: str, size: int, limit: int) -> GraphspecError:
    return _fail("file-too-large", f"{what} {name} is {size:,} bytes; the limit is {limit:,}", name)


def _os_error(exc: OSError | ValueError, name: str, what: str) -> GraphspecError:
    if isinstance(exc, FileNotFoundError):
        return _fail("file-not-found", f"no such {what}: {name}", name)
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return _fail("file-unreadable", f"cannot read {what} {name}: {reason}", name)


def check_input_file(path: str | Path, *, what: str = "file", limit_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file of at most ``limit_bytes``; else exit 4 naming it.

    Reads nothing: ``stat`` does not block on a FIFO or touch a device.
    ``what`` names the role in the message ("spec file", "weights file" ...).
    """
    name = str(path)
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _os_error(exc, name, what) from None
    _check_stat(st, name, what, limit_bytes)
    return Path(path)


def read_bytes(path: str | Path, *, what: str = "file", limit_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``limit_bytes``, checked on the open descriptor.

    Opening with O_NONBLOCK means a FIFO swapped in after a check still cannot
    block; the size is checked with fstat before reading and again while reading
    (a file that grows past the limit is refused, not read to the end).
    """
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _os_error(exc, name, what) from None
    try:
        _check_stat(os.fstat(fd), name, what, limit_bytes)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(8 * MiB, limit_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit_bytes:
                raise _too_large(name, what, total, limit_bytes)
        return b"".join(chunks)
    except OSError as exc:
        raise _os_error(exc, name, what) from None
    finally:
        os.close(fd)


def read_text(path: str | Path, *, what: str = "file", limit_bytes: int, encoding: str = "utf-8", errors: str = "strict") -> str:
    """:func:`read_bytes` decoded; undecodable bytes are exit 4 naming the offset (unless ``errors`` says otherwise)."""
    raw = read_bytes(path, what=what, limit_bytes=limit_bytes)
    if errors != "strict":
        return raw.decode(encoding, errors=errors)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _fail("file-unreadable", f"{what} {path} is not {encoding} text: byte 0x{raw[exc.start]:02x} at offset {exc.start}", str(path)) from None
