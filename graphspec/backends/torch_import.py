"""Import a torch.nn.Module as an analysed :class:`Graph` (``graphspec import``).

The module is traced with torch.fx. Every module some op's ``from_torch``
accepts is a leaf (one graph node at the module's path, so its state_dict keys
stay); other modules are traced through. Each function or Tensor method call
becomes the op whose ``from_torch_call`` accepts it, and an ``nn.Parameter``
read becomes a ``Parameter`` node at its path. The torch -> op mapping lives
with the ops (``graphspec/ops/*.py``); this module only walks the fx graph.

Sizes read from tensors (``x.size(0)``, ``x.shape``) are evaluated on a
concrete run of the traced graph; a size that comes from a dynamic input dim
is only allowed where an op keeps it dynamic (a reshape's 0 or -1).

Every place that cannot be mapped is collected (module path, source line) and
reported at once: an import is all or nothing.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import networkx as nx
import torch
import torch.fx as fx
from torch import nn
from torch.utils import _pytree as pytree

from graphspec.errors import Collector, GraphspecError, Location
from graphspec.graph.model import Graph, InputSpec
from graphspec.ops import registry
from graphspec.ops.types import TensorType

__all__ = ["ImportResult", "import_module", "op_for_module", "parse_input", "CODE"]

CODE = "import-unsupported"  # the error code of every place that cannot be mapped

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep  # with the separator: torchvision is user code
_GRAPHSPEC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # never the user's code

# call targets that only rename a value (no node)
_ALIASES = frozenset({"contiguous"})
# in-place and reflected spellings of the same operation
_CANONICAL = {"iadd": "add", "isub": "sub", "imul": "mul", "itruediv": "truediv", "concat": "cat"}


@dataclass
class ImportResult:
    graph: Graph
    classes: dict[str, str]  # container module path -> its Python class name
    sizes: dict[str, int]  # the sizes symbolic input dims had in the concrete run


# ---------------------------------------------------------------- ops of modules


def op_for_module(module: nn.Module) -> tuple[type[registry.Op], dict] | None:
    """The op class and params standing for ``module`` (exact class match), or None."""
    for cls in registry.all_ops():
        params = cls.from_torch(module)
        if params is not None:
            return cls, params
    return None


def _op_for_call(fn: str, args: tuple, kwargs: dict) -> tuple[type[registry.Op], dict] | None:
    for cls in registry.all_ops():
        params = cls.from_torch_call(fn, args, kwargs)
        if params is not None:
            return cls, params
    return None


# ---------------------------------------------------------------- tracing


def _is_user_frame(filename: str) -> bool:
    path = os.path.abspath(filename)
    return not path.startswith((_TORCH_DIR, _GRAPHSPEC_DIR)) and "/torch/" not in path


def _source() -> tuple[str, int] | None:
    """The innermost frame of user code (not torch, not graphspec)."""
    for frame in reversed(traceback.extract_stack()):
        if _is_user_frame(frame.filename):
            return frame.filename, frame.lineno
    return None


def _forward_source(model: nn.Module) -> tuple[str, int] | None:
    """Where the model's forward is defined: the place of problems with its result
    (the output node is made after forward has returned, so no frame of it is on the stack)."""
    import inspect

    try:
        lines, start = inspect.getsourcelines(type(model).forward)
        return inspect.getsourcefile(type(model).forward) or "?", start + next((i for i, ln in enumerate(lines) if "return" in ln), 0)
    except (OSError, TypeError):
        return None


class ImportTracer(fx.Tracer):
    """Leaves: modules an op stands for, and torch.nn modules without one (reported)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        # decided before tracing: during it, reading a module's parameters records get_attr nodes
        self.mapped = {id(m) for m in model.modules() if op_for_module(m) is not None}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if id(m) in self.mapped:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["gs_source"] = _source()
        return node


