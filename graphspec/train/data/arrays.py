"""Arrays that stay on disk: ``.npy`` files and uncompressed ``.npz`` members, read per batch.

A :class:`DiskArray` knows where an array's bytes start in its file (for an
``.npz`` member stored without compression, inside the zip) and reads the
rows a batch needs with positional reads (``os.pread``), in file order. The
file is not mapped into memory either, so neither RAM nor the process's
address space grows with the file: a data set larger than both trains
(``tests/train/test_data_arrays.py`` runs one under ``prlimit --as``).
Only the headers are read when the source opens; they are checked like every
``.npy`` (numeric dtype, no pickles, declared size = stored size).
"""

from __future__ import annotations

import os
import zipfile
from math import prod
from pathlib import Path

import numpy as np

from graphspec.train.data.lazy import RowView


def _fail(path, message: str, hint: str | None = None):
    from graphspec.errors import GraphspecError, Location

    return GraphspecError.one("file-unreadable", message, location=Location(str(path)), hint=hint)


class DiskArray:
    """``[N, ...]`` rows of C-ordered data at ``offset`` in ``path``; ``arr[rows]`` reads just those rows."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.offset, self.shape, self.dtype = str(path), offset, tuple(shape), np.dtype(dtype)
        self.row_bytes = int(prod(self.shape[1:])) * self.dtype.itemsize
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a DataLoader worker opens its own descriptor
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(len(self))[rows]
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8) if self.row_bytes else None
        fd = self._file()
        for j, r in enumerate(rows):
            data = os.pread(fd, self.row_bytes, self.offset + int(r) * self.row_bytes)
            if len(data) != self.row_bytes:
                raise _fail(self.path, f"row {int(r)} is cut short ({len(data)} of {self.row_bytes} bytes); was the file truncated while training?")
            flat[j] = np.frombuffer(data, dtype=np.uint8)
        return out

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_fd"} | {"_fd": None}


def _npy_header(f, where: str, label: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    from graphspec.io.npz import (
        _header,  # the one checker of .npy headers (no pickles, numeric dtypes)
    )

    shape, dtype, length = _header(f, where, label)
    if len(shape) < 1:
        raise _fail(where, f"{label}holds a scalar; examples need a first (example) dimension")
    return shape, dtype, length


def open_npy(path: Path) -> DiskArray:
    """A checked ``.npy`` file as a DiskArray (header read only)."""
    from graphspec.io import check_input_file

    check_input_file(path, what="data file")
    with open(path, "rb") as f:
        shape, dtype, offset = _npy_header(f, str(path))
    size = Path(path).stat().st_size
    need = prod(shape) * dtype.itemsize
    if need + offset != size:
        raise _fail(path, f"declares shape {list(shape)} {dtype} ({need:,} bytes) but holds {size - offset:,} bytes (truncated?)")
    if _fortran(path):
        raise _fail(path, "is stored in Fortran order; save it C-ordered (np.ascontiguousarray)")
    return DiskArray(path, offset, shape, dtype)


def _fortran(path, offset: int = 0) -> bool:
    with open(path, "rb") as f:
        f.seek(offset)
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return bool(read(f)[1])


def open_npz(path: Path) -> dict[str, DiskArray]:
    """Members of an ``.npz`` as DiskArrays; a compressed member cannot stream (a "file" error saying so)."""
    from graphspec.io import check_input_file

    check_input_file(path, what="data file")
    out = {}
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
            for info in zf.infolist():
                name = info.filename.removesuffix(".npy")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _fail(path, f"member {info.filename!r} is compressed, so it cannot be read from disk per batch", hint="save with np.savez (not savez_compressed), or set train.data.mmap: false")
                raw.seek(info.header_offset)
                local = raw.read(30)
                if len(local) < 30 or local[:4] != b"PK\x03\x04":
                    raise _fail(path, f"member {info.filename!r}: bad zip local header")
                start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
                raw.seek(start)
                shape, dtype, end = _npy_header(raw, str(path), f"member {info.filename!r}: ")  # end: file position after the header
                if prod(shape) * dtype.itemsize + (end - start) != info.file_size:
                    raise _fail(path, f"member {info.filename!r} declares shape {list(shape)} but holds {info.file_size - (end - start):,} bytes")
                if _fortran(path, start):
                    raise _fail(path, f"member {info.filename!r} is stored in Fortran order; save it C-ordered (np.ascontiguousarray)")
                out[name] = DiskArray(path, end, shape, dtype)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise _fail(path, f"not a readable .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    return out


def disk_arrays(dcfg, names: list[str], path: Path, spec_dir) -> tuple[dict[str, DiskArray], np.ndarray | None]:
    """({graph input: DiskArray}, target in memory or None) of a ``.npy`` or streamed ``.npz`` source."""
    from graphspec.train.data import data_error, resolve_path

    if str(path).endswith(".npz"):
        arrays = open_npz(path)
        target_name = dcfg.target or "target"
        missing = [n for n in names if n not in arrays]
        if missing:
            raise data_error(f"{str(path)!r} has no array for graph input(s) {', '.join(map(repr, missing))}; it holds {', '.join(map(repr, arrays)) or 'nothing'}")
        target = arrays.get(target_name)
        inputs = {n: arrays[n] for n in names}
    else:
        if len(names) != 1:
            raise data_error(f"data {dcfg.source!r} feeds one input, but the graph has {len(names)}: {', '.join(names)}", hint="use an .npz with one array per input")
        inputs = {names[0]: open_npy(path)}
        target = open_npy(resolve_path(dcfg.target, spec_dir)) if dcfg.target else None
    if target is not None:
        target = target[np.arange(len(target))]  # labels are small: read them whole
    lengths = {n: len(a) for n, a in inputs.items()} | ({"target": len(target)} if target is not None else {})
    if len(set(lengths.values())) > 1:
        raise data_error(f"arrays of {dcfg.source!r} differ in length: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    return inputs, target


def streamed(base: DiskArray, idx: np.ndarray, dtype) -> RowView:
    """Rows ``idx`` of ``base`` as a lazy array cast to ``dtype`` per batch."""
    return RowView(base, idx, str(np.dtype(dtype)))
