"""Write a compiled graph as a standalone PyTorch source file.

The file imports only ``torch`` (plus ``math``, ``operator``, ``typing`` and, when
needed, ``collections``) and defines one ``nn.Module`` class, named like the
compiled module, whose

- ``__init__`` builds the same module tree as :func:`compile_graph` (same
  classes, same configuration, same ``state_dict`` keys, so a checkpoint of the
  compiled module loads with ``strict=True``), and
- ``forward`` is the code torch.fx generated for the compiled module.

Leaf modules are written as constructor expressions. For the torch.nn classes
and the custom classes of :mod:`graphspec.backends.torch_modules` the
expression is built from the module's attributes (:data:`WRITERS`); for any
other class, ``repr()`` is tried. Every expression is checked by evaluating it
and comparing the result with the original module (class, parameter and buffer
shapes, and every public configuration attribute, recursively), so a file that
builds something else is never written. The source of every non-torch class
used (and of :class:`~graphspec.backends.torch_fx.Block`) is copied into the
file with ``inspect.getsource``.
"""

from __future__ import annotations

import inspect
import keyword
import math
import os
import operator
import typing
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from graphspec.backends import torch_modules
from graphspec.backends.torch_fx import Block, Sequential, compile_graph, is_numbered, module_tree
from graphspec.errors import GraphspecError
from graphspec.graph.model import Graph, Spec

__all__ = ["generate", "module_expr", "CodegenError"]

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


# ---------------------------------------------------------------- writers

Writer = Callable[[nn.Module, str], str]  # (module, class expression) -> constructor expression


def _conv(m: nn.Module, cls: str) -> str:
    kw: dict[str, Any] = dict(stride=m.stride, padding=m.padding)
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        kw["output_padding"] = m.output_padding
    kw.update(dilation=m.dilation, groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode)
    return call(cls, m.in_channels, m.out_channels, m.kernel_size, **kw)


def _linear(m: nn.Linear, cls: str) -> str:
    return call(cls, m.in_features, m.out_features, bias=m.bias is not None)


def _batchnorm(m, cls: str) -> str:
    return call(cls, m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine, track_running_stats=m.track_running_stats)


def _layernorm(m: nn.LayerNorm, cls: str) -> str:
    bias = getattr(m, "bias", None) is not None or not m.elementwise_affine
    return call(cls, tuple(m.normalized_shape), eps=m.eps, elementwise_affine=m.elementwise_affine, bias=bias)


def _groupnorm(m: nn.GroupNorm, cls: str) -> str:
    return call(cls, m.num_groups, m.num_channels, eps=m.eps, affine=m.affine)


def _maxpool(m, cls: str) -> str:
    return call(cls, m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation, return_indices=m.return_indices, ceil_mode=m.ceil_mode)


def _avgpool(m, cls: str) -> str:
    kw = dict(stride=m.stride, padding=m.padding, ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad)
    if hasattr(m, "divisor_override"):
        kw["divisor_override"] = m.divisor_override
    return call(cls, m.kernel_size, **kw)


def _upsample(m: nn.Upsample, cls: str) -> str:
    return call(cls, size=m.size, scale_factor=m.scale_factor, mode=m.mode, align_corners=m.align_corners,
                recompute_scale_factor=m.recompute_scale_factor)


def _embedding(m: nn.Embedding, cls: str) -> str:
    return call(cls, m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx, max_norm=m.max_norm,
                norm_type=m.norm_type, scale_grad_by_freq=m.scale_grad_by_freq, sparse=m.sparse)


def _rnn(m: nn.RNNBase, cls: str) -> str:
    kw: dict[str, Any] = {}
    if isinstance(m, nn.RNN):
        kw["nonlinearity"] = m.nonlinearity
    kw.update(num_layers=m.num_layers, bias=m.bias, batch_first=m.batch_first, dropout=float(m.dropout), bidirectional=m.bidirectional)
    if isinstance(m, nn.LSTM) and m.proj_size:
        kw["proj_size"] = m.proj_size
    return call(cls, m.input_size, m.hidden_size, **kw)


def _mha(m: nn.MultiheadAttention, cls: str) -> str:
    kw: dict[str, Any] = dict(
        dropout=float(m.dropout),
        bias=m.in_proj_bias is not None,
        add_bias_kv=m.bias_k is not None,
        add_zero_attn=m.add_zero_attn,
        kdim=m.kdim,
        vdim=m.vdim,
        batch_first=m.batch_first,
    )
    if "causal" in m.__dict__:
        kw["causal"] = m.causal
    return call(cls, m.embed_dim, m.num_heads, **kw)


