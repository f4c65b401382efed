"""Names the writer makes up: block names (from a class, a path or the ops),
block inputs and outputs, and the ``names:`` of repeated copies."""

from __future__ import annotations

import re
from typing import Any

from graphspec.graph.write.params import identifier
from graphspec.graph.write.tree import Box
from graphspec.ops import registry
from graphspec.spec.schema import name_problem


def snake(name: str) -> str:
    """``BasicBlock`` -> ``basic_block``, ``MLPBlock`` -> ``mlp_block``."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.lstrip("_"))
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return re.sub(r"\W+", "_", s).strip("_").lower()


def names_pattern(names: list[str]) -> str | None:
    """``denselayer1..N`` -> ``denselayer${i + 1}``; None when they do not count up."""
    found = [re.fullmatch(r"(.*?)(\d+)", n) for n in names]
    if not all(found) or len({m.group(1) for m in found}) != 1:
        return None
    prefix, digits = found[0].group(1), [m.group(2) for m in found]
    if not prefix or "$" in prefix or any(d != str(int(d)) for d in digits):
        return None
    start = int(digits[0])
    if [int(d) for d in digits] != list(range(start, start + len(names))):
        return None
    return f"{prefix}${{i + {start}}}" if start else f"{prefix}${{i}}"


def block_name(hint: str, nodes: dict, used: dict[str, dict]) -> str:
    """A block name from ``hint`` (a class or block name), unique among ``used``
    (name -> nodes of that block); a variant is named after what tells it apart."""
    base = identifier(snake(hint), "block") or "block"
    if registry.get(base) is not None or base == "Sequential":
        base = f"{base}_block"
    name = base
    if name in used:
        name = f"{base}_{variant(nodes, used[base])}"
        k = 2
        while name in used:
            k += 1
            name = f"{base}_{k}"
    used[name] = nodes
    return name


def variant(nodes: dict, first: dict) -> str:
    """What tells a block from the first one of its name: a node the first
    lacks (``downsample``), else the op of a node that differs (``relu``)."""
    extra = [n for n in nodes if n not in first]
    if extra:
        return identifier(extra[0], "with")
    for n, body in nodes.items():
        op = body.get("op")
        if n in first and isinstance(op, str) and op != first[n].get("op"):
            return op.lower()
    return "2"


def path_hint(box: Box) -> str:
    """A block name from the box's path when nothing better is known:
    ``denselayer3`` -> ``denselayer``, ``layer1.0`` -> ``layer_block``."""
    segs = box.path.split(".")
    seg = re.sub(r"[\d\-_]+$", "", segs[-1])
    if seg:
        return seg
    named = [re.sub(r"[\d\-_]+$", "", p) for p in segs[:-1]]  # layer1.0 -> layer_block
    named = [p for p in named if p]
    if not named:
        return "block"
    return named[-1] if named[-1].endswith("block") else f"{named[-1]}_block"


def input_names(count: int, nodes: dict) -> list[str]:
    names: list[str] = []
    k = 0
    while len(names) < count:
        cand = "x" if k == 0 else f"x{k}"
        if cand not in nodes:
            names.append(cand)
        k += 1
    return names


def output_names(refs: list[str]) -> tuple[list[str], Any]:
    if len(refs) == 1:
        name = refs[0].replace(".", "_")
        if name_problem(name) is None:
            return [name], refs[0]
        return ["out"], {"out": refs[0]}
    names: list[str] = []
    for r in refs:
        name, k = identifier(r, "out"), 2
        base = name
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names, dict(zip(names, refs))
