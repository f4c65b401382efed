"""YAML text for a spec tree, in the zoo's style: block mappings for the
file's sections, one flow-style line per node when it fits, and scalars that
read back with exactly their type under graphspec's YAML loader."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

WIDTH = 180  # a node longer than this is written in block style

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def scalar(value: Any) -> str:
    """One YAML scalar that loads back as ``value`` (same type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        # plain only where YAML 1.1 reads the text back as that string ('yes', 'null' are not)
        if _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) in a spec")


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    # YAML 1.1 floats need a '.' and a signed exponent: 1e-05 would read as a string
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exp[0] not in "+-":
            exp = "+" + exp
        text = f"{mantissa}e{exp}"
    return text


def flow(value: Any) -> str:
    """``value`` on one line: ``{op: Conv2d, in: x, kernel_size: 3}``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def entry(key: str, value: Any, indent: int, lines: list[str], *, force: bool = False) -> None:
    """Append ``key: value`` at ``indent``: flow style when it fits (and not
    ``force``d to block style), else block style."""
    pad = " " * indent
    head = f"{pad}{scalar(key)}:"
    one = f"{head} {flow(value)}"
    if not isinstance(value, (dict, list)) or not value or (len(one) <= WIDTH and not force and not _has_layers(value)):
        lines.append(one)
        return
    lines.append(head)
    if isinstance(value, dict):
        for k, v in value.items():
            entry(k, v, indent + 2, lines)
        return
    for item in value:
        _item(item, indent + 2, lines)


def _has_layers(value: Any) -> bool:
    """A mapping holding a list of mappings (a Sequential's layers) reads best one layer a line."""
    if isinstance(value, list):
        return any(isinstance(x, dict) for x in value)
    return isinstance(value, dict) and any(_has_layers(v) for v in value.values() if isinstance(v, list))


def _item(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    one = f"{pad}- {flow(value)}"
    if not isinstance(value, dict) or (len(one) <= WIDTH and not _has_layers(value)):
        lines.append(one)
        return
    sub: list[str] = []
    for k, v in value.items():
        entry(k, v, indent + 2, sub)
    sub[0] = f"{pad}- {sub[0][indent + 2:]}"
    lines.extend(sub)


def document(sections: dict[str, Any]) -> str:
    """The file. ``nodes`` is one node per line; each block of ``blocks`` is a
    block-style mapping whose ``nodes`` are one per line too."""
    lines: list[str] = []
    for key, value in sections.items():
        if key == "blocks" and value:
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {scalar(name)}:")
                for k, v in block.items():
                    entry(k, v, 4, lines, force=k == "nodes")
        else:
            entry(key, value, 0, lines, force=key in ("nodes", "inputs"))
    return "\n".join(lines) + "\n"
