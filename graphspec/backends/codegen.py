"""Write a compiled graph as a standalone PyTorch source file.

The file imports only ``torch`` (plus ``math``, ``operator``, ``typing`` and, when
needed, ``collections``) and defines one ``nn.Module`` class, named like the
compiled module, whose

- ``__init__`` builds the same module tree as :func:`compile_graph` (same
  classes, same configuration, same ``state_dict`` keys, so a checkpoint of the
  compiled module loads with ``strict=True``), and
- ``forward`` is the code torch.fx generated for the compiled module.

Leaf modules are written from the op registry, with no table of torch classes
here: each op describes the module it builds as a
:class:`~graphspec.ops.registry.TorchCall` (a class import path and literal
arguments), the same call ``build_torch`` instantiates, and codegen writes it as
``nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)``, leaving out
keyword arguments equal to the class's defaults. A Parameter node is written as
``nn.Parameter(<its init>)`` from the op's ``init_source``. Every expression is
checked by evaluating it and comparing the result with the compiled module
(class, parameter and buffer shapes, and every public configuration attribute,
recursively), so a file that builds something else is never written. An op that
overrides ``build_torch`` without a ``torch_call`` (a third-party op whose module
is not one constructor call of literals) cannot be written: a
:class:`CodegenError` naming the node (exit code 3). The source of every non-torch
class used (and of :class:`~graphspec.backends.torch_fx.Block`) is copied into
the file with ``inspect.getsource``.
"""

from __future__ import annotations

import inspect
import keyword
import math
import os
import operator
import typing
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from graphspec.backends.torch_fx import Block, Sequential, compile_graph, input_types, is_numbered, module_owners, module_tree
from graphspec.errors import GraphspecError
from graphspec.graph.model import Graph, Spec
from graphspec.ops.registry import Op, TorchCall
from graphspec.passes.subgraph import extract

__all__ = ["generate", "call_expr", "leaf_expr", "CodegenError"]

HEADER_IMPORTS = [
    "import math",
    "from typing import Optional, Sequence, Tuple, Union",
    "",
    "import torch",
    "from torch import nn",
]


class CodegenError(ValueError):
    """A module that cannot be written as a constructor expression."""


# ---------------------------------------------------------------- values


def lit(value: Any) -> str:
    """A Python literal for a constructor argument.

    >>> lit((3, 3)), lit(1e-05), lit("same"), lit(None), lit(float("inf"))
    ('(3, 3)', '1e-05', "'same'", 'None', "float('inf')")
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return repr(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    if isinstance(value, torch.Size):
        return lit(tuple(value))
    raise CodegenError(f"cannot write {type(value).__name__} value {value!r} as a literal")


def call(name: str, *args: Any, **kwargs: Any) -> str:
    parts = [lit(a) for a in args] + [f"{k}={lit(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


# ---------------------------------------------------------------- constructor calls


def is_torch_class(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "torch"


def class_ref(cls: type) -> str:
    """How the generated file names a class: ``nn.Conv2d`` or a copied class's own name."""
    if is_torch_class(cls):
        if getattr(nn, cls.__name__, None) is cls:
            return f"nn.{cls.__name__}"
        raise CodegenError(f"{cls.__module__}.{cls.__qualname__} is not in torch.nn")
    return cls.__name__


def init_defaults(cls: type) -> dict[str, Any]:
    """Default values of ``cls``'s constructor keywords, following ``**kwargs`` that
    an ``__init__`` passes on to its base (``MultiheadAttention(*args, causal=False, **kwargs)``).

    >>> init_defaults(nn.Linear)["bias"], "causal" in init_defaults(nn.Linear)
    (True, False)
    """
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass in (nn.Module, object):
            continue
        params = inspect.signature(klass.__init__).parameters
        for name, p in params.items():
            if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(name, p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return out


def _same_literal(a: Any, b: Any) -> bool:
    # 1 == 1.0 == True, but the constructor may store them differently: compare types too
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same_literal(x, y) for x, y in zip(a, b))
    return a == b


def call_expr(tc: TorchCall) -> str:
    """Source text of an op's constructor call, keyword arguments equal to the
    class's defaults left out.

    >>> call_expr(TorchCall("torch.nn.Conv2d", (3, 64), dict(kernel_size=7, stride=2, groups=1, bias=False)))
    'nn.Conv2d(3, 64, kernel_size=7, stride=2, bias=False)'
    """
    cls = tc.resolve()
    defaults = init_defaults(cls)
    kwargs = {k: v for k, v in tc.kwargs.items() if not (k in defaults and _same_literal(v, defaults[k]))}
    return call(class_ref(cls), *tc.args, **kwargs)


