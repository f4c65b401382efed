"""Compile an analysed :class:`Graph` to a ``torch.fx.GraphModule`` (code generation).

Nothing is interpreted at run time: the module tree is built once from the
node module paths, and ``forward`` is Python source that torch.fx writes from a
``torch.fx.Graph`` with one ``call_module`` per node::

    def forward(self, x : torch.Tensor):
        conv1 = self.conv1(x);  x = None
        bn1 = self.bn1(conv1);  conv1 = None
        ...

- **Module tree.** Node ``layer1.0.conv1`` owns the module at that path. A path
  segment whose children are all numbers becomes a :class:`Sequential` (an
  ``nn.Sequential`` with a faster child lookup; children
  added as ``"0"``, ``"1"``, ... like torchvision's ``features.0``); any other
  segment becomes a :class:`Block` (a plain ``nn.Module`` holder). Every op node
  gets its module, including nodes that no output needs, so the parameter count
  and ``state_dict`` match the analysis (``graph.total_params``); ``forward``
  only calls the nodes that the outputs depend on.
- **Shared weights** (``share:``): the node's ``module`` names the owner's path,
  so the call targets the same module twice.
- **Multi-output ops** (``op.outputs`` has several names) return a tuple; each
  port used is read with ``operator.getitem``, named ``<node>_<port>``.
- **Names**: fx node names are the node ids with dots turned into ``_``
  (``layer1_0_conv1``); placeholders are named as the graph inputs.

The returned module is a :class:`CompiledGraph`, a ``GraphModule`` subclass whose
class name is the spec's name in CamelCase, with ``graphspec_inputs`` and
``graphspec_outputs`` (lists of names). It keeps its whole module tree through
``copy.deepcopy`` and pickling (a plain GraphModule keeps only the modules its
code calls).
"""

from __future__ import annotations

import copy
import operator
import re
from collections import OrderedDict
from typing import Any, Iterable

import torch
import torch.fx as fx
from torch import nn

from graphspec.errors import Diagnostic, GraphspecError
from graphspec.graph.model import Graph, Spec

__all__ = ["Block", "Sequential", "CompiledGraph", "compile_graph", "class_name_for", "build_module_tree", "live_nodes", "example_inputs"]

# Attributes set on the compiled module besides its submodules.
GRAPHSPEC_ATTRS = ("graphspec_inputs", "graphspec_outputs", "graphspec_spec", "graphspec_graph")


def _child_first_getattr(self: nn.Module, name: str):
    # nn.Module.__getattr__ looks in _parameters and _buffers before _modules;
    # containers hold only modules, and the compiled forward reads a path such
    # as self.layer1[0].conv1 on every call. Same result (torch forbids a name in
    # two of these dicts), fewer lookups.
    modules = self.__dict__.get("_modules")
    if modules is not None and name in modules:
        return modules[name]
    return nn.Module.__getattr__(self, name)


class Block(nn.Module):
    """A holder of named child modules: the container of a block's nodes.

    ``Block(conv1=nn.Conv2d(...), bn1=nn.BatchNorm2d(...))`` adds the children in
    order (an ``nn.Parameter`` child, from a Parameter node, is registered as a
    parameter). It has no ``forward`` of its own: the compiled graph calls its
    children directly.
    """

    def __init__(self, **children: nn.Module):
        super().__init__()
        for name, child in children.items():
            if isinstance(child, nn.Parameter):  # a Parameter node: the tensor itself
                self.register_parameter(name, child)
            else:
                self.add_module(name, child)

    def __getattr__(self, name: str):
        # children first: the compiled forward reads them on every call
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            return modules[name]
        return super().__getattr__(name)


class Sequential(nn.Sequential):
    """nn.Sequential (numbered children, indexing, same repr) with a faster child lookup."""

    __getattr__ = _child_first_getattr


