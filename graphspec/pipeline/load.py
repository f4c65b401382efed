"""``load()``: YAML text -> checked, built and analysed :class:`Spec`, every problem at once.

The stages, in order, each reporting into one collector:

1. parse (:mod:`graphspec.spec.yamlload`) and apply ``--set`` overrides
   (:mod:`graphspec.spec.overrides`) to the located tree;
2. file schema (:mod:`graphspec.spec.schema`) -- a file whose structure is
   wrong stops here, since nothing after it could be trusted;
3. params and block tables (own blocks and imports) -- stop on errors too:
   everything below reads them;
4. graphs (:mod:`graphspec.graph.build`), analysis passes
   (:mod:`graphspec.passes`) and the ``train:`` section
   (:mod:`graphspec.pipeline.train`) -- independent of each other, so their
   problems are reported together: an unknown reference, a bad expression,
   a shape error and a misspelt train field all show in one run.

The located tree stays on the returned spec (``spec.tree``); nothing re-parses.
Nothing here imports torch.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from graphspec.diagnostics import translate
from graphspec.errors import Collector, Diagnostic, GraphspecError, Location
from graphspec.graph.build import GraphBuilder, Source
from graphspec.graph.model import Spec
from graphspec.passes.manager import DEFAULT_PASSES, run_default_passes, run_passes
from graphspec.pipeline.expressions import resolve_train
from graphspec.pipeline.imports import BlockFiles
from graphspec.spec import overrides as ov
from graphspec.spec.expr import ExprError, resolve
from graphspec.spec.schema import SpecFile, name_problem
from graphspec.spec.yamlload import LocatedTree, load_file, parse


class Pipeline:
    """One load: the stages above, sharing one collector."""

    def __init__(self) -> None:
        self.out = Collector()
        self.files = BlockFiles(self.out)

    def run(self, tree: LocatedTree, overrides: Sequence[ov.Override], name_hint: str) -> Spec:
        data = self._mapping(tree)
        if overrides:
            ov.apply(tree, overrides)
        spec_file = self._schema(tree, data)
        single = any(getattr(spec_file, k) is not None for k in ("inputs", "nodes", "outputs"))
        params = self._params(tree, spec_file.params)
        table = self.files.table(tree, data, [str(Path(tree.file).resolve())])
        for block in table.blocks.values():
            if block.src.tree is tree:  # the spec's own blocks see its params
                block.base_params = params
        self._raise_if_errors(tree)

        graphs, complete = self._graphs(tree, data, single, params, table)
        raw_train = resolve_train(data["train"], params, tree, self.out) if spec_file.train is not None else None
        spec = Spec(
            name=spec_file.name or name_hint,
            path=tree.file,
            text=tree.text,
            params=params,
            dims=dict(spec_file.dims),
            graphs=graphs,
            train=raw_train,
            files=[tree.file] + list(self.files.tables),
            raw=data,
            tree=tree,
        )
        self._analyse(spec, complete)
        if raw_train is not None:
            # the config models are imported only for specs that train (start-up time)
            from graphspec.pipeline import train as train_stage

            spec.train_config = train_stage.validate_train(raw_train, tree, self.out)
            if spec.train_config is not None and complete:
                train_stage.check_against_spec(spec.train_config, spec, tree, self.out)
        if data.get("sweep") is not None:  # graphspec sweep's search space (graphspec.config.sweep)
            from graphspec.config.sweep import validate_section

            spec.sweep_config = validate_section(data["sweep"], tree, self.out)
        self._raise_if_errors(tree)
        spec.warnings = self.out.warnings
        return spec

    # -- stages --------------------------------------------------------------
    @staticmethod
    def _mapping(tree: LocatedTree) -> dict:
        data = tree.data
        if data is None:
            raise GraphspecError.one("schema", "the spec file is empty; a spec is a YAML mapping with 'graphspec: 1' at the top", location=tree.loc(()))
        if not isinstance(data, dict):
            raise GraphspecError.one("schema", f"a spec must be a YAML mapping with 'graphspec: 1' at the top. Received: {type(data).__name__}", location=tree.loc(()))
        return data

    def _schema(self, tree: LocatedTree, data: dict) -> SpecFile:
        """The file structure; raises when it is wrong (nothing below could be trusted)."""
        if "graphspec" in data and data["graphspec"] != 1:
            self.out.add("version", f"unsupported format version {data['graphspec']!r}; this graphspec reads version 1", location=tree.loc(("graphspec",)))
        try:
            spec_file = SpecFile.model_validate(data)
        except ValidationError as exc:
            version_at = tree.loc(("graphspec",))
            found = Collector()
            translate(exc, SpecFile, data, tree.loc, found)
            self.out.extend(d for d in found.diagnostics if not (d.location == version_at and "graphspec" in data and data["graphspec"] != 1 and d.code != "version"))
            self._raise_if_errors(tree)
            raise  # pragma: no cover - translate reported at least one error
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
        if spec_file.name is not None:  # it names files (NAME.onnx): never a path (graphspec/io/names.py)
            from graphspec.io.names import name_problem as file_name_problem

            if file_name_problem(spec_file.name):
                self.out.add("bad-name", f"spec name: {file_name_problem(spec_file.name)}; it becomes a file name", location=tree.loc(("name",)), hint="use letters, digits, '_', '-', '.' and '+' (e.g. my_model-v2)")
        self._raise_if_errors(tree)
        return spec_file

    def _params(self, tree: LocatedTree, raw: dict[str, Any]) -> dict[str, Any]:
        """Spec params in order; each may use the ones before it.

        A param that uses a failed one fails silently: its 'unknown name' is an echo.
        """
        params: dict[str, Any] = {}
        failed: set[str] = set()
        for key, value in raw.items():
            problem = name_problem(key)
            if problem:
                self.out.add("bad-name", f"param name {problem}", location=tree.loc(("params", key), key=True))
                failed.add(key)
                continue
            try:
                params[key] = resolve(value, params)
            except ExprError as exc:
                failed.add(key)
                if exc.code == "expr-name" and any(f"unknown name {name!r}" in str(exc) for name in failed):
                    continue
                self.out.add(exc.code, f"params.{key}: {exc}", location=tree.loc(("params", key)), hint=exc.hint)
        return params

    def _graphs(self, tree, data, single, params, table) -> tuple[dict, bool]:
        """Built graphs, and whether all of them built without error."""
        errors_before = len(self.out.errors)
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
        complete = len(self.out.errors) == errors_before and len(graphs) == len(decls)
        return graphs, complete

    def _analyse(self, spec: Spec, complete: bool) -> None:
        """Shapes, costs, lint. After build errors only the shape pass runs: a shape
        error elsewhere is independent, but lint's unused-input warnings and a pass
        tripping over a half-built graph would be echoes of the build errors."""
        if complete:
            run_default_passes(spec, self.out)
            return
        try:
            run_passes(spec, [p for p in DEFAULT_PASSES if p[0] == "shapes"], self.out)
        except RuntimeError:
            pass  # a dependent error: the build errors are reported

    # -- reporting -------------------------------------------------------------
    def _raise_if_errors(self, tree: LocatedTree) -> None:
        self.out.diagnostics = sort_diagnostics(self.out.diagnostics, tree.file)
        self.out.raise_if_errors()


def sort_diagnostics(diagnostics: list[Diagnostic], main_file: str | None) -> list[Diagnostic]:
    """Deduplicated (a problem in a block used many times is reported once) and in
    reading order: the spec's own file first, then imported files in the order
    they were read, each by line and column."""
    seen = set()
    unique = []
    for d in diagnostics:
        key = (d.code, d.message, d.location)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    files: dict[str | None, int] = {None: -1, main_file: 0}
    for d in unique:
        if d.location is not None and d.location.file not in files:
            files[d.location.file] = len(files)

    def place(d: Diagnostic):
        loc = d.location or Location()
        return (files[loc.file], loc.line or 0, loc.col or 0)

    return sorted(unique, key=place)


def load(
    source: str | Path,
    set: Mapping[str, Any] | Sequence[ov.Override] | None = None,  # noqa: A002 - mirrors the CLI's --set
    *,
    text: str | None = None,
) -> Spec:
    """Load, validate and analyse a spec file (or ``text`` named ``source``).

    ``set`` maps dotted keys to values, like ``--set params.width=64`` (a key
    starting with ``+`` adds a new key), or is a list of parsed overrides.
    """
    name = str(source)
    # Loading allocates many small objects and frees almost none: the cyclic
    # GC's repeated full scans made a 10,000-node load superlinear. Pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tree = parse(text, name) if text is not None else load_file(source)
        return Pipeline().run(tree, ov.as_overrides(set), Path(name).stem)
    finally:
        if was_enabled:
            gc.enable()
