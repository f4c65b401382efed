"""The analysed graph: a networkx DiGraph of primitive ops plus its interface.

Node ids are module paths (``layer1.0.conv1``), which are also the torch
module names. Each node's attributes:

``kind``    "input" or "op"
``op``      the validated Op instance (None for inputs)
``inputs``  [(source id, source port index)] in the op's port order
``ports``   the port name each entry of ``inputs`` feeds
``module``  module path holding the weights (differs from the id when shared)
``loc``     Location of the node in its spec file
``scope``   [(path, block or "Sequential")] enclosing block calls, outermost first
``meta``    analysis results: ``types`` (TensorType per output), ``params``, ``macs``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from graphspec.errors import Diagnostic, Location
from graphspec.ops.types import TensorType


@dataclass
class InputSpec:
    name: str
    type: TensorType
    loc: Location | None = None


@dataclass
class Graph:
    name: str
    g: nx.DiGraph
    inputs: dict[str, InputSpec]
    outputs: dict[str, tuple[str, int]]  # output name -> (node id, port index)
    output_locs: dict[str, Location] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # a topological order of node ids

    def node(self, node_id: str) -> dict[str, Any]:
        return self.g.nodes[node_id]

    def op_nodes(self) -> Iterator[str]:
        for n in self.order:
            if self.g.nodes[n]["kind"] == "op":
                yield n

    def output_type(self, name: str) -> TensorType | None:
        node_id, port = self.outputs[name]
        types = self.g.nodes[node_id]["meta"].get("types")
        return types[port] if types else None

    @property
    def total_params(self) -> int:
        return sum(self.g.nodes[n]["meta"].get("params", 0) for n in self.op_nodes())

    @property
    def total_macs(self) -> int:
        return sum(self.g.nodes[n]["meta"].get("macs", 0) for n in self.op_nodes())


@dataclass
class Spec:
    """A loaded, validated and analysed spec: one or more graphs plus a training recipe."""

    name: str
    path: str | None
    text: str
    params: dict[str, Any]
    dims: dict[str, int]
    graphs: dict[str, Graph]
    train: dict[str, Any] | None
    files: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # the resolved YAML tree
    tree: Any = None  # the LocatedTree of the spec file (overrides applied): locates errors found later
    train_config: Any = None  # the validated train: config (graphspec.config TrainConfig), when train: is present
    sweep_config: Any = None  # the validated sweep: section (graphspec.config.sweep.SweepConfig), when present

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def graph(self, name: str | None = None) -> Graph:
        from graphspec.errors import GraphspecError, did_you_mean

        if not self.graphs:
            raise GraphspecError.one(
                "unknown-graph",
                f"{self.path or self.name} is a blocks file: it defines blocks but no graph",
                hint="import it from a spec ('imports: {alias: path}') and call its blocks as 'alias.block'",
            )
        if name is None:
            if len(self.graphs) == 1:
                return next(iter(self.graphs.values()))
            raise GraphspecError.one(
                "unknown-graph",
                f"spec {self.name!r} has several graphs; choose one with --graph",
                hint="graphs: " + ", ".join(self.graphs),
            )
        if name not in self.graphs:
            raise GraphspecError.one(
                "unknown-graph",
                f"spec {self.name!r} has no graph {name!r}",
                hint=did_you_mean(name, self.graphs) or "graphs: " + ", ".join(self.graphs),
            )
        return self.graphs[name]

    def to_torch(self, graph: str | None = None, outputs: list[str] | None = None):
        """Compile a graph to a ``torch.fx.GraphModule`` (needs torch)."""
        from graphspec.backends.torch_fx import compile_graph

        return compile_graph(self, self.graph(graph), outputs=outputs)

    def inspect(self, graph: str | None = None, dims: dict[str, int] | None = None, depth: int | None = None) -> dict[str, Any]:
        """The ``graphspec inspect`` table as data: per graph, a row dict per node
        (node, op, inputs, output_shape, dtype, params, macs, shared_with) and the totals."""
        from graphspec.passes.summary import inspect_report

        return inspect_report(self, graph=graph, dims=dims, depth=depth)
