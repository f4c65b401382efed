"""Summarise a graph like torchinfo: each node's op, output shape, parameters
and MACs, with totals.

MACs are multiply-accumulates (the convention of torchvision's "GFLOPS"
column), counted at the spec's example sizes: symbolic dims take their values
from the spec's 'dims:' (batch defaults to 1), or from --dims.

A spec with a ``train:`` section gets a "trainable" column: ``frozen`` for
nodes that ``train.freeze`` matches, ``partly`` when only some of a node's
parameters match, ``yes`` otherwise (blank for nodes without parameters).
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import add_json_argument, add_spec_arguments, human, int_range, load_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_json_argument(p)
    p.add_argument("--dims", default="", metavar="NAME=N,...", help="sizes of symbolic dims for MAC counts, e.g. batch=1,seq=28")
    p.add_argument("--depth", type=int_range(1, 64, "a depth"), default=None, help="collapse nodes deeper than this many path levels into their parent")


def parse_dims(text: str) -> dict[str, int]:
    from graphspec.errors import GraphspecError

    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        k, _, v = item.partition("=")
        if not v.strip().isdigit() or not 0 < int(v) < 2**31:
            raise GraphspecError.one("usage", f"--dims expects NAME=N with 0 < N < 2**31, received {item!r}")
        out[k.strip()] = int(v)
    return out


def run(args: argparse.Namespace) -> int:
    from graphspec.passes.summary import inspect_report

    spec = load_spec(args)
    doc = inspect_report(spec, graph=args.graph, dims=parse_dims(args.dims), depth=args.depth)  # == spec.inspect()
    mark_trainable(spec, doc)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    for rep in doc["graphs"]:
        _print_table(spec, rep, doc["dims"])
    return 0


def _shape_text(shape) -> str:
    """``[batch, 10]``, or ``[batch, seq, 64] [1, batch, 64]`` for several outputs."""
    if not shape:
        return "?"
    if isinstance(shape[0], list):
        return " ".join(_shape_text(s) for s in shape)
    return "[" + ", ".join(map(str, shape)) + "]"


def mark_trainable(spec, doc: dict) -> None:
    """Add ``trainable`` to each node row (and trainable/frozen totals) when the spec has a train: section."""
    train = spec.train if isinstance(getattr(spec, "train", None), dict) else None
    if train is None:
        return
    from graphspec.train.finetune import matches  # torch-free

    globs = [str(g) for g in (train.get("freeze") or [])]
    for rep in doc["graphs"]:
        frozen_total = 0
        for r in rep["nodes"]:
            if not r["params"]:
                r["trainable"] = ""
                continue
            hits = [matches(f"{r['node']}.{p}", globs) for p in ("weight", "bias")]
            r["trainable"] = "frozen" if matches(r["node"], globs) or all(hits) else "partly" if any(hits) else "yes"
            frozen_total += r["params"] if r["trainable"] == "frozen" else 0
        rep["frozen_params"] = frozen_total
        rep["trainable_params"] = rep["total_params"] - frozen_total


def _print_table(spec, rep: dict, dims: dict) -> None:
    trainable = "trainable_params" in rep
    header = ("node", "op", "output shape", "params", "MACs") + (("trainable",) if trainable else ())
    rows = [
        (
            r["node"] + (f" (shares {r['shared_with']})" if r["shared_with"] else ""),
            r["op"],
            _shape_text(r["output_shape"]),
            f"{r['params']:,}",
            f"{r['macs']:,}",
        )
        + ((r["trainable"],) if trainable else ())
        for r in rep["nodes"]
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join("{:<%d}" % w if i < 3 or i > 4 else "{:>%d}" % w for i, w in enumerate(widths))
    title = f"{spec.name}" + (f" / {rep['graph']}" if len(spec.graphs) > 1 else "")
    print(title)
    for name, i in rep["inputs"].items():
        print(f"  input {name}: [{', '.join(map(str, i['shape']))}] {i['dtype']}")
    print(line.format(*header).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row).rstrip())
    print("  ".join("-" * w for w in widths))
    sizes = ", ".join(f"{k}={v}" for k, v in dims.items()) or "all symbolic dims = 1"
    print(f"total params: {rep['total_params']:,} ({human(rep['total_params'])})")
    if trainable:
        print(f"trainable:    {rep['trainable_params']:,}; frozen {rep['frozen_params']:,} (train.freeze)")
    print(f"total MACs:   {rep['total_macs']:,} ({human(rep['total_macs'])}) multiply-accumulates at {sizes} (symbolic dims default to 1)")
    for name, o in rep["outputs"].items():
        print(f"  output {name}: {o['node']} [{', '.join(map(str, o['shape'] or []))}]")
    print()
