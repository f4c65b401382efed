"""``--set KEY=VALUE`` overrides, applied to the located YAML tree before validation.

Overrides are strict, as in Hydra: ``--set params.widht=64`` on a spec whose
params are ``width`` and ``depth`` is an error with a did-you-mean, because a
typo would otherwise train the default silently. ``--set +KEY=VALUE`` adds a
key that is not there yet. Where a key is checked depends on the mapping that
holds it:

- free mappings whose keys the user names (``params``, ``dims``, ``inputs``,
  ``nodes``, ``graphs``, ``blocks``, ``imports``, ``outputs``): the key must
  exist in the file, or be added with ``+``;
- mappings with a schema (``train:`` and its sections, a node's parameters,
  the top level): any key may be set, and the schema then rejects unknown
  fields -- with the override named in the message.

Every value an override puts in the tree is located at the override, so an
error it causes reads ``spec.yaml:12:7: error: bad-type: --set
train.optimizer.lr=abc: train.optimizer.lr: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from graphspec.errors import Diagnostic, GraphspecError, Location, did_you_mean
from graphspec.spec.yamlload import LocatedTree, parse

# Mappings whose keys are names the user chose (not fields of a schema).
_FREE_TOP = {"params", "dims", "inputs", "nodes", "graphs", "blocks", "imports", "outputs"}
_FREE_IN_GRAPH = {"inputs", "nodes", "outputs"}


@dataclass(frozen=True)
class Override:
    """One ``--set``: the dotted key, the value, and whether ``+`` adds a new key."""

    key: str
    value: Any
    add: bool = False
    text: str = ""  # as typed, for messages

    @property
    def parts(self) -> list[str]:
        return self.key.split(".")


def parse_assignments(items: Iterable[str]) -> list[Override]:
    """``["params.width=64", "+train.seed=3"]`` -> overrides, in order.

    Values are read as YAML scalars/flow collections (``64``, ``true``,
    ``[3, 3]``), with the same safety rules as a spec.

    >>> [(o.key, o.value, o.add) for o in parse_assignments(["params.width=64", "+train.seed=3"])]
    [('params.width', 64, False), ('train.seed', 3, True)]
    """
    out: list[Override] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        add = key.startswith("+")
        key = key.removeprefix("+").strip()
        if not sep or not key:
            raise GraphspecError.one("override", f"--set expects KEY=VALUE, received {item!r}", hint="e.g. --set params.width=64, or --set +params.new=1 to add a key")
        if any(not part.strip() for part in key.split(".")):
            raise GraphspecError.one("override", f"--set {key}: empty part in the dotted key", hint="e.g. --set params.width=64")
        try:
            tree = parse(raw if raw.strip() else "''", f"--set {key}")
        except GraphspecError as exc:
            # the value is a command-line argument: a usage error, not an invalid spec
            first = exc.diagnostics[0]
            raise GraphspecError.one("override", f"--set {key}: cannot read the value {raw!r}: {first.message}", hint="values are YAML scalars or flow collections: 64, true, 1e-3, [3, 3], quote text with ''")
        out.append(Override(key, tree.data, add, f"--set {item}"))
    return out


def as_overrides(overrides: Sequence[Override] | dict[str, Any] | None) -> list[Override]:
    """The Python API's ``set={"params.width": 64}`` (a ``+`` prefix adds) as overrides."""
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return [Override(k.removeprefix("+"), v, k.startswith("+"), f"set {k}={v!r}") for k, v in overrides.items()]
    return list(overrides)


def apply(tree: LocatedTree, overrides: Sequence[Override]) -> None:
    """Set each override in ``tree.data`` and locate the new values at the override.

    Raises ``override`` errors (exit 2) for keys that do not exist, with hints.
    """
    problems: list[Diagnostic] = []
    for ov in overrides:
        problem = _apply_one(tree, ov)
        if problem:
            problems.append(Diagnostic("override", problem[0], location=Location(tree.file), hint=problem[1]))
    if problems:
        raise GraphspecError(problems)


def _free(path: tuple) -> bool:
    """Is the mapping at ``path`` one whose keys the user names?"""
    if len(path) == 1:
        return path[0] in _FREE_TOP
    if len(path) == 3 and path[0] == "graphs":
        return path[2] in _FREE_IN_GRAPH
    if len(path) == 3 and path[0] == "blocks":
        return path[2] in ("nodes", "params", "inputs", "outputs")
    return False


def _apply_one(tree: LocatedTree, ov: Override) -> tuple[str, str | None] | None:
    """Set one override; a (message, hint) problem when the key is refused."""
    data = tree.data
    if not isinstance(data, dict):
        return None  # the loader reports a spec that is not a mapping
    node: Any = data
    path: tuple = ()
    parts = ov.parts
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the spec"
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit() and int(part) < len(node)):
                return f"{ov.text}: {where!r} is a list of {len(node)}; {part!r} is not an index of it", None
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if key in node and ov.add and last:
                return f"{ov.text}: {ov.key!r} already exists; drop the '+' to replace it", None
            if key not in node and _free(path) and not ov.add:
                hint = did_you_mean(part, [str(k) for k in node])
                choices = ", ".join(map(str, node)) or "none"
                return (f"{ov.text}: {where} has no {part!r} ({choices})", (hint + " " if hint else "") + f"to add it, write --set +{ov.key}=...")
        else:
            return f"{ov.text}: {where!r} is not a mapping", None
        if last:
            node[key] = ov.value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
            node = node[key]
        path = path + (key,)
    _relocate(tree, tuple(path), ov.text)
    return None


def _relocate(tree: LocatedTree, path: tuple, text: str) -> None:
    """Point ``path`` and everything under it at the override that set it."""
    base = tree.loc(path)
    key_base = tree.loc(path, key=True)
    for table in (tree.locations, tree.key_locations):
        for p in [p for p in table if p[: len(path)] == path]:
            del table[p]
    tree.locations[path] = Location(base.file, base.line, base.col, override=text)
    tree.key_locations[path] = Location(key_base.file, key_base.line, key_base.col, override=text)