def _trace_error(exc: Exception, tracer: ImportTracer, out: Collector) -> None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_user_frame(f.filename)]
    where = Location(frames[-1].filename, frames[-1].lineno) if frames else None
    stack = list(getattr(tracer, "module_stack", {}) or {})
    path = stack[-1] if stack else None
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, fx.proxy.TraceError):
        hint = "data-dependent control flow (if/for on tensor values) cannot become a static graph; move it out of forward or into a module graphspec maps"
    else:
        hint = ("forward raised this while torch.fx ran it on symbolic tensors; code that needs real values "
                "(len(x), x.item(), numpy calls, asserts on values) cannot be traced, and an error of the model's own fails here too")
    out.add(CODE, f"torch.fx cannot trace {'module ' + repr(path) if path else 'the model'}: {type(exc).__name__}: {text}",
            location=where, node=path or None, hint=hint)


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Ref:
    """A tensor value of the graph being built: output ``port`` of node ``node``."""

    node: str
    port: int = 0


@dataclass(frozen=True)
class SizeValue:
    """An int (or torch.Size) computed from tensor sizes; ``dims`` are the (node, port, axis, size) it reads.

    ``exact``: the value is the size of its one axis itself (``x.size(1)``,
    ``x.shape[2]``, an entry of ``x.shape``), not arithmetic on it (``H // 7``);
    only an exact size may become a Reshape's ``0`` (copy the input's size).
    """

    value: Any
    dims: frozenset
    exact: bool = False


