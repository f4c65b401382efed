"""The container tree of a flat graph: every module path prefix (``layer1``,
``layer1.0``) is a :class:`Box`, with the sources it reads from outside
(``inputs``) and the outputs it gives to the outside (``exports``), and the
chain tests that say whether it can be written as a ``Sequential`` or a
``repeat``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graphspec.graph.model import Graph

Src = tuple[str, int]  # (node id, output port index)
OUT = "<output>"  # the consumer standing for a graph output


class WriteError(ValueError):
    """The graph cannot be written in the spec language (the message names the node)."""


@dataclass(eq=False)
class Box:
    path: str  # "" for the graph's top level
    children: list[str] = field(default_factory=list)  # local names, in order of first use
    leaves: dict[str, str] = field(default_factory=dict)  # local name -> op node id
    boxes: dict[str, "Box"] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)  # op node ids inside, in graph order
    inputs: list[Src] = field(default_factory=list)  # sources outside read inside, first use first
    exports: list[Src] = field(default_factory=list)  # sources inside read outside, default first
    kind: str = "block"  # block | seq | repeat
    hint: str | None = None  # a class or block name to name the block after
    generic: bool = True  # a plain container (Sequential, ModuleList, repeat, unknown)
    repeat_hint: bool = False  # the loaded spec wrote it as 'repeat'
    seq_hint: bool = False  # the loaded spec wrote it as a Sequential
    height: int = 0
    template: Any = None
    args: dict = field(default_factory=dict)

    def inside(self, node_id: str) -> bool:
        return not self.path or node_id.startswith(self.path + ".")

    def child_of(self, node_id: str) -> str:
        """The local name of the child of this box that holds ``node_id``."""
        rest = node_id[len(self.path) + 1:] if self.path else node_id
        return rest.split(".", 1)[0]


# Containers without a forward of their own, named by their path instead
# ("Block" is the holder that graphspec's compiled models use for block calls).
GENERIC_CLASSES = frozenset({"Sequential", "ModuleList", "ModuleDict", "Block"})


def node_order(graph: Graph) -> list[str]:
    return list(graph.order) if graph.order else list(nx.topological_sort(graph.g))


def build_tree(graph: Graph, order: list[str]) -> tuple[Box, dict[str, Box]]:
    """The root box and every box by path."""
    root = Box("")
    by_path: dict[str, Box] = {"": root}
    for n in order:
        if graph.g.nodes[n]["kind"] != "op":
            continue
        parts = n.split(".")
        box = root
        root.nodes.append(n)
        for part in parts[:-1]:
            child = box.boxes.get(part)
            if child is None:
                if part in box.leaves:
                    raise WriteError(f"node {box.leaves[part]!r} is both a layer and a container of {n!r}")
                child = Box(f"{box.path}.{part}" if box.path else part)
                box.boxes[part] = child
                box.children.append(part)
                by_path[child.path] = child
            box = child
            box.nodes.append(n)
        if parts[-1] in box.boxes or parts[-1] in box.leaves:
            raise WriteError(f"node {n!r} is both a layer and a container")
        box.leaves[parts[-1]] = n
        box.children.append(parts[-1])
    return root, by_path


def _prefixes(node_id: str) -> list[str]:
    parts = node_id.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def wire(graph: Graph, order: list[str], by_path: dict[str, Box]) -> dict[Src, list[str]]:
    """Fill each box's inputs and exports; return the consumers of every source."""
    pos = {n: i for i, n in enumerate(order)}
    consumers: dict[Src, list[str]] = {}
    exports: dict[str, dict[Src, None]] = {p: {} for p in by_path}
    for m in order:
        attrs = graph.g.nodes[m]
        if attrs["kind"] != "op":
            continue
        mine = set(_prefixes(m))
        for s, p in attrs["inputs"]:
            src = (s, p)
            consumers.setdefault(src, []).append(m)
            theirs = _prefixes(s)
            for b in theirs:
                if b not in mine:
                    exports[b][src] = None
            for b in _prefixes(m):
                if b not in theirs and src not in by_path[b].inputs:
                    by_path[b].inputs.append(src)
    for s, p in graph.outputs.values():
        consumers.setdefault((s, p), []).append(OUT)
        for b in _prefixes(s):
            exports[b][(s, p)] = None
    for path, srcs in exports.items():
        ordered = sorted(srcs, key=lambda sp: (pos[sp[0]], sp[1]))
        if ordered:  # the default output: the last one computed (its first port)
            last = max(pos[s] for s, _ in ordered)
            first = next(sp for sp in ordered if pos[sp[0]] == last)
            ordered.remove(first)
            ordered.insert(0, first)
        by_path[path].exports = ordered
    return consumers


def heights(box: Box) -> int:
    box.height = 1 + max((heights(c) for c in box.boxes.values()), default=-1)
    return box.height


def set_hints(graph: Graph, by_path: dict[str, Box], classes: dict[str, str] | None) -> None:
    """Name hints from ``classes`` (an imported model), else from the loaded spec's scopes."""
    for path, box in by_path.items():
        if not path:
            continue
        if classes is not None:
            cls = classes.get(path)
            box.generic = cls is None or cls in GENERIC_CLASSES
            box.hint = None if box.generic else cls
            continue
        scope = graph.g.nodes[box.nodes[0]].get("scope") or []
        name = next((n for p, n in scope if p == path), None)
        box.generic = name in (None, "Sequential", "repeat")
        box.repeat_hint = name == "repeat"
        box.seq_hint = name == "Sequential"
        box.hint = None if box.generic else name.rsplit(".", 1)[-1]


class Chains:
    """Whether the children of a box feed each other one after the other."""

    def __init__(self, graph: Graph, consumers: dict[Src, list[str]]):
        self.graph = graph
        self.consumers = consumers

    def ins(self, box: Box, name: str) -> list[Src]:
        if name in box.leaves:
            return [tuple(s) for s in self.graph.g.nodes[box.leaves[name]]["inputs"]]
        return box.boxes[name].inputs

    def exports(self, box: Box, name: str) -> list[Src]:
        if name in box.leaves:
            nid = box.leaves[name]
            n_out = len(type(self.graph.g.nodes[nid]["op"]).outputs)
            return [(nid, p) for p in range(n_out) if (nid, p) in self.consumers]
        return box.boxes[name].exports

    def default(self, box: Box, name: str) -> Src | None:
        if name in box.leaves:
            return (box.leaves[name], 0)
        child = box.boxes[name]
        return child.exports[0] if child.exports else None

    def is_chain(self, box: Box, names: list[str], extras: bool) -> bool:
        """``names`` in this order form a chain: each takes the previous one's
        default output as its first input (plus, with ``extras``, the same other
        inputs as the first), and nothing else reads the intermediate outputs."""
        first = self.ins(box, names[0])
        if not first or (not extras and len(first) != 1) or box.inputs != first:
            return False
        for k in range(1, len(names)):
            prev = self.default(box, names[k - 1])
            if prev is None or self.ins(box, names[k]) != [prev] + first[1:]:
                return False
            if self.exports(box, names[k - 1]) != [prev]:
                return False
            inside = self._holder(box, names[k])
            if not all(inside(c) for c in self.consumers.get(prev, [])):
                return False
        last = self.default(box, names[-1])
        return bool(box.exports) and box.exports[0] == last

    @staticmethod
    def _holder(box: Box, name: str):
        if name in box.leaves:
            nid = box.leaves[name]
            return lambda c: c == nid
        prefix = box.boxes[name].path + "."
        return lambda c: c.startswith(prefix)
