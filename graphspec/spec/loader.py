"""Load a spec file: YAML -> schema check -> imports -> params -> graphs -> passes.

``load()`` is the one entry point the CLI and the Python API share. It raises
:class:`GraphspecError` with every problem found; warnings are kept on the
returned :class:`Spec`.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from graphspec.errors import Collector, Diagnostic, GraphspecError, Location, did_you_mean
from graphspec.graph.build import BlockDef, BlockTable, GraphBuilder, Source
from graphspec.graph.model import Spec
from graphspec.ops import registry
from graphspec.spec import overrides as ov
from graphspec.spec.expr import ExprError, resolve
from graphspec.spec.schema import BlockDecl, SpecFile, name_problem
from graphspec.spec.yamlload import LocatedTree, load_file, parse

BLOCK_FILE_KEYS = {"graphspec", "doc", "imports", "blocks"}


def _strip_union_tags(loc: tuple, data: Any, keep_last: bool) -> tuple:
    """Drop the parts of a pydantic error location that name union branches
    (``outputs.str``, ``shape.0.int``) or dict keys (``[key]``): keep only the
    parts that exist in the data, so the location is a path in the YAML tree."""
    out = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(cur):
            cur = cur[part]
        elif not (keep_last and i == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _group_union_errors(errors: list[dict], data: Any) -> list[dict]:
    """One error per place: the failures of every branch of a union become one."""
    grouped: dict[tuple, dict] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] in ("missing", "extra_forbidden"):
            grouped[(loc, err["type"])] = err
            continue
        stripped = _strip_union_tags(loc, data, keep_last=False)
        key = (stripped, "value")
        if key not in grouped:
            grouped[key] = dict(err, loc=stripped)
        else:
            first = grouped[key]
            msg = err["msg"].removeprefix("Input should be ")
            if msg not in first["msg"]:
                first["msg"] = f"{first['msg']}, or {msg}"
            first["type"] = "union_type"
    return list(grouped.values())


def _schema_errors(exc: ValidationError, tree: LocatedTree, model, out: Collector, prefix: tuple = ()) -> None:
    data = tree.data
    for part in prefix:
        data = data.get(part) if isinstance(data, dict) else None
    for err in _group_union_errors(exc.errors(), data):
        loc = prefix + tuple(err["loc"])
        received = err.get("input")
        if err["type"] == "extra_forbidden":
            parent_fields = _fields_at(model, tuple(err["loc"])[:-1])
            out.add(
                "unknown-field",
                f"unknown field {loc[-1]!r}" + (f" in {'.'.join(map(str, loc[:-1]))}" if len(loc) > 1 else " at the top level"),
                location=tree.loc(loc, key=True),
                hint=did_you_mean(str(loc[-1]), parent_fields) or (("fields: " + ", ".join(parent_fields)) if parent_fields else None),
            )
        elif err["type"] == "missing":
            out.add("missing-field", f"missing field {'.'.join(map(str, loc))!r}", location=tree.loc(loc[:-1]))
        elif err["type"] == "literal_error" and loc == ("graphspec",):
            out.add("version", f"unsupported format version {received!r}; this graphspec reads version 1", location=tree.loc(loc))
        else:
            shown = received if not isinstance(received, (dict, list)) else type(received).__name__
            wrong_type = "type" in err["type"] or err["type"].endswith("_parsing")  # int_parsing: 'many' for an int
            out.add("bad-type" if wrong_type else "bad-value", f"{'.'.join(map(str, loc)) or 'spec'}: {err['msg']}. Received: {shown!r}", location=tree.loc(loc))


def _fields_at(model, loc: tuple) -> list[str]:
    """Field names of the pydantic model found at ``loc`` inside ``model`` (best effort)."""
    from typing import get_args, get_origin

    current = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if hasattr(current, "model_fields") and part in current.model_fields:
            ann = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            ann = get_args(current)[1]
        else:
            return []
        candidates = [ann] + list(get_args(ann))
        current = next((c for c in candidates if hasattr(c, "model_fields") or get_origin(c) is dict), None)
        if get_origin(current) is dict:
            current = current  # a mapping of models: the next loc part is a key
    return list(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


class Loader:
    def __init__(self) -> None:
        self.out = Collector()
        self.trees: dict[str, LocatedTree] = {}
        self.tables: dict[str, BlockTable] = {}

    # -- files and imports -------------------------------------------------
    def _block_table(self, tree: LocatedTree, data: dict, stack: list[str]) -> BlockTable:
        table = BlockTable()
        for name, decl in (data.get("blocks") or {}).items():
            problem = name_problem(name)
            if problem:
                self.out.add("bad-name", f"block name {problem}", location=tree.loc(("blocks", name), key=True))
                continue
            if name == "Sequential" or registry.get(name) is not None:
                # nodes would silently get the built-in op, never this block
                self.out.add("bad-name", f"block name {name!r} is taken by a built-in op", location=tree.loc(("blocks", name), key=True), hint="rename the block")
                continue
            table.blocks[name] = BlockDef(name, decl, Source(tree, ("blocks", name)), table)
        base = Path(tree.file).parent
        for alias, rel in (data.get("imports") or {}).items():
            iloc = tree.loc(("imports", alias))
            problem = name_problem(alias)
            if problem:
                self.out.add("bad-name", f"import alias {problem}", location=tree.loc(("imports", alias), key=True))
                continue
            if not isinstance(rel, str):
                self.out.add("bad-type", f"import {alias!r} must be a relative file path. Received: {rel!r}", location=iloc)
                continue
            try:
                target = (base / rel).resolve()
            except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
                self.out.add("import", f"cannot import {rel!r}: {exc}", location=iloc)
                continue
            key = str(target)
            if key in stack:
                chain = " -> ".join(Path(p).name for p in stack[stack.index(key):] + [key])
                self.out.add("import-cycle", f"import cycle: {chain}", location=iloc, hint="a blocks file cannot import itself, directly or not")
                continue
            imported = self._import(key, rel, iloc, stack)
            if imported is None:
                continue
            for bname, bdef in imported.blocks.items():
                if "." not in bname:  # re-export only a file's own blocks
                    table.blocks[f"{alias}.{bname}"] = bdef
        return table

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
        table = self._block_table(tree, checked, stack + [key])
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
                _schema_errors(exc, tree, BlockDecl, self.out, ("blocks", name))
        imports = data.get("imports")
        if imports is not None and not isinstance(imports, dict):
            self.out.add("bad-type", "'imports' must be a mapping of alias to relative file path", location=tree.loc(("imports",)))
        return {"blocks": valid, "imports": imports if isinstance(imports, dict) else {}}

    # -- the main file -------------------------------------------------------
    def load(self, tree: LocatedTree, overrides: Mapping[str, Any] | None, name_hint: str) -> Spec:
        data = tree.data
        if data is None:
            raise GraphspecError.one("schema", "the spec file is empty; a spec is a YAML mapping with 'graphspec: 1' at the top", location=tree.loc(()))
        if not isinstance(data, dict):
            raise GraphspecError.one(
                "schema",
                f"a spec must be a YAML mapping with 'graphspec: 1' at the top. Received: {type(data).__name__}",
                location=tree.loc(()),
            )
        if overrides:
            ov.apply(data, overrides, tree.file)
        try:
            spec_file = SpecFile.model_validate(data)
        except ValidationError as exc:
            _schema_errors(exc, tree, SpecFile, self.out)
            self._raise_if_errors(tree)
            raise  # pragma: no cover
        single = spec_file.nodes is not None or spec_file.inputs is not None or spec_file.outputs is not None
        if single and spec_file.graphs is not None:
            self.out.add("schema", "a spec has either top-level inputs/nodes/outputs or 'graphs', not both", location=tree.loc(("graphs",), key=True))
        # a blocks file (blocks and imports only) is checked on its own: its
        # structure, names and imports; block bodies are checked where used
        library = not single and spec_file.graphs is None and bool(spec_file.blocks or spec_file.imports) and spec_file.train is None
        if not single and spec_file.graphs is None and not library:
            self.out.add("missing-field", "a spec needs 'inputs', 'nodes' and 'outputs' (or 'graphs')", location=tree.loc(()))
        if single:
            for k in ("inputs", "nodes", "outputs"):
                if getattr(spec_file, k) is None:
                    self.out.add("missing-field", f"missing field {k!r}", location=tree.loc(()))
        self._raise_if_errors(tree)

        params = self._params(tree, spec_file.params)
        table = self._block_table(tree, data, [str(Path(tree.file).resolve())])
        for block in table.blocks.values():
            if block.src.tree is tree:  # the spec's own blocks see its params
                block.base_params = params
        self._raise_if_errors(tree)

        builder = GraphBuilder(self.out, params, table)
        graphs = {}
        decls = {"main": (data, ())} if single else {g: (data["graphs"][g], ("graphs", g)) for g in data.get("graphs") or {}}
        for gname, (decl, path) in decls.items():
            if name_problem(gname):
                self.out.add("bad-name", f"graph name {name_problem(gname)}", location=tree.loc(path, key=True))
                continue
            graph = builder.build(gname, decl, Source(tree, path))
            if graph is not None:
                graphs[gname] = graph
        self._raise_if_errors(tree)

        resolved_train = None
        if spec_file.train is not None:
            try:
                resolved_train = resolve(data["train"], params)
            except ExprError as exc:
                self.out.add(exc.code, str(exc), location=tree.loc(("train",)), hint=exc.hint)
        spec = Spec(
            name=spec_file.name or name_hint,
            path=tree.file,
            text=tree.text,
            params=params,
            dims=dict(spec_file.dims),
            graphs=graphs,
            train=resolved_train,
            files=[tree.file] + list(self.tables),
            raw=data,
        )
        from graphspec.passes.manager import run_default_passes

        run_default_passes(spec, self.out)
        self._raise_if_errors(tree)
        spec.warnings = self.out.warnings
        return spec

    def _params(self, tree: LocatedTree, raw: dict[str, Any]) -> dict[str, Any]:
        """Spec params in order; each may use the ones before it."""
        params: dict[str, Any] = {}
        for key, value in raw.items():
            problem = name_problem(key)
            if problem:
                self.out.add("bad-name", f"param name {problem}", location=tree.loc(("params", key), key=True))
                continue
            try:
                params[key] = resolve(value, params)
            except ExprError as exc:
                self.out.add(exc.code, f"params.{key}: {exc}", location=tree.loc(("params", key)), hint=exc.hint)
        return params

    def _dedupe(self, tree: LocatedTree | None = None) -> None:
        """A problem inside a block used many times is reported once.

        Diagnostics are also put in reading order: the spec's own file first,
        then imported files in the order they were read, each by line and column.
        """
        seen = set()
        unique = []
        for d in self.out.diagnostics:
            key = (d.code, d.message, d.location)
            if key in seen:
                continue
            seen.add(key)
            unique.append(d)
        files: dict[str | None, int] = {None: -1}
        if tree is not None:
            files[tree.file] = 0
        for d in unique:
            if d.location is not None and d.location.file not in files:
                files[d.location.file] = len(files)

        def place(d: Diagnostic):
            loc = d.location or Location()
            return (files[loc.file], loc.line or 0, loc.col or 0)

        self.out.diagnostics = sorted(unique, key=place)

    def _raise_if_errors(self, tree: LocatedTree) -> None:
        self._dedupe(tree)
        self.out.raise_if_errors()


def load(
    source: str | Path,
    set: Mapping[str, Any] | None = None,  # noqa: A002 - mirrors the CLI's --set
    *,
    text: str | None = None,
) -> Spec:
    """Load, validate and analyse a spec file (or ``text`` named ``source``).

    ``set`` maps dotted keys to values, like ``--set params.width=64``.
    """
    name = str(source)
    # Loading allocates many small objects and frees almost none: the cyclic
    # GC's repeated full scans made a 10,000-node load superlinear. Pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tree = parse(text, name) if text is not None else load_file(source)
        return Loader().load(tree, dict(set or {}), Path(name).stem)
    finally:
        if was_enabled:
            gc.enable()