class CompiledGraph(fx.GraphModule):
    """A GraphModule that keeps all its submodules through deepcopy and pickle.

    Two per-call costs of a plain GraphModule are removed, which matter for
    small models at batch 1 (a few microseconds per call): fx's error-reporting
    ``__call__`` wrapper (tracebacks still show the generated code's lines), and
    nn.Module's parameter-then-buffer-then-module attribute lookup on the
    containers that the forward walks.
    """

    __getattr__ = _child_first_getattr

    def recompile(self):
        code = super().recompile()
        # GraphModule.recompile installs a wrapper that pretty-prints the generated
        # code on errors; call the forward the plain nn.Module way instead.
        type(self).__call__ = nn.Module.__call__
        return code

    def __deepcopy__(self, memo: dict[int, Any]) -> "CompiledGraph":
        res = super().__deepcopy__(memo)
        res.__class__.__name__ = type(self).__name__  # GraphModule.__init__ renamed it
        # GraphModule.__deepcopy__ rebuilds the module from the graph, keeping only
        # the modules the code calls (and plain nn.Module holders on their paths).
        # The deep copy of our __dict__ made inside it is in memo: reuse it.
        modules = copy.deepcopy(self._modules, memo)
        object.__setattr__(res, "_modules", modules)
        object.__setattr__(res, "_parameters", copy.deepcopy(self._parameters, memo))
        for attr in GRAPHSPEC_ATTRS:
            if attr in self.__dict__:
                object.__setattr__(res, attr, copy.deepcopy(self.__dict__[attr], memo))
        return res

    def __reduce__(self):
        reduced = super().__reduce__()
        extras = {a: self.__dict__[a] for a in GRAPHSPEC_ATTRS if a in self.__dict__}
        return (_unpickle, (reduced, dict(self._modules), type(self).__name__, extras, dict(self._parameters)))


def _unpickle(reduced, modules: dict, class_name: str, extras: dict, params: dict | None = None) -> CompiledGraph:
    fn, args = reduced
    plain = fn(*args)  # a GraphModule re-traced from the saved code
    root = Block(**modules)
    for name, param in (params or {}).items():
        root.register_parameter(name, param)
    return _finish(root, plain.graph, class_name, extras)


def _finish(root: nn.Module, graph: fx.Graph, class_name: str, extras: dict) -> CompiledGraph:
    gm = CompiledGraph(root, graph, class_name=class_name)
    # GraphModule copied only the call targets, with bare nn.Module holders on
    # their paths; put the real tree back (same leaf objects, real containers,
    # declaration order, modules that forward does not call).
    gm._modules.clear()
    for name, child in root.named_children():
        gm._modules[name] = child
    gm._parameters.clear()  # fx copied the live ones only; keep the declaration order
    for name, param in root._parameters.items():  # top-level Parameter nodes
        gm._parameters[name] = param
    for k, v in extras.items():
        setattr(gm, k, v)
    return gm


# ---------------------------------------------------------------- names


def class_name_for(spec_name: str, graph_name: str | None = None) -> str:
    """A CamelCase class name from the spec name (and a graph name when several).

    >>> class_name_for("resnet18"), class_name_for("mobilenet_v2"), class_name_for("vae", "decoder")
    ('Resnet18', 'MobilenetV2', 'VaeDecoder')
    >>> class_name_for("vae", "vae"), class_name_for("3d-net")
    ('Vae', 'Model3dNet')
    """
    if graph_name == spec_name:
        graph_name = None
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", spec_name + ("_" + graph_name if graph_name else "")) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if not name[0].isalpha():
        name = "Model" + name
    return name


def fx_name(node_id: str) -> str:
    """The fx node name of a node id.

    >>> fx_name("layer1.0.conv1")
    'layer1_0_conv1'
    """
    return node_id.replace(".", "_")


# ---------------------------------------------------------------- analysis helpers


def live_nodes(graph: Graph) -> set[str]:
    """Nodes (and inputs) that some output of ``graph`` depends on."""
    import networkx as nx

    live: set[str] = set()
    for node_id, _ in graph.outputs.values():
        if node_id in live:
            continue
        live.add(node_id)
        live |= nx.ancestors(graph.g, node_id)
    return live


def _error(code: str, message: str, attrs: dict | None, node: str | None = None, hint: str | None = None) -> GraphspecError:
    return GraphspecError(Diagnostic(code, message, location=(attrs or {}).get("loc"), node=node, hint=hint))


def input_types(graph: Graph, node_id: str) -> list:
    """The TensorType feeding each input of a node, in port order."""
    types = []
    for src, port in graph.node(node_id)["inputs"]:
        meta_types = graph.node(src)["meta"].get("types")
        if not meta_types or port >= len(meta_types):
            raise _error("internal", f"node {node_id!r}: no type known for its input {src!r} (port {port}); was the graph analysed?", graph.node(node_id), node=node_id)
        types.append(meta_types[port])
    return types


def module_owners(graph: Graph) -> dict[str, str]:
    """module path -> the node that builds it: the node whose id is the path (the
    owner of a ``share:``d module) or, when ``outputs=`` pruned it away, the first node using it."""
    owners: dict[str, str] = {}
    for node_id in graph.op_nodes():
        path = graph.node(node_id)["module"]
        if node_id == path or path not in owners:
            owners[path] = node_id
    return owners


