"""Draw a graph: Graphviz dot (.dot), Mermaid (.mmd), SVG (.svg) or PNG (.png).

Boxes are graph inputs, nodes ('name' over 'Op', coloured by op category) and
outputs; edges carry the shape of the tensor they move. Block calls,
Sequential and repeat become nested frames (clusters), so a ResNet reads
stage by stage. The format follows the suffix of -o.

.svg and .png are drawn by Graphviz's 'dot' program when it is on PATH and
otherwise by a pure-Python layered layout (matplotlib), said on stderr;
--renderer picks one explicitly (a missing one exits 9, dependency).
A multi-graph spec draws every graph side by side unless --graph picks one.

Examples:
  graphspec viz resnet18 -o resnet18.svg
  graphspec viz specs/vae.yaml --graph decoder -o decoder.png
  graphspec viz lenet5 -o lenet5.mmd          # paste into Markdown (GitHub renders Mermaid)
  graphspec viz lenet5 -o lenet5.dot && dot -Tpdf lenet5.dot -o lenet5.pdf
"""

from __future__ import annotations

import argparse
import sys

from graphspec.cli.common import add_spec_arguments, load_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_spec_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file: .dot, .mmd, .svg or .png")
    p.add_argument(
        "--renderer",
        choices=("auto", "graphviz", "matplotlib"),
        default="auto",
        help="who draws .svg/.png: Graphviz 'dot' if installed (auto), or always one of them",
    )
    p.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right")


def run(args: argparse.Namespace) -> int:
    from graphspec import viz

    viz.format_for(args.output)  # a bad suffix is a usage error before any loading
    spec = load_spec(args)
    graphs = [spec.graph(args.graph)] if args.graph or len(spec.graphs) == 1 else list(spec.graphs.values())
    title = spec.name + (f" / {graphs[0].name}" if len(spec.graphs) > 1 and len(graphs) == 1 else "")
    drawing = viz.build_drawing(spec, graphs, title)
    fmt = viz.format_for(args.output)
    n_ops = sum(1 for n in drawing.nodes.values() if n.kind == "op")
    fallback = fmt in ("svg", "png") and args.renderer == "auto" and viz.dot_binary() is None
    if fallback:
        print("graphspec viz: Graphviz 'dot' not found; drawing with the built-in matplotlib layout "
              "(install graphviz for the Graphviz layout)", file=sys.stderr)
    if fmt in ("svg", "png") and (fallback or args.renderer == "matplotlib") and n_ops > 1000:
        print(f"graphspec viz: {n_ops} nodes: matplotlib takes about 10 ms per node; Graphviz is much faster", file=sys.stderr)
    used = viz.render_file(drawing, args.output, args.renderer, args.direction)
    how = {"text": fmt, "graphviz": f"{fmt} via Graphviz dot", "matplotlib": f"{fmt} via matplotlib"}[used]
    print(f"wrote {args.output} ({how}; {n_ops} nodes, {len(drawing.clusters)} clusters)", file=sys.stderr)
    return 0
