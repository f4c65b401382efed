"""Write a standalone PyTorch file defining the model as an nn.Module class.

The file needs only torch: its __init__ builds the same modules as the
compiled graph (same state_dict keys, so checkpoints load with strict=True)
and its forward is the code torch.fx generated for the graph.

  graphspec codegen resnet18 -o resnet18.py
  graphspec codegen specs/vae.yaml --graph decoder -o decoder.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphspec.cli.common import add_budget_argument, add_spec_arguments, load_spec
from graphspec.errors import ExitCode


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_budget_argument(p)
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: print to stdout)")
    p.add_argument(
        "--outputs",
        action="append",
        default=[],
        metavar="NAME",
        help="keep only these outputs (an output name or a node, repeatable); the model is pruned to what they need",
    )


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    from graphspec.backends.codegen import generate

    outputs = [o for item in args.outputs for o in item.split(",") if o.strip()] or None
    text = generate(spec, args.graph, outputs=outputs)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return int(ExitCode.OK)
    from graphspec.io import atomic_write, write_error

    path = Path(args.output)
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    atomic_write(path, text.encode("utf-8"))
    classes = [line[len("class "):].split("(")[0] for line in text.splitlines() if line.startswith("class ")]
    cls = classes[-1] if classes else ""  # the model class comes last
    print(f"wrote {path} ({len(text.splitlines())} lines){': class ' + cls if cls else ''}", file=sys.stderr)
    return int(ExitCode.OK)
