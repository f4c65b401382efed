"""A renderer-neutral drawing of analysed graphs: boxes, labelled edges, nested clusters.

Every renderer (Graphviz dot, Mermaid, matplotlib) draws a :class:`Drawing`:

- one box per graph input and per op node, labelled ``name`` and ``Op``
  (``name`` is the last part of the node's module path, since the enclosing
  clusters already name the rest);
- one box per graph output;
- one edge per data dependency, labelled with the source output's shape
  (``[batch, 6, 28, 28]``; the port name first when the source has several
  outputs; the dtype last when it is not float32);
- one cluster per block call, ``Sequential`` and ``repeat`` (the node
  attribute ``scope``), nested like the calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# fill colour of an op box by its registry category
CATEGORY_COLORS = {
    "conv": "#cfe2ff",
    "dense": "#e2d9f3",
    "norm": "#fff3cd",
    "activation": "#d1e7dd",
    "pool": "#ffe5d0",
    "merge": "#f8d7da",
    "tensor": "#e9ecef",
    "reduce": "#e7f5ff",
    "recurrent": "#d2f4ea",
    "attention": "#f7d6e6",
    "regularization": "#f1f3f5",
    "generative": "#fde2e4",
}
DEFAULT_COLOR = "#eeeeee"
INPUT_COLOR = "#ffffff"
OUTPUT_COLOR = "#ffffff"


@dataclass
class DNode:
    id: str  # unique in the drawing (a graph's node id, prefixed in multi-graph drawings)
    name: str  # first label line
    op: str  # second label line: the op, "input" or "output"
    kind: str  # "input" | "op" | "output"
    cluster: str | None  # innermost cluster id, None at the top level
    color: str = DEFAULT_COLOR
    extra: str = ""  # optional third label line (e.g. "shares conv1")
    tooltip: str = ""

    @property
    def lines(self) -> list[str]:
        return [self.name, self.op] + ([self.extra] if self.extra else [])


@dataclass
class DEdge:
    src: str
    dst: str
    label: str


@dataclass
class DCluster:
    id: str  # unique, usable as an identifier: c0, c1, ...
    path: str  # module path of the call ("layer1.0")
    label: str  # "layer1.0 (BasicBlock)"
    kind: str  # block name, "Sequential", "repeat" or "graph"
    parent: str | None
    depth: int


@dataclass
class Drawing:
    title: str
    nodes: dict[str, DNode] = field(default_factory=dict)
    edges: list[DEdge] = field(default_factory=list)
    clusters: dict[str, DCluster] = field(default_factory=dict)

    def children(self, cluster: str | None) -> tuple[list[DCluster], list[DNode]]:
        """Direct sub-clusters and nodes of a cluster (None: the top level), in insertion order."""
        subs = [c for c in self.clusters.values() if c.parent == cluster]
        nodes = [n for n in self.nodes.values() if n.cluster == cluster]
        return subs, nodes

    def cluster_chain(self, cluster: str | None) -> list[str]:
        """Cluster ids from the outermost down to ``cluster``."""
        chain = []
        while cluster is not None:
            chain.append(cluster)
            cluster = self.clusters[cluster].parent
        return chain[::-1]


def shape_label(types: Any, port: int, port_names: tuple[str, ...] | None) -> str:
    """``[batch, 6, 28, 28]``; ``h_n [2, batch, 64]`` for a non-default port; dtype when not float32."""
    if not types or port >= len(types):
        return ""
    t = types[port]
    text = "[" + ", ".join(str(d) for d in t.shape) + "]"
    if t.dtype != "float32":
        text += f" {t.dtype}"
    if port_names and len(port_names) > 1 and len(types) > 1:
        text = f"{port_names[port]} {text}"
    return text


def build_drawing(spec, graphs: list, title: str | None = None) -> Drawing:
    """The drawing of one graph, or of several (each in a top-level 'graph NAME' cluster)."""
    d = Drawing(title or spec.name)
    multi = len(graphs) > 1
    counter = [0]

    def new_cluster(path: str, label: str, kind: str, parent: str | None) -> str:
        cid = f"c{counter[0]}"
        counter[0] += 1
        depth = 0 if parent is None else d.clusters[parent].depth + 1
        d.clusters[cid] = DCluster(cid, path, label, kind, parent, depth)
        return cid

    for graph in graphs:
        prefix = f"{graph.name}/" if multi else ""
        root = new_cluster(graph.name, f"graph {graph.name}", "graph", None) if multi else None
        by_path: dict[tuple, str] = {}
        repeat_counts: dict[str, set[str]] = {}

        def cluster_for(scope: list) -> str | None:
            parent = root
            key: tuple = ()
            for path, kind in scope:
                key = key + ((path, kind),)
                if key not in by_path:
                    by_path[key] = new_cluster(path, _cluster_label(path, kind), kind, parent)
                parent = by_path[key]
            return parent

        for node_id in graph.order:
            a = graph.node(node_id)
            scope = [tuple(s) for s in a.get("scope") or []]
            for i, (path, kind) in enumerate(scope):
                if kind == "repeat":
                    # the repeat's children are path.0, path.1, ...: count them
                    rest = node_id[len(path) + 1 :]
                    repeat_counts.setdefault(path, set()).add(rest.split(".", 1)[0])
            cluster = cluster_for(scope)
            if a["kind"] == "input":
                t = a["meta"]["types"][0]
                d.nodes[prefix + node_id] = DNode(
                    prefix + node_id, node_id, "input", "input", cluster, INPUT_COLOR,
                    tooltip=f"input {node_id}: {shape_label((t,), 0, None)}",
                )
                continue
            op = a["op"]
            extra = ""
            if a.get("module") and a["module"] != node_id:  # shared weights: name the owner, relative to the scope
                parent = node_id.rpartition(".")[0]
                owner = a["module"][len(parent) + 1:] if parent and a["module"].startswith(parent + ".") else a["module"]
                extra = f"shares {owner}"
            params = a["meta"].get("params", 0)
            macs = a["meta"].get("macs", 0)
            d.nodes[prefix + node_id] = DNode(
                prefix + node_id,
                a.get("name") or node_id.rsplit(".", 1)[-1],
                op.op_name,
                "op",
                cluster,
                CATEGORY_COLORS.get(getattr(op, "category", ""), DEFAULT_COLOR),
                extra=extra,
                tooltip=f"{node_id}: {op.op_name}, {params:,} params, {macs:,} MACs",
            )
            port_names = None
            for src, port in a["inputs"]:
                sa = graph.node(src)
                port_names = tuple(sa["op"].outputs) if sa["op"] is not None else None
                d.edges.append(DEdge(prefix + src, prefix + node_id, shape_label(sa["meta"].get("types"), port, port_names)))
        for key, cid in by_path.items():
            path, kind = key[-1]
            if kind == "repeat":
                n = len(repeat_counts.get(path, ()))
                d.clusters[cid].label = f"{path} (repeat ×{n})"
        for out_name, (src, port) in graph.outputs.items():
            oid = f"{prefix}output:{out_name}"
            d.nodes[oid] = DNode(oid, out_name, "output", "output", root, OUTPUT_COLOR, tooltip=f"output {out_name}")
            sa = graph.node(src)
            port_names = tuple(sa["op"].outputs) if sa["op"] is not None else None
            d.edges.append(DEdge(prefix + src, oid, shape_label(sa["meta"].get("types"), port, port_names)))
    return d


def _cluster_label(path: str, kind: str) -> str:
    if kind == "repeat":
        return f"{path} (repeat)"
    return f"{path} ({kind})"