def _encoder_layer(m: nn.TransformerEncoderLayer, cls: str) -> str:
    which = getattr(m, "activation_relu_or_gelu", 0)
    if which == 1:
        activation = "relu"
    elif which == 2:
        activation = "gelu"
    else:
        raise CodegenError(f"{type(m).__name__} with activation {m.activation!r} (only 'relu' and 'gelu' can be written)")
    kw: dict[str, Any] = dict(
        dim_feedforward=m.linear1.out_features,
        dropout=float(m.dropout.p),
        activation=activation,
        layer_norm_eps=m.norm1.eps,
        batch_first=m.self_attn.batch_first,
        norm_first=m.norm_first,
        bias=m.linear1.bias is not None,
    )
    if "causal" in m.__dict__:
        kw["causal"] = m.causal
    return call(cls, m.self_attn.embed_dim, m.self_attn.num_heads, **kw)


def _from_signature(m: nn.Module, cls: str) -> str:
    """Arguments read from attributes named like the ``__init__`` parameters."""
    sig = inspect.signature(type(m).__init__)
    args = []
    kwargs: dict[str, Any] = {}
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise CodegenError(f"{type(m).__name__}.__init__ takes *{name}")
        if name not in m.__dict__:
            raise CodegenError(f"{type(m).__name__} keeps no attribute {name!r} for its __init__ parameter")
        value = m.__dict__[name]
        if p.kind == p.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return call(cls, *args, **kwargs)


# Checked in order with isinstance: subclasses (the custom recurrent and attention
# modules) reuse their torch.nn base's writer.
WRITERS: list[tuple[type, Writer]] = [
    (nn.modules.conv._ConvNd, _conv),
    (nn.Linear, _linear),
    (nn.modules.batchnorm._BatchNorm, _batchnorm),
    (nn.LayerNorm, _layernorm),
    (nn.GroupNorm, _groupnorm),
    (nn.modules.pooling._MaxPoolNd, _maxpool),
    (nn.modules.pooling._AvgPoolNd, _avgpool),
    (nn.Upsample, _upsample),
    (nn.Embedding, _embedding),
    (nn.RNNBase, _rnn),
    (nn.MultiheadAttention, _mha),
    (nn.TransformerEncoderLayer, _encoder_layer),
]


