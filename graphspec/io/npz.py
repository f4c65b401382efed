"""``.npz`` / ``.npy`` reads that look before they inflate.

An ``.npz`` is a zip of ``.npy`` members. Before any array is read, every member
is checked from its headers alone: a plain numeric (or fixed-width text) dtype,
never an object array or a pickle; the size the ``.npy`` header declares equals
the member's declared uncompressed size; the total fits a limit; and the
compression ratio is plausible for real data (a zip bomb is refused from a few
bytes of its directory). Problems are exit 4 naming the file and member.
"""

from __future__ import annotations

import zipfile
from math import prod
from pathlib import Path
from typing import IO

import numpy as np

from graphspec.errors import GraphspecError, Location
from graphspec.io.inputs import GiB, MiB, check_input_file

ALLOWED_KINDS = "biufcUS"  # bool, ints, floats, complex, fixed-width text
MAX_INFLATED = 4 * GiB
# Deflate reaches ~1000:1 only on degenerate input; real arrays, even sparse
# ones, stay far below this once they are big enough to matter.
MAX_RATIO = 200
RATIO_FLOOR = 64 * MiB  # members smaller than this are never refused for their ratio


def _fail(path: str, message: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError.one("file-unreadable", message, location=Location(path), hint=hint)


def _header(f: IO[bytes], where: str, label: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of a .npy stream; refuses pickles and odd dtypes."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
    except Exception as exc:  # numpy raises ValueError/SyntaxError/EOFError for junk headers
        raise _fail(where, f"{label}not a valid .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if dtype.hasobject or dtype.kind not in ALLOWED_KINDS or dtype.fields is not None:
        raise _fail(where, f"{label}dtype {dtype} is not allowed; arrays must be numeric or fixed-width text (no objects, no pickles)")
    return tuple(int(n) for n in shape), dtype, f.tell()


def _check_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> int:
    """Check one member from its headers; returns its declared uncompressed size."""
    if not info.filename.endswith(".npy") or info.is_dir():
        raise _fail(where, f"member {info.filename!r} is not a .npy array")
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise _fail(where, f"member {info.filename!r} inflates {info.compress_size:,} bytes to {info.file_size:,} (a zip bomb?)")
    with zf.open(info) as f:
        shape, dtype, offset = _header(f, where, f"member {info.filename!r}: ")
    need = prod(shape) * dtype.itemsize
    if need + offset != info.file_size:
        raise _fail(where, f"member {info.filename!r} declares shape {list(shape)} {dtype} ({need:,} bytes) but holds {info.file_size - offset:,} bytes")
    return info.file_size


def load_npz(path: str | Path, *, what: str = "data file", limit_bytes: int = 4 * GiB, max_inflated: int = MAX_INFLATED) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, each member checked before it is inflated."""
    where = str(path)
    check_input_file(path, what=what, limit_bytes=limit_bytes)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(_check_member(zf, info, where) for info in infos)
            if total > max_inflated:
                raise _fail(where, f"the arrays take {total:,} bytes unpacked; the limit is {max_inflated:,}")
            out = {}
            for info in infos:
                with zf.open(info) as f:
                    out[info.filename[: -len(".npy")]] = np.lib.format.read_array(f, allow_pickle=False)
            return out
    except GraphspecError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise _fail(where, f"not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    except OSError as exc:
        raise _fail(where, f"cannot read: {exc.strerror or exc}") from None


def load_npy(path: str | Path, *, what: str = "data file", limit_bytes: int = 4 * GiB, mmap: bool = False) -> np.ndarray:
    """A checked ``.npy`` array (optionally memory-mapped): header, dtype and size before data."""
    where = str(path)
    check_input_file(path, what=what, limit_bytes=limit_bytes)
    try:
        with open(path, "rb") as f:
            shape, dtype, offset = _header(f, where)
            size = Path(path).stat().st_size
        need = prod(shape) * dtype.itemsize
        if need + offset != size:
            raise _fail(where, f"declares shape {list(shape)} {dtype} ({need:,} bytes) but holds {size - offset:,} bytes (truncated?)")
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except GraphspecError:
        raise
    except (ValueError, EOFError) as exc:
        raise _fail(where, f"not a readable .npy ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    except OSError as exc:
        raise _fail(where, f"cannot read: {exc.strerror or exc}") from None
