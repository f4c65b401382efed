"""List the bundled model zoo, or copy a zoo model out to edit.

Examples:
  graphspec zoo                      # name, family, params, what it trains on, doc
  graphspec zoo --json
  graphspec zoo resnet18             # one model
  graphspec zoo resnet18 -o mymodels # copy resnet18.yaml and blocks/resnet.yaml to mymodels/

Every command that takes a SPEC also takes a zoo name (graphspec inspect
resnet18). A copied spec keeps its relative imports, so it validates and
trains where it lands; the JSON Schema is copied beside it for editors.
Existing files are not overwritten unless --force is given. Never imports torch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("name", nargs="?", metavar="NAME", help="a zoo model: show it, or copy it out with -o")
    p.add_argument("-o", "--output", metavar="DIR", help="copy NAME (and the blocks files it imports) into DIR")
    p.add_argument("--force", action="store_true", help="with -o: overwrite existing files")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def run(args: argparse.Namespace) -> int:
    from graphspec import zoo
    from graphspec.errors import GraphspecError

    if args.output is not None:
        if args.name is None:
            raise GraphspecError.one("usage", "-o DIR needs the NAME of the zoo model to copy", hint="e.g. graphspec zoo lenet5 -o mymodels")
        return _copy(args, zoo)
    if args.force:
        raise GraphspecError.one("usage", "--force only applies with -o DIR")
    if args.name is not None:
        zoo.resolve_spec_path(args.name)  # did-you-mean for a mistyped name
        if args.name not in zoo.zoo_names():
            raise GraphspecError.one("file-not-found", f"no zoo model named {args.name!r}", hint="'graphspec zoo' lists them")
        rows = [zoo.describe(args.name)]
    else:
        rows = zoo.catalog()
    if args.json:
        json.dump(rows if args.name is None else rows[0], sys.stdout, indent=2)
        print()
    elif args.name is not None:
        _print_one(rows[0])
    else:
        _print_table(rows)
    return 0


def _copy(args: argparse.Namespace, zoo: Any) -> int:
    written = zoo.copy_out(args.name, args.output, force=args.force)
    if args.json:
        json.dump({"name": args.name, "files": [str(p) for p in written]}, sys.stdout, indent=2)
        print()
        return 0
    for p in written:
        print(f"wrote {p}")
    spec = written[0]
    print(f"edit {spec}, then e.g. 'graphspec validate {spec}' or 'graphspec train {spec}'", file=sys.stderr)
    return 0


def _params_text(params: dict[str, int]) -> str:
    from graphspec.cli.common import human

    if not params:
        return "?"
    if len(params) == 1:
        return human(next(iter(params.values())))
    return " / ".join(human(n) for n in params.values())


def _print_one(row: dict[str, Any]) -> None:
    print(f"{row['name']}: {row['doc'] or ''}")
    print(f"  family     {row['family']}")
    print("  params     " + ", ".join(f"{g} {n:,}" for g, n in row["params"].items()))
    print(f"  trains on  {row['trains_on'] or '- (no train: section)'}")
    print(f"  file       {row['file']}")


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = ("name", "family", "params", "trains on", "doc")
    table = [(r["name"], r["family"] or "?", _params_text(r["params"]), r["trains_on"] or "-", r["doc"] or "") for r in rows]
    widths = [max(len(header[i]), *(len(t[i]) for t in table)) for i in range(4)]
    # Cut the doc column to the terminal's width only when printing to a terminal.
    room = shutil.get_terminal_size().columns - sum(widths) - 8 if sys.stdout.isatty() else 10**6
    for cells in (header, *table):
        doc = cells[4] if len(cells[4]) <= max(room, 20) else cells[4][: max(room, 20) - 1] + "…"
        print("  ".join(c.ljust(w) if i != 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells[:4], widths))) + "  " + doc)
    print(f"{len(rows)} models; 'graphspec zoo NAME -o DIR' copies one out to edit", file=sys.stderr)
