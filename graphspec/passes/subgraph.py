"""Extract the part of a graph that a chosen set of outputs needs."""

from __future__ import annotations

import networkx as nx

from graphspec.errors import GraphspecError, did_you_mean
from graphspec.graph.model import Graph


def extract(graph: Graph, outputs: list[str]) -> Graph:
    """A new Graph holding only the nodes (and inputs) that ``outputs`` depend on.

    ``outputs`` are output names of the graph or node references ``node`` /
    ``node.port`` / ``node:port`` (e.g. a VAE's ``decoder_out`` or ``fc_mu``;
    node ids are module paths such as ``enc.lstm``, so ``enc.lstm.h_n`` is the
    ``h_n`` output of node ``enc.lstm``).
    """
    chosen: dict[str, tuple[str, int]] = {}
    for name in outputs:
        if name in graph.outputs:
            chosen[name] = graph.outputs[name]
            continue
        found = _node_output(graph, name)
        if found is not None:
            chosen[name.replace(".", "_").replace(":", "_")] = found
            continue
        raise GraphspecError.one(
            "unknown-output",
            f"graph {graph.name!r} has no output or node {name!r}",
            hint=did_you_mean(name, list(graph.outputs) + [n for n in graph.g]) or "outputs: " + ", ".join(graph.outputs),
        )
    keep: set[str] = set()
    for node_id, _ in chosen.values():
        keep.add(node_id)
        keep |= nx.ancestors(graph.g, node_id)
    sub = graph.g.subgraph(keep).copy()
    inputs = {k: v for k, v in graph.inputs.items() if k in keep}
    order = [n for n in graph.order if n in keep]
    return Graph(graph.name, sub, inputs, chosen, {}, order)


def _node_output(graph: Graph, name: str) -> tuple[str, int] | None:
    """``node`` (its first output), ``node.port`` or ``node:port`` -> (node id, port index)."""
    candidates = [(name.strip(), None)]
    for sep in (":", "."):
        if sep in name:
            node_id, _, port = name.rpartition(sep)
            candidates.append((node_id.strip(), port.strip()))
    for node_id, port in candidates:
        if node_id not in graph.g or graph.node(node_id)["kind"] != "op":
            continue
        op_outputs = graph.node(node_id)["op"].outputs
        if port is None:
            return (node_id, 0)
        if port in op_outputs:
            return (node_id, op_outputs.index(port))
        raise GraphspecError.one(
            "unknown-output",
            f"node {node_id!r} has no output {port!r}. Outputs: {', '.join(op_outputs)}",
            hint=did_you_mean(port, op_outputs),
        )
    return None
