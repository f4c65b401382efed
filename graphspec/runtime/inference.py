"""Inputs from .npy/.npz files, outputs to .npz, and short summaries of outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from graphspec.errors import GraphspecError
from graphspec.io import atomic_write, load_npy, load_npz

MAX_INPUT_BYTES = 4 * 1024**3


def load_inputs(path: str | Path, input_names: list[str]) -> dict[str, np.ndarray]:
    """Read a .npy (single-input models) or .npz (arrays named after the inputs).

    An .npz holding one unnamed array (``arr_0``, as ``np.savez(f, x)`` writes)
    feeds a single-input model too.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise GraphspecError.one("usage", f"inputs must be a .npy or .npz file, received {p.name!r}")
    # regular file, size, dtype (no pickles) and zip members checked before inflating
    data = load_npy(p, what="input file", limit_bytes=MAX_INPUT_BYTES) if suffix == ".npy" else load_npz(p, what="input file", limit_bytes=MAX_INPUT_BYTES)
    if suffix == ".npy":
        if len(input_names) != 1:
            raise GraphspecError.one(
                "data",
                f"{p.name} holds one array but the model has {len(input_names)} inputs ({', '.join(input_names)})",
                hint="save them in one .npz with one array per input name: np.savez('x.npz', " + ", ".join(f"{n}=..." for n in input_names) + ")",
            )
        return {input_names[0]: data}
    arrays = data
    if len(input_names) == 1 and list(arrays) == ["arr_0"]:
        return {input_names[0]: arrays["arr_0"]}
    return arrays


def save_outputs(path: str | Path, outputs: dict[str, np.ndarray]) -> str:
    p = Path(path)
    if p.suffix.lower() == ".npy":
        if len(outputs) != 1:
            raise GraphspecError.one("usage", f"the model has {len(outputs)} outputs; write them to an .npz, not {p.name}")
        atomic_write(p, lambda f: np.save(f, next(iter(outputs.values()))))
    elif p.suffix.lower() == ".npz":
        atomic_write(p, lambda f: np.savez(f, **outputs))  # never a torn file at the final name
    else:
        raise GraphspecError.one("usage", f"outputs are written to a .npz (or .npy for one output), received {p.name!r}")
    return str(p)


def summarize(name: str, arr: np.ndarray, max_rows: int = 8) -> dict[str, Any]:
    """Shape, dtype, range; for 2-D float outputs ([batch, classes]) the argmax of each row."""
    out: dict[str, Any] = {"name": name, "shape": list(arr.shape), "dtype": arr.dtype.name}
    if arr.size and arr.dtype.kind in "fiub":
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        if finite.size:
            out["min"] = float(finite.min())
            out["max"] = float(finite.max())
            out["mean"] = float(finite.astype(np.float64).mean())
        if arr.dtype.kind == "f" and finite.size != arr.size:
            out["non_finite"] = int(arr.size - finite.size)
    if arr.ndim == 2 and arr.shape[1] > 1 and arr.dtype.kind == "f":
        out["argmax"] = [int(i) for i in arr.argmax(axis=1)[:max_rows]]
        if arr.shape[0] > max_rows:
            out["argmax_truncated"] = True
    return out


def format_summary(s: dict[str, Any]) -> str:
    shape = "[" + ", ".join(str(d) for d in s["shape"]) + "]"
    text = f"{s['name']}: {shape} {s['dtype']}"
    if "min" in s:
        text += f"  min {s['min']:.4g}  max {s['max']:.4g}  mean {s['mean']:.4g}"
    if s.get("non_finite"):
        text += f"  ({s['non_finite']} NaN/Inf)"
    if "argmax" in s:
        text += "\n    argmax per row: " + " ".join(map(str, s["argmax"])) + (" ..." if s.get("argmax_truncated") else "")
    return text
