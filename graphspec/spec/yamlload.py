"""YAML text -> plain Python tree plus a table of source locations.

Safety rules (a spec may come from anyone):
- only the YAML core schema: maps, lists, str, int, float, bool, null; any
  explicit tag (``!!python/object``, ``!foo``) is rejected, so nothing executes;
- duplicate keys are errors (PyYAML silently keeps the last one);
- anchors/aliases are allowed, but the expanded tree is capped in size and
  depth, so an alias bomb ("billion laughs") fails fast instead of eating memory;
- tabs used for indentation get their own explanation;
- the text must be UTF-8; the byte offset of bad input is reported.

The location table maps a path tuple (``("nodes", "conv1", "kernel_size")``)
to the :class:`Location` of that value; ``key_locations`` holds where the key
itself stands, which is where "unknown field" errors point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphspec.errors import GraphspecError, Location
from graphspec.io import read_bytes

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000  # scalars+collections after alias expansion
# Values that aliases may add on top of the ones written out in the text. A
# real spec reuses a few small anchors; an alias bomb multiplies them.
MAX_ALIAS_EXTRA = 100_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CORE_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}

_EXP_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

PathT = tuple  # tuple[str | int, ...]


@dataclass
class LocatedTree:
    """A parsed YAML document and where each of its values came from."""

    data: Any
    file: str
    locations: dict[PathT, Location] = field(default_factory=dict)
    key_locations: dict[PathT, Location] = field(default_factory=dict)
    text: str = ""

    def loc(self, path: PathT, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest located ancestor."""
        table = self.key_locations if key else self.locations
        path = tuple(path)
        while path:
            if path in table:
                return table[path]
            if not key and path in self.locations:
                return self.locations[path]
            path = path[:-1]
        return self.locations.get((), Location(self.file, 1, 1))


