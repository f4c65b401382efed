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
        tree = parse(raw if raw.strip() else "''", f"--set {key}")
        out[key] = tree.data
    return out


def apply(data: Any, overrides: Mapping[str, Any], file: str) -> Any:
    """Set each dotted key in the spec tree; the parent mapping must exist."""
    problems = []
    for key, value in overrides.items():
        parts = key.split(".")
        if not isinstance(data, dict):
            break
        node = data
        ok = True
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                problems.append(
                    Diagnostic(
                        "override",
                        f"--set {key}: {'.'.join(parts[: depth + 1])!r} is not a mapping",
                        location=Location(file),
                    )
                )
                ok = False
                break
            node = child
        if ok:
            node[parts[-1]] = value
    if problems:
        raise GraphspecError(problems)
    return data
