"""Summarise a graph like torchinfo: each node's op, output shape, parameters
and MACs, with totals.

MACs are multiply-accumulates (the convention of torchvision's "GFLOPS"
column), counted at the spec's example sizes: symbolic dims take their values
from the spec's 'dims:' (batch defaults to 1), or from --dims.
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import add_json_argument, add_spec_arguments, human, load_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_json_argument(p)
    p.add_argument("--dims", default="", metavar="NAME=N,...", help="sizes of symbolic dims for MAC counts, e.g. batch=1,seq=28")
    p.add_argument("--depth", type=int, default=None, help="collapse nodes deeper than this many path levels into their parent")


def parse_dims(text: str) -> dict[str, int]:
    from graphspec.errors import GraphspecError

    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        k, _, v = item.partition("=")
        if not v.strip().isdigit() or not 0 < int(v) < 2**31:
            raise GraphspecError.one("usage", f"--dims expects NAME=N with 0 < N < 2**31, received {item!r}")
        out[k.strip()] = int(v)
    return out


def graph_report(spec, graph, depth: int | None = None) -> dict:
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


def run(args: argparse.Namespace) -> int:
    from graphspec.passes import cost
    from graphspec.errors import Collector

    spec = load_spec(args)
    dims = parse_dims(args.dims)
    graphs = [spec.graph(args.graph)] if args.graph or len(spec.graphs) <= 1 else list(spec.graphs.values())
    if dims:
        sizes = {**spec.dims, **dims}
        problems = Collector()
        for g in graphs:
            cost.run(spec, g, problems, sizes)
        problems.raise_if_errors()  # counts at these sizes would be wrong
    reports = [graph_report(spec, g, args.depth) for g in graphs]
    if args.json:
        doc = {"spec": spec.name, "file": spec.path, "macs_convention": "multiply-accumulates at the example dims", "dims": {**spec.dims, **dims}, "graphs": reports}
        if len(reports) == 1:
            doc.update({k: reports[0][k] for k in ("total_params", "total_macs")})
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    for rep in reports:
        _print_table(spec, rep, {**spec.dims, **dims})
    return 0


def _shape_text(shape) -> str:
    """``[batch, 10]``, or ``[batch, seq, 64] [1, batch, 64]`` for several outputs."""
    if not shape:
        return "?"
    if isinstance(shape[0], list):
        return " ".join(_shape_text(s) for s in shape)
    return "[" + ", ".join(map(str, shape)) + "]"


def _print_table(spec, rep: dict, dims: dict) -> None:
    header = ("node", "op", "output shape", "params", "MACs")
    rows = [
        (
            r["node"] + (f" (shares {r['shared_with']})" if r["shared_with"] else ""),
            r["op"],
            _shape_text(r["output_shape"]),
            f"{r['params']:,}",
            f"{r['macs']:,}",
        )
        for r in rep["nodes"]
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join("{:<%d}" % w if i < 3 else "{:>%d}" % w for i, w in enumerate(widths))
    title = f"{spec.name}" + (f" / {rep['graph']}" if len(spec.graphs) > 1 else "")
    print(title)
    for name, i in rep["inputs"].items():
        print(f"  input {name}: [{', '.join(map(str, i['shape']))}] {i['dtype']}")
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))
    print("  ".join("-" * w for w in widths))
    sizes = ", ".join(f"{k}={v}" for k, v in dims.items()) or "all symbolic dims = 1"
    print(f"total params: {rep['total_params']:,} ({human(rep['total_params'])})")
    print(f"total MACs:   {rep['total_macs']:,} ({human(rep['total_macs'])}) multiply-accumulates at {sizes} (symbolic dims default to 1)")
    for name, o in rep["outputs"].items():
        print(f"  output {name}: {o['node']} [{', '.join(map(str, o['shape'] or []))}]")
    print()