def _mark(file: str, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def read_text(path: str | Path) -> str:
    """Read a spec file as UTF-8 text with clear errors.

    The file must be a regular file of at most MAX_FILE_BYTES, checked before
    reading (graphspec.io): a FIFO, a device or a folder is exit 4 at once.
    """
    return decode(read_bytes(path, what="spec file", limit_bytes=MAX_FILE_BYTES), str(path))


def decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise GraphspecError.one(
            "encoding",
            f"spec is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            location=Location(name, line, col),
            hint="save the file as UTF-8",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse(text: str, file: str = "<string>") -> LocatedTree:
    """Parse one YAML document into a :class:`LocatedTree`."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            loc = _mark(file, exc.problem_mark) if exc.problem_mark else Location(file)
            raise GraphspecError.one(
                "yaml-multi-document", "a spec file holds one YAML document, found more", location=loc
            )
        raise _yaml_error(exc, file, text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, text)
    except RecursionError:
        raise GraphspecError.one("yaml-too-deep", f"YAML nesting is deeper than {MAX_DEPTH} levels", location=Location(file, 1, 1))
    tree = LocatedTree(data=None, file=file, text=text)
    if root is None:
        tree.data = None
        tree.locations[()] = Location(file, 1, 1)
        return tree
    _check_expansion(root, file)
    builder = _Builder(file, tree)
    tree.data = builder.build(root, (), 0)
    return tree


def load_file(path: str | Path) -> LocatedTree:
    return parse(read_text(path), str(path))


def _check_expansion(root, file: str) -> None:
    """Measure the tree that aliases expand to, before building any of it.

    Each composed node is visited once (aliases share nodes), so an alias bomb
    is caught in time proportional to the text, not to its expansion.
    Reports alias cycles, nesting deeper than MAX_DEPTH and expansions beyond
    MAX_NODES or more than MAX_ALIAS_EXTRA values over the written-out ones.
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    active: set[int] = set()

    def visit(node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key], heights[key]
        if depth > MAX_DEPTH:
            raise GraphspecError.one("yaml-too-deep", f"YAML nesting is deeper than {MAX_DEPTH} levels", location=_mark(file, node.start_mark))
        if key in active:
            raise GraphspecError.one("yaml-alias-cycle", "an alias refers to a collection that contains it", location=_mark(file, node.start_mark))
        size, height = 1, 0
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            active.add(key)
            children = node.value if isinstance(node, yaml.SequenceNode) else [c for pair in node.value for c in pair]
            for child in children:
                s, h = visit(child, depth + 1)
                size += s
                height = max(height, h + 1)
                if size > MAX_NODES:
                    break
            active.discard(key)
        sizes[key], heights[key] = size, height
        if size > MAX_NODES:
            raise GraphspecError.one(
                "yaml-too-large",
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                location=_mark(file, node.start_mark),
            )
        return size, height

    total, _ = visit(root, 0)
    if total - len(sizes) > MAX_ALIAS_EXTRA:
        raise GraphspecError.one(
            "yaml-too-large",
            f"aliases expand the document from {len(sizes):,} to {total:,} values; at most {MAX_ALIAS_EXTRA:,} more values may come from aliases (an alias bomb?)",
            location=_mark(file, root.start_mark),
            hint="write the repeated parts out, or use a block with 'repeat'",
        )


def _yaml_error(exc: yaml.YAMLError, file: str, text: str) -> GraphspecError:
    if isinstance(exc, yaml.reader.ReaderError):
        # raised for bytes/characters YAML forbids; it carries a character offset, not a mark
        pos = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else 0
        before = text[:pos]
        line = before.count("\n") + 1
        col = pos - (before.rfind("\n") + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return GraphspecError.one("yaml-syntax", f"YAML syntax error: unacceptable character {char}: {exc.reason}", location=Location(file, line, col))
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    loc = _mark(file, mark) if mark is not None else Location(file)
    if "maximum nesting depth" in str(getattr(exc, "problem", "")):
        return GraphspecError.one("yaml-too-deep", f"YAML nesting is far deeper than {MAX_DEPTH} levels", location=loc)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context else str(problem)
    line_text = text.splitlines()[mark.line] if mark is not None and mark.line < len(text.splitlines()) else ""
    if "\t" in line_text[: len(line_text) - len(line_text.lstrip())] or "\t" in line_text[mark.column : mark.column + 1] if mark else False:
        return GraphspecError.one(
            "yaml-tab",
            "a tab character is used for indentation; YAML allows only spaces",
            location=loc,
            hint="replace tabs with spaces (2 per level is usual)",
        )
    return GraphspecError.one("yaml-syntax", f"YAML syntax error: {message}", location=loc)


class _Builder:
    """Turns composed YAML nodes into Python values, checking the safety rules."""

    def __init__(self, file: str, tree: LocatedTree):
        self.file = file
        self.tree = tree
        self.count = 0
        self.active: set[int] = set()  # ids on the current path (alias cycles)
        self.resolver = yaml.resolver.Resolver()

    def build(self, node, path: PathT, depth: int) -> Any:
        self.count += 1
        loc = _mark(self.file, node.start_mark)
        if self.count > MAX_NODES:
            raise GraphspecError.one(
                "yaml-too-large",
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                location=loc,
            )
        if depth > MAX_DEPTH:
            raise GraphspecError.one("yaml-too-deep", f"YAML nesting is deeper than {MAX_DEPTH} levels", location=loc)
        if node.tag not in _CORE_TAGS:
            shown = "!!" + node.tag[len("tag:yaml.org,2002:"):] if node.tag.startswith("tag:yaml.org,2002:") else node.tag
            raise GraphspecError.one(
                "yaml-tag",
                f"YAML tag {shown!r} is not allowed; specs hold plain data only",
                location=loc,
                hint="remove the tag; graphspec never constructs objects from YAML",
            )
        self.tree.locations[path] = loc
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if id(node) in self.active:
            raise GraphspecError.one("yaml-alias-cycle", "an alias refers to a collection that contains it", location=loc)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise GraphspecError.one(
                        "yaml-tag", "YAML merge keys ('<<') are not supported", location=_mark(self.file, key_node.start_mark)
                    )
                key_loc = _mark(self.file, key_node.start_mark)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _CORE_TAGS:
                    raise GraphspecError.one("yaml-key-type", "mapping keys must be plain scalars", location=key_loc)
                key = self._scalar(key_node, key_loc)
                if isinstance(key, bool) or key is None or isinstance(key, float):
                    raise GraphspecError.one(
                        "yaml-key-type",
                        f"mapping key {key_node.value!r} reads as {type(key).__name__}; keys must be names",
                        location=key_loc,
                        hint="quote the key if it is meant as text",
                    )
                key = str(key)
                if key in result:
                    first = self.tree.key_locations.get(path + (key,))
                    where = f" (first at line {first.line})" if first else ""
                    raise GraphspecError.one(
                        "yaml-duplicate-key", f"duplicate key {key!r}{where}", location=key_loc
                    )
                self.tree.key_locations[path + (key,)] = key_loc
                result[key] = self.build(value_node, path + (key,), depth + 1)
            return result
        finally:
            self.active.discard(id(node))

    def _scalar(self, node, loc: Location) -> Any:
        tag = node.tag
        value = node.value
        if tag == "tag:yaml.org,2002:str":
            # YAML 1.1 reads 1e-3 as text; users mean a number (lr: 1e-3).
            if not node.style and _EXP_FLOAT.fullmatch(value):
                return float(value)
            return value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() in ("true", "yes", "on")
        if tag == "tag:yaml.org,2002:int":
            text = value.replace("_", "")
            if len(text) > 40:
                raise GraphspecError.one("yaml-too-large", "integer literal is too long", location=loc)
            sign = -1 if text.startswith("-") else 1
            text = text.lstrip("+-")
            if text.startswith("0x"):
                return sign * int(text[2:], 16)
            if text.startswith("0o"):
                return sign * int(text[2:], 8)
            if text.startswith("0b"):
                return sign * int(text[2:], 2)
            if ":" in text:  # YAML 1.1 sexagesimal
                raise GraphspecError.one("bad-value", f"sexagesimal number {value!r} is not supported", location=loc, hint="quote it")
            if len(text) > 1 and text.startswith("0"):
                return sign * int(text, 8)
            return sign * int(text)
        if tag == "tag:yaml.org,2002:float":
            text = value.replace("_", "").lower()
            if text in (".nan",):
                return float("nan")
            if text in (".inf", "+.inf"):
                return float("inf")
            if text == "-.inf":
                return float("-inf")
            try:
                return float(text)
            except ValueError:
                raise GraphspecError.one("bad-value", f"cannot read {value!r} as a number", location=loc)
        return value  # pragma: no cover - tags were checked above
