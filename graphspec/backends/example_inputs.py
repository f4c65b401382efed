"""Example inputs: symbolic dims -> concrete sizes -> numpy feeds.

The one generator of test inputs for export, parity, bench, quantisation
calibration and the tests (numpy only, no torch):

- :func:`symbols_of`: the graph's symbolic dim names, batch-like or not;
- :func:`example_sizes`: the sizes the exporter traces with (batch-like 2,
  others the spec's ``dims:`` value, at least 2, else 8);
- :func:`sizes_at`: the same dims at a chosen batch size (bench, parity);
- :func:`make_inputs`: random feeds for a graph at given sizes (valid token ids
  for Embedding inputs);
- :func:`inputs_for_signature`: feeds for a bare ONNX model (no graph), from
  its declared input shapes.

Sizes are checked against the activation budget by the callers
(:mod:`graphspec.passes.budget`) before any feed is allocated.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from graphspec.errors import GraphspecError

DEFAULT_DIM = 8  # a non-batch symbolic dim without a ``dims:`` value
EXPORT_BATCH = 2  # torch.export specialises sizes 0 and 1: trace with 2
INT_DTYPES = ("int64", "int32", "uint8")


def symbols_of(graph) -> dict[str, bool]:
    """Symbolic dim names of the graph's inputs -> True when batch-like (axis 0 somewhere).

    Only plain names count (``batch``, ``seq``); an input dim written as an
    expression (``seq*2``) is exported at its example size.
    """
    out: dict[str, bool] = {}
    for spec_in in graph.inputs.values():
        for axis, d in enumerate(spec_in.type.shape):
            if isinstance(d, str) and d.isidentifier():
                out[d] = out.get(d, False) or axis == 0
    return out


def example_sizes(spec, graph) -> dict[str, int]:
    """Sizes of the symbolic dims for the export's example inputs.

    Batch-like dims (axis 0) take 2, so the exporter does not specialise them
    (torch.export treats sizes 0 and 1 as constants); other dims take the spec's
    ``dims:`` value (at least 2), else 8.
    """
    return sizes_at(graph, EXPORT_BATCH, spec.dims, floor=2)


def sizes_at(graph, batch: int, dims: Mapping[str, int] | None = None, *, floor: int = 1) -> dict[str, int]:
    """Batch-like dims at ``batch``, others at ``dims`` (else 8), at least ``floor``."""
    dims = dims or {}
    return {
        name: batch if batch_like else max(floor, int(dims.get(name, DEFAULT_DIM)))
        for name, batch_like in symbols_of(graph).items()
    }


def bind_shape(shape, sizes) -> tuple[int, ...]:
    from graphspec.ops.types import bind_dim

    return tuple(int(bind_dim(d, sizes)) for d in shape)


def integer_ranges(graph) -> dict[str, int]:
    """Exclusive upper bound of valid values for each integer input (Embedding vocab size)."""
    bounds: dict[str, int] = {}
    for name, spec_in in graph.inputs.items():
        if spec_in.type.dtype not in INT_DTYPES:
            continue
        limit = 256 if spec_in.type.dtype == "uint8" else 2
        found = []
        for _, consumer in graph.g.out_edges(name):
            op = graph.node(consumer).get("op")
            n = getattr(op, "num_embeddings", None)
            if isinstance(n, int):
                found.append(n)
        bounds[name] = min(found) if found else limit
    return bounds


def make_inputs(graph, names: Sequence[str], sizes: dict[str, int], seed: int = 0, *, bf16_as_float32: bool = False) -> dict[str, Any]:
    """Random numpy inputs for the graph at the given dim sizes (valid indices for integer inputs).

    numpy has no bfloat16: such inputs are refused, or given as float32 when
    ``bf16_as_float32`` (the torch side converts them).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    bounds = integer_ranges(graph)
    out = {}
    for name in names:
        t = graph.inputs[name].type
        shape = bind_shape(t.shape, sizes)
        if t.dtype in INT_DTYPES:
            out[name] = rng.integers(0, bounds.get(name, 2), size=shape).astype(t.dtype)
        elif t.dtype == "bool":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        elif t.dtype == "bfloat16" and bf16_as_float32:
            out[name] = rng.standard_normal(size=shape).astype("float32")
        elif t.dtype == "bfloat16":
            raise GraphspecError.one("export", f"input {name!r} is bfloat16, which numpy and the parity check do not support")
        else:
            out[name] = rng.standard_normal(size=shape).astype(t.dtype)
    return out


def signature_shape(shape: Iterable, batch: int, dims: Mapping[str, int]) -> list[int]:
    """A declared ONNX input shape (ints, dim names, None) at a batch size: axis 0 is the batch."""
    out = []
    for axis, d in enumerate(shape):
        if isinstance(d, int):
            out.append(d)
        elif axis == 0:
            out.append(batch)
        else:
            out.append(int(dims.get(d, DEFAULT_DIM)) if isinstance(d, str) else DEFAULT_DIM)
    return out


def inputs_for_signature(inputs: Sequence[Any], batch: int, dims: Mapping[str, int], seed: int = 0) -> dict[str, Any]:
    """Feeds for a bare ONNX model from its inputs (objects with name, shape, dtype): normal floats, zeros otherwise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for info in inputs:
        shape = signature_shape(info.shape, batch, dims)
        dtype = np.dtype(info.dtype or np.float32)
        out[info.name] = rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
    return out
