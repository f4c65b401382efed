"""Options and output shared by the commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable

from graphspec.errors import Diagnostic


def add_spec_arguments(p: argparse.ArgumentParser, graph: bool = True) -> None:
    p.add_argument("spec", help="spec file, or the name of a zoo model (e.g. lenet5)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value in the spec before validation, e.g. --set params.width=64 (repeatable)",
    )
    if graph:
        p.add_argument("--graph", "-g", help="which graph of a multi-graph spec (e.g. generator)")


def add_json_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def load_spec(args: argparse.Namespace):
    """Load the spec named on the command line, applying ``--set`` overrides."""
    import graphspec
    from graphspec.spec.overrides import parse_assignments

    return graphspec.load(args.spec, set=parse_assignments(args.overrides))


def _sort_key(d: Diagnostic):
    loc = d.location
    return (loc.file or "", loc.line or 0, loc.col or 0) if loc else ("", 0, 0)


def print_diagnostics(diagnostics: Iterable[Diagnostic], json_out: bool = False, stream=None) -> None:
    stream = stream or sys.stderr
    items = sorted(diagnostics, key=_sort_key)
    if json_out:
        print(json.dumps({"diagnostics": [d.to_json() for d in items]}, indent=2), file=sys.stdout)
        return
    for d in items:
        print(d.format(), file=stream)
    n_err = sum(d.severity == "error" for d in items)
    n_warn = len(items) - n_err
    if n_err:
        print(f"{n_err} error(s), {n_warn} warning(s)", file=stream)


def human(n: float) -> str:
    """A short human-readable count.

    >>> human(61100840), human(714_000_000), human(999)
    ('61.1M', '714.0M', '999')
    """
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))
