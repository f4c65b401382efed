"""Extract the part of a graph that a chosen set of outputs needs."""

from __future__ import annotations

import networkx as nx

from graphspec.errors import GraphspecError, did_you_mean
from graphspec.graph.model import Graph


def extract(graph: Graph, outputs: list[str]) -> Graph:
    """A new Graph holding only the nodes (and inputs) that ``outputs`` depend on.

    ``outputs`` are output names of the graph or node references ``node`` /
    ``node.port`` (e.g. a VAE's ``decoder_out`` or ``fc_mu``).
    """
    chosen: dict[str, tuple[str, int]] = {}
    for name in outputs:
        if name in graph.outputs:
            chosen[name] = graph.outputs[name]
            continue
        node_id, _, port = name.partition(":")
        node_id = node_id.strip()
        if node_id in graph.g and graph.node(node_id)["kind"] == "op":
            op = graph.node(node_id)["op"]
            idx = op.outputs.index(port) if port in op.outputs else 0
            chosen[name.replace(".", "_").replace(":", "_")] = (node_id, idx)
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
