"""The inspect table as data: per node op, inputs, output shape, params, MACs; totals.

One builder for ``graphspec inspect`` (which prints it or dumps it as JSON)
and the API's ``spec.inspect()``.
"""

from __future__ import annotations

from typing import Any

from graphspec.errors import Collector, GraphspecError
from graphspec.graph.model import Graph, Spec

MACS_CONVENTION = "multiply-accumulates at the example dims"


def graph_report(spec: Spec, graph: Graph, depth: int | None = None) -> dict[str, Any]:
    """One graph: inputs, outputs, a row per op node (collapsed below ``depth`` path levels), totals."""
    rows = []
    for node_id in graph.op_nodes():
        a = graph.node(node_id)
        types = a["meta"].get("types", ())
        rows.append(
            {
                "node": node_id,
                "op": a["op"].op_name,
                "inputs": [s if p == 0 else f"{s}.{graph.node(s)['op'].outputs[p] if graph.node(s)['op'] else p}" for s, p in a["inputs"]],
                "output_shape": [list(t.shape) for t in types] if len(types) > 1 else (list(types[0].shape) if types else None),
                "dtype": types[0].dtype if types else None,
                "params": a["meta"].get("params", 0),
                "macs": a["meta"].get("macs", 0),
                "shared_with": a["module"] if a["module"] != node_id else None,
            }
        )
    if depth is not None:
        rows = _collapse(rows, depth)
    return {
        "graph": graph.name,
        "inputs": {k: {"shape": list(v.type.shape), "dtype": v.type.dtype} for k, v in graph.inputs.items()},
        "outputs": {k: {"node": n, "shape": list(graph.output_type(k).shape) if graph.output_type(k) else None} for k, (n, _) in graph.outputs.items()},
        "nodes": rows,
        "total_params": graph.total_params,
        "total_macs": graph.total_macs,
    }


def _collapse(rows: list[dict], depth: int) -> list[dict]:
    out: dict[str, dict] = {}
    for r in rows:
        parts = r["node"].split(".")
        key = ".".join(parts[:depth])
        if key not in out:
            out[key] = dict(r, node=key, op=r["op"] if len(parts) <= depth else "(block)")
        else:
            out[key]["params"] += r["params"]
            out[key]["macs"] += r["macs"]
            out[key]["output_shape"] = r["output_shape"]
    return list(out.values())


def _recost(spec: Spec, graphs: list[Graph], sizes: dict[str, int]) -> None:
    from graphspec.passes import cost

    problems = Collector()
    for g in graphs:
        cost.run(spec, g, problems, sizes)
    problems.raise_if_errors()  # counts at these sizes would be wrong


def inspect_report(spec: Spec, graph: str | None = None, dims: dict[str, int] | None = None, depth: int | None = None) -> dict[str, Any]:
    """The whole inspect document: every graph (or the one named), MACs at ``dims`` (default the spec's).

    With one graph, ``total_params`` and ``total_macs`` are also at the top.
    The spec is left as it was: MACs counted at other sizes are recounted back.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise GraphspecError.one("usage", f"depth must be a positive integer. Received: {depth!r}")
    dims = dict(dims or {})
    graphs = [spec.graph(graph)] if graph or len(spec.graphs) <= 1 else list(spec.graphs.values())
    if dims:
        _recost(spec, graphs, {**spec.dims, **dims})
    try:
        reports = [graph_report(spec, g, depth) for g in graphs]
    finally:
        if dims:
            _recost(spec, graphs, dict(spec.dims))
    doc: dict[str, Any] = {"spec": spec.name, "file": spec.path, "macs_convention": MACS_CONVENTION, "dims": {**spec.dims, **dims}, "graphs": reports}
    if len(reports) == 1:
        doc.update({k: reports[0][k] for k in ("total_params", "total_macs")})
    return doc
