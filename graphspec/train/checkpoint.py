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
import math
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from graphspec.errors import GraphspecError
from graphspec.io import atomic_write as _atomic_write
from graphspec.io import check_input_file, json_dumps, read_text, write_error
from graphspec.io.inputs import GiB, MiB


def atomic_write(path: str | Path, write: Callable[[Any], None] | bytes | str, mode: str = "wb") -> None:
    """:func:`graphspec.io.atomic_write`, creating the parent folder first (run folders)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    _atomic_write(path, write, mode)


# A checkpoint larger than this is refused before reading (weights + optimizer state
# of a multi-GB model fit; /dev/zero or a runaway file does not).
MAX_CHECKPOINT_BYTES = 64 * GiB
MAX_METRICS_BYTES = 256 * MiB


def weights_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> bytes:
    """The .safetensors content of ``tensors`` (a snapshot: later training does not change it)."""
    from safetensors.torch import save

    return save(tensors, metadata={k: str(v) for k, v in (metadata or {}).items()})


def state_bytes(state: dict[str, Any]) -> bytes:
    """The .state.pt content of ``state`` (a snapshot, like weights_bytes)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> None:
    atomic_write(path, weights_bytes(tensors, metadata))


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a .safetensors file; a missing or corrupt file is a "checkpoint" error."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise GraphspecError.one("checkpoint", f"no weights file {str(path)!r}", hint="has the run saved a checkpoint yet? train it with 'graphspec train'")
    check_input_file(path, what="weights file", limit_bytes=MAX_CHECKPOINT_BYTES)
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
    atomic_write(path, state_bytes(state))


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise GraphspecError.one("checkpoint", f"no training state {str(path)!r}; nothing to resume", hint="start the run without --resume")
    check_input_file(path, what="training state", limit_bytes=MAX_CHECKPOINT_BYTES)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise GraphspecError.one("file-unreadable", f"cannot read training state {str(path)!r}: {exc.strerror or exc}") from None
    except Exception as exc:
        raise GraphspecError.one("checkpoint", f"training state {str(path)!r} is corrupt: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise GraphspecError.one("checkpoint", f"{str(path)!r} is not a graphspec training state (format {STATE_FORMAT})")
    problem = state_problem(state)
    if problem:
        raise GraphspecError.one("checkpoint", f"training state {str(path)!r} is damaged: {problem}", hint="resume from another copy (best.state.pt), or start the run again")
    return state


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# key -> (check, what it must be); every key the engine reads on resume
_STATE_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "spec_name": (lambda v: v is None or isinstance(v, str), "a string"),
    "task": (lambda v: isinstance(v, str), "a string"),
    "epoch": (_count, "a non-negative integer"),
    "step": (_count, "a non-negative integer"),
    "wall_s": (lambda v: _number(v) and v >= 0, "a non-negative number"),
    "best_value": (lambda v: v is None or isinstance(v, (int, float)) and not isinstance(v, bool), "a number or null"),
    "best_epoch": (_count, "a non-negative integer"),
    "bad_epochs": (_count, "a non-negative integer"),
    "weights": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()), "a dict of tensors"),
    "task_state": (lambda v: isinstance(v, dict), "a dict"),
    "rng": (lambda v: isinstance(v, dict) and {"torch", "numpy", "python"} <= set(v), "a dict of RNG states"),
}


def state_problem(state: dict[str, Any]) -> str | None:
    """What is structurally wrong with a loaded training state, or None."""
    for key, (ok, want) in _STATE_KEYS.items():
        if key not in state:
            return f"it has no {key!r}"
        if not ok(state[key]):
            return f"{key!r} must be {want}, not {type(state[key]).__name__} {str(state[key])[:40]!r}"
    if state["best_epoch"] > state["epoch"]:
        return f"best_epoch {state['best_epoch']} is after epoch {state['epoch']}"
    if "rows" in state:
        return _rows_problem(state["rows"], state["epoch"])
    return None


def _rows_problem(text: Any, epoch: int) -> str | None:
    try:
        rows = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        rows = None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and _count(r.get("epoch")) for r in rows):
        return "'rows' must be a JSON list of metric rows, each with an epoch"
    if len(rows) > epoch:
        return f"'rows' holds {len(rows)} epochs but the state is at epoch {epoch}"
    return None


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
    atomic_write(run_dir / "metrics.jsonl", "".join(json_dumps(r) + "\n" for r in rows), mode="w")
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
    if isinstance(v, float) and not math.isfinite(v):
        return ""  # like a missing value; NaN/Inf rows are flagged by the engine
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    p = Path(run_dir) / "metrics.jsonl"
    if not p.exists():
        return []
    rows = []
    for line in read_text(p, what="metrics file", limit_bytes=MAX_METRICS_BYTES, errors="replace").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows
