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
    from graphspec.pipeline import jsonschema

    schema = jsonschema.build(jsonschema.builtin_ops() if args.builtin_only else None)
    text = jsonschema.dumps(schema)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    from graphspec.io import atomic_write

    atomic_write(args.output, text.encode("utf-8"))  # exit 4 naming the file on any OSError
    print(f"wrote {args.output} ({len(schema['$defs'])} definitions)", file=sys.stderr)
    return 0
