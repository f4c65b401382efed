"""Print the JSON Schema (draft 2020-12) of the spec language.

Editors use it for completion, hover docs and checking: with the YAML
extension (yaml-language-server), put this first line in a spec

    # yaml-language-server: $schema=path/to/graphspec.schema.json

or map the schema to specs/*.yaml in the editor's settings. The schema is
generated from the pydantic models of the file format and from the op
registry (one node model per op, plugins included), so it always matches
what 'graphspec validate' accepts. It checks structure and parameter types;
references, shapes and block params are checked by 'graphspec validate' only.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("-o", "--output", metavar="FILE", help="write the schema to FILE instead of stdout")
    p.add_argument(
        "--builtin-only",
        action="store_true",
        help="leave out ops registered by installed plugins (what docs/graphspec.schema.json holds)",
    )


def run(args: argparse.Namespace) -> int:
    from graphspec.errors import GraphspecError
    from graphspec.spec import jsonschema

    schema = jsonschema.build(jsonschema.builtin_ops() if args.builtin_only else None)
    text = jsonschema.dumps(schema)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise GraphspecError.one("file-unreadable", f"cannot write {args.output}: {exc.strerror or exc}")
    print(f"wrote {args.output} ({len(schema['$defs'])} definitions)", file=sys.stderr)
    return 0
