"""``graphspec export SPEC --web DIR``: a static folder that runs the model in a browser.

The folder holds the ONNX model, ``model.json`` (the interface, class names and
input descriptions: onnxruntime-web does not expose ONNX metadata), the page
(``index.html``, ``app.mjs``) and the two onnxruntime-web runtime files. Any
static server works (``graphspec serve-web DIR``); ``file://`` does not
(browsers block modules and wasm there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError
from graphspec.io import atomic_write

PAGE_FILES = ("index.html", "app.mjs")
MODEL_FILE = "model.onnx"


def describe_input(item: dict, value_range: tuple[float, float] | None) -> dict[str, Any]:
    """An input of ``model.json``: name, shape, dtype, and how the page offers it (image or numbers)."""
    shape = item["shape"] or []
    out: dict[str, Any] = {"name": item["name"], "shape": shape, "dtype": item["dtype"], "kind": "numbers"}
    if value_range is not None:
        out["range"] = [float(value_range[0]), float(value_range[1])]
    is_float = str(item["dtype"]).startswith("float")
    if is_float and len(shape) == 4 and shape[1] in (1, 3) and all(isinstance(d, int) and d >= 4 for d in shape[2:]):
        out.update(kind="image", channels=shape[1], height=shape[2], width=shape[3])
        out.setdefault("range", [0.0, 1.0])
    return out


def describe_output(item: dict, class_names: Sequence[str] | None) -> dict[str, Any]:
    shape = item["shape"] or []
    out: dict[str, Any] = {"name": item["name"], "shape": shape, "dtype": item["dtype"], "classes": None}
    n = shape[-1] if len(shape) == 2 else None
    if isinstance(n, int) and n >= 2 and str(item["dtype"]).startswith("float"):
        names = list(class_names) if class_names and len(class_names) == n else [str(i) for i in range(n)]
        out["classes"] = names
    return out


def check_folder(folder: Path) -> None:
    """A new or empty folder, or an earlier bundle (overwritten); never someone's other files."""
    if folder.exists() and not folder.is_dir():
        raise GraphspecError.one("file-exists", f"--web {folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "model.json").is_file():
        raise GraphspecError.one("file-exists", f"--web {folder}: the folder holds other files", hint="pass a new or empty folder (or an earlier bundle)")
    if not folder.parent.is_dir():
        raise GraphspecError.one("file-not-found", f"--web {folder}: parent folder {folder.parent} does not exist")


def write_bundle(
    folder: str | Path,
    model: str | Path,
    *,
    name: str,
    graph: str,
    inputs: list[dict],
    outputs: list[dict],
    dims: dict[str, int] | None = None,
    class_names: Sequence[str] | None = None,
    value_ranges: dict[str, tuple[float, float]] | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Write the bundle; returns its ``model.json`` content (plus ``folder`` and ``files``)."""
    from graphspec.web.vendor_files import runtime_files, version

    folder = Path(folder)
    check_folder(folder)
    runtime = runtime_files()  # before writing anything: a broken vendor dir fails cleanly
    folder.mkdir(exist_ok=True)
    meta = {
        "name": name,
        "graph": graph,
        "model": MODEL_FILE,
        "precision": precision,
        "runtime": version(),
        "dims": dict(dims or {}),
        "inputs": [describe_input(i, (value_ranges or {}).get(i["name"])) for i in inputs],
        "outputs": [describe_output(o, class_names) for o in outputs],
    }
    atomic_write(folder / MODEL_FILE, Path(model).read_bytes())
    atomic_write(folder / "model.json", json.dumps(meta, indent=2) + "\n", mode="w")
    for fname, data in runtime.items():
        atomic_write(folder / fname, data)
    static = resources.files("graphspec.web") / "static"
    for fname in PAGE_FILES:
        atomic_write(folder / fname, (static / fname).read_bytes())
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    return {**meta, "folder": str(folder), "files": files, "size_bytes": sum((folder / f).stat().st_size for f in files)}