def is_torch_class(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "torch"


def class_ref(cls: type) -> str:
    """How the generated file names a class: ``nn.Conv2d`` or a copied class's own name."""
    if is_torch_class(cls):
        if getattr(nn, cls.__name__, None) is cls:
            return f"nn.{cls.__name__}"
        raise CodegenError(f"{cls.__module__}.{cls.__qualname__} is not in torch.nn")
    return cls.__name__


def _candidates(m: nn.Module) -> list[str]:
    cls = class_ref(type(m))
    out = []
    # repr() first: it leaves out defaults, so it reads like hand-written code
    text = repr(m)
    if "\n" not in text and text.startswith(type(m).__name__ + "("):
        out.append(cls + text[len(type(m).__name__):])
    for base, writer in WRITERS:
        if isinstance(m, base):
            try:
                out.append(writer(m, cls))
            except CodegenError:
                pass
            break
    if not is_torch_class(type(m)):
        try:
            out.append(_from_signature(m, cls))
        except (CodegenError, TypeError, ValueError):
            pass
    return out


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


def _build(expr: str, ns: dict) -> nn.Module:
    """Evaluate a constructor expression, on the meta device when it allows (no weight init)."""
    try:
        with torch.device("meta"):
            return eval(expr, dict(ns))  # noqa: S307 - text we generated
    except (NotImplementedError, RuntimeError):
        return eval(expr, dict(ns))  # noqa: S307


def module_expr(m: nn.Module, classes: list[type] | None = None) -> str:
    """A checked constructor expression for leaf module ``m``."""
    ns = _namespace(classes if classes is not None else custom_classes([m]))
    problems = []
    for expr in _candidates(m):
        try:
            built = _build(expr, ns)
        except Exception as exc:  # noqa: BLE001 - a wrong candidate; try the next
            problems.append(f"{expr}: {type(exc).__name__}: {exc}")
            continue
        diff = same_module(m, built)
        if diff is None:
            return expr
        problems.append(f"{expr}: {diff}")
    raise CodegenError(f"cannot write {type(m).__name__} as a constructor expression" + ("".join(f"\n  tried {p}" for p in problems)))


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


def parameter_expr(p: nn.Parameter) -> str:
    """``nn.Parameter(...)`` with the Parameter op's init (``graphspec_init``, set by
    :meth:`graphspec.ops.parameter.Parameter.build_parameter`), zeros otherwise."""
    init = getattr(p, "graphspec_init", None) or f"torch.zeros({', '.join(str(d) for d in p.shape)})"
    return f"nn.Parameter({init})"


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


def generate_from_module(module: nn.Module, source: str | None = None) -> str:
    """Source text of a standalone file defining ``type(module).__name__``.

    ``module`` is a compiled graph (a GraphModule from :func:`compile_graph`).
    """
    leaves = _leaf_paths(module)
    classes = custom_classes(m for m in leaves.values() if isinstance(m, nn.Module))
    uses_block = any(type(m) is Block for m in module.modules())
    taken = {c.__name__ for c in classes} | {"Block", "OrderedDict", "Optional", "Sequence", "Tuple", "Union"}
    cls_name = type(module).__name__
    if cls_name in taken:  # e.g. a spec named "block": keep the helper class's name free
        cls_name += "Model"
    exprs = {path: parameter_expr(m) if isinstance(m, nn.Parameter) else module_expr(m, classes) for path, m in leaves.items()}
    tree = module_tree(leaves)
    _check_parameter_holders(tree, leaves)
    body_lines = []
    for name, value in tree.items():
        expr = _child_expr(value, exprs, 2)
        if _is_ident(name):
            body_lines.append(f"self.{name} = " + expr)
        elif isinstance(value, str) and isinstance(leaves[value], nn.Parameter):
            body_lines.append(f"self.register_parameter({name!r}, {expr})")
        else:
            body_lines.append(f"self.add_module({name!r}, {expr})")
    code = module.code.strip("\n").rstrip()  # "def forward(self, ...):\n    ..."
    uses_ordered = "OrderedDict(" in "\n".join(body_lines)

    out: list[str] = []
    doc = f'"""{cls_name}: a PyTorch module generated by graphspec codegen'
    if source:
        doc += f" from {doc_escape(source)}"
    doc += ".\n\nIt needs only torch. Regenerate it rather than editing it.\n\"\"\""
    out.append(doc)
    out.append("")
    imports = list(HEADER_IMPORTS)
    if uses_ordered:
        imports.insert(0, "from collections import OrderedDict")
    if "operator." in code:
        imports.insert(0, "import operator")
    out.extend(imports)
    out.append("")
    for cls in classes + ([Block] if uses_block else []):
        out.append("")
        out.append(class_source(cls).rstrip())
        out.append("")
    out.append("")
    out.append(f"class {cls_name}(nn.Module):")
    inputs = list(getattr(module, "graphspec_inputs", []))
    outputs = list(getattr(module, "graphspec_outputs", []))
    out.append(f'    """Inputs: {doc_escape(", ".join(inputs))}. Returns: {doc_escape(", ".join(outputs) if len(outputs) != 1 else outputs[0])}' + (" (a tuple, in this order)." if len(outputs) > 1 else ".") + '"""')
    out.append("")
    out.append(f"    graphspec_inputs = {inputs!r}")
    out.append(f"    graphspec_outputs = {outputs!r}")
    out.append("")
    out.append("    def __init__(self):")
    out.append("        super().__init__()")
    for line in body_lines:
        out.append("        " + line)
    out.append("")
    out.append(_indent(code, 4))
    out.append("")
    text = "\n".join(out).rstrip() + "\n"
    compile(text, f"<{cls_name}>", "exec")  # a syntax error here is a bug: fail before writing
    return text


def generate(spec: Spec, graph: Graph | str | None = None, outputs: list[str] | None = None) -> str:
    """Standalone PyTorch source for a graph of ``spec`` (see the module docstring)."""
    g = graph if isinstance(graph, Graph) else spec.graph(graph)
    try:
        with torch.device("meta"):  # only the structure is needed: skip weight init
            module = compile_graph(spec, g, outputs=outputs)
    except (NotImplementedError, RuntimeError):
        module = compile_graph(spec, g, outputs=outputs)
    source = os.path.basename(spec.path) if spec.path else spec.name  # never the machine's absolute path
    if len(spec.graphs) > 1:
        source = f"{source} (graph {g.name})"
    try:
        return generate_from_module(module, source=source)
    except CodegenError as exc:
        raise GraphspecError.one("export", f"codegen: {exc}") from exc
