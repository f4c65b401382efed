"""``graphspec import MODEL.onnx [--input NAME=SHAPE] -o spec.yaml``: an ONNX graph as a spec.

Reached from :mod:`graphspec.cli.import_` when the target is a ``.onnx``
file. Reads no Python code: the file is read checked
(:mod:`graphspec.backends.onnx_import.read`), mapped to registry ops, written
as spec text and checked against onnxruntime before anything is written.
Unmappable nodes are listed at once (exit 10); a failed check is exit 6.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def is_onnx_target(target: str) -> bool:
    return target.lower().endswith(".onnx")


def run(args: argparse.Namespace) -> int:
    from graphspec.backends.onnx_import import convert_onnx
    from graphspec.backends.torch_import import parse_input
    from graphspec.errors import GraphspecError
    from graphspec.io.atomic import atomic_write

    if args.args != "[]" or args.kwargs != "{}":
        raise GraphspecError.one("usage", "--args and --kwargs are for a Python callable; an .onnx file takes none")
    overrides = dict(parse_input(text) for text in args.input or [])
    from graphspec.cli.import_ import spec_name

    name = spec_name(args.name, _spec_name(args.target))
    text, report, result, weights = convert_onnx(args.target, name=name, overrides=overrides)
    if args.weights:
        from graphspec.train.checkpoint import save_weights

        save_weights(args.weights, {k: v.contiguous() for k, v in weights.items()}, {"graphspec.spec": name})
    atomic_write(args.output, text.encode("utf-8"))
    nodes = sum(1 for _ in result.graph.op_nodes())
    if args.json:
        print(json.dumps({"spec": args.output, "weights": args.weights, "nodes": nodes, **report.to_json()}, indent=2))
        return 0
    print(f"wrote {args.output}: {nodes} nodes, {report.params_spec:,} parameters" + (f"; weights {args.weights}" if args.weights else ""))
    print(f"checked: validates, parameter count equal to the ONNX weights, weights load strict ({report.state_dict_keys} keys)")
    for o in report.outputs:
        print(f"  output {o.name}: shape {o.shape}, max abs diff {o.max_abs:.3g} vs onnxruntime, ratio {o.ratio:.3g}  {'ok' if o.passed else 'FAIL'}")
    return 0


def _spec_name(target: str) -> str:
    """The file's stem as a spec name: ``ResNet-18.onnx`` -> ``resnet_18``."""
    import re

    stem = re.sub(r"\W+", "_", Path(target).stem.lower()).strip("_")
    return stem if stem and not stem[0].isdigit() else f"model_{stem}"
