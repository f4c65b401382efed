"""Checkpoints and run files, written atomically (temporary file, fsync, os.replace).

A run folder holds, per checkpoint kind (``last`` and ``best``):

- ``<kind>.safetensors``: the weights, ``{node path.param: tensor}``, with
  metadata (epoch, step, spec name, spec sha256);
- ``<kind>.state.pt``: everything a resume needs -- epoch, step, the weights
  again, optimizer/schedule/task state, RNG states, early-stopping counters --
  as plain tensors, numbers, strings, lists and dicts, so it loads with
  ``torch.load(weights_only=True)``.

``state.pt`` carries its own copy of the weights so it is the single commit
point of a checkpoint: a process killed between the two writes can never leave
a resume with weights from one epoch and optimizer state from another.
"""

from __future__ import annotations

import io
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from graphspec.errors import GraphspecError


def atomic_write(path: str | Path, write: Callable[[Any], None] | bytes | str, mode: str = "wb") -> None:
    """Write ``path`` via a temporary file in the same folder, fsync, then os.replace.

    ``write`` is the content (bytes/str) or a function given the open file.
    A crash leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            if callable(write):
                write(f)
            else:
                f.write(write)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> None:
    from safetensors.torch import save

    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write(path, save(tensors, metadata=meta))


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a .safetensors file; a missing or corrupt file is a "checkpoint" error."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise GraphspecError.one("checkpoint", f"no weights file {str(path)!r}", hint="has the run saved a checkpoint yet? train it with 'graphspec train'")
    try:
        tensors = {}
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
        return tensors, meta
    except Exception as exc:  # safetensors raises its own error types
        raise GraphspecError.one("checkpoint", f"weights file {str(path)!r} is corrupt or not safetensors: {exc}", hint="retrain, or resume from last.safetensors")


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GraphspecError.one("checkpoint", f"no training state {str(path)!r}; nothing to resume", hint="start the run without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GraphspecError.one("checkpoint", f"training state {str(path)!r} is corrupt: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise GraphspecError.one("checkpoint", f"{str(path)!r} is not a graphspec training state (format {STATE_FORMAT})")
    return state


STATE_FORMAT = "graphspec-train-1"


# ----------------------------------------------------------------- RNG
def rng_state() -> dict[str, Any]:
    """All global RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": _py_state(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    random.setstate(_py_unstate(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except Exception:  # pragma: no cover - a different GPU count
            pass


def _py_state(s):
    version, internal, gauss = s
    return [version, list(internal), gauss]


def _py_unstate(s):
    version, internal, gauss = s
    return (version, tuple(internal), gauss)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ----------------------------------------------------------------- metrics files
def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """metrics.jsonl (one JSON object per epoch) and metrics.csv (same columns), both atomic."""
    atomic_write(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows), mode="w")
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    lines = [",".join(cols)]
    for r in rows:
        lines.append(",".join("" if r.get(k) is None else _csv(r[k]) for k in cols))
    atomic_write(run_dir / "metrics.csv", "\n".join(lines) + "\n", mode="w")


def _csv(v) -> str:
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    p = Path(run_dir) / "metrics.jsonl"
    if not p.is_file():
        return []
    rows = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows
