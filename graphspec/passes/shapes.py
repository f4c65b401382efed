"""Shape and dtype inference through every node, symbolic dims included.

A node whose input failed is skipped silently, so one mistake is reported
once, at its own node, not again at every node downstream.
"""

from __future__ import annotations

from graphspec.errors import Collector
from graphspec.graph.model import Graph, Spec
from graphspec.ops.types import ShapeError, TensorType


def run(spec: Spec, graph: Graph, out: Collector) -> None:
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        in_types = []
        for src, port in attrs["inputs"]:
            types = graph.node(src)["meta"].get("types")
            if types is None:
                break
            in_types.append(types[port])
        else:
            _infer(attrs, node_id, in_types, out)


def _infer(attrs: dict, node_id: str, in_types: list[TensorType], out: Collector) -> None:
    op = attrs["op"]
    try:
        result = op.infer(*in_types)
    except ShapeError as exc:
        received = ", ".join(f"{p}: {t} {t.dtype}" for p, t in zip(attrs["ports"], in_types))
        message = f"node {node_id!r} ({op.op_name}): {exc}"
        if "Received" not in str(exc) and received:
            message += f". Received: {received}"
        code = exc.code if exc.code in ("shape", "shape-nonpositive", "dtype", "arity") else "shape"
        out.add(code, message, location=attrs["loc"], node=node_id, hint=exc.hint)
        return
    types = result if isinstance(result, tuple) else (result,)
    if len(types) != len(op.outputs):  # a bug in the op, not in the spec
        raise RuntimeError(f"{op.op_name}.infer returned {len(types)} types for {len(op.outputs)} outputs")
    for t in types:
        for d in t.shape:
            if isinstance(d, int) and d <= 0:
                out.add(
                    "shape-nonpositive",
                    f"node {node_id!r} ({op.op_name}): output size would be zero or negative. Received: input {', '.join(map(str, in_types))}",
                    location=attrs["loc"],
                    node=node_id,
                )
                return
    attrs["meta"]["types"] = types
