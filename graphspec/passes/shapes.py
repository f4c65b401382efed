"""Shape and dtype inference through every node, symbolic dims included.

A node whose input failed is skipped silently, so one mistake is reported
once, at its own node, not again at every node downstream.
"""

from __future__ import annotations

from graphspec.errors import Collector
from graphspec.graph.model import Graph, Spec
from graphspec.ops.types import ShapeError, TensorType


def run(spec: Spec, graph: Graph, out: Collector) -> None:
    _run_nodes(graph, out)
    for name, (src, port) in graph.outputs.items():
        types = graph.node(src)["meta"].get("types")
        if types is not None and port >= len(types):
            _missing_port(graph, src, port, len(types), graph.output_locs.get(name), src, out)


def _missing_port(graph: Graph, src: str, port: int, available: int, loc, node_id: str, out: Collector) -> None:
    op = graph.node(src)["op"]
    names = ", ".join(op.outputs[:available])
    out.add(
        "unknown-port",
        f"{src!r} ({op.op_name}) has {available} output(s) ({names}); output {op.outputs[port]!r} does not exist",
        location=loc,
        node=node_id,
    )


def _run_nodes(graph: Graph, out: Collector) -> None:
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        in_types = []
        for src, port in attrs["inputs"]:
            types = graph.node(src)["meta"].get("types")
            if types is None:
                break
            if port >= len(types):  # e.g. out5 of a Split into 3 pieces
                _missing_port(graph, src, port, len(types), attrs["loc"], node_id, out)
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
        text = str(exc)
        if text.startswith(f"{op.op_name}: "):  # ops phrase errors standalone; the node prefix names the op
            text = text[len(op.op_name) + 2 :]
        message = f"node {node_id!r} ({op.op_name}): {text}"
        if "Received" not in str(exc) and received:
            message += f". Received: {received}"
        code = exc.code if exc.code in ("shape", "shape-nonpositive", "dtype", "arity") else "shape"
        out.add(code, message, location=attrs["loc"], node=node_id, hint=exc.hint)
        return
    types = result if isinstance(result, tuple) else (result,)
    variable = getattr(op, "variable_outputs", False)  # Split/Chunk: as many as pieces
    if len(types) > len(op.outputs) or (len(types) != len(op.outputs) and not variable):  # an op bug
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
