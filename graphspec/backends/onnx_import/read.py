"""Reading an ONNX file for ``graphspec import model.onnx``: checked, confined, all constants.

The file goes through :func:`graphspec.io.read_bytes` (a regular file under
the protobuf limit, read on a checked descriptor). External data is loaded
only from files in the model's own folder (a location with ``..``, an
absolute path or a link out of the folder is refused), each file checked like
the model. Constants are the initializers and the outputs of ``Constant``
nodes, as numpy arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from graphspec.errors import GraphspecError, Location
from graphspec.io import check_input_file, read_bytes
from graphspec.io.inputs import GiB

MAX_MODEL_BYTES = 2 * GiB  # protobuf's own limit on one message
MAX_EXTERNAL_BYTES = 8 * GiB  # all external data files together

__all__ = ["load_model", "constants", "attributes", "MAX_MODEL_BYTES"]


def _bad(path: str, message: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError.one("file-unreadable", message, location=Location(path), hint=hint)


def load_model(path: str | Path) -> Any:
    """The ``onnx.ModelProto`` of ``path``, external data loaded from its folder only."""
    import onnx

    name = str(path)
    raw = read_bytes(path, what="ONNX model", limit_bytes=MAX_MODEL_BYTES)
    try:
        model = onnx.load_model_from_string(raw)
    except Exception as exc:  # protobuf's DecodeError, or a truncated message
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _bad(name, f"{name} is not a valid ONNX model: {text}") from None
    # any bytes can parse as an empty protobuf message: a model has an IR version and a graph
    if model.ir_version <= 0 or not model.graph.node or not model.graph.output:
        raise _bad(name, f"{name} is not a valid ONNX model (no IR version, nodes or outputs)",
                   hint="graphspec import reads .onnx files written by an ONNX exporter")
    _load_external(model, Path(name))
    return model


def _load_external(model: Any, path: Path) -> None:
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    tensors = [t for t in model.graph.initializer if uses_external_data(t)]
    if not tensors:
        return
    folder = path.resolve().parent
    total = 0
    for location in sorted({_location(t) for t in tensors}):
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or ".." in Path(location).parts or target.parent != folder:
            raise _bad(str(path), f"{path}: external data location {location!r} is not a file in the model's folder",
                       hint="external data is read only from the model's own folder")
        total += check_input_file(target, what="ONNX external data file", limit_bytes=MAX_EXTERNAL_BYTES).stat().st_size
        if total > MAX_EXTERNAL_BYTES:
            raise GraphspecError.one("file-too-large", f"{path}: its external data files hold {total:,} bytes; the limit is {MAX_EXTERNAL_BYTES:,}",
                                     location=Location(str(path)))
    try:
        load_external_data_for_model(model, str(folder))
    except Exception as exc:  # a short file, a bad offset
        raise _bad(str(path), f"{path}: cannot read its external data: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _location(tensor: Any) -> str:
    return next((e.value for e in tensor.external_data if e.key == "location"), "")


def constants(model: Any) -> dict[str, np.ndarray]:
    """Initializers by name (Constant nodes are read while walking the graph)."""
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded, tensors as numpy)."""
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif hasattr(value, "dims") and hasattr(value, "data_type"):  # a TensorProto
            value = numpy_helper.to_array(value)
        elif isinstance(value, list):
            value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        out[a.name] = value
    return out


def constant_value(node: Any) -> np.ndarray | None:
    """The value of a ``Constant`` node, None for a form not read (sparse, strings)."""
    attrs = attributes(node)
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key]) if dtype is None else np.asarray(attrs[key], dtype=dtype)
    return None