# ---------------------------------------------------------------- checking


def _namespace(classes: list[type]) -> dict[str, Any]:
    ns: dict[str, Any] = {"torch": torch, "nn": nn, "math": math, "operator": operator, "OrderedDict": OrderedDict}
    ns.update({k: getattr(typing, k) for k in ("Optional", "Sequence", "Tuple", "Union")})
    for c in classes:
        ns[c.__name__] = c
    return ns


def _config(m: nn.Module) -> dict[str, Any]:
    """The public, non-tensor configuration of a module (what __init__ decided)."""
    out = {}
    for k, v in m.__dict__.items():
        if k.startswith("_") or k == "training" or isinstance(v, (torch.Tensor, nn.Module)):
            continue
        out[k] = v
    return out


def same_module(a: nn.Module, b: nn.Module) -> str | None:
    """None when ``b`` is built like ``a``; otherwise what differs."""
    mods_a, mods_b = dict(a.named_modules()), dict(b.named_modules())
    if list(mods_a) != list(mods_b):
        return f"submodules {list(mods_a)} != {list(mods_b)}"
    for name, ma in mods_a.items():
        mb = mods_b[name]
        if type(ma) is not type(mb):
            return f"{name or 'module'}: {type(ma).__name__} != {type(mb).__name__}"
        ca, cb = _config(ma), _config(mb)
        if ca != cb:
            keys = sorted(k for k in set(ca) | set(cb) if ca.get(k, "<absent>") != cb.get(k, "<absent>"))
            return f"{name or 'module'}: " + ", ".join(f"{k}={ca.get(k, '<absent>')!r} != {cb.get(k, '<absent>')!r}" for k in keys)
    for what, ta, tb in (
        ("parameters", a.named_parameters(), b.named_parameters()),
        ("buffers", a.named_buffers(), b.named_buffers()),
    ):
        sa = [(k, tuple(v.shape), v.dtype) for k, v in ta]
        sb = [(k, tuple(v.shape), v.dtype) for k, v in tb]
        if sa != sb:
            return f"{what} {sa} != {sb}"
    if list(a.state_dict()) != list(b.state_dict()):
        return "state_dict keys differ"
    return None


def _build(expr: str, ns: dict) -> Any:
    """Evaluate a constructor expression, on the meta device when it allows (no weight init)."""
    try:
        with torch.device("meta"):
            return eval(expr, dict(ns))  # noqa: S307 - text we generated
    except (NotImplementedError, RuntimeError):
        return eval(expr, dict(ns))  # noqa: S307


def leaf_expr(op: Op, inputs: list, module: nn.Module, ns: dict[str, Any]) -> str:
    """The checked constructor expression of the module that ``op`` built from ``inputs``."""
    try:
        tc = op.torch_call(*inputs)
    except NotImplementedError as exc:  # an op overriding build_torch only (a third-party op)
        raise CodegenError(f"op {op.op_name} builds its torch module without a torch_call, so it cannot be written as a constructor call") from exc
    expr = call_expr(tc)
    try:
        built = _build(expr, ns)
    except Exception as exc:  # noqa: BLE001 - reported with the expression
        raise CodegenError(f"{expr} fails: {type(exc).__name__}: {exc}") from exc
    diff = same_module(module, built)
    if diff is not None:  # build_torch built something other than torch_call describes
        raise CodegenError(f"{expr} builds another module than the compiled one: {diff}")
    return expr


def parameter_expr(op: Op, param: nn.Parameter, ns: dict[str, Any]) -> str:
    """``nn.Parameter(<the Parameter op's init>)``, checked against the compiled tensor."""
    expr = f"nn.Parameter({op.init_source()})"
    built = _build(expr, ns)
    if (tuple(built.shape), built.dtype) != (tuple(param.shape), param.dtype):
        raise CodegenError(f"{expr} is {tuple(built.shape)} {built.dtype}, the compiled tensor {tuple(param.shape)} {param.dtype}")
    return expr


# ---------------------------------------------------------------- classes to copy


