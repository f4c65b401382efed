"""Block params: the values that differ between the instances of one block.

Every op field and block argument in a block body is first a :class:`Hole`
holding each instance's value. A hole whose value is the same everywhere is
written as that value (or left out when it is the default); the others become
block params, one per distinct column of values, named after the field, and a
column that is a whole multiple of another is written ``${planes * 4}``."""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from typing import Any

from graphspec.graph.build import param_type, param_type_ok
from graphspec.ops.registry import RESERVED_KEYS
from graphspec.spec.schema import name_problem

REQUIRED = object()  # a slot or param without a default
DROP = object()  # a hole left out of the written body: its value is the default


@dataclass
class Slot:
    field: str  # the op field or block param it fills
    owner: str  # the local name of the node it belongs to
    value: Any
    default: Any  # REQUIRED when there is none


class Hole:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def vkey(value: Any) -> str:
    """Equality with types: 1, 1.0 and true are three different values."""
    return json.dumps(value, sort_keys=True)


@dataclass
class Params:
    decl: dict[str, Any]  # the block's params: section
    defaults: dict[str, Any]  # param -> default (REQUIRED when none)
    fill: dict[int, Any]  # hole index -> literal, DROP, or "${expr}" text
    columns: dict[str, int]  # param -> the hole whose values it carries


def constant_fill(slots: list[Slot]) -> dict[int, Any]:
    """The holes of a body written once (the graph's top level)."""
    return {i: _constant(s, s.value) for i, s in enumerate(slots)}


def _constant(slot: Slot, value: Any) -> Any:
    if slot.default is not REQUIRED and vkey(value) == vkey(slot.default):
        return DROP
    return value


def block_params(instances: list[list[Slot]]) -> Params:
    """Params of a block from the slots of each of its instances (same length)."""
    first = instances[0]
    fill: dict[int, Any] = {}
    groups: dict[str, list[int]] = {}  # column of values -> holes carrying it
    for i, slot in enumerate(first):
        column = [inst[i].value for inst in instances]
        keys = [vkey(v) for v in column]
        if len(set(keys)) == 1:
            fill[i] = _constant(slot, slot.value)
        else:
            groups.setdefault(json.dumps(keys), []).append(i)
    decl: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    columns: dict[str, int] = {}
    bases: list[tuple[str, list]] = []  # (param, column) of params defined so far
    # numbers first, so that a list such as a shape [96, 1, 1] can use them
    ordered = sorted(groups.values(), key=lambda holes: isinstance(first[holes[0]].value, list))
    for holes in ordered:
        column = [inst[holes[0]].value for inst in instances]
        expr = _express(column, bases) or _express_items(column, bases)
        if expr is None:
            slot = first[holes[0]]
            name = _param_name(slot, decl)
            default = slot.default if slot.default is not REQUIRED and vkey(slot.default) in {vkey(v) for v in column} else REQUIRED
            if default is None:  # a null default means 'required' to the loader: every call passes it
                default = REQUIRED
            decl[name] = _declare(default, column)
            defaults[name] = default
            columns[name] = holes[0]
            bases.append((name, column))
            expr = f"${{{name}}}"
        for i in holes:
            fill[i] = expr
    return Params(decl, defaults, fill, columns)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _express(column: list, bases: list[tuple[str, list]]) -> str | None:
    """``${param}`` or ``${param * k}`` when ``column`` is a param's column or a whole multiple of it."""
    keys = [vkey(v) for v in column]
    for name, base in bases:
        if keys == [vkey(b) for b in base]:
            return f"${{{name}}}"
    if not all(_is_int(v) for v in column):
        return None
    for name, base in bases:
        if all(_is_int(b) and b > 0 for b in base) and all(v % b == 0 for v, b in zip(column, base)):
            ks = {v // b for v, b in zip(column, base)}
            if len(ks) == 1 and (k := ks.pop()) >= 2:
                return f"${{{name} * {k}}}"
    return None


def _express_items(column: list, bases: list[tuple[str, list]]) -> list | None:
    """A list whose varying items all follow params: ``["${out_channels}", 1, 1]``."""
    if not all(isinstance(v, list) for v in column) or len({len(v) for v in column}) != 1:
        return None
    items = []
    for j in range(len(column[0])):
        values = [v[j] for v in column]
        if len({vkey(x) for x in values}) == 1:
            items.append(values[0])
        elif (expr := _express(values, bases)) is not None:
            items.append(expr)
        else:
            return None
    return items


def _param_name(slot: Slot, taken: dict[str, Any]) -> str:
    def ok(name: str) -> bool:
        return name_problem(name) is None and name not in RESERVED_KEYS and name not in taken and name != "i"

    if ok(slot.field):
        return slot.field
    owner = re.sub(r"\W", "_", slot.owner)
    # after the node (fc2_out_channels), or numbered when the node is a numbered layer
    name = f"{owner}_{slot.field}" if owner and not owner[0].isdigit() else slot.field
    base, n = name, 2
    while not ok(name):
        name, n = f"{base}_{n}", n + 1
    return name


def _declare(default: Any, column: list) -> Any:
    """The param's declaration: ``null`` (required, any type), its default
    (the shorthand, typed by the default), or ``{type: any, default}``."""
    if default is REQUIRED:
        return None
    # the builder's own rule, on the values as they load back (tuples are YAML lists);
    # a None default cannot be the shorthand: ``null`` there means "required"
    want = param_type(_as_loaded(default))
    if default is not None and all(param_type_ok(_as_loaded(v), want) for v in column):
        return default
    return {"type": "any", "default": default}


def _as_loaded(value: Any) -> Any:
    return [_as_loaded(v) for v in value] if isinstance(value, (tuple, list)) else value


def identifier(text: str, fallback: str) -> str:
    """``text`` made an identifier (``layer1.0`` -> ``layer1_0``)."""
    name = re.sub(r"\W", "_", text)
    if name_problem(name) is not None or keyword.iskeyword(name):
        name = f"{fallback}_{name}"
    return name if name_problem(name) is None else fallback
