"""Turn a PyTorch model, or an ONNX file, into a checked spec.

It runs your code, like python -c: PACKAGE.MODULE is imported (the current
folder first on sys.path, like python -m) and CALLABLE, a class or a function
returning an nn.Module, is called with --args (a JSON list) and --kwargs (a
JSON object). Each --input names an argument of forward and its shape:
x=batch,3,224,224 (a name is a symbolic dim), tokens=batch,seq:int64.

The model is traced with torch.fx and each module and call mapped to an op.
Module paths stay node paths, so the model's state_dict loads strict into the
spec. Repeated blocks are written once. Before anything is written, the spec
is loaded and checked: same parameter count, strict load of the weights, and
the same outputs in eval mode on random inputs. A MODEL.onnx target is read
as data (no code runs); its constants become the weights (--weights).

Exit codes: 2 bad target, option or failing CALLABLE; 4 an unreadable file;
10 something no op expresses (every place listed with its source line, nothing
written); 6 the written spec computes something else. See docs/import.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import add_json_argument
from graphspec.errors import GraphspecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="PACKAGE.MODULE:CALLABLE|MODEL.onnx",
                   help="the model: a class or function returning an nn.Module (runs your code), or an ONNX file")
    p.add_argument("--input", "-i", action="append", metavar="NAME=SHAPE",
                   help="a forward argument and its shape, e.g. x=batch,3,224,224 (a name is a symbolic dim; :int64 sets the dtype); repeatable; "
                        "required for a callable, for an .onnx file it overrides the file's input shape")
    p.add_argument("-o", "--output", required=True, metavar="SPEC.yaml", help="where to write the spec")
    p.add_argument("--args", default="[]", metavar="JSON", help="positional arguments of CALLABLE, a JSON list (default [])")
    p.add_argument("--kwargs", default="{}", metavar="JSON", help="keyword arguments of CALLABLE, a JSON object (default {})")
    p.add_argument("--weights", metavar="FILE.safetensors", help="also save the model's state_dict (loads into the spec's model strict)")
    p.add_argument("--name", help="the spec's name (default: the callable's name, lower case)")
    add_json_argument(p)


def _json_arg(text: str, what: str, kind: type) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphspecError.one("usage", f"--{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise GraphspecError.one("usage", f"--{what} must be a JSON {'list' if kind is list else 'object'}, received {text!r}")
    return value


def load_model(target: str, args: list, kwargs: dict):
    """Import PACKAGE.MODULE, call CALLABLE(*args, **kwargs): the user's model."""
    import importlib
    import os
    import traceback

    from torch import nn

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise GraphspecError.one("usage", f"expected PACKAGE.MODULE:CALLABLE, received {target!r}", hint="e.g. torchvision.models:resnet18 or mymodels:Net")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like python -m: the current folder's modules import
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise GraphspecError.one("import-callable", f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GraphspecError.one("import-callable", f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise GraphspecError.one("import-callable", f"{target} is a {type(obj).__name__}, not a class or function")
    try:
        model = obj(*args, **kwargs)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        raise GraphspecError.one("import-callable", f"{target}(...) raised {type(exc).__name__}: {exc} ({last.filename}:{last.lineno})") from exc
    if not isinstance(model, nn.Module):
        raise GraphspecError.one("import-callable", f"{target}(...) returned {type(model).__name__}, not a torch.nn.Module")
    return model


def run(args: argparse.Namespace) -> int:
    from graphspec.backends.torch_import import parse_input
    from graphspec.cli import import_onnx

    if import_onnx.is_onnx_target(args.target):  # an ONNX file: no code runs
        return import_onnx.run(args)
    if not args.input:
        raise GraphspecError.one("usage", "--input NAME=SHAPE is required for a PACKAGE.MODULE:CALLABLE target", hint="e.g. --input x=batch,3,224,224")
    inputs = dict(parse_input(text) for text in args.input)
    call_args = _json_arg(args.args, "args", list)
    call_kwargs = _json_arg(args.kwargs, "kwargs", dict)
    name = spec_name(args.name, args.target.rpartition(":")[2].rpartition(".")[2].lower())
    model = load_model(args.target, call_args, call_kwargs)
    text, report, result = convert(model, inputs, name, args.target)

    from graphspec.io.atomic import atomic_write

    if args.weights:
        from graphspec.train.checkpoint import save_weights

        save_weights(args.weights, {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, {"graphspec.spec": name})
    atomic_write(args.output, text.encode("utf-8"))
    if args.json:
        print(json.dumps({"spec": args.output, "weights": args.weights, "nodes": sum(1 for _ in result.graph.op_nodes()), **report.to_json()}, indent=2))
    else:
        print(f"wrote {args.output}: {sum(1 for _ in result.graph.op_nodes())} nodes, {report.params_spec:,} parameters"
              + (f"; weights {args.weights}" if args.weights else ""))
        print(f"checked: validates, parameter count equal, state_dict loads strict ({report.state_dict_keys} keys)")
        for o in report.outputs:
            print(f"  output {o.name}: shape {o.shape}, max abs diff {o.max_abs:.3g}, ratio {o.ratio:.3g}  {'ok' if o.passed else 'FAIL'}")
    return 0


def spec_name(given: str | None, default: str) -> str:
    """``--name`` checked (it becomes the spec's ``name:``, hence file names), or a safe ``default``."""
    from graphspec.io.names import check_name, sanitize

    return check_name(given, what="--name", code="usage") if given is not None else sanitize(default)


def convert(model, inputs: dict, name: str, target: str):
    """(spec text, check report, import result) of a model; raises before anything is written."""
    from graphspec.backends.torch_import import import_module
    from graphspec.backends.torch_import_check import check_spec_text
    from graphspec.graph.write import graph_to_spec

    result = import_module(model, inputs, name=name)
    from graphspec.graph.write import WriteError

    try:
        text = graph_to_spec(result.graph, name=name, classes=result.classes, doc=f"imported from {target} by graphspec import")
    except WriteError as exc:  # e.g. weights shared across blocks: the language cannot say it
        raise GraphspecError.one("import-unsupported", f"the imported graph cannot be written as a spec: {exc}") from exc
    report = check_spec_text(model, text, inputs, result.sizes)
    return text, report, result
