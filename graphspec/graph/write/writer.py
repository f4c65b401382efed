"""Node bodies and blocks for the boxes of a flat graph.

Boxes are written innermost first. Each box is a ``Sequential`` (numbered
children that feed each other), a ``repeat`` node (identical children that
feed each other), or a call of a block; boxes whose block bodies have the same
structure (and name hint) share one block, with params for what differs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graphspec.graph.model import Graph
from graphspec.graph.write.names import block_name, input_names, names_pattern, output_names, path_hint
from graphspec.graph.write.params import DROP, REQUIRED, Hole, Params, Slot, block_params, constant_fill, vkey
from graphspec.graph.write.tree import Box, Chains, Src, WriteError, build_tree, heights, node_order, set_hints, wire


class InRef:
    """The k-th input of the block being written."""

    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k


class TRef:
    """A call of a block, named once all blocks are known."""

    __slots__ = ("template",)

    def __init__(self, template: "Template"):
        self.template = template


@dataclass(eq=False)
class Template:
    index: int
    hint: str
    body: dict  # the first instance's block body, with holes
    instances: list = field(default_factory=list)  # [(box, slots)]
    name: str = ""
    params: Params | None = None
    in_names: list[str] = field(default_factory=list)
    out_names: list[str] = field(default_factory=list)
    outputs: Any = None


def freeze(obj: Any) -> Any:
    """A hashable picture of a body: its structure without the hole values."""
    if isinstance(obj, dict):
        return ("D", tuple((k, freeze(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return ("L", tuple(freeze(v) for v in obj))
    if isinstance(obj, Hole):
        return ("H",)
    if isinstance(obj, InRef):
        return ("I", obj.k)
    if isinstance(obj, TRef):
        return ("T", obj.template.index)
    return (type(obj).__name__, obj)


def literal(value: Any, node: str) -> Any:
    """An op field's value as plain YAML data (tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return [literal(v, node) for v in value]
    if isinstance(value, dict):
        return {str(k): literal(v, node) for k, v in value.items()}
    if isinstance(value, str) and "${" in value:
        raise WriteError(f"node {node!r}: the value {value!r} holds '${{', which a spec would read as an expression")
    return value


def positional(op_cls, count: int) -> list[str] | None:
    """The ports that ``count`` inputs given as a list bind to."""
    out: list[str] = []
    for name, kind in op_cls.port_spec():
        if kind == "variadic":
            out += [name] * count
            count = 0
            break
        if count:
            out.append(name)
            count -= 1
    return out if count == 0 else None


def field_default(op_cls, name: str) -> Any:
    info = op_cls.model_fields[name]
    if info.is_required():
        return REQUIRED
    value = info.default_factory() if info.default_factory is not None else info.default
    return literal(value, op_cls.op_name)


