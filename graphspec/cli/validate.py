"""Check spec files and report every problem in each, at its file:line:col.

Checks everything ``graphspec train``/``export`` would check before doing any
work: YAML, schema, references, expressions, shapes and the ``train:`` section.
Exit status: 0 when every file is valid (warnings allowed), otherwise the code
of the first error's kind (2 bad --set, 3 invalid spec, 4 missing/unreadable
file, ...). Never imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import print_diagnostics
from graphspec.errors import Diagnostic, ExitCode, GraphspecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (or zoo model names)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a value in every spec, e.g. --set params.width=64")
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="print only problems")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 3)")
    # train: is always checked now; the old opt-in flag is accepted and ignored
    p.add_argument("--train", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import graphspec
    from graphspec.spec.overrides import parse_assignments

    overrides = parse_assignments(args.overrides)
    reports = []
    exit_code = ExitCode.OK
    for path in args.specs:
        diags: list[Diagnostic]
        try:
            spec = graphspec.load(path, set=overrides)
            diags = list(spec.warnings)
        except GraphspecError as exc:
            diags = exc.diagnostics
        errors = [d for d in diags if d.severity == "error"]
        if errors and exit_code == ExitCode.OK:
            exit_code = errors[0].exit_code
        elif args.strict and diags and exit_code == ExitCode.OK:
            exit_code = ExitCode.SPEC
        reports.append({"file": path, "valid": not errors, "diagnostics": [d.to_json() for d in diags]})
        if not args.json:
            print_diagnostics(diags)
            if not errors and not args.quiet:
                print(f"{path}: ok" + (f" ({len(diags)} warning(s))" if diags else ""))
    if args.json:
        json.dump({"valid": exit_code == ExitCode.OK, "files": reports}, sys.stdout, indent=2)
        print()
    return int(exit_code)
