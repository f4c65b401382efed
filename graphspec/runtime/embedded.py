"""The spec embedded in an exported model's metadata, rebuilt and analysed (torch-free).

``graphspec export`` stores the spec text, its ``--set`` overrides, the graph
name and the exported outputs in the model's metadata. ``bench`` rebuilds the
PyTorch side from it; ``infer`` uses its analysis for the memory budget before
running the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence


def load_embedded(meta: Mapping[str, str], fallback_name: str = "model"):
    """(spec, graph) from the metadata, pruned to the exported outputs; None without a spec.

    Raises GraphspecError when the embedded spec does not load here (it may
    import files that are not on this machine).
    """
    text = meta.get("graphspec.spec")
    if not text:
        return None
    import graphspec
    from graphspec.io.names import name_problem
    from graphspec.zoo import resolve_spec_path

    name = meta.get("graphspec.name") or fallback_name  # from the file: never let it become a path
    source = resolve_spec_path(name if name_problem(name) is None else "model", must_exist=False)  # a zoo spec's imports resolve
    if not source.endswith((".yaml", ".yml")):
        source = f"{source}.yaml"
    overrides = json.loads(meta.get("graphspec.overrides", "{}") or "{}")
    spec = graphspec.load(source, set=overrides, text=text)
    graph = meta.get("graphspec.graph")
    g = spec.graph(graph) if graph in spec.graphs else spec.graph()
    return spec, g


def pruned(graph, outputs: Sequence[str]):
    """The graph cut to the model's outputs (a model exported with --outputs)."""
    if list(outputs) == list(graph.outputs):
        return graph
    from graphspec.passes.subgraph import extract

    return extract(graph, list(outputs))


def sizes_from_feeds(graph, feeds: Mapping[str, Any]) -> dict[str, int]:
    """Symbolic dim sizes read off the actual inputs (``batch`` = the leading size of the feeds)."""
    sizes: dict[str, int] = {}
    for name, spec_in in graph.inputs.items():
        arr = feeds.get(name)
        if arr is None:
            continue
        for axis, d in enumerate(spec_in.type.shape):
            if isinstance(d, str) and d.isidentifier() and axis < len(arr.shape):
                sizes[d] = max(sizes.get(d, 0), int(arr.shape[axis]))
    return sizes


def check_inference_budget(session, feeds: Mapping[str, Any], path: str | Path) -> None:
    """Refuse (``too-large``, exit 3) a run whose outputs and intermediates would not fit the budget.

    Only for models with an embedded spec that loads here; others are judged by
    their input files' size limits alone.
    """
    from graphspec.errors import GraphspecError
    from graphspec.passes import budget

    try:
        found = load_embedded(session.metadata, Path(str(path)).stem)
        if found is None:
            return
        g = pruned(found[1], [o.name for o in session.outputs])
    except GraphspecError:
        return
    budget.check(g, sizes_from_feeds(g, feeds), what="inference with")
