"""Atomic writes: the final name holds the old file or the complete new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from graphspec.errors import GraphspecError


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_error(path: str | Path, exc: OSError) -> GraphspecError:
    """The exit-4 error for a failed write of ``path`` (disk full, permission, ...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = None
    if getattr(exc, "errno", None) in (28, 27, 122):  # ENOSPC, EFBIG, EDQUOT
        hint = "free some disk space (or raise the file-size limit) and run again; the previous file, if any, is unchanged"
    return GraphspecError.one("file-write", f"cannot write {path}: {reason}", hint=hint)


def atomic_write(path: str | Path, data: Callable[[Any], None] | bytes | str, mode: str = "wb") -> None:
    """Write ``path`` via a temporary file in the same folder, fsync, then os.replace.

    ``data`` is the content (bytes/str) or a function given the open file. The
    file gets the mode a plain ``open()`` would (0o666 less the umask), not
    mkstemp's 0600. A crash or a full disk leaves the old file or the new one,
    never a prefix; the temporary file is removed on any error. The parent
    folder must exist (creating folders is the caller's decision). An OSError
    (disk full, permission, not a folder) becomes exit 4 ``file-write`` naming
    ``path``.
    """
    path = Path(path)
    try:
        _write(path, data, mode)
    except OSError as exc:
        raise write_error(path, exc) from None
    _fsync_dir(path.parent)


def _write(path: Path, data: Callable[[Any], None] | bytes | str, mode: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (some filesystems refuse; that is fine)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover
        pass
