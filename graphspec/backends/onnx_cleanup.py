"""Clean-up of an exported ONNX graph: spec names for nodes and dims, graphspec metadata.

- node names follow spec node paths (``layer1.0.conv1/Conv``), taken from the
  exporter's name-scope metadata;
- inputs' and outputs' symbolic dims carry the spec's names (``dim_param: batch``);
- the exporter's per-node metadata (``pkg.torch.*`` stack traces with absolute
  source paths, ``namespace`` ...) is dropped once the names are taken from it;
- graphspec metadata (spec text, sha256, version, interface) is set on the model.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from typing import Sequence


def _scope_candidates(node) -> list[str]:
    """Module scopes of an exported node from the exporter's metadata, innermost first."""
    props = {p.key: p.value for p in node.metadata_props}
    scopes = props.get("pkg.torch.onnx.name_scopes")
    if scopes:
        try:
            items = ast.literal_eval(scopes)
        except (ValueError, SyntaxError):
            items = None
        if isinstance(items, list) and len(items) >= 2:
            return [s for s in reversed(items[:-1]) if isinstance(s, str) and s]
    ns = props.get("namespace")
    if ns:
        parts = [p.split(":")[0].strip() for p in ns.split("/")[:-1]]
        return [p for p in reversed(parts) if p]
    return []


def _module_paths(graph) -> set[str] | None:
    if graph is None:
        return None
    return {graph.node(n).get("module") or n for n in graph.op_nodes()}


def _is_spec_scope(scope: str, modules: set[str] | None) -> bool:
    """A spec module path, a container of one (``layer1``), or a torch submodule inside one (``encoder.0.self_attn``)."""
    if modules is None:
        return not scope.startswith("_")
    if scope in modules:
        return True
    return any(scope.startswith(m + ".") or m.startswith(scope + ".") for m in modules)


def _node_scope(node, modules: set[str] | None = None) -> str | None:
    """The innermost spec module path of an exported node, or None."""
    for scope in _scope_candidates(node):
        if _is_spec_scope(scope, modules):
            return scope
    return None


def _fused_source(node, scope: str, graph) -> str:
    """A BatchNorm folded into the Conv before it carries the BatchNorm's scope: name the Conv instead."""
    if graph is None:
        return scope
    rule = next((p.value for p in node.metadata_props if p.key == "pkg.onnxscript.rewriter.rule_name"), "")
    if "BatchNorm" not in rule or scope not in graph.g:
        return scope
    attrs = graph.node(scope)
    op = attrs.get("op")
    if op is None or not type(op).__name__.startswith("BatchNorm") or not attrs.get("inputs"):
        return scope
    src = attrs["inputs"][0][0]
    src_attrs = graph.node(src)
    return src_attrs.get("module", src) if src_attrs.get("kind") == "op" else scope