class _Builder:
    def __init__(self, root: nn.Module, inputs: dict[str, TensorType], sizes: dict[str, int], model: nn.Module | None = None):
        self.root = root  # the traced GraphModule (holds the modules and parameters forward reads)
        self.model = root if model is None else model  # the whole module tree: names to avoid
        self.inputs = inputs
        self.sizes = sizes
        self.g = nx.DiGraph()
        self.order: list[str] = []
        self.out = Collector()
        tree = self.model
        self.taken: set[str] = {p for p, _ in tree.named_modules() if p} | {p for p, _ in tree.named_parameters()} | {p for p, _ in tree.named_buffers()}
        self.used: set[str] = set()
        self.module_calls: dict[str, int] = {}
        self.env: dict[fx.Node, Any] = {}
        self.concrete: dict[fx.Node, Any] = {}
        self.params: dict[str, str] = {}  # parameter path -> node id
        self.outputs: dict[str, tuple[str, int]] = {}

    # -- helpers
    def problem(self, node: fx.Node, message: str, hint: str | None = None, path: str | None = None) -> None:
        src = node.meta.get("gs_source")
        loc = Location(src[0], src[1]) if src else None
        self.out.add(CODE, message, location=loc, node=path or _scope(node) or None, hint=hint)

    def new_id(self, wanted: str) -> str:
        node_id, k = wanted, 1
        while node_id in self.used or node_id in self.taken:
            node_id = f"{wanted}_{k}"
            k += 1
        self.used.add(node_id)
        return node_id

    def add_node(self, node_id: str, op: registry.Op, inputs: list[Ref], module: str, fx_node: fx.Node | None) -> None:
        ports = op.port_names(len(inputs))
        src = fx_node.meta.get("gs_source") if fx_node is not None else None
        self.g.add_node(node_id, kind="op", op=op, inputs=[(r.node, r.port) for r in inputs], ports=ports, module=module,
                        loc=Location(src[0], src[1]) if src else None, scope=[], meta={})
        for r in inputs:
            self.g.add_edge(r.node, node_id)
        self.order.append(node_id)

    def tensor_type(self, ref: Ref) -> TensorType | None:
        types = self.g.nodes[ref.node]["meta"].get("types")
        return types[ref.port] if types and ref.port < len(types) else None

    # -- node kinds
    def placeholder(self, node: fx.Node) -> None:
        name = node.target
        if name not in self.inputs:
            return
        self.g.add_node(name, kind="input", op=None, inputs=[], ports=[], module=name, loc=None, scope=[], meta={"types": (self.inputs[name],)})
        self.order.append(name)
        self.used.add(name)
        self.env[node] = Ref(name)

    def get_attr(self, node: fx.Node) -> None:
        path = node.target
        value = _get_path(self.root, path)
        if isinstance(value, nn.Parameter):
            if path not in self.params:
                op = registry.get("Parameter")(shape=list(value.shape) or [1])
                if value.dim() == 0:
                    self.problem(node, f"parameter {path!r} is a 0-dim tensor; a Parameter node has at least one dim")
                self.used.add(path)
                self.add_node(path, op, [], path, node)
                self.params[path] = path
            self.env[node] = Ref(self.params[path])
            return
        kind = "buffer" if isinstance(value, torch.Tensor) else type(value).__name__
        self.problem(node, f"{kind} {path!r} is read as a constant in forward; no op holds a constant tensor",
                     hint="register it as an nn.Parameter, or compute it inside a module graphspec maps")
        self.env[node] = None

    def call_module(self, node: fx.Node) -> None:
        path = node.target
        module = self.root.get_submodule(path)
        found = op_for_module(module)
        cls_name = f"{type(module).__module__}.{type(module).__qualname__}"
        if found is None:
            self.problem(node, f"module {path!r} is a {cls_name}, which no op stands for", path=path,
                         hint="graphspec ops lists the ops; a module without one must be traced through (write its forward from mapped modules and functions)")
            self.env[node] = None
            return
        cls, params = found
        op = self.make_op(node, cls, params, path, f"module {path!r} ({cls_name})")
        args = self.tensor_args(node, (node.args, {k: v for k, v in node.kwargs.items() if k != "need_weights"}), f"module {path!r}")
        if op is None or args is None:
            self.env[node] = None
            return
        calls = self.module_calls.get(path, 0)
        self.module_calls[path] = calls + 1
        node_id = path if calls == 0 else self.new_id(path)  # a second call: same module (share)
        if calls == 0:
            self.used.add(path)
        self.add_node(node_id, op, args, path, node)
        self.g.nodes[node_id]["torch_module"] = module
        self.bind_outputs(node, node_id, op)

    def call_function(self, node: fx.Node) -> None:
        fn = _fn_name(node)
        if fn == "getitem":
            return self.getitem(node)
        if fn in _ALIASES:
            self.env[node] = self.env.get(node.args[0])
            return
        if fn == "getattr" and node.args[1] != "shape":
            self.problem(node, f"attribute Tensor.{node.args[1]} is read in forward; only sizes (x.shape, x.size()) can be")
            self.env[node] = None
            return
        if fn in ("size", "getattr") or _is_size_math(node, self.env):
            return self.size_value(node, fn)
        if fn in ("dim", "ndimension"):  # the rank: fixed
            self.env[node] = SizeValue(self.concrete.get(node), frozenset())
            return
        if fn == "cat" and node.args and isinstance(node.args[0], (list, tuple)) and len(node.args[0]) == 1:
            self.env[node] = self.env.get(node.args[0][0])  # torch.cat([x]) is x
            return
        if fn == "expand":
            args = self.expand_args(node)
            if args is None:
                self.env[node] = None
                return
            fn, call_args, call_kwargs, inputs = "expand_as", args[0], args[1], args[2]
            return self.add_call(node, fn, call_args, call_kwargs, inputs)
        if fn in ("reshape", "view"):
            args = self.reshape_args(node)
            if args is None:
                self.env[node] = None
                return
            call_args, call_kwargs = args, {}
        else:
            call_args = pytree.tree_map(self.as_call_arg(node), node.args)
            call_kwargs = pytree.tree_map(self.as_call_arg(node), dict(node.kwargs))
        if any(isinstance(a, _Bad) for a in pytree.tree_leaves((call_args, call_kwargs))):
            # an input failed upstream; still say when the call itself has no op
            stand_in = pytree.tree_map(lambda a: TensorType((1,)) if isinstance(a, _Bad) else a, (tuple(call_args), call_kwargs))
            if _op_for_call(fn, *stand_in) is None:
                self.problem(node, f"{_describe(node)} has no op")
            self.env[node] = None
            return
        inputs = [self.env[a] for a in pytree.tree_leaves((node.args, dict(node.kwargs))) if isinstance(a, fx.Node) and isinstance(self.env.get(a), Ref)]
        self.add_call(node, fn, call_args, call_kwargs, inputs)

    def add_call(self, node: fx.Node, fn: str, call_args: Any, call_kwargs: dict, inputs: list[Ref]) -> None:
        found = _op_for_call(fn, tuple(call_args), call_kwargs)
        if found is None:
            self.problem(node, f"{_describe(node)} has no op", hint="graphspec ops lists the ops; rewrite the call with mapped functions, or put it in a module an op stands for")
            self.env[node] = None
            return
        cls, params = found
        node_id = self.new_id(_local_name(node))
        op = self.make_op(node, cls, params, node_id, _describe(node))
        if op is None:
            self.env[node] = None
            return
        self.add_node(node_id, op, inputs, node_id, node)
        self.bind_outputs(node, node_id, op)

    # -- pieces
    def make_op(self, node: fx.Node, cls: type[registry.Op], params: dict, path: str, what: str) -> registry.Op | None:
        try:
            return cls(**params)
        except Exception as exc:  # a value the op's fields reject
            errors = exc.errors() if hasattr(exc, "errors") else []
            text = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in errors) or str(exc)
            self.problem(node, f"{what}: {cls.op_name} cannot express its settings: {text}", path=path)
            return None

    def tensor_args(self, node: fx.Node, tree: Any, what: str) -> list[Ref] | None:
        refs = []
        for leaf in pytree.tree_leaves(tree):
            if isinstance(leaf, fx.Node):
                value = self.env.get(leaf)
                if isinstance(value, Ref):
                    refs.append(value)
                elif value is None:
                    return None
                else:
                    self.problem(node, f"{what} is called with a size value ({leaf.name}); only tensors can be module inputs")
                    return None
            elif leaf is not None and not isinstance(leaf, bool):
                self.problem(node, f"{what} is called with the constant {leaf!r}; only tensors (and None) can be module inputs")
                return None
        return refs

    def bind_outputs(self, node: fx.Node, node_id: str, op: registry.Op) -> None:
        value = self.concrete.get(node)
        leaves, spec = pytree.tree_flatten(value)
        if len(leaves) <= 1 and not isinstance(value, (tuple, list)):
            self.env[node] = Ref(node_id, 0)
            return
        self.env[node] = pytree.tree_unflatten([Ref(node_id, i) for i in range(len(leaves))], spec)

    def getitem(self, node: fx.Node) -> None:
        base, index = node.args
        value = self.env.get(base)
        if isinstance(value, (tuple, list)) and isinstance(index, int):
            self.env[node] = value[index]
            return
        if isinstance(value, SizeValue) and isinstance(value.value, (tuple, torch.Size)) and isinstance(index, int):
            # one entry of x.shape / x.size(): depends on that axis only
            axis = index % len(value.value)
            self.env[node] = SizeValue(self.concrete.get(node), frozenset(d for d in value.dims if d[2] == axis), value.exact)
            return
        if isinstance(value, SizeValue):
            return self.size_value(node, "getitem")
        if isinstance(value, Ref):
            sel = _select(index, self.tensor_type(value))
            if sel is not None:
                op = registry.get("Select")(dim=sel[0], index=sel[1])
                node_id = self.new_id(_local_name(node))
                self.add_node(node_id, op, [value], node_id, node)
                self.env[node] = Ref(node_id, 0)
                return
            self.problem(node, f"tensor indexing [{_show_index(index)}] has no op (Select takes one int index along one dim)")
        self.env[node] = None

    def size_value(self, node: fx.Node, fn: str) -> None:
        dims: set = set()
        reads_sizes = fn in ("size", "getattr")  # x.size(i), x.size(), x.shape: sizes as they are
        for leaf in pytree.tree_leaves((node.args, dict(node.kwargs))):
            if isinstance(leaf, fx.Node):
                v = self.env.get(leaf)
                if isinstance(v, SizeValue):
                    dims |= v.dims
                elif isinstance(v, Ref):
                    t = self.tensor_type(v)
                    if t is None:
                        self.env[node] = None
                        return
                    axis = (node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")) if fn == "size" else None
                    axes = [axis % t.rank] if isinstance(axis, int) else range(t.rank)
                    dims |= {(v.node, v.port, a, t.shape[a]) for a in axes}
                elif v is None:
                    self.env[node] = None
                    return
        self.env[node] = SizeValue(self.concrete.get(node), frozenset(dims), reads_sizes)

    def as_call_arg(self, node: fx.Node) -> Callable[[Any], Any]:
        def convert(a: Any) -> Any:
            if not isinstance(a, fx.Node):
                return a
            v = self.env.get(a)
            if isinstance(v, Ref):
                t = self.tensor_type(v)
                return t if t is not None else _Bad()
            if isinstance(v, SizeValue):
                dynamic = [d for d in v.dims if isinstance(d[3], str)]
                if dynamic:
                    self.problem(node, f"{_describe(node)} takes a size computed from the dynamic dim {dynamic[0][3]!r} of {dynamic[0][0]!r}; only a reshape can keep it dynamic")
                    return _Bad()
                return _concrete(v.value)
            return _Bad()

        return convert

    def expand_args(self, node: fx.Node) -> tuple | None:
        """x.expand(n, -1, -1) with n read from tensor ``like`` at the same axis -> expand_as(x, like, dims)."""
        x, *rest = node.args
        sizes = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
        xv = self.env.get(x)
        if not isinstance(xv, Ref) or node.kwargs:
            return None
        like, dims = None, []
        for i, item in enumerate(sizes):
            v = self.env.get(item) if isinstance(item, fx.Node) else None
            if v is None and isinstance(item, int) and (item == -1 or (self.tensor_type(xv) and self.tensor_type(xv).shape[i] == item)):
                continue  # keeps x's size
            reads = list(v.dims) if isinstance(v, SizeValue) else []
            if len(reads) == 1 and reads[0][2] == i and (like is None or like == Ref(reads[0][0], reads[0][1])):
                like = Ref(reads[0][0], reads[0][1])
                dims.append(i)
                continue
            self.problem(node, f"{_describe(node)} to size {i} ({item!r}) has no op (ExpandAs takes sizes read from one tensor at the same dims)")
            return None
        if like is None:
            self.problem(node, f"{_describe(node)} to fixed sizes has no op (ExpandAs takes sizes read from another tensor)")
            return None
        return (self.tensor_type(xv), self.tensor_type(like)), {"dims": dims}, [xv, like]

    def reshape_args(self, node: fx.Node) -> tuple | None:
        """(TensorType, *sizes) of a reshape/view; a size read from the input's own dim i at position i is 0."""
        x, *rest = node.args
        shape = node.kwargs.get("shape", rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple, fx.Node)) else rest)
        xv = self.env.get(x)
        if not isinstance(xv, Ref):
            return None
        sv = self.env.get(shape) if isinstance(shape, fx.Node) else None
        items = list(sv.value) if isinstance(sv, SizeValue) else list(shape)
        target: list[int] = []
        dynamic: list[int] = []
        x_type = self.tensor_type(xv)
        for i, item in enumerate(items):
            v = self.env.get(item) if isinstance(item, fx.Node) else None
            if isinstance(sv, SizeValue):  # x.view(y.shape) / x.view(x.size())
                v = SizeValue(item, frozenset(d for d in sv.dims if d[2] == i), sv.exact)
            if v is None:
                if isinstance(item, fx.Node):
                    return None
                target.append(int(item))
                continue
            if not isinstance(v, SizeValue):
                return None
            # one dim read from the input itself at i, or a dynamic dim of the same name as the input's dim i
            same = v.exact and ({(d[0], d[1], d[2]) for d in v.dims} == {(xv.node, xv.port, i)} or (
                len(v.dims) == 1 and isinstance(next(iter(v.dims))[3], str) and x_type is not None
                and i < x_type.rank and next(iter(v.dims))[3] == x_type.shape[i]))
            if same and isinstance(_concrete(v.value), int):
                target.append(0)  # copy the input's size here (keeps a dynamic dim dynamic)
            elif any(isinstance(d[3], str) for d in v.dims):
                target.append(-1)
                dynamic.append(i)
            else:
                target.append(int(_concrete(v.value)))
        if len(dynamic) > 1 or (dynamic and target.count(-1) > 1):
            self.problem(node, f"{_describe(node)}: more than one target size depends on a dynamic dim; Reshape infers only one (-1)")
            return None
        t = self.tensor_type(xv)
        return (t, *target) if t is not None else None

    def output(self, node: fx.Node) -> None:
        value = pytree.tree_map(lambda a: self.env.get(a) if isinstance(a, fx.Node) else a, node.args[0])
        if isinstance(value, Ref):
            named = {"out": value}
        elif isinstance(value, dict):
            named = dict(value)
        elif isinstance(value, (tuple, list)):
            named = {f"out{i}": v for i, v in enumerate(value)}
        else:
            named = {"out": value}
        node.meta["gs_source"] = _forward_source(self.model) or node.meta.get("gs_source")
        for name, ref in named.items():
            if not (isinstance(name, str) and name.isidentifier()):
                self.problem(node, f"output {name!r}: forward returns a dict whose keys become the spec's output names, and those must be identifiers",
                             hint="return a tuple, or a dict with keys like 'logits'")
            elif isinstance(ref, Ref):
                self.outputs[name] = (ref.node, ref.port)
            elif ref is not None:
                self.problem(node, f"output {name!r} is {type(ref).__name__}, not a tensor")