def custom_classes(modules) -> list[type]:
    """Non-torch classes of ``modules`` and their non-torch bases, bases first."""
    out: list[type] = []
    seen: set[type] = set()

    def add(cls: type) -> None:
        if cls in seen or is_torch_class(cls) or cls is object:
            return
        seen.add(cls)
        for base in cls.__bases__:
            add(base)
        out.append(cls)

    for m in modules:
        for sub in m.modules():
            add(type(sub))
    return out


def class_source(cls: type) -> str:
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError) as exc:
        raise CodegenError(f"cannot copy the source of {cls.__module__}.{cls.__qualname__}: {exc}") from exc
    return inspect.cleandoc("\n" + src) if src.startswith((" ", "\t")) else src.rstrip() + "\n"


# ---------------------------------------------------------------- the file


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _is_ident(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _tree_expr(tree: OrderedDict, leaves: dict[str, str], level: int) -> str:
    """Constructor expression of a container (nn.Sequential or Block) and its children."""
    pad = "    " * (level + 1)
    end = "    " * level
    items = []
    if is_numbered(tree):
        keys = list(tree)
        if keys == [str(i) for i in range(len(keys))]:
            for k, v in tree.items():
                items.append(pad + _child_expr(v, leaves, level + 1) + ",")
            return "nn.Sequential(\n" + "\n".join(items) + "\n" + end + ")"
        for k, v in tree.items():
            items.append(pad + f"({k!r}, " + _child_expr(v, leaves, level + 1) + "),")
        return "nn.Sequential(OrderedDict([\n" + "\n".join(items) + "\n" + end + "]))"
    if all(_is_ident(k) for k in tree):
        for k, v in tree.items():
            items.append(pad + f"{k}=" + _child_expr(v, leaves, level + 1) + ",")
        return "Block(\n" + "\n".join(items) + "\n" + end + ")"
    # torch module names that are not identifiers (RegNet's 'block1-0'): keyword arguments from a dict
    for k, v in tree.items():
        items.append(pad + f"{k!r}: " + _child_expr(v, leaves, level + 1) + ",")
    return "Block(**{\n" + "\n".join(items) + "\n" + end + "})"


def _child_expr(value, leaves: dict[str, str], level: int) -> str:
    return _tree_expr(value, leaves, level) if isinstance(value, OrderedDict) else leaves[value]


def _leaf_paths(module: nn.Module) -> "OrderedDict[str, nn.Module | nn.Parameter]":
    """Leaf paths of a compiled module: the modules that are not containers, and the
    tensors of Parameter nodes (registered directly on a container)."""
    out: OrderedDict = OrderedDict()

    def walk(m: nn.Module, prefix: str) -> None:
        for name, p in m._parameters.items():
            out[f"{prefix}.{name}" if prefix else name] = p
        for name, child in m.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if type(child) in (Block, Sequential, nn.Sequential):
                walk(child, path)
            else:
                out[path] = child

    walk(module, "")
    return out


def doc_escape(text: str) -> str:
    r"""``text`` safe inside a triple-quoted docstring: quotes, backslashes and control
    characters are escaped, so a spec file name holding three quotes, a newline
    and code stays text.

    >>> doc_escape('say "hi"\n')
    'say \\"hi\\"\\n'
    """
    out = []
    for ch in str(text):
        if ch in '\\"':
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def _check_parameter_holders(tree: OrderedDict, leaves: dict) -> None:
    """A numbered container is written as nn.Sequential, which cannot hold a bare tensor."""
    for value in tree.values():
        if not isinstance(value, OrderedDict):
            continue
        if is_numbered(value) and any(isinstance(v, str) and isinstance(leaves[v], nn.Parameter) for v in value.values()):
            raise CodegenError(f"a Parameter node inside a numbered container ({next(iter(value.values()))!r}) cannot be written")
        _check_parameter_holders(value, leaves)


def leaf_exprs(graph: Graph, leaves: "OrderedDict[str, nn.Module | nn.Parameter]", classes: list[type]) -> dict[str, str]:
    """Module path -> checked constructor expression, from the op of the node that built it."""
    ns = _namespace(classes)
    owners = module_owners(graph)
    out: dict[str, str] = {}
    for path, leaf in leaves.items():
        node_id = owners[path]
        op = graph.node(node_id)["op"]
        try:
            if isinstance(leaf, nn.Parameter):
                out[path] = parameter_expr(op, leaf, ns)
            else:
                out[path] = leaf_expr(op, input_types(graph, node_id), leaf, ns)
        except CodegenError as exc:
            raise CodegenError(f"node {node_id!r} ({op.op_name}): {exc}") from exc
    return out


def _init_lines(tree: OrderedDict, exprs: dict[str, str], leaves: dict) -> list[str]:
    """The statements of ``__init__`` after ``super().__init__()``: one per top-level child."""
    lines = []
    for name, value in tree.items():
        expr = _child_expr(value, exprs, 2)
        if _is_ident(name):
            lines.append(f"self.{name} = " + expr)
        elif isinstance(value, str) and isinstance(leaves[value], nn.Parameter):
            lines.append(f"self.register_parameter({name!r}, {expr})")
        else:
            lines.append(f"self.add_module({name!r}, {expr})")
    return lines


def generate_from_module(module: nn.Module, graph: Graph, source: str | None = None) -> str:
    """Source text of a standalone file defining ``type(module).__name__``.

    ``module`` is :func:`compile_graph` of ``graph`` (already pruned to the chosen outputs).
    """
    leaves = _leaf_paths(module)
    classes = custom_classes(m for m in leaves.values() if isinstance(m, nn.Module))
    uses_block = any(type(m) is Block for m in module.modules())
    taken = {c.__name__ for c in classes} | {"Block", "OrderedDict", "Optional", "Sequence", "Tuple", "Union"}
    cls_name = type(module).__name__
    if cls_name in taken:  # e.g. a spec named "block": keep the helper class's name free
        cls_name += "Model"
    tree = module_tree(leaves)
    _check_parameter_holders(tree, leaves)
    body_lines = _init_lines(tree, leaf_exprs(graph, leaves, classes), leaves)
    code = module.code.strip("\n").rstrip()  # "def forward(self, ...):\n    ..."
    imports = list(HEADER_IMPORTS)
    if "OrderedDict(" in "\n".join(body_lines):
        imports.insert(0, "from collections import OrderedDict")
    if "operator." in code:
        imports.insert(0, "import operator")

    doc = f'"""{cls_name}: a PyTorch module generated by graphspec codegen'
    if source:
        doc += f" from {doc_escape(source)}"
    doc += ".\n\nIt needs only torch. Regenerate it rather than editing it.\n\"\"\""
    out: list[str] = [doc, "", *imports, ""]
    for cls in classes + ([Block] if uses_block else []):
        out += ["", class_source(cls).rstrip(), ""]
    inputs = list(getattr(module, "graphspec_inputs", []))
    outputs = list(getattr(module, "graphspec_outputs", []))
    returns = doc_escape(", ".join(outputs) if len(outputs) != 1 else outputs[0]) + (" (a tuple, in this order)." if len(outputs) > 1 else ".")
    out += ["", f"class {cls_name}(nn.Module):", f'    """Inputs: {doc_escape(", ".join(inputs))}. Returns: {returns}"""', ""]
    out += [f"    graphspec_inputs = {inputs!r}", f"    graphspec_outputs = {outputs!r}", ""]
    out += ["    def __init__(self):", "        super().__init__()", *("        " + line for line in body_lines), ""]
    out += [_indent(code, 4), ""]
    text = "\n".join(out).rstrip() + "\n"
    compile(text, f"<{cls_name}>", "exec")  # a syntax error here is a bug: fail before writing
    return text


def generate(spec: Spec, graph: Graph | str | None = None, outputs: list[str] | None = None) -> str:
    """Standalone PyTorch source for a graph of ``spec`` (see the module docstring)."""
    g = graph if isinstance(graph, Graph) else spec.graph(graph)
    if outputs:  # pruned here, not by compile_graph: the file is written from this graph's nodes
        g = extract(g, list(outputs))
    try:
        with torch.device("meta"):  # only the structure is needed: skip weight init
            module = compile_graph(spec, g)
    except (NotImplementedError, RuntimeError):
        module = compile_graph(spec, g)
    source = os.path.basename(spec.path) if spec.path else spec.name  # never the machine's absolute path
    if len(spec.graphs) > 1:
        source = f"{source} (graph {g.name})"
    try:
        return generate_from_module(module, g, source=source)
    except CodegenError as exc:
        raise GraphspecError.one("export", f"codegen: {exc}") from exc
