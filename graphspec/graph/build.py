"""Spec tree -> :class:`Graph`: expands blocks, ``repeat`` and ``Sequential``,
resolves expressions and references, validates op parameters.

Names are resolved scope by scope. In each scope (the top level of a graph, or
one block call) the nodes are ordered by their local references; a cycle among
them is reported with its path. Every problem found is collected, so one run
reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


import networkx as nx
from pydantic import ValidationError

from graphspec.diagnostics import translate
from graphspec.errors import Collector, Location, did_you_mean
from graphspec.graph.model import Graph, InputSpec
from graphspec.ops import registry
from graphspec.ops.registry import RESERVED_KEYS
from graphspec.ops.types import TensorType
from graphspec.spec.expr import ExprError, resolve
from graphspec.spec.schema import IDENT, MAX_DIM, name_problem, node_name_problem, normalise_outputs
from graphspec.spec.yamlload import LocatedTree

MAX_REPEAT = 10_000
# Building costs ~0.1 ms per node and the passes as much again, so these caps
# keep a runaway expansion (nested repeats, blocks that use a block twice per
# level) to seconds; real networks have a few thousand nodes.
MAX_GRAPH_NODES = 100_000
MAX_EXPANSION = 200_000  # node, layer and block calls per graph, failed ones included
MAX_BLOCK_DEPTH = 32

Value = dict  # port name -> (node id, port index); first key is the default port


# Attributes of torch modules (nn.Module, fx.GraphModule, graphspec's own): a node
# with one of these names could not become a submodule. Kept here, torch-free, so
# `validate` reports it; tests/backends/test_torch_fx.py checks it against torch.
MODULE_ATTRIBUTES = frozenset({
    'T_destination', 'add_module', 'add_submodule', 'apply', 'bfloat16', 'buffers',
    'call_super_init', 'children', 'code', 'compile', 'cpu', 'cuda',
    'delete_all_unused_submodules', 'delete_submodule', 'double', 'dump_patches', 'eval', 'extra_repr',
    'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule',
    'graph', 'graphspec_graph', 'graphspec_inputs', 'graphspec_outputs', 'graphspec_spec', 'half',
    'ipu', 'load_state_dict', 'meta', 'modules', 'mtia', 'named_buffers',
    'named_children', 'named_modules', 'named_parameters', 'parameters', 'print_readable', 'recompile',
    'register_backward_hook', 'register_buffer', 'register_forward_hook', 'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook',
    'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook', 'register_module', 'register_parameter', 'register_state_dict_post_hook', 'register_state_dict_pre_hook',
    'requires_grad_', 'set_extra_state', 'set_submodule', 'share_memory', 'state_dict', 'to',
    'to_empty', 'to_folder', 'train', 'training', 'type', 'xpu',
    'zero_grad',
})


class _Skip(Exception):
    """A node could not be built; its problems are already collected."""


class _Abort(Exception):
    """The graph is too large to build; the problem is already collected."""


@dataclass
class Source:
    """Where a piece of the spec lives: a file's tree and a path inside it."""

    tree: LocatedTree
    path: tuple

    def at(self, *sub) -> "Source":
        return Source(self.tree, self.path + tuple(sub))

    def loc(self, *sub, key: bool = False) -> Location:
        return self.tree.loc(self.path + tuple(sub), key=key)


@dataclass
class BlockDef:
    name: str
    decl: dict[str, Any]  # raw block mapping (already schema-checked)
    src: Source
    table: "BlockTable"  # blocks visible inside this block (its file's)
    # Params the block body sees besides its own: the spec's params for blocks
    # defined in the spec itself (lexical scope); nothing for imported blocks,
    # which must not depend on the spec that happens to import them.
    base_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BlockTable:
    blocks: dict[str, BlockDef] = field(default_factory=dict)

    def get(self, name: str) -> BlockDef | None:
        return self.blocks.get(name)


@dataclass
class Scope:
    prefix: str  # module path prefix, "" at a graph's top level
    params: dict[str, Any]
    table: BlockTable
    names: dict[str, Value]
    trail: list  # [(path, block name)] of enclosing calls
    depth: int = 0
    declared: set = field(default_factory=set)  # every node name written in this scope, built or not
    blocks: tuple = ()  # the BlockDefs being expanded around this scope, outermost first
    absent: dict = field(default_factory=dict)  # node name -> Location of its false 'when'

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name


