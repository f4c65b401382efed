"""Layering: lower packages never import higher ones, lazily or not.

spec/config/diagnostics/errors/io are the bottom; pipeline (the one owner of
input checking) sits below every torch-side package; the cycles the
pipeline redesign removed (spec <-> graph, train config <-> tasks <-> optim)
stay gone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import graphspec

ROOT = Path(graphspec.__file__).parent


def _imports() -> dict[str, set[str]]:
    """package (graphspec.X) -> packages it imports, lazy imports included."""
    edges: dict[str, set[str]] = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        pkg = ".".join(parts[:2])
        for n in ast.walk(ast.parse(f.read_text(), str(f))):
            names = [n.module] if isinstance(n, ast.ImportFrom) and n.module else [a.name for a in n.names] if isinstance(n, ast.Import) else []
            for name in names:
                if name.startswith("graphspec."):
                    dep = ".".join(name.split(".")[:2])
                    if dep != pkg:
                        edges.setdefault(pkg, set()).add(dep)
    return edges


BOTTOM = {"graphspec.errors", "graphspec.diagnostics", "graphspec.io", "graphspec.spec", "graphspec.config"}
TORCH_SIDE = {"graphspec.backends", "graphspec.runtime", "graphspec.train", "graphspec.cli", "graphspec.api", "graphspec.sweep", "graphspec.web"}


def test_bottom_layer_imports_only_the_bottom_layer():
    edges = _imports()
    for pkg in BOTTOM:
        above = edges.get(pkg, set()) - BOTTOM
        assert not above, f"{pkg} imports higher layers: {sorted(above)}"


def test_pipeline_never_imports_the_torch_side():
    edges = _imports()
    for pkg in ("graphspec.pipeline", "graphspec.passes", "graphspec.config"):
        bad = edges.get(pkg, set()) & TORCH_SIDE
        assert not bad, f"{pkg} imports {sorted(bad)}"


def test_removed_cycles_stay_gone():
    edges = _imports()
    for a, b in (("graphspec.spec", "graphspec.graph"), ("graphspec.spec", "graphspec.config"), ("graphspec.config", "graphspec.train")):
        assert not (b in edges.get(a, set()) and a in edges.get(b, set())), f"{a} <-> {b}"
    assert not any(m.startswith("graphspec.train") for m in edges.get("graphspec.config", set()))
