"""Warnings: nodes that no output depends on, inputs that no node reads."""

from __future__ import annotations

import networkx as nx

from graphspec.errors import Collector
from graphspec.graph.model import Graph, Spec


def run(spec: Spec, graph: Graph, out: Collector) -> None:
    needed: set[str] = set()
    for node_id, _ in graph.outputs.values():
        needed.add(node_id)
        needed |= nx.ancestors(graph.g, node_id)
    for node_id in graph.order:
        if node_id in needed:
            continue
        attrs = graph.node(node_id)
        if attrs["kind"] == "input":
            out.add("unused-input", f"graph {graph.name!r}: input {node_id!r} is not read by any output", location=attrs["loc"], node=node_id, severity="warning")
        else:
            out.add("unused-node", f"graph {graph.name!r}: no output depends on node {node_id!r}", location=attrs["loc"], node=node_id, severity="warning", hint="remove it, or add it to 'outputs'")