class GraphBuilder:
    def __init__(self, collector: Collector, params: dict[str, Any], table: BlockTable):
        self.out = collector
        self.params = params
        self.table = table

    # -- entry point -------------------------------------------------------
    def build(self, name: str, decl: dict[str, Any], src: Source) -> Graph | None:
        self.g = nx.DiGraph()
        self.order: list[str] = []
        self.calls = 0
        scope = Scope("", dict(self.params), self.table, {}, [])
        inputs: dict[str, InputSpec] = {}
        for in_name, in_decl in decl["inputs"].items():
            isrc = src.at("inputs", in_name)
            if self._bad_name(in_name, isrc, "input"):
                scope.declared.add(in_name)  # references to it fail silently: reported once, here
                continue
            shape = []
            for i, d in enumerate(in_decl["shape"]):
                try:
                    d = self._resolve(d, scope.params, isrc.at("shape", i), None)
                except _Skip:
                    d = 1  # the expression's problem is collected
                if isinstance(d, bool) or not isinstance(d, (int, str)):
                    self.out.add("bad-type", f"input {in_name!r}: dim {i} must be a number or a symbolic name. Received: {d!r}", location=isrc.loc("shape", i))
                    d = 1
                elif isinstance(d, int) and d <= 0:
                    self.out.add("bad-value", f"input {in_name!r}: dim {i} must be positive. Received: {d}", location=isrc.loc("shape", i))
                    d = 1
                elif isinstance(d, int) and d > MAX_DIM:
                    self.out.add("too-large", f"input {in_name!r}: dim {i} is {d:,}; the largest size is {MAX_DIM:,} (2**31 - 1)", location=isrc.loc("shape", i))
                    d = 1
                elif isinstance(d, str) and not IDENT.fullmatch(d):
                    self.out.add("bad-value", f"input {in_name!r}: symbolic dim {d!r} must be a name such as 'batch'", location=isrc.loc("shape", i))
                    d = 1
                shape.append(d)
            ttype = TensorType(tuple(shape), in_decl.get("dtype", "float32"))
            inputs[in_name] = InputSpec(in_name, ttype, isrc.loc())
            self.g.add_node(in_name, kind="input", op=None, inputs=[], ports=[], module=None, loc=isrc.loc(), scope=[], meta={"types": (ttype,)}, name=in_name)
            self.order.append(in_name)
            scope.names[in_name] = {"out": (in_name, 0)}
        outputs: dict[str, tuple[str, int]] = {}
        output_locs: dict[str, Location] = {}
        try:
            self._scope_nodes(decl["nodes"], src.at("nodes"), scope)
        except _Abort:
            return None
        raw_outputs = decl["outputs"]
        if not normalise_outputs(raw_outputs):
            self.out.add("bad-value", f"graph {name!r} needs at least one output", location=src.loc("outputs"))
        for out_name, ref in normalise_outputs(raw_outputs).items():
            osrc = src.at("outputs", out_name) if isinstance(raw_outputs, dict) else src.at("outputs")
            if self._bad_name(out_name, osrc, "output"):
                continue
            try:
                outputs[out_name] = self._ref(ref, scope, osrc, None, what=f"output {out_name!r}")
                output_locs[out_name] = osrc.loc()
            except _Skip:
                pass
        graph = Graph(name, self.g, inputs, outputs, output_locs, self.order)
        return graph

    # -- helpers -------------------------------------------------------------
    def _bad_name(self, name: str, src: Source, what: str) -> bool:
        if what == "node":
            problem = node_name_problem(name)
            hint = "node names are module names: anything but '.', quotes and control characters (identifiers recommended)"
        else:
            problem = name_problem(name)
            hint = f"{what} names become Python identifiers: letters, digits, '_'"
        if problem:
            self.out.add("bad-name", f"{what} name {problem}", location=src.loc(key=True), hint=hint)
            return True
        return False

    def _when(self, body: dict, src: Source, params: dict, path: str) -> bool:
        """The value of a node's ``when:`` (True when it has none)."""
        if "when" not in body:
            return True
        value = self._resolve(body["when"], params, src.at("when"), path)
        if not isinstance(value, bool):
            self.out.add("bad-type", f"'when' must be true or false. Received: {value!r}", location=src.loc("when"), node=path, hint="write a comparison, e.g. when: \"${stride != 1}\"")
            raise _Skip
        return value

    def _absent_ref(self, what: str, name: str, scope: Scope, where: Location, node: str | None) -> None:
        self.out.add(
            "unknown-ref",
            f"{what} refers to {name!r}, which does not exist here: its 'when' is false ({scope.absent[name]})",
            location=where,
            node=node,
            hint=f"choose the input with an expression, e.g. in: \"${{'{name}' if <condition> else '<other node>'}}\"",
        )

    def _resolve(self, value: Any, scope_params: dict, src: Source, node: str | None) -> Any:
        try:
            return resolve(value, scope_params)
        except ExprError as exc:
            self.out.add(exc.code, str(exc), location=src.loc(), node=node, hint=exc.hint)
            raise _Skip

    def _ref(self, ref: Any, scope: Scope, src: Source, node: str | None, what: str = "a node", checked: bool = False) -> tuple[str, int]:
        """Resolve ``name`` or ``name.port`` in ``scope``.

        ``what`` names the referrer in messages ("output 'y'"). ``checked``: the
        dependency check has already reported this reference if it is an
        unknown plain name (a node's ``in``).
        """
        if not isinstance(ref, str):
            self.out.add("bad-type", f"a reference must be a node name, optionally 'node.port'. Received: {ref!r}", location=src.loc(), node=node)
            raise _Skip
        static = "${" not in ref
        ref = ref if static else self._resolve(ref, scope.params, src, node)
        name, _, port = str(ref).partition(".")
        value = scope.names.get(name)
        if value is None:
            if name in scope.absent and not (static and checked):
                self._absent_ref(what, name, scope, src.loc(), node)
                raise _Skip
            if name in scope.declared or (static and checked):
                raise _Skip  # that node failed, or the dependency check reported the name
            known = list(scope.names) + sorted(scope.declared - set(scope.names))
            self.out.add(
                "unknown-ref",
                f"{what} refers to {name!r}, which is not an input or a node in this scope",
                location=src.loc(),
                node=node,
                hint=did_you_mean(name, known),
            )
            raise _Skip
        if not port:
            return next(iter(value.values()))
        if port not in value:
            self.out.add(
                "unknown-port",
                f"{name!r} has no output {port!r}. Outputs: {', '.join(value)}",
                location=src.loc(),
                node=node,
                hint=did_you_mean(port, value),
            )
            raise _Skip
        return value[port]

    @staticmethod
    def _ref_names(raw_in: Any, params: dict | None = None) -> tuple[list[str], list[str]]:
        """(plain names, names computed by ${...}) referred to by an 'in' field."""
        if raw_in is None:
            return [], []
        items = raw_in.values() if isinstance(raw_in, dict) else raw_in if isinstance(raw_in, list) else [raw_in]
        names, computed = [], []
        for item in items:
            if isinstance(item, str) and "${" not in item:
                names.append(item.partition(".")[0])
            elif isinstance(item, str) and params is not None:
                try:  # only to order the scope; problems are reported when the node is built
                    value = resolve(item, params)
                except ExprError:
                    continue
                if isinstance(value, str):
                    computed.append(value.partition(".")[0])
        return names, computed

    # -- one scope -----------------------------------------------------------
    def _scope_nodes(self, nodes: dict[str, dict], src: Source, scope: Scope) -> None:
        """Build every node of a scope in dependency order."""
        if len(nodes) > 200_000:
            self.out.add("too-large", f"{len(nodes):,} nodes in one scope; the limit is 200,000", location=src.loc())
            return
        deps = nx.DiGraph()
        index = {n: i for i, n in enumerate(nodes)}
        scope.declared |= set(nodes)
        ok_nodes = []
        for name, body in nodes.items():
            nsrc = src.at(name)
            if self._bad_name(name, nsrc, "node"):
                continue
            if name in scope.names:
                self.out.add("bad-name", f"node {name!r} has the same name as an input", location=nsrc.loc(key=True))
                continue
            if name in MODULE_ATTRIBUTES:
                self.out.add("bad-name", f"node name {name!r} is an attribute of torch modules, so it cannot name a layer", location=nsrc.loc(key=True), node=scope.path(name), hint=f"rename it, e.g. {name + '_'!r}")
                continue
            if not isinstance(body, dict) or "op" not in body:
                self.out.add("missing-field", f"node {name!r} needs an 'op'", location=nsrc.loc(), node=scope.path(name))
                continue
            try:
                if not self._when(body, nsrc, scope.params, scope.path(name)):
                    scope.absent[name] = nsrc.loc("when")
                    continue
            except _Skip:
                continue
            deps.add_node(name)
            ok_nodes.append(name)
        ok = set(ok_nodes)
        for name in ok_nodes:
            body = nodes[name]
            nsrc = src.at(name)
            refs, computed = self._ref_names(body.get("in"), scope.params)
            if isinstance(body.get("share"), str):
                refs.append(body["share"])
            for r in computed:
                if r in ok:
                    deps.add_edge(r, name)
            for r in refs:
                if r in ok:
                    deps.add_edge(r, name)
                elif r in scope.absent:
                    self._absent_ref(f"node {name!r}", r, scope, nsrc.loc("in") if "in" in body else nsrc.loc(), scope.path(name))
                elif r not in scope.declared and r not in scope.names:  # a failed node, or an input: no edge
                    where = nsrc.loc("in") if "in" in body else nsrc.loc()
                    known = list(scope.names) + list(nodes)
                    self.out.add(
                        "unknown-ref",
                        f"node {name!r} refers to {r!r}, which is not an input or a node in this scope",
                        location=where,
                        node=scope.path(name),
                        hint=did_you_mean(r, known),
                    )
        try:
            order = list(nx.lexicographical_topological_sort(deps, key=index.__getitem__))
        except nx.NetworkXUnfeasible:  # rare: find and report each cycle, build the rest
            self._report_cycles(deps, nodes, index, src, scope)
            order = list(nx.lexicographical_topological_sort(deps, key=index.__getitem__))
        for name in order:
            try:
                scope.names[name] = self._node(name, nodes[name], src.at(name), scope)
            except _Skip:
                pass

    def _report_cycles(self, deps: nx.DiGraph, nodes: dict, index: dict, src: Source, scope: Scope) -> None:
        for component in list(nx.strongly_connected_components(deps)):
            first = min(component, key=index.__getitem__)
            if len(component) == 1 and not deps.has_edge(first, first):
                continue
            cycle = nx.find_cycle(deps.subgraph(component), source=first)
            path = [e[0] for e in cycle] + [cycle[0][0]]
            self.out.add(
                "cycle",
                "the graph has a cycle: " + " -> ".join(path),
                location=src.loc(first, "in") if "in" in nodes[first] else src.loc(first),
                node=scope.path(first),
                hint="a computation graph must be acyclic; feed state back through the training loop instead",
            )
            deps.remove_nodes_from(component)

    # -- one node ------------------------------------------------------------
    def _node(self, name: str, body: dict, src: Source, scope: Scope) -> Value:
        path = scope.path(name)
        repeat = body.get("repeat", 1)
        repeat = self._resolve(repeat, scope.params, src.at("repeat"), path) if "repeat" in body else 1
        if "repeat" not in body and isinstance(body.get("names"), list):
            repeat = len(body["names"])  # a list of names says how many copies
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            self.out.add("bad-value", f"repeat must be an integer from 1 to {MAX_REPEAT}. Received: {repeat!r}", location=src.loc("repeat"), node=path)
            raise _Skip
        if "share" in body and repeat != 1:
            self.out.add("share", "a shared node cannot also repeat", location=src.loc("share"), node=path)
            raise _Skip
        inputs = self._inputs(body, src, scope, path)
        if "repeat" not in body and "names" not in body:
            return self._call(body, src, scope, path, inputs, scope.params)
        # repeat: children path.0, path.1 ... (or path.<names[i]>), each fed by the previous
        copies = self._copy_names(body, src, scope.params, path, repeat)
        value: Value = {}
        for i, copy in enumerate(copies):
            value = self._call(body, src, scope, f"{path}.{copy}", inputs, {**scope.params, "i": i}, trail=[(path, "repeat")])
            inputs = _chain(inputs, next(iter(value.values())))
        return value

    def _copy_names(self, body: dict, src: Source, params: dict, path: str, repeat: int) -> list[str]:
        """The child names of a repeated node: '0'..'N-1', or from ``names:``
        (a list, or one expression over ``i`` such as ``denselayer${i + 1}``)."""
        raw = body.get("names")
        if raw is None:
            return [str(i) for i in range(repeat)]
        nsrc = src.at("names")
        if isinstance(raw, list):
            if len(raw) != repeat:
                self.out.add("bad-value", f"'names' lists {len(raw)} name(s) for {repeat} copies", location=nsrc.loc(), node=path, hint="give one name per copy, or drop 'repeat' (the list says how many)")
                raise _Skip
            items = [(raw[i], nsrc.at(i)) for i in range(repeat)]
        elif isinstance(raw, str) and "${" in raw:
            items = [(raw, nsrc)] * repeat
        else:
            self.out.add("bad-type", f"'names' must be a list of names or an expression over i such as 'layer${{i + 1}}'. Received: {raw!r}", location=nsrc.loc(), node=path)
            raise _Skip
        names: list[str] = []
        for i, (item, isrc) in enumerate(items):
            value = self._resolve(item, {**params, "i": i}, isrc, path)
            problem = node_name_problem(value) if isinstance(value, str) else f"{value!r} is not a string"
            if problem is None and value in MODULE_ATTRIBUTES:
                problem = f"{value!r} is an attribute of torch modules, so it cannot name a layer"
            if problem is None and value in names:
                problem = f"{value!r} names two copies"
            if problem:
                self.out.add("bad-name", f"copy {i} of {path!r}: {problem}", location=isrc.loc(), node=path)
                raise _Skip
            names.append(value)
        return names

    def _inputs(self, body: dict, src: Source, scope: Scope, path: str) -> Any:
        """Resolve the 'in' field to (node id, port) tuples, keeping its shape."""
        raw = body.get("in")
        if raw is None:
            return []
        isrc = src.at("in")
        what = f"node {src.path[-1]!r}"
        if isinstance(raw, dict):
            return {k: self._ref(v, scope, isrc.at(k), path, what, checked=True) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self._ref(v, scope, isrc.at(i), path, what, checked=True) for i, v in enumerate(raw)]
        return [self._ref(raw, scope, isrc, path, what, checked=True)]

    def _call(self, body: dict, src: Source, scope: Scope, path: str, inputs: Any, params: dict, trail: list | None = None) -> Value:
        self.calls += 1
        if self.calls > MAX_EXPANSION:
            self.out.add("too-large", f"the graph expands to more than {MAX_EXPANSION:,} node, layer and block calls", location=src.loc("op"), node=path, hint="look for nested 'repeat' or blocks that use other blocks many times")
            raise _Abort
        op_name = body["op"]
        if isinstance(op_name, str) and "${" in op_name:  # op taken from a block param
            op_name = self._resolve(op_name, params, src.at("op"), path)
        if not isinstance(op_name, str):
            self.out.add("bad-type", f"'op' must be a name. Received: {op_name!r}", location=src.loc("op"), node=path)
            raise _Skip
        trail = scope.trail + (trail or [])
        if op_name == "Sequential":
            return self._sequential(body, src, scope, path, inputs, params, trail)
        op_cls = registry.get(op_name)
        if op_cls is not None:
            return self._primitive(op_cls, body, src, scope, path, inputs, params, trail)
        block = scope.table.get(op_name)
        if block is not None:
            if "share" in body:
                self.out.add("share", f"'share' works on single ops, not on block {op_name!r}", location=src.loc("share", key=True), node=path, hint="share the ops inside the block instead")
                raise _Skip
            return self._block(block, body, src, scope, path, inputs, params, trail)
        choices = registry.names() + list(scope.table.blocks) + ["Sequential"]
        self.out.add("unknown-op", f"unknown op {op_name!r}", location=src.loc("op"), node=path, hint=did_you_mean(op_name, choices) or "run 'graphspec ops' for the list")
        raise _Skip

    def _sequential(self, body, src, scope, path, inputs, params, trail) -> Value:
        layers = body.get("layers")
        extra = set(body) - {"op", "in", "layers", "repeat", "doc", "when", "names"}
        for key in sorted(extra):
            self.out.add("unknown-field", f"Sequential has no field {key!r}; it takes 'in' and 'layers'", location=src.loc(key, key=True), node=path)
        if not isinstance(layers, list) or not layers:
            self.out.add("bad-type", "Sequential needs 'layers': a non-empty list of nodes without 'in'", location=src.loc("layers") if "layers" in body else src.loc(), node=path)
            raise _Skip
        trail = trail + [(path, "Sequential")]
        value = None
        index = 0
        current = inputs
        for li, layer in enumerate(layers):
            lsrc = src.at("layers", li)
            if not isinstance(layer, dict) or "op" not in layer:
                self.out.add("missing-field", "each Sequential layer is a mapping with an 'op'", location=lsrc.loc(), node=f"{path}.{index}")
                raise _Skip
            if "in" in layer:
                self.out.add("unknown-field", "Sequential layers take no 'in': each layer feeds the next", location=lsrc.loc("in", key=True), node=f"{path}.{index}")
                raise _Skip
            if "share" in layer:
                self.out.add("share", "'share' is not supported inside Sequential", location=lsrc.loc("share", key=True), node=f"{path}.{index}")
                raise _Skip
            if "names" in layer:
                self.out.add("unknown-field", "Sequential numbers its layers, so a layer takes no 'names'", location=lsrc.loc("names", key=True), node=f"{path}.{index}", hint="use a node with 'repeat' and 'names' outside Sequential")
                raise _Skip
            if not self._when(layer, lsrc, params, f"{path}.{index}"):
                continue  # an absent layer takes no number
            repeat = self._resolve(layer.get("repeat", 1), params, lsrc.at("repeat"), path)
            if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
                self.out.add("bad-value", f"repeat must be an integer from 1 to {MAX_REPEAT}. Received: {repeat!r}", location=lsrc.loc("repeat"), node=f"{path}.{index}")
                raise _Skip
            inner = Scope(scope.prefix, scope.params, scope.table, scope.names, trail, scope.depth)
            for r in range(repeat):
                lparams = {**params, "i": r} if "repeat" in layer else params
                value = self._call(layer, lsrc, inner, f"{path}.{index}", current, lparams)
                current = _chain(current, next(iter(value.values())))
                index += 1
        return value

    def _op_params(self, body: dict, src: Source, params: dict, path: str, allowed_extra=()) -> dict:
        resolved = {}
        failed = False
        for key, raw in body.items():
            if key in RESERVED_KEYS or key in allowed_extra:
                continue
            try:
                resolved[key] = self._resolve(raw, params, src.at(key), path)
            except _Skip:
                failed = True
        if failed:
            raise _Skip
        return resolved

    def _primitive(self, op_cls, body, src, scope, path, inputs, params, trail) -> Value:
        values = self._op_params(body, src, params, path)
        try:
            op = op_cls.model_validate(values)
        except ValidationError as exc:
            self._pydantic_errors(exc, op_cls, values, src, path)
            raise _Skip
        srcs, ports = self._bind_ports(op_cls, inputs, src, path)
        module = path
        if "share" in body:
            module = self._share(body, src, scope, path, op)
        node_id = path
        if node_id in self.g:
            self.out.add("bad-name", f"two nodes expand to the module path {node_id!r}", location=src.loc(), node=path)
            raise _Skip
        if len(self.g) >= MAX_GRAPH_NODES:
            self.out.add("too-large", f"the graph expands to more than {MAX_GRAPH_NODES:,} nodes", location=src.loc(), node=path, hint="look for nested 'repeat' or blocks that use other blocks many times")
            raise _Abort
        self.g.add_node(node_id, kind="op", op=op, inputs=srcs, ports=ports, module=module, loc=src.loc(), scope=list(trail), meta={}, name=path.rsplit(".", 1)[-1])
        for s, _ in srcs:
            self.g.add_edge(s, node_id)
        self.order.append(node_id)
        return {port: (node_id, i) for i, port in enumerate(op_cls.outputs)}

    def _share(self, body, src, scope, path, op) -> str:
        other = body["share"]
        target = scope.names.get(other) if isinstance(other, str) else None
        if target is None:
            if isinstance(other, str) and (other in scope.declared or other not in scope.names):
                raise _Skip  # a node that failed, or a name the dependency check reported
            self.out.add("share", f"'share' must name a node of this scope. Received: {other!r}", location=src.loc("share"), node=path)
            raise _Skip
        other_id = next(iter(target.values()))[0]
        other_attrs = self.g.nodes[other_id]
        if other_attrs["kind"] != "op" or type(other_attrs["op"]) is not type(op) or other_attrs["op"] != op:
            self.out.add(
                "share",
                f"node shares weights with {other!r}, so it needs the same op and parameters",
                location=src.loc("share"),
                node=path,
                hint=f"{other!r} is {other_attrs['op'].op_name if other_attrs['op'] else 'an input'}",
            )
            raise _Skip
        return other_attrs["module"]

    def _bind_ports(self, op_cls, inputs, src, path) -> tuple[list, list]:
        spec = op_cls.port_spec()
        srcs, ports = [], []
        if isinstance(inputs, dict):
            names = {n for n, _ in spec}
            for key in inputs:
                if key not in names:
                    self.out.add("unknown-port", f"{op_cls.op_name} has no input {key!r}. Inputs: {', '.join(names)}", location=src.loc("in", key, key=True), node=path, hint=did_you_mean(key, names))
                    raise _Skip
            for name, kind in spec:
                if name in inputs:
                    srcs.append(inputs[name])
                    ports.append(name)
                elif kind == "required":
                    self.out.add("arity", f"{op_cls.op_name} needs input {name!r}", location=src.loc("in") if "in" in src.tree.locations or True else src.loc(), node=path)
                    raise _Skip
            return srcs, ports
        given = list(inputs)
        for name, kind in spec:
            if kind == "variadic":
                srcs.extend(given)
                ports.extend([name] * len(given))
                given = []
                break
            if given:
                srcs.append(given.pop(0))
                ports.append(name)
            elif kind == "required":
                need = sum(1 for _, k in spec if k == "required")
                self.out.add("arity", f"{op_cls.op_name} needs {need} input(s) ({', '.join(n for n, k in spec if k == 'required')}). Received: {len(inputs)}", location=src.loc("in") if inputs else src.loc(), node=path, hint=None if inputs else "add 'in: <node>'")
                raise _Skip
        if given:
            self.out.add("arity", f"{op_cls.op_name} takes at most {len(spec)} input(s). Received: {len(inputs)}", location=src.loc("in"), node=path)
            raise _Skip
        return srcs, ports

    def _pydantic_errors(self, exc: ValidationError, op_cls, values: dict, src: Source, path: str) -> None:
        translate(exc, op_cls, values, lambda loc=(), key=False: src.loc(*loc, key=key), self.out, subject=op_cls.op_name, node=path)

    # -- blocks --------------------------------------------------------------
    def _block(self, block: BlockDef, body, src, scope, path, inputs, params, trail) -> Value:
        if any(b is block for b in scope.blocks):
            chain = [b.name for b in scope.blocks[[b is block for b in scope.blocks].index(True):]] + [block.name]
            self.out.add(
                "block",
                f"block {block.name!r} uses itself: {' -> '.join(chain)}",
                location=src.loc("op"),
                node=path,
                hint="a block cannot contain itself, directly or through other blocks; use 'repeat' to stack copies",
            )
            raise _Skip
        if scope.depth >= MAX_BLOCK_DEPTH:
            self.out.add("block", f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels (a block that calls itself?)", location=src.loc("op"), node=path)
            raise _Skip
        args = self._op_params(body, src, params, path)
        bparams = self._block_params(block, args, src, path)
        decl = block.decl
        in_names = decl.get("inputs", ["x"])
        bound: dict[str, Value] = {}
        if isinstance(inputs, dict):
            for k in inputs:
                if k not in in_names:
                    self.out.add("unknown-port", f"block {block.name!r} has no input {k!r}. Inputs: {', '.join(in_names)}", location=src.loc("in", k, key=True), node=path, hint=did_you_mean(k, in_names))
                    raise _Skip
            missing = [n for n in in_names if n not in inputs]
            pairs = list(inputs.items())
        else:
            missing = in_names[len(inputs):]
            if len(inputs) > len(in_names):
                self.out.add("arity", f"block {block.name!r} takes {len(in_names)} input(s) ({', '.join(in_names)}). Received: {len(inputs)}", location=src.loc("in"), node=path)
                raise _Skip
            pairs = list(zip(in_names, inputs))
        if missing:
            self.out.add("arity", f"block {block.name!r} needs input(s) {', '.join(missing)}", location=src.loc("in") if "in" in body else src.loc(), node=path)
            raise _Skip
        for k, ref in pairs:
            bound[k] = {"out": ref}
        inner = Scope(path, {**block.base_params, **bparams}, block.table, bound, trail + [(path, block.name)], scope.depth + 1, blocks=scope.blocks + (block,))
        self._scope_nodes(decl["nodes"], block.src.at("nodes"), inner)
        value: Value = {}
        raw_outputs = decl["outputs"]
        failed = False
        if not normalise_outputs(raw_outputs):
            self.out.add("bad-value", f"block {block.name!r} needs at least one output", location=block.src.loc("outputs"), node=path)
            failed = True
        for out_name, ref in normalise_outputs(raw_outputs).items():
            osrc = block.src.at("outputs", out_name) if isinstance(raw_outputs, dict) else block.src.at("outputs")
            if name_problem(out_name):
                self.out.add("bad-name", f"block {block.name!r}: output name {name_problem(out_name)}", location=osrc.loc(key=isinstance(raw_outputs, dict)), node=path)
                failed = True
                continue
            try:
                value[out_name] = self._ref(ref, inner, osrc, path, what=f"block {block.name!r} output {out_name!r}")
            except _Skip:
                failed = True
        if failed:
            raise _Skip
        return value

    def _block_params(self, block: BlockDef, args: dict, src: Source, path: str) -> dict:
        declared = block.decl.get("params", {}) or {}
        out: dict[str, Any] = {}
        for key in args:
            if key not in declared:
                self.out.add("param-unknown", f"block {block.name!r} has no parameter {key!r}", location=src.loc(key, key=True), node=path, hint=did_you_mean(key, declared) or ("parameters: " + ", ".join(declared) if declared else f"block {block.name!r} takes no parameters"))
        failed = False
        psrc = block.src.at("params")
        for key, spec in declared.items():
            # long form {type, default, doc}; a mapping without 'type' is long form too
            long_form = isinstance(spec, dict) and ("type" in spec or (bool(spec) and set(spec) <= _LONG_FORM_KEYS))
            default = spec.get("default") if long_form else spec
            want = (spec.get("type") or param_type(default)) if long_form else param_type(default)
            if long_form:
                for extra in sorted(set(spec) - _LONG_FORM_KEYS, key=str):
                    self.out.add("unknown-field", f"block {block.name!r} parameter {key!r} has no field {extra!r}", location=psrc.loc(key, extra, key=True), hint=did_you_mean(str(extra), _LONG_FORM_KEYS) or "fields: type, default, doc")
                    failed = True
                if not isinstance(want, str) or want not in _TYPES:
                    self.out.add("param-type", f"block {block.name!r} parameter {key!r} has unknown type {want!r}", location=psrc.loc(key, "type"), hint="types: " + ", ".join(_TYPES))
                    failed = True
                    continue
            if key in args:
                value = args[key]
            elif default is None:
                self.out.add("param-missing", f"block {block.name!r} needs parameter {key!r}", location=src.loc("op"), node=path, hint=(spec.get("doc") if long_form else None))
                failed = True
                continue
            else:
                try:
                    value = self._resolve(default, {**block.base_params, **out}, psrc.at(key), path)
                except _Skip:
                    failed = True
                    continue
            if not param_type_ok(value, want):
                self.out.add("param-type", f"block {block.name!r} parameter {key!r} must be {want}. Received: {value!r}", location=src.loc(key) if key in args else psrc.loc(key), node=path)
                failed = True
                continue
            out[key] = value
        if failed:
            raise _Skip
        return out


def _chain(inputs: Any, previous: tuple[str, int]) -> Any:
    """Inputs of the next copy in a stack: the previous copy's default output
    replaces the first input; any other inputs (a mask, a context) pass unchanged."""
    if isinstance(inputs, dict) and inputs:
        first = next(iter(inputs))
        return {**inputs, first: previous}
    return [previous] + list(inputs[1:])


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "list": (list,), "any": (object,)}
_LONG_FORM_KEYS = {"type", "default", "doc"}


def param_type(default: Any) -> str:
    """The type a block param's shorthand default declares (``{width: 64}`` is an int)."""
    if default is None:
        return "any"
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "any" if "${" in default else "str"  # an expression's type is its value's
    if isinstance(default, list):
        return "list"
    return "any"


def param_type_ok(value: Any, want: str) -> bool:
    """True when ``value`` is accepted for a param of type ``want`` (a float param takes ints)."""
    types = _TYPES.get(want, (object,))
    if want in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, types)