def build_leaf_modules(graph: Graph) -> "OrderedDict[str, tuple[nn.Module, str]]":
    """module path -> (module, node id that built it), in graph order.

    A ``Parameter`` node's entry is an ``nn.Parameter``, registered on its
    holder under the last path segment (state_dict key = node path).

    A shared module is built once, by its owner (see :func:`module_owners`).
    """
    owners = module_owners(graph)
    built: "OrderedDict[str, tuple[nn.Module, str]]" = OrderedDict()
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        path = attrs["module"]
        if path in built or owners[path] != node_id:
            continue
        op = attrs["op"]
        if getattr(op, "is_parameter", False):  # a learned tensor registered at its path (Parameter op)
            built[path] = (op.build_parameter(), node_id)
            continue
        try:
            module = op.build_torch(*input_types(graph, node_id))
        except GraphspecError:
            raise
        except NotImplementedError as exc:
            raise _error("export", f"{op.op_name} cannot be compiled to PyTorch: {exc}", attrs, node=node_id) from exc
        except Exception as exc:  # a bug in an op's builder: say which node
            raise _error("internal", f"building the torch module of {op.op_name} node {node_id!r} failed: {type(exc).__name__}: {exc}", attrs, node=node_id) from exc
        if not isinstance(module, nn.Module):
            raise _error("internal", f"{op.op_name}.build_torch returned {type(module).__name__}, not an nn.Module", attrs, node=node_id)
        built[path] = (module, node_id)
    return built


def module_tree(paths: Iterable[str]) -> "OrderedDict[str, Any]":
    """Nested OrderedDicts of path segments; leaves are the full paths.

    Numbered children are sorted by number, others keep first-seen order.
    """
    tree: OrderedDict = OrderedDict()
    for path in paths:
        parts = path.split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, OrderedDict())
            if not isinstance(child, OrderedDict):
                raise ValueError(f"module path {'.'.join(parts[: i + 1])!r} is both a layer and a container (of {path!r})")
            node = child
        if parts[-1] in node:
            raise ValueError(f"module path {path!r} is both a layer and a container")
        node[parts[-1]] = path
    return _sort_numbered(tree)


def _sort_numbered(tree: OrderedDict) -> OrderedDict:
    items = list(tree.items())
    if items and all(k.isdigit() for k, _ in items):
        items.sort(key=lambda kv: int(kv[0]))
    return OrderedDict((k, _sort_numbered(v) if isinstance(v, OrderedDict) else v) for k, v in items)


def is_numbered(tree: OrderedDict) -> bool:
    return bool(tree) and all(k.isdigit() for k in tree)


_RESERVED = frozenset(dir(CompiledGraph)) | {"graph", "code", "meta", "training"} | set(GRAPHSPEC_ATTRS)


def _first_leaf(value: Any) -> str:
    while isinstance(value, OrderedDict):
        value = next(iter(value.values()))
    return value


def build_module_tree(graph: Graph, leaves: "OrderedDict[str, tuple[nn.Module, str]] | None" = None) -> nn.Module:
    """The root holder (a :class:`Block`) of every module of ``graph``."""
    leaves = build_leaf_modules(graph) if leaves is None else leaves
    try:
        tree = module_tree(leaves)
    except ValueError as exc:
        raise _error("bad-name", str(exc), None) from exc

    def make(sub: OrderedDict, prefix: str) -> nn.Module:
        holder: nn.Module = Sequential() if is_numbered(sub) else Block()
        for name, value in sub.items():
            path = f"{prefix}.{name}" if prefix else name
            child = make(value, path) if isinstance(value, OrderedDict) else leaves[value][0]
            reserved = _RESERVED if not prefix else ()
            if name in reserved or (hasattr(holder, name) and name not in holder._modules):
                node_id = leaves[_first_leaf(value)][1]
                raise _error(
                    "bad-name",
                    f"node path {path!r}: {name!r} is the name of an attribute of torch modules, so it cannot name a layer",
                    graph.node(node_id) if node_id else None,
                    node=node_id or path,
                    hint="rename the node",
                )
            if isinstance(child, nn.Parameter):
                holder.register_parameter(name, child)
            else:
                holder.add_module(name, child)
        return holder

    return make(tree, "")


# ---------------------------------------------------------------- the fx graph


