"""List the registered ops by category, with their ports and parameters.

Without NAME: every op, grouped by category, with its one-line doc, ports
and parameters (type, default, range, description). With NAME: the details
of one op (or of every op in a category, e.g. 'graphspec ops conv').
Parameters are the keys a node may set beside op/in/repeat/share/doc; every
parameter also accepts a ${...} expression.

Examples:
  graphspec ops                 # everything
  graphspec ops --brief         # one line per op
  graphspec ops Conv2d          # one op, with a spec snippet
  graphspec ops recurrent       # one category
  graphspec ops LSTM --json
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("name", nargs="?", metavar="NAME", help="an op (Conv2d) or a category (conv); default: all ops")
    p.add_argument("--json", action="store_true", help="print JSON (a list of ops, or one op) instead of text")
    p.add_argument("--brief", action="store_true", help="one line per op, without parameters")


def _select(name: str | None):
    """(ops, single) for the NAME argument; raises a usage error with a suggestion."""
    from graphspec.errors import GraphspecError, did_you_mean
    from graphspec.ops import registry

    ops = list(registry.all_ops())
    if name is None:
        return ops, False
    by_name = {c.op_name: c for c in ops}
    if name in by_name:
        return [by_name[name]], True
    folded = [c for c in ops if c.op_name.lower() == name.lower()]
    if len(folded) == 1:
        return folded, True
    categories = sorted({c.category for c in ops})
    if name.lower() in categories:
        return [c for c in ops if c.category == name.lower()], False
    raise GraphspecError.one(
        "usage",
        f"no op or category named {name!r}",
        hint=did_you_mean(name, list(by_name) + categories) or "run 'graphspec ops' for the list",
    )


def run(args: argparse.Namespace) -> int:
    from graphspec.pipeline.jsonschema import op_info

    ops, single = _select(args.name)
    infos = [op_info(c) for c in ops]
    if args.json:
        json.dump(infos[0] if single else infos, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    if single:
        print_details(infos[0])
    else:
        print_listing(infos, brief=args.brief)
    return 0


def _ports(info: dict) -> str:
    ins = [{"required": p["name"], "optional": p["name"] + "?", "variadic": "*" + p["name"]}[p["kind"]] for p in info["inputs"]]
    outs = info["outputs"]
    if len(outs) > 6:
        outs = outs[:2] + ["...", outs[-1]]
    return f"({', '.join(ins)}) -> ({', '.join(outs)})"


def _param_rows(info: dict) -> list[tuple[str, str, str, str, str]]:
    from graphspec.pipeline.jsonschema import default_text

    return [(p["name"], p["type"], default_text(p), p["range"], p["description"]) for p in info["params"]]


def _table(rows, indent: str, out) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        print(indent + "  ".join(cells).rstrip(), file=out)


def print_listing(infos: list[dict], brief: bool = False, out=None) -> None:
    out = out or sys.stdout
    categories: dict[str, list[dict]] = {}
    for info in infos:
        categories.setdefault(info["category"], []).append(info)
    name_w = max(len(i["name"]) for i in infos) if infos else 0
    port_w = max(len(_ports(i)) for i in infos) if infos else 0
    for cat in sorted(categories):
        print(f"{cat}", file=out)
        for info in categories[cat]:
            print(f"  {info['name'].ljust(name_w)}  {_ports(info).ljust(port_w)}  {info['summary']}".rstrip(), file=out)
            if not brief:
                _table(_param_rows(info), " " * (name_w + 4), out)
        print(file=out)
    print(f"{len(infos)} op(s). 'graphspec ops NAME' shows one op; every parameter also accepts a ${{...}} expression.", file=out)


def print_details(info: dict, out=None) -> None:
    out = out or sys.stdout
    print(f"{info['name']}  ({info['category']})", file=out)
    print(f"  {info['summary']}", file=out)
    rule = info["shape_rule"]
    if rule and rule != info["summary"]:
        print(f"  shape rule: {rule}", file=out)
    if info["example"]:
        print(f"  example: {info['example']}", file=out)
    if info["stateful_training"]:
        print("  computes differently in training and in eval mode", file=out)
    print("inputs:", file=out)
    for p in info["inputs"]:
        kind = {"required": "required", "optional": "optional", "variadic": "one or more (a list in 'in')"}[p["kind"]]
        print(f"  {p['name']}  {kind}", file=out)
    outs = info["outputs"]
    print("outputs:", file=out)
    if len(outs) > 6:
        print(f"  {outs[0]} .. {outs[-1]}  (refer to them as node.{outs[0]}, node.{outs[1]}, ...; a bare node means {outs[0]})", file=out)
    else:
        for i, name in enumerate(outs):
            print(f"  {name}" + ("  (default: a bare reference to the node)" if i == 0 and len(outs) > 1 else ""), file=out)
    print("parameters:", file=out)
    rows = _param_rows(info)
    if rows:
        _table([("name", "type", "default", "range", "description")] + rows, "  ", out)
    else:
        print("  (none)", file=out)
    required = [p for p in info["params"] if p["required"]]
    first = info["inputs"][0]["name"] if info["inputs"] else None
    body = ", ".join([f"op: {info['name']}", "in: x" if first else ""] + [f"{p['name']}: <{p['type']}>" for p in required])
    print("in a spec:", file=out)
    print("  " + "my_node: {" + ", ".join(s for s in body.split(", ") if s) + "}", file=out)
