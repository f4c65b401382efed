"""Run folders, claimed atomically: two ``graphspec train`` never share one.

``os.mkdir`` is the claim (it fails if the folder exists, atomically, even
across machines on a shared filesystem), and an ``flock`` on the folder itself
marks it in use for as long as the process lives -- the kernel drops the lock
when the process ends, even by SIGKILL, so a dead run never blocks its folder.

- no ``--name``: ``runs/<spec name>``, then ``-2``, ``-3`` ... the first mkdir that
  succeeds wins, so concurrent runs of one spec get distinct folders;
- ``--name N``: ``runs/N`` if it is new (or empty); an existing one is exit 2
  telling how to continue it (``--resume``);
- ``--resume``: the folder is locked; one in use by a live run is exit 2; one
  killed before its first checkpoint starts over in place.

Torch-free; the engine calls :func:`claim_run_dir` from ``run_dir_for``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

from graphspec.errors import GraphspecError
from graphspec.io import check_name, write_error
from graphspec.io.names import sanitize

# Set by the multi-process launcher for its workers: the folder it already claimed.
ENV_CLAIMED = "GRAPHSPEC_CLAIMED_RUN"
CHECKPOINT = "last.state.pt"  # the commit point of a checkpoint (see checkpoint.py)
MAX_NUMBER = 10_000

_held: dict[str, int] = {}  # folder -> descriptor holding its lock, for this process's life
_mine = threading.local()  # claims made by this thread's current run: [(folder, created)]


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT).is_file()


def _lock(folder: Path) -> bool:
    """Lock ``folder`` for this process; False when another live process holds it."""
    key = os.path.realpath(folder)
    if key in _held:  # claimed earlier by this same process (in-process runs)
        return True
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    _held[key] = fd
    return True


def _record(folder: Path, created: bool) -> Path:
    if not hasattr(_mine, "claims"):
        _mine.claims = []
    _mine.claims.append((Path(folder), created))
    return Path(folder)


def settle_claims() -> None:
    """End this thread's claims: unlock them, and remove a folder this run created
    that is still empty (it failed before writing anything, e.g. on bad data)."""
    for folder, created in getattr(_mine, "claims", []):
        release(folder)
        if created:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                pass
    _mine.claims = []


def release(folder: Path) -> None:
    """Drop this process's claim on ``folder`` (optional: process exit drops it too)."""
    fd = _held.pop(os.path.realpath(folder), None)
    if fd is not None:
        os.close(fd)


def _busy(folder: Path) -> GraphspecError:
    return GraphspecError.one(
        "usage",
        f"run folder {str(folder)!r} is in use by another running 'graphspec train'",
        hint="wait for it to finish, or pick another --name",
    )


def _ensure_runs_dir(runs: Path) -> None:
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise GraphspecError.one("file-write", f"cannot create runs folder {str(runs)!r}: a file of that name exists", hint="pass another --runs-dir") from None
    except OSError as exc:
        raise write_error(runs, exc) from None


def _mkdir(folder: Path) -> bool:
    """Create ``folder``; False when it already exists (the claim is someone else's)."""
    try:
        os.mkdir(folder)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise write_error(folder, exc) from None


def _claim_existing(folder: Path, *, resume: bool) -> Path:
    if not folder.is_dir():
        raise GraphspecError.one("file-write", f"cannot use run folder {str(folder)!r}: it exists and is not a folder", hint="pick another --name")
    try:
        locked = _lock(folder)
    except OSError as exc:
        raise write_error(folder, exc) from None
    if not locked:
        raise _busy(folder)
    if resume or not any(folder.iterdir()):
        return _record(folder, False)  # resume it, or an empty folder: nothing to lose
    release(folder)
    if has_checkpoint(folder):
        raise GraphspecError.one("usage", f"run folder {str(folder)!r} already exists", hint="continue it with --resume, or pick another --name")
    raise GraphspecError.one(
        "usage",
        f"run folder {str(folder)!r} already exists but holds no checkpoint (that run stopped before its first epoch ended)",
        hint="start it over in place with --resume (no need to delete it), or pick another --name",
    )


def claim_run_dir(spec_name: str | None, runs_dir: str | Path, name: str | None, resume: bool) -> Path:
    """The run folder for this process, claimed (see the module doc)."""
    runs = Path(runs_dir)
    inherited = os.environ.get(ENV_CLAIMED)
    if inherited and name and os.path.realpath(runs / name) == os.path.realpath(inherited):
        return runs / name  # a worker of a launcher that holds the claim
    if name is not None:
        check_name(name, what=f"--name {name!r}", code="usage")
    _ensure_runs_dir(runs)
    if name:
        folder = runs / name
        if resume:
            if not folder.exists():
                raise GraphspecError.one("checkpoint", f"no run folder {str(folder)!r} to resume", hint="start the run without --resume")
            return _claim_existing(folder, resume=True)
        if _mkdir(folder) and _lock(folder):
            return _record(folder, True)
        return _claim_existing(folder, resume=False)
    base = sanitize(spec_name or "run", "run")
    names = [base] + [f"{base}-{i}" for i in range(2, MAX_NUMBER)]
    if resume:
        taken = [n for n in names if (runs / n).is_dir()]
        if not taken:
            raise GraphspecError.one("checkpoint", f"no run of {base!r} in {str(runs)!r} to resume", hint="start it without --resume")
        return _claim_existing(runs / taken[-1], resume=True)
    for n in names:
        if _mkdir(runs / n) and _lock(runs / n):
            return _record(runs / n, True)
    raise GraphspecError.one("usage", f"too many runs of {base!r} in {str(runs)!r}; pass --name")
