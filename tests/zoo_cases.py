"""The zoo's (spec, graph) pairs as pytest params, shared by the whole-zoo tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

SPECS = Path(__file__).resolve().parent.parent / "specs"


def _is_big(path: Path, text: str) -> bool:
    """ImageNet-sized models take seconds per case on two cores: marked slow."""
    return bool(re.search(r"shape:\s*\[[^\]]*\b224\b", text) or re.search(r"^\s*image_size:\s*224\b", text, re.M))


def zoo_graph_params(*, as_path: bool = False, single: str | None = None) -> list:
    """One ``pytest.param(spec, graph)`` per graph of every ``specs/*.yaml``.

    ``spec`` is the file's stem (or its Path with ``as_path``); ``graph`` is the
    graph's name, or ``single`` for a spec with one graph.
    """
    cases = []
    for path in sorted(SPECS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        graphs = list((yaml.safe_load(text).get("graphs") or {"main": None}).keys())
        marks = [pytest.mark.slow] if _is_big(path, text) else []
        for g in graphs:
            graph = g if len(graphs) > 1 else single
            cases.append(pytest.param(path if as_path else path.stem, graph, id=f"{path.stem}-{g}", marks=marks))
    return cases
