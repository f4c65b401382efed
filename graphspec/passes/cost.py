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
from graphspec.spec.expr import ExprError


def run(spec: Spec, graph: Graph, out: Collector, sizes: dict[str, int] | None = None) -> None:
    sizes = dict(spec.dims) if sizes is None else sizes
    counted: dict[str, int] = {}  # module -> its parameter count
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        meta = attrs["meta"]
        if "types" not in meta:
            continue
        op = attrs["op"]
        in_types = [graph.node(s)["meta"]["types"][p] for s, p in attrs["inputs"]]
        module = attrs["module"]
        try:
            concrete_in = [bind(t, sizes) for t in in_types]
            concrete_out = tuple(bind(t, sizes) for t in meta["types"])
            own = op.count_params(*in_types)
            macs = op.count_macs(*concrete_in, outputs=concrete_out)
        except ShapeError as exc:
            out.add(exc.code if exc.code in ("shape", "dtype") else "shape", f"node {node_id!r} ({op.op_name}): {exc}", location=attrs["loc"], node=node_id, hint=exc.hint)
            continue
        except ExprError as exc:  # a symbolic dim that cannot be evaluated at these sizes
            meta.pop("macs", None)
            shown = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "all symbolic dims = 1"
            out.add("too-large", f"node {node_id!r} ({op.op_name}): cannot size its tensors at the example dims ({shown}): {exc}", location=attrs["loc"], node=node_id, hint="use smaller sizes in 'dims:' or --dims")
            continue
        if module in counted and module != node_id:
            # weights shared with `share:` are counted once, and must fit both users
            if own != counted[module]:
                out.add(
                    "share",
                    f"node {node_id!r} shares the weights of {module!r}, but its inputs need {own:,} parameters, not {counted[module]:,}. Received: {', '.join(map(str, in_types))}",
                    location=attrs["loc"],
                    node=node_id,
                    hint="a shared layer must see inputs of the same feature size",
                )
                continue
            params = 0
        else:
            params = own
            counted[module] = own
        meta["params"] = int(params)
        meta["macs"] = int(macs)
