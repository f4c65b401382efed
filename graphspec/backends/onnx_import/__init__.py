"""``graphspec import model.onnx``: an ONNX graph becomes a checked spec, its initializers the weights.

- :mod:`.read`: the file, checked (size, regular file, external data only
  from the model's folder), and its constants;
- :mod:`.build`: ONNX nodes -> registry ops (``from_onnx`` on the op classes)
  -> a flat analysed Graph and the weights under its node paths;
- :mod:`.check`: the written spec loads, counts the same parameters and
  computes what onnxruntime computes on the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphspec.ops.types import TensorType

__all__ = ["convert_onnx"]


def convert_onnx(path: str | Path, *, name: str, overrides: dict[str, TensorType] | None = None) -> tuple[str, Any, Any, dict]:
    """(spec text, check report, OnnxGraph, state_dict) of an ONNX file; raises before anything is written."""
    from graphspec.backends.onnx_import.build import CODE, build_graph
    from graphspec.backends.onnx_import.check import check_spec_text
    from graphspec.backends.onnx_import.read import load_model
    from graphspec.errors import GraphspecError
    from graphspec.graph.write import WriteError, graph_to_spec

    model = load_model(path)
    result = build_graph(model, name=name, overrides=overrides)
    try:
        text = graph_to_spec(result.graph, name=name, doc=f"imported from {Path(path).name} by graphspec import")
    except WriteError as exc:
        raise GraphspecError.one(CODE, f"the imported graph cannot be written as a spec: {exc}") from exc
    report, weights = check_spec_text(model, text, result)
    return text, report, result, weights
