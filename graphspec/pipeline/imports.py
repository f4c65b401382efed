"""Blocks files and ``imports:``: the block table a spec's nodes call into.

A spec's own ``blocks:`` and the blocks of every file it imports (under the
import's alias, ``alias.block``) form one :class:`BlockTable`. Imported files
are read once, import cycles are reported with their chain, and nesting is
limited so a hostile chain of files fails fast.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from graphspec.diagnostics import translate
from graphspec.errors import Collector, Diagnostic, GraphspecError, Location
from graphspec.graph.build import BlockDef, BlockTable, Source
from graphspec.ops import registry
from graphspec.spec.schema import BlockDecl, name_problem
from graphspec.spec.yamlload import LocatedTree, load_file

BLOCK_FILE_KEYS = {"graphspec", "doc", "imports", "blocks"}
MAX_IMPORT_DEPTH = 16  # files importing files; deeper chains are almost surely generated or hostile


class BlockFiles:
    """Reads blocks files and builds block tables, reporting into one collector."""

    def __init__(self, out: Collector) -> None:
        self.out = out
        self.tables: dict[str, BlockTable] = {}  # resolved path -> table, each file read once

    def table(self, tree: LocatedTree, data: dict, stack: list[str]) -> BlockTable:
        """The blocks of ``data`` (a file's mapping) plus those of its imports."""
        table = BlockTable()
        for name, decl in (data.get("blocks") or {}).items():
            if self._bad_block_name(tree, name):
                continue
            table.blocks[name] = BlockDef(name, decl, Source(tree, ("blocks", name)), table)
        for alias, rel in (data.get("imports") or {}).items():
            imported = self._import_entry(tree, alias, rel, stack)
            if imported is None:
                continue
            for bname, bdef in imported.blocks.items():
                if "." not in bname:  # re-export only a file's own blocks
                    table.blocks[f"{alias}.{bname}"] = bdef
        return table

    def _bad_block_name(self, tree: LocatedTree, name: str) -> bool:
        where = tree.loc(("blocks", name), key=True)
        problem = name_problem(name)
        if problem:
            self.out.add("bad-name", f"block name {problem}", location=where)
            return True
        if name == "Sequential" or registry.get(name) is not None:
            # nodes would silently get the built-in op, never this block
            self.out.add("bad-name", f"block name {name!r} is taken by a built-in op", location=where, hint="rename the block")
            return True
        return False

    def _import_entry(self, tree: LocatedTree, alias: str, rel, stack: list[str]) -> BlockTable | None:
        iloc = tree.loc(("imports", alias))
        problem = name_problem(alias)
        if problem:
            self.out.add("bad-name", f"import alias {problem}", location=tree.loc(("imports", alias), key=True))
            return None
        if not isinstance(rel, str):
            self.out.add("bad-type", f"import {alias!r} must be a relative file path. Received: {rel!r}", location=iloc)
            return None
        try:
            target = (Path(tree.file).parent / rel).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
            self.out.add("import", f"cannot import {rel!r}: {exc}", location=iloc)
            return None
        root = Path(stack[0]).parent if stack else Path(tree.file).resolve().parent
        if Path(rel).is_absolute() or not target.is_relative_to(root):
            # a spec from anyone must not read files elsewhere on the machine (docs/spec-language.md)
            self.out.add("import", f"import {rel!r} leaves the spec's folder {root}", location=iloc, hint="imports are relative paths to files in the spec's folder or below it")
            return None
        key = str(target)
        if key in stack:
            chain = " -> ".join(Path(p).name for p in stack[stack.index(key):] + [key])
            self.out.add("import-cycle", f"import cycle: {chain}", location=iloc, hint="a blocks file cannot import itself, directly or not")
            return None
        if len(stack) > MAX_IMPORT_DEPTH:
            self.out.add("import", f"imports nest deeper than {MAX_IMPORT_DEPTH} files (importing {rel!r})", location=iloc, hint="flatten the chain of blocks files")
            return None
        return self._import(key, rel, iloc, stack)

    def _import(self, key: str, rel: str, where: Location, stack: list[str]) -> BlockTable | None:
        if key in self.tables:
            return self.tables[key]
        try:
            tree = load_file(key)
        except GraphspecError as exc:
            for d in exc.diagnostics:
                if d.code == "file-not-found":
                    d = Diagnostic("import", f"imported file {rel!r} not found (looked at {key})", location=where)
                elif d.code in ("file-unreadable", "file-too-large"):
                    # the problem is in the import line of this spec, not a file on the command line
                    d = Diagnostic("import", f"cannot import {rel!r}: {d.message}", location=where)
                self.out.diagnostics.append(d)
            return None
        data = tree.data
        if not isinstance(data, dict):
            self.out.add("schema", "a blocks file must be a mapping with 'graphspec: 1' and 'blocks'", location=tree.loc(()))
            return None
        for k in data:
            if k not in BLOCK_FILE_KEYS:
                self.out.add("unknown-field", f"a blocks file holds only {', '.join(sorted(BLOCK_FILE_KEYS))}; found {k!r}", location=tree.loc((k,), key=True))
        if data.get("graphspec") != 1:
            self.out.add("version", f"blocks file needs 'graphspec: 1'. Received: {data.get('graphspec')!r}", location=tree.loc(("graphspec",)))
        checked = self._check_blocks(tree, data)
        table = self.table(tree, checked, stack + [key])
        self.tables[key] = table
        return table

    def _check_blocks(self, tree: LocatedTree, data: dict) -> dict:
        blocks = data.get("blocks") or {}
        if not isinstance(blocks, dict):
            self.out.add("bad-type", "'blocks' must be a mapping of block name to block", location=tree.loc(("blocks",)))
            blocks = {}
        valid = {}
        for name, decl in blocks.items():
            try:
                BlockDecl.model_validate(decl)
                valid[name] = decl
            except ValidationError as exc:
                prefix = ("blocks", name)
                translate(exc, BlockDecl, decl, lambda p, key=False, _pre=prefix: tree.loc(_pre + tuple(p), key=key), self.out, prefix=prefix)
        imports = data.get("imports")
        if imports is not None and not isinstance(imports, dict):
            self.out.add("bad-type", "'imports' must be a mapping of alias to relative file path", location=tree.loc(("imports",)))
        return {"blocks": valid, "imports": imports if isinstance(imports, dict) else {}}
