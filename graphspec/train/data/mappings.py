"""The data mappings a trained model needs at inference time, saved as ``data.json`` in the run.

``class_names`` (class number -> name), image ``transforms`` and ``normalize``
statistics, and for tables the ``columns`` with their ``categories`` and
``standardize`` statistics. ``graphspec export --weights runs/NAME`` copies
the file into the ONNX metadata (``graphspec.data``), so ``graphspec infer``
prints class names and a deployment can preprocess inputs like training did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEYS = ("source", "class_names", "transforms", "normalize", "features", "target")
FILE = "data.json"


def mappings(meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able part of a Splits.meta that describes how examples were encoded."""
    return {k: meta[k] for k in KEYS if meta.get(k) is not None}


def save(run_dir: Path, meta: dict[str, Any]) -> list[str]:
    """Write ``data.json`` (atomically) when the data have mappings worth keeping; returns the names written."""
    doc = mappings(meta)
    if set(doc) <= {"source"}:
        return []
    from graphspec.io import atomic_write

    atomic_write(Path(run_dir) / FILE, json.dumps(doc, indent=2) + "\n", mode="w")
    return [FILE]


def load(path: Path) -> dict[str, Any] | None:
    """``data.json`` of a run folder (or next to a weights file); None when absent or unreadable."""
    path = Path(path)
    f = path / FILE if path.is_dir() else path.parent / FILE
    from graphspec.errors import GraphspecError
    from graphspec.io import read_text

    try:  # checked read: a FIFO or device named data.json cannot hang or fill memory
        doc = json.loads(read_text(f, what="data mappings file", limit_bytes=64 * 1024**2))
    except (GraphspecError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
