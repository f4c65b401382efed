"""Write a flat analysed :class:`Graph` back as a readable spec.

The writer is the inverse of the graph builder: node ids are module paths, so
every path prefix (``layer1``, ``layer1.0``) becomes a node of its parent's
scope, written as a ``Sequential``, a ``repeat`` or a block call, and the
written spec builds a graph with the same node ids, ops, params, wiring,
shares, inputs and outputs (hence the same state_dict keys). Pure Python.

>>> import graphspec  # doctest: +SKIP
>>> text = graph_to_spec(graphspec.load("resnet18").graph(), name="resnet18")  # doctest: +SKIP
"""

from __future__ import annotations

from graphspec.graph.model import Graph
from graphspec.graph.write.emit import document
from graphspec.graph.write.tree import WriteError
from graphspec.graph.write.writer import SpecWriter
from graphspec.spec.schema import IDENT

__all__ = ["graph_to_spec", "WriteError"]


def graph_to_spec(
    graph: Graph,
    *,
    name: str,
    classes: dict[str, str] | None = None,
    doc: str | None = None,
    dims: dict[str, int] | None = None,
) -> str:
    """YAML spec text that builds ``graph`` again: same node paths, ops, op params, wiring, inputs, outputs.

    ``classes`` maps container paths (``layer1.0``) to the Python class names
    of an imported model (``BasicBlock``): blocks are named after them, and a
    ``Sequential`` container is written as ``op: Sequential``. Without it, the
    block names and Sequentials recorded in a loaded graph's ``scope`` are
    used, else the structure alone. ``dims`` gives example sizes of the
    inputs' symbolic dims (default 1 each). Raises :class:`WriteError` for a
    graph the language cannot express (e.g. weights shared across blocks).
    """
    parts, outputs = SpecWriter(graph, classes).run()
    sections: dict = {"graphspec": 1, "name": name}
    if doc:
        sections["doc"] = doc
    symbols = _symbols(graph)
    if symbols:
        sections["dims"] = {s: (dims or {}).get(s, 1) for s in symbols}
    if parts["blocks"]:
        sections["blocks"] = parts["blocks"]
    sections["inputs"] = _inputs(graph)
    sections["nodes"] = parts["nodes"]
    if len(outputs) == 1 and isinstance(ref := next(iter(outputs.values())), str) and ref.replace(".", "_") == next(iter(outputs)):
        sections["outputs"] = ref
    else:
        sections["outputs"] = outputs
    return document(sections)


def _symbols(graph: Graph) -> list[str]:
    found: list[str] = []
    for spec in graph.inputs.values():
        for d in spec.type.shape:
            if isinstance(d, str) and d not in found:
                if not IDENT.fullmatch(d):
                    raise WriteError(f"input {spec.name!r}: dim {d!r} is not a number or a symbolic name")
                found.append(d)
    return found


def _inputs(graph: Graph) -> dict:
    out = {}
    for in_name, spec in graph.inputs.items():
        decl: dict = {"shape": list(spec.type.shape)}
        if spec.type.dtype != "float32":
            decl["dtype"] = spec.type.dtype
        out[in_name] = decl
    return out
