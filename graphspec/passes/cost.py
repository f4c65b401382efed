"""Parameter and MAC counts per node.

Parameters are counted once per module, so weights shared with ``share:`` are
counted once. MACs (multiply-accumulates, the convention behind torchvision's
"GFLOPS" column) are computed at the spec's example sizes: symbolic dims take
their value from the spec's ``dims:`` and default to 1 (so ``batch`` = 1).
"""

from __future__ import annotations

from graphspec.errors import Collector
from graphspec.graph.model import Graph, Spec
from graphspec.ops.types import ShapeError, bind


def run(spec: Spec, graph: Graph, out: Collector, sizes: dict[str, int] | None = None) -> None:
    sizes = dict(spec.dims) if sizes is None else sizes
    counted: set[str] = set()
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        meta = attrs["meta"]
        if "types" not in meta:
            continue
        op = attrs["op"]
        in_types = [graph.node(s)["meta"]["types"][p] for s, p in attrs["inputs"]]
        try:
            concrete_in = [bind(t, sizes) for t in in_types]
            concrete_out = tuple(bind(t, sizes) for t in meta["types"])
            params = op.count_params(*in_types) if attrs["module"] not in counted else 0
            macs = op.count_macs(*concrete_in, outputs=concrete_out)
        except ShapeError as exc:
            out.add(exc.code if exc.code in ("shape", "dtype") else "shape", f"node {node_id!r} ({op.op_name}): {exc}", location=attrs["loc"], node=node_id, hint=exc.hint)
            continue
        counted.add(attrs["module"])
        meta["params"] = int(params)
        meta["macs"] = int(macs)