def build_fx_graph(graph: Graph) -> fx.Graph:
    """The torch.fx.Graph of ``graph``: placeholders, call_module per live node, output."""
    fg = fx.Graph()
    values: dict[tuple[str, int], fx.Node] = {}
    for name in graph.inputs:
        ph = fg.placeholder(name, type_expr=torch.Tensor)
        values[(name, 0)] = ph
    live = live_nodes(graph)

    def value(ref: tuple[str, int]) -> fx.Node:
        ref = (ref[0], int(ref[1]))
        if ref in values:
            return values[ref]
        node_id, port = ref
        attrs = graph.node(node_id)
        if attrs["kind"] != "op" or (node_id, -1) not in values:
            raise _error("internal", f"reference to {node_id!r} port {port} before it is computed", attrs, node=node_id)
        op = attrs["op"]
        port_name = op.outputs[port] if port < len(op.outputs) else str(port)
        item = fg.create_node("call_function", operator.getitem, (values[(node_id, -1)], port), {}, name=f"{fx_name(node_id)}_{port_name}")
        values[ref] = item
        return item

    for node_id in graph.order:
        attrs = graph.node(node_id)
        if attrs["kind"] != "op" or node_id not in live:
            continue
        op = attrs["op"]
        if getattr(op, "is_parameter", False):
            call = fg.create_node("get_attr", attrs["module"], (), {}, name=fx_name(node_id))
            values[(node_id, 0)] = call
            continue
        args = _call_args(op, attrs, value)
        call = fg.create_node("call_module", attrs["module"], tuple(args), {}, name=fx_name(node_id))
        call.meta["graphspec_node"] = node_id
        if attrs.get("loc") is not None:
            call.meta["graphspec_loc"] = str(attrs["loc"])
        if len(type(op).outputs) > 1:
            values[(node_id, -1)] = call  # a tuple: ports are read with getitem
        else:
            values[(node_id, 0)] = call
    outs = [value(ref) for ref in graph.outputs.values()]
    fg.output(outs[0] if len(outs) == 1 else tuple(outs))
    fg.lint()
    return fg


def _call_args(op, attrs: dict, value) -> list:
    """Positional arguments in the op's port order; a skipped optional port before a given one gets None."""
    given: dict[str, list] = {}
    for ref, port in zip(attrs["inputs"], attrs["ports"]):
        given.setdefault(port, []).append(ref)
    args: list = []
    pending = 0
    for name, kind in op.port_spec():
        refs = given.get(name)
        if not refs:
            if kind != "variadic":
                pending += 1
            continue
        args.extend([None] * pending)
        pending = 0
        args.extend(value(r) for r in refs)
    return args


# ---------------------------------------------------------------- entry point


def compile_graph(spec: Spec, graph: Graph, outputs: list[str] | None = None) -> CompiledGraph:
    """Compile ``graph`` of ``spec`` to a :class:`CompiledGraph` (a torch.fx.GraphModule).

    ``outputs`` chooses outputs (output names or node references, see
    :func:`graphspec.passes.subgraph.extract`); the graph is then pruned to what
    they need, modules included.
    """
    graph_name = graph.name
    if outputs:
        from graphspec.passes.subgraph import extract

        graph = extract(graph, list(outputs))
    from graphspec.passes import budget

    budget.check(graph, None, what="compiling")  # before any weight is allocated
    root = build_module_tree(graph)
    fg = build_fx_graph(graph)
    multi = spec is not None and len(getattr(spec, "graphs", {})) > 1
    cls_name = class_name_for(spec.name if spec is not None else "model", graph_name if multi else None)
    extras = {
        "graphspec_inputs": list(graph.inputs),
        "graphspec_outputs": list(graph.outputs),
        "graphspec_spec": spec.name if spec is not None else None,
        "graphspec_graph": graph_name,
    }
    return _finish(root, fg, cls_name, extras)


# ---------------------------------------------------------------- inputs


def example_inputs(graph: Graph, sizes: dict[str, int] | None = None, generator: "torch.Generator | None" = None) -> tuple:
    """Random tensors for the graph inputs, symbolic dims bound by ``sizes``.

    The feeds of :func:`graphspec.backends.example_inputs.make_inputs` (the one
    generator: standard normal floats, integer inputs valid for every Embedding
    that reads them) as tensors; ``generator`` only picks the seed.
    """
    from graphspec.backends.example_inputs import make_inputs

    seed = int(generator.initial_seed()) if generator is not None else 0
    names = list(graph.inputs)
    feeds = make_inputs(graph, names, dict(sizes or {}), seed=seed, bf16_as_float32=True)
    out = []
    for name in names:
        t = torch.from_numpy(feeds[name])
        want = getattr(torch, graph.inputs[name].type.dtype)
        out.append(t.to(want) if t.dtype != want else t)
    return tuple(out)
