"""``--set path.to.key=value`` overrides, applied to the YAML tree before validation."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from graphspec.errors import Diagnostic, GraphspecError, Location
from graphspec.spec.yamlload import parse


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["params.width=64", "train.lr=1e-3"]`` -> ``{"params.width": 64, ...}``.

    Values are read as YAML scalars/flow collections (``64``, ``true``,
    ``[3, 3]``), with the same safety rules as a spec.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GraphspecError.one("override", f"--set expects KEY=VALUE, received {item!r}", hint="e.g. --set params.width=64")
        if any(not part.strip() for part in key.split(".")):
            raise GraphspecError.one("override", f"--set {key}: empty part in the dotted key", hint="e.g. --set params.width=64")
        try:
            tree = parse(raw if raw.strip() else "''", f"--set {key}")
        except GraphspecError as exc:
            # the value is a command-line argument: a usage error, not an invalid spec
            first = exc.diagnostics[0]
            raise GraphspecError.one("override", f"--set {key}: cannot read the value {raw!r}: {first.message}", hint="values are YAML scalars or flow collections: 64, true, 1e-3, [3, 3], quote text with ''")
        out[key] = tree.data
    return out


def apply(data: Any, overrides: Mapping[str, Any], file: str) -> Any:
    """Set each dotted key in the spec tree; the parent mapping must exist.

    A missing mapping on the way is created (``--set params.width=64`` in a
    spec without ``params``); a list is entered by index
    (``--set nodes.head.layers.0.out_features=5``).
    """
    problems = []
    for key, value in overrides.items():
        parts = key.split(".")
        if not isinstance(data, dict):
            break
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not (part.isascii() and part.isdigit() and int(part) < len(node)):
                    problems.append(Diagnostic("override", f"--set {key}: {'.'.join(parts[:depth]) or 'the spec'!r} is a list of {len(node)}; {part!r} is not an index of it", location=Location(file)))
                    break
                if last:
                    node[int(part)] = value
                    break
                node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                    break
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                problems.append(Diagnostic("override", f"--set {key}: {'.'.join(parts[:depth])!r} is not a mapping", location=Location(file)))
                break
    if problems:
        raise GraphspecError(problems)
    return data