class _Bad:
    """An argument that already has a reported problem."""


# ---------------------------------------------------------------- small helpers


def _fn_name(node: fx.Node) -> str:
    target = node.target
    if node.op == "call_method":
        name = str(target)
    else:
        name = getattr(target, "__name__", str(target))
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]  # relu_ / add_: in place, same values
    return _CANONICAL.get(name.strip("_") if name.startswith("__") else name, name)


def _local_name(node: fx.Node) -> str:
    """``scope.name`` for a call node: fx's name without its graph-wide counter
    (``add_7`` -> ``add``), so that copies of a block name their nodes alike."""
    base = re.sub(r"_\d+$", "", node.name) or node.name
    scope = _scope(node)
    return f"{scope}.{base}" if scope else base


def _describe(node: fx.Node) -> str:
    if node.op == "call_method":
        return f"method Tensor.{node.target}"
    mod = getattr(node.target, "__module__", None) or "torch"
    return f"function {mod}.{getattr(node.target, '__name__', node.target)}"


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path


def _get_path(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _concrete(value: Any) -> Any:
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    return value


def _is_size_math(node: fx.Node, env: dict) -> bool:
    """An arithmetic call whose inputs are sizes, not tensors."""
    values = [env.get(a) for a in pytree.tree_leaves((node.args, dict(node.kwargs))) if isinstance(a, fx.Node)]
    return bool(values) and all(isinstance(v, SizeValue) for v in values)


def _select(index: Any, t: TensorType | None) -> tuple[int, int] | None:
    """(dim, index) when ``index`` is one int along one dim (x[:, 0], x[2])."""
    if isinstance(index, int) and not isinstance(index, bool):
        return (0, index)
    if isinstance(index, tuple):
        ints = [(i, v) for i, v in enumerate(index) if isinstance(v, int) and not isinstance(v, bool)]
        rest_full = all(v == slice(None) for i, v in enumerate(index) if (i, v) not in ints)
        if len(ints) == 1 and rest_full:
            return ints[0]
    return None


def _show_index(index: Any) -> str:
    items = index if isinstance(index, tuple) else (index,)

    def one(v: Any) -> str:
        if isinstance(v, slice):
            return ":".join("" if p is None else str(p) for p in (v.start, v.stop)) + ("" if v.step is None else f":{v.step}")
        return "..." if v is Ellipsis else str(v)

    return ", ".join(one(v) for v in items)


def parse_input(text: str) -> tuple[str, TensorType]:
    """``NAME=DIM,DIM,...[:DTYPE]`` -> (name, TensorType); a dim is an int or a symbol.

    >>> parse_input("x=batch,3,32,32")
    ('x', TensorType(shape=('batch', 3, 32, 32), dtype='float32'))
    >>> parse_input("tokens=batch,seq:int64")[1].dtype
    'int64'
    """
    name, sep, rest = text.partition("=")
    shape_text, _, dtype = rest.partition(":")
    dims: list[Any] = []
    for item in shape_text.split(","):
        item = item.strip()
        if item.isdigit() and int(item) > 0:
            dims.append(int(item))
        elif item.isidentifier():
            dims.append(item)
        else:
            dims = []
            break
    dtype = dtype.strip() or "float32"
    from graphspec.ops.types import DTYPES

    if not sep or not name.strip().isidentifier() or not dims or dtype not in DTYPES:
        raise GraphspecError.one("usage", f"--input expects NAME=DIM,DIM,...[:DTYPE] (a dim is a positive int or a name such as batch), received {text!r}",
                                 hint=f"e.g. --input x=batch,3,224,224; dtypes: {', '.join(sorted(DTYPES))}")
    return name.strip(), TensorType(tuple(dims), dtype)


# ---------------------------------------------------------------- entry point


def _concrete_inputs(inputs: dict[str, TensorType], sizes: dict[str, int], seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in inputs.values():
        shape = [d if isinstance(d, int) else sizes[d] for d in t.shape]
        dtype = getattr(torch, t.dtype)
        if dtype.is_floating_point:
            out.append(torch.randn(shape, generator=gen).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.randint(0, 2, shape, generator=gen).bool())
        else:
            out.append(torch.randint(0, 2, shape, generator=gen).to(dtype))  # small indices: valid for any Embedding
    return out


def _trace(model: nn.Module, inputs: dict[str, TensorType], out: Collector) -> fx.GraphModule | None:
    import inspect

    tracer = ImportTracer(model)
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    concrete = {p.name: p.default for p in params if p.name not in inputs and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}
    missing = [p.name for p in params if p.name not in inputs and p.name not in concrete and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [n for n in inputs if params and n not in {p.name for p in params}]
    if missing or unknown:
        names = ", ".join(p.name for p in params)
        raise GraphspecError.one("usage", f"--input must name forward's tensor arguments ({names}); "
                                 + (f"missing: {', '.join(missing)}" if missing else f"not arguments of forward: {', '.join(unknown)}"))
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as exc:  # fx TraceError, or the user's forward failing on proxies
        _trace_error(exc, tracer, out)
        return None
    return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__)


def _run_concrete(gm: fx.GraphModule, inputs: list[torch.Tensor], out: Collector) -> dict[fx.Node, Any] | None:
    values: dict[fx.Node, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            values[n] = result
            return result

    try:
        with torch.no_grad():
            Recorder(gm).run(*inputs)
    except Exception as exc:
        out.add(CODE, f"the traced model fails on example inputs of the given shapes: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                hint="check --input shapes and dtypes")
        return None
    return values


def _containers(root: nn.Module) -> dict[str, str]:
    """Module path -> class name, for the writer's block names. Every module is
    listed: one without children traced through (two calls in its forward) is a
    container of function nodes too."""
    return {path: type(m).__name__ for path, m in root.named_modules() if path}


def _verify_modules(b: _Builder) -> None:
    """Rebuild each module node's torch module from its op and compare the configuration."""
    for node_id in b.order:
        attrs = b.g.nodes[node_id]
        module = attrs.pop("torch_module", None)
        if module is None or "types" not in attrs["meta"]:
            continue
        in_types = [b.g.nodes[s]["meta"]["types"][p] for s, p in attrs["inputs"]]
        try:
            rebuilt = attrs["op"].build_torch(*in_types)
        except Exception as exc:
            b.out.add(CODE, f"module {attrs['module']!r}: {attrs['op'].op_name} cannot rebuild it: {exc}", location=attrs["loc"], node=node_id)
            continue
        diffs = _config_diff(module, rebuilt)
        if diffs:
            b.out.add(CODE, f"module {attrs['module']!r} ({type(module).__name__}) has settings {attrs['op'].op_name} cannot express: {'; '.join(diffs)}",
                      location=attrs["loc"], node=node_id)


_IGNORED_ATTRS = frozenset({"training", "inplace"})


def _config_diff(original: nn.Module, rebuilt: nn.Module) -> list[str]:
    diffs = []
    for name, value in vars(original).items():
        if name.startswith("_") or name in _IGNORED_ATTRS or not _simple(value):
            continue
        if name in vars(rebuilt) and vars(rebuilt)[name] != value and not (_simple(vars(rebuilt)[name]) and _same(vars(rebuilt)[name], value)):
            diffs.append(f"{name}={value!r} (the op gives {vars(rebuilt)[name]!r})")
        elif name not in vars(rebuilt) and type(rebuilt) is type(original):
            diffs.append(f"{name}={value!r}")
    mine = {k: tuple(v.shape) for k, v in original.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if mine != theirs:
        diffs.append(f"state_dict {sorted(mine.items())} != {sorted(theirs.items())}")
    return diffs


def _simple(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    return isinstance(v, (tuple, list)) and all(_simple(x) for x in v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (tuple, list)) != isinstance(b, (tuple, list)):  # 3 vs (3, 3)
        seq, one = (a, b) if isinstance(a, (tuple, list)) else (b, a)
        return all(_same(x, one) for x in seq)
    return a == b


def _set_scopes(b: _Builder, classes: dict[str, str]) -> None:
    for node_id in b.order:
        attrs = b.g.nodes[node_id]
        if attrs["kind"] != "op":
            continue
        parts = node_id.split(".")
        attrs["scope"] = [(".".join(parts[:i]), classes.get(".".join(parts[:i]), "Block")) for i in range(1, len(parts))]


def import_module(model: nn.Module, inputs: dict[str, TensorType], *, name: str = "model", sizes: dict[str, int] | None = None) -> ImportResult:
    """Trace ``model`` and map it to an analysed :class:`Graph`.

    ``inputs`` names forward's tensor arguments with their types (symbolic dims
    allowed; ``sizes`` binds them for the concrete run, 2 by default). Raises
    one GraphspecError listing every place that cannot be mapped.
    """
    from graphspec.passes import cost

    symbols = {d for t in inputs.values() for d in t.shape if isinstance(d, str)}
    sizes = {s: (sizes or {}).get(s, 2) for s in symbols}
    model.eval()
    out = Collector()
    gm = _trace(model, inputs, out)
    out.raise_if_errors()
    concrete = _run_concrete(gm, _concrete_inputs(inputs, sizes), out)
    out.raise_if_errors()
    b = _Builder(gm, inputs, sizes, model)
    b.concrete = concrete
    b.out = out
    handlers = {"placeholder": b.placeholder, "get_attr": b.get_attr, "call_module": b.call_module,
                "call_function": b.call_function, "call_method": b.call_function, "output": b.output}
    for node in gm.graph.nodes:
        handlers[node.op](node)
        if node.op in ("call_module", "call_function", "call_method", "get_attr") and isinstance(b.env.get(node), Ref):
            _infer_now(b, b.env[node].node)
    if not b.outputs and not out.errors:
        out.add(CODE, "the traced model returns no tensor (forward's result holds no tensor computed from the inputs)",
                hint="graphspec import maps models whose forward returns tensors, or tuples, lists or dicts of them")
    out.raise_if_errors()
    _fold_single_op_modules(b)
    graph = Graph(name=name, g=b.g, inputs={n: InputSpec(n, t) for n, t in inputs.items()}, outputs=b.outputs, order=b.order)
    _verify_modules(b)
    out.raise_if_errors()
    cost.run(None, graph, out, sizes=sizes)
    out.raise_if_errors()
    classes = _containers(model)
    _set_scopes(b, classes)
    return ImportResult(graph=graph, classes=classes, sizes=sizes)


def _fold_single_op_modules(b: _Builder) -> None:
    """A traced-through module without weights or children that computed one
    node (torchvision's Permute module: one permute call) becomes that node, at
    the module's own path, so the spec reads ``{op: Permute}`` there."""
    by_parent: dict[str, list[str]] = {}
    for node_id in b.order:
        if b.g.nodes[node_id]["kind"] == "op" and "." in node_id:
            by_parent.setdefault(node_id.rsplit(".", 1)[0], []).append(node_id)
    mapping = {}
    for parent, ids in by_parent.items():
        try:
            module = b.model.get_submodule(parent)
        except AttributeError:
            continue
        if len(ids) != 1 or ids[0] != b.g.nodes[ids[0]]["module"] or module._modules or module._parameters or parent in b.used:
            continue
        mapping[ids[0]] = parent
    if not mapping:
        return
    nx.relabel_nodes(b.g, mapping, copy=False)
    b.order = [mapping.get(n, n) for n in b.order]
    for node_id in b.order:
        attrs = b.g.nodes[node_id]
        attrs["inputs"] = [(mapping.get(s, s), p) for s, p in attrs["inputs"]]
        attrs["module"] = mapping.get(attrs["module"], attrs["module"])
    b.outputs = {k: (mapping.get(n, n), p) for k, (n, p) in b.outputs.items()}


def _infer_now(b: _Builder, node_id: str) -> None:
    """Shape inference of one new node (later calls read its type: sizes, reshapes)."""
    from graphspec.passes import shapes

    attrs = b.g.nodes[node_id]
    if "types" in attrs["meta"] or attrs["kind"] != "op":
        return
    in_types = []
    for s, p in attrs["inputs"]:
        types = b.g.nodes[s]["meta"].get("types")
        if not types or p >= len(types):
            return
        in_types.append(types[p])
    shapes._infer(attrs, node_id, in_types, b.out)