def rename_nodes(model, graph=None) -> int:
    """Rename nodes to ``<spec node path>/<OpType>`` (``_1``, ``_2`` ... when repeated).

    The path is the innermost module scope the exporter recorded (module paths
    are spec node paths); a Conv with a BatchNorm folded in is named after the
    Conv node. Returns the number of nodes renamed; nodes without scope
    metadata keep the exporter's name. Names stay unique in the graph.
    """
    nodes = list(model.graph.node)
    modules = _module_paths(graph)
    wanted: list[str | None] = []
    for n in nodes:
        scope = _node_scope(n, modules)
        if scope:
            scope = _fused_source(n, scope, graph)
        wanted.append(f"{scope}/{n.op_type}" if scope else None)
    taken = {n.name for n, w in zip(nodes, wanted) if w is None and n.name}
    counts: Counter = Counter()
    renamed = 0
    for n, w in zip(nodes, wanted):
        if w is None:
            continue
        name = w if counts[w] == 0 else f"{w}_{counts[w]}"
        counts[w] += 1
        while name in taken:
            name = f"{w}_{counts[w]}"
            counts[w] += 1
        taken.add(name)
        if n.name != name:
            n.name = name
            renamed += 1
    return renamed


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def rename_dims(model, graph, input_names: Sequence[str], output_names: Sequence[str], out_types) -> tuple[dict[str, int], list[str]]:
    """Give inputs' and outputs' symbolic dims the spec's names.

    Returns (static dims: spec name -> size the exporter fixed, dynamic dim names).
    """
    mapping: dict[str, str] = {}
    static: dict[str, int] = {}
    dynamic: list[str] = []
    by_name = {vi.name: vi for vi in model.graph.input}
    for name in input_names:
        vi = by_name.get(name)
        if vi is None:
            continue
        dims = vi.type.tensor_type.shape.dim
        for d, want in zip(dims, graph.inputs[name].type.shape):
            if not isinstance(want, str):
                continue
            if d.HasField("dim_value"):
                if want.isidentifier():
                    static.setdefault(want, int(d.dim_value))
                continue
            if d.dim_param and d.dim_param != want:
                mapping.setdefault(d.dim_param, want)
            d.dim_param = want
            if want not in dynamic:
                dynamic.append(want)
    for s in static:
        if s in dynamic:
            dynamic.remove(s)

    def fix(value_info, spec_shape=None):
        dims = value_info.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not d.dim_param:
                continue
            if spec_shape is not None and i < len(spec_shape) and isinstance(spec_shape[i], str):
                d.dim_param = spec_shape[i]
            elif mapping:
                d.dim_param = _TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), d.dim_param)

    out_by_name = {vi.name: vi for vi in model.graph.output}
    for name, t in zip(output_names, out_types):
        vi = out_by_name.get(name)
        if vi is not None:
            fix(vi, list(t.shape) if t is not None else None)
    for vi in model.graph.value_info:
        fix(vi)
    return static, dynamic


def strip_exporter_metadata(model) -> int:
    """Drop the exporter's per-node metadata and doc strings (in subgraphs and functions too).

    They hold stack traces with absolute paths of the user's virtual env
    (``pkg.torch.onnx.stack_trace``), fx node dumps and module scopes: about
    45 KB for ResNet-18, useless to a runtime and a leak of the build machine's
    layout. Run after :func:`rename_nodes`, which reads the scopes. Model-level
    metadata other than graphspec's is dropped by :func:`set_metadata`.
    Returns the number of entries removed.
    """
    removed = 0

    def clean_graph(graph) -> None:
        nonlocal removed
        for node in graph.node:
            removed += len(node.metadata_props)
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.HasField("g"):
                    clean_graph(attr.g)
                for sub in attr.graphs:
                    clean_graph(sub)
        for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
            removed += len(vi.metadata_props)
            del vi.metadata_props[:]
            vi.doc_string = ""
        for init in graph.initializer:
            removed += len(init.metadata_props)
            del init.metadata_props[:]
        removed += len(graph.metadata_props)
        del graph.metadata_props[:]
        graph.doc_string = ""

    clean_graph(model.graph)
    for fn in model.functions:
        for node in fn.node:
            removed += len(node.metadata_props)
            del node.metadata_props[:]
            node.doc_string = ""
        fn.doc_string = ""
    return removed


def interface(graph, names: Sequence[str], kind: str) -> list[dict]:
    out = []
    for name in names:
        if kind == "inputs":
            t = graph.inputs[name].type
        else:
            t = graph.output_type(name)
        out.append({"name": name, "shape": list(t.shape) if t is not None else None, "dtype": t.dtype if t is not None else None})
    return out


def set_metadata(model, spec, graph, inputs: list[dict], outputs: list[dict], overrides: dict | None = None, dims: dict | None = None) -> list[str]:
    from graphspec import __version__

    props = {
        "graphspec.spec": spec.text,
        "graphspec.sha256": spec.sha256,
        "graphspec.version": __version__,
        "graphspec.name": spec.name,
        "graphspec.graph": graph.name,
        "graphspec.inputs": json.dumps(inputs),
        "graphspec.outputs": json.dumps(outputs),
        "graphspec.dims": json.dumps(dims or {}),
    }
    if overrides:
        props["graphspec.overrides"] = json.dumps(overrides, default=str)
    # only graphspec's entries: the exporter's own may carry paths of this machine
    del model.metadata_props[:]
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.doc_string = f"graphspec {spec.name} / {graph.name}: exported by graphspec {__version__}"
    return list(props)