class SpecWriter:
    def __init__(self, graph: Graph, classes: dict[str, str] | None):
        self.graph = graph
        self.g = graph.g
        self.order = node_order(graph)
        self.root, self.by_path = build_tree(graph, self.order)
        self.consumers = wire(graph, self.order, self.by_path)
        heights(self.root)
        set_hints(graph, self.by_path, classes)
        self.chains = Chains(graph, self.consumers)
        self.templates: list[Template] = []
        self.used: dict[str, dict] = {}  # block name -> its nodes

    # -- the whole graph -----------------------------------------------------
    def run(self) -> tuple[dict, dict[str, Any]]:
        """(blocks, top-level nodes) as plain data, and the graph's outputs."""
        boxes = [b for p, b in self.by_path.items() if p]
        for h in sorted({b.height for b in boxes}):
            groups: dict[Any, Template] = {}
            level = [b for b in boxes if b.height == h]
            for box in level:
                box.kind = self._kind(box)
            self._recurring_chains(level)
            for box in level:
                if box.kind != "block":
                    continue
                slots: list[Slot] = []
                body = self._block_body(box, slots)
                key = (box.hint, freeze(body))
                if key not in groups:
                    groups[key] = Template(len(self.templates), box.hint or path_hint(box), body)
                    self.templates.append(groups[key])
                groups[key].instances.append((box, slots))
            for t in groups.values():
                self._finish(t)
        slots = []
        nodes = {name: self._item(self.root, name, slots) for name in self.root.children}
        fill = constant_fill(slots)
        nodes = _render(nodes, fill, [])
        outputs = {name: self._ref(self.root, src) for name, src in self.graph.outputs.items()}
        blocks = {t.name: self._block_decl(t) for t in self.templates}
        return {"blocks": blocks, "nodes": nodes}, outputs

    # -- how a box is written ----------------------------------------------------
    @staticmethod
    def _numbered(box: Box) -> bool:
        return set(box.children) == {str(i) for i in range(len(box.children))}

    def _order(self, box: Box) -> list[str]:
        return [str(i) for i in range(len(box.children))] if self._numbered(box) else box.children

    def _kind(self, box: Box) -> str:
        numbered = self._numbered(box)
        order = self._order(box)
        if len(order) >= 2 and self._repeatable(box, order) and (not numbered or box.repeat_hint):
            return "repeat"
        if numbered and box.generic and self._seqable(box, order):
            return "seq"
        return "block"

    def _recurring_chains(self, level: list[Box]) -> None:
        """Chains of ops that recur (conv-bn-act in every block of an imported
        MobileNet) read better as one block with params than as Sequentials
        written out in each place; a Sequential the spec itself wrote stays one."""
        found: dict[Any, list[Box]] = {}
        for box in level:
            if box.kind == "seq" and not box.seq_hint and not box.boxes and len(box.leaves) >= 2:
                key = freeze(self._block_body(box, []))
                found.setdefault(key, []).append(box)
        for same in found.values():
            # inside copies of one parent (every downsample of a ResNet) the
            # parent's block writes the chain once already
            parents = [self.by_path[b.path.rpartition(".")[0]] for b in same]
            kinds = {(p.hint, tuple(p.children)) for p in parents}
            if len(same) >= 3 and (len(kinds) > 1 or len(set(map(id, parents))) < len(parents)):
                ops = [self.g.nodes[same[0].leaves[n]]["op"].op_name for n in self._order(same[0])]
                for box in same:
                    box.kind = "block"
                    box.hint = "_".join(re.sub(r"\d+d$", "", op).lower() for op in ops)

    def _leaf_chains(self, nid: str) -> bool:
        """A leaf that can take the previous layer's output as its first input."""
        attrs = self.g.nodes[nid]
        op_cls = type(attrs["op"])
        return attrs["module"] == nid and bool(attrs["inputs"]) and attrs["ports"] == positional(op_cls, len(attrs["inputs"]))

    def _repeatable(self, box: Box, order: list[str]) -> bool:
        if box.leaves and box.boxes:
            return False
        if any(c.kind == "repeat" for c in box.boxes.values()):
            return False
        if any(not self._leaf_chains(nid) for nid in box.leaves.values()):
            return False
        if not self.chains.is_chain(box, order, extras=True):
            return False
        keys = set()
        for name in order:
            slots: list[Slot] = []
            body = self._item(box, name, slots, layer=True)
            keys.add((freeze(body), tuple(vkey(s.value) for s in slots)))
        return len(keys) == 1

    def _seqable(self, box: Box, order: list[str]) -> bool:
        for name in order:
            if name in box.leaves:
                if not self._leaf_chains(box.leaves[name]) or len(self.g.nodes[box.leaves[name]]["inputs"]) != 1:
                    return False
            elif box.boxes[name].kind == "repeat" and not self._numbered(box.boxes[name]):
                return False  # named copies cannot be a Sequential layer
        return self.chains.is_chain(box, order, extras=False)

    # -- bodies ----------------------------------------------------------------
    def _hole(self, slots: list[Slot], slot: Slot) -> Hole:
        slots.append(slot)
        return Hole(len(slots) - 1)

    def _block_body(self, box: Box, slots: list[Slot]) -> dict:
        nodes = {name: self._item(box, name, slots) for name in box.children}
        outputs = [self._ref(box, s) for s in box.exports] or [box.children[-1]]
        return {"inputs": [InRef(k) for k in range(len(box.inputs))], "nodes": nodes, "outputs": outputs}

    def _item(self, scope: Box, name: str, slots: list[Slot], layer: bool = False) -> dict:
        """The body of child ``name`` of ``scope``: a node, or a Sequential layer (no ``in``)."""
        if name in scope.leaves:
            return self._leaf(scope, scope.leaves[name], slots, layer)
        box = scope.boxes[name]
        if box.kind == "block":
            t = box.template
            body: dict[str, Any] = {"op": TRef(t)}
            if not layer and box.inputs:
                body["in"] = self._refs(scope, box.inputs)
            for p in t.params.decl:
                body[p] = self._hole(slots, Slot(p, name, box.args[p], t.params.defaults[p]))
            return body
        if box.kind == "seq" or layer:  # numbered copies as a layer: a Sequential of one repeated layer
            body = {"op": "Sequential"}
            if not layer:
                body["in"] = self._ref(scope, box.inputs[0])
            body["layers"] = self._layers(box, slots)
            return body
        order = self._order(box)
        first = self._item(box, order[0], slots, layer=True)
        body = {"op": first.pop("op"), "in": self._refs(scope, box.inputs)}
        pattern = None if self._numbered(box) else names_pattern(order)
        if self._numbered(box) or pattern:
            body["repeat"] = len(order)
        if not self._numbered(box):
            body["names"] = pattern or list(order)
        body.update(first)
        return body

    def _layers(self, box: Box, slots: list[Slot]) -> list[dict]:
        runs: list[list] = []  # [key, first name, count]: identical consecutive layers
        for name in self._order(box):
            tmp: list[Slot] = []
            body = self._item(box, name, tmp, layer=True)
            key = (freeze(body), tuple(vkey(s.value) for s in tmp))
            if runs and runs[-1][0] == key:
                runs[-1][2] += 1
            else:
                runs.append([key, name, 1])
        layers = []
        for _, name, count in runs:
            body = self._item(box, name, slots, layer=True)
            if count > 1:
                body = {"op": body.pop("op"), "repeat": count, **body}
            layers.append(body)
        return layers

    def _leaf(self, scope: Box, nid: str, slots: list[Slot], layer: bool) -> dict:
        attrs = self.g.nodes[nid]
        op = attrs["op"]
        op_cls = type(op)
        local = scope.child_of(nid)
        body: dict[str, Any] = {"op": op_cls.op_name}
        if not layer and attrs["inputs"]:
            body["in"] = self._in_field(scope, nid, attrs, op_cls)
        if attrs["module"] != nid:
            body["share"] = self._share(scope, nid, attrs["module"])
        for f, v in op.model_dump().items():
            body[f] = self._hole(slots, Slot(f, local, literal(v, nid), field_default(op_cls, f)))
        return body

    def _share(self, scope: Box, nid: str, module: str) -> str:
        owner = scope.child_of(module) if scope.inside(module) else None
        if owner is None or scope.leaves.get(owner) != module:
            raise WriteError(f"node {nid!r} shares the weights of {module!r}, which is not a node beside it; a spec can only share within one block")
        return owner

    def _in_field(self, scope: Box, nid: str, attrs: dict, op_cls) -> Any:
        refs = [self._ref(scope, tuple(s)) for s in attrs["inputs"]]
        ports = list(attrs["ports"])
        if ports == positional(op_cls, len(refs)):
            return refs[0] if len(refs) == 1 else refs
        if len(set(ports)) != len(ports):
            raise WriteError(f"node {nid!r}: inputs {ports} cannot be written by port name")
        return dict(zip(ports, refs))

    def _refs(self, scope: Box, srcs: list[Src]) -> Any:
        refs = [self._ref(scope, s) for s in srcs]
        return refs[0] if len(refs) == 1 else refs

    def _ref(self, scope: Box, src: Src) -> Any:
        """How ``scope`` names the output ``src``: ``node``, ``node.port``, ``call.output`` or a block input."""
        nid, port = src
        if not scope.path and self.g.nodes[nid]["kind"] == "input":
            return nid
        if not scope.inside(nid):
            return InRef(scope.inputs.index(src))
        local = scope.child_of(nid)
        if local in scope.leaves:
            return local if port == 0 else f"{local}.{type(self.g.nodes[nid]['op']).outputs[port]}"
        box = scope.boxes[local]
        if box.kind == "block":
            e = box.exports.index(src)
            return local if e == 0 else f"{local}.{box.template.out_names[e]}"
        inner = self._ref(box, src)  # a Sequential's or repeat's value is its last child's
        rest = inner.partition(".")[2]
        return f"{local}.{rest}" if rest else local

    # -- blocks ----------------------------------------------------------------
    def _finish(self, t: Template) -> None:
        t.params = block_params([slots for _, slots in t.instances])
        for box, slots in t.instances:
            box.template = t
            box.args = {p: slots[i].value for p, i in t.params.columns.items()}
        nodes = t.body["nodes"]
        t.in_names = input_names(len(t.body["inputs"]), nodes)
        t.out_names, t.outputs = output_names(t.body["outputs"])
        t.name = block_name(t.hint, t.body["nodes"], self.used)

    def _block_decl(self, t: Template) -> dict:
        decl: dict[str, Any] = {}
        if t.params.decl:
            decl["params"] = dict(t.params.decl)
        if t.in_names != ["x"]:
            decl["inputs"] = t.in_names
        decl["nodes"] = _render(t.body["nodes"], t.params.fill, t.in_names)
        decl["outputs"] = t.outputs
        return decl


def _render(obj: Any, fill: dict[int, Any], in_names: list[str]) -> Any:
    """Plain data from a body: holes filled, block inputs and calls named."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            r = _render(v, fill, in_names)
            if r is not DROP:
                out[k] = r
        return out
    if isinstance(obj, list):
        return [_render(v, fill, in_names) for v in obj]
    if isinstance(obj, Hole):
        return fill[obj.index]
    if isinstance(obj, InRef):
        return in_names[obj.k]
    if isinstance(obj, TRef):
        return obj.template.name
    return obj
