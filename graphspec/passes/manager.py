"""Runs analysis passes in order and says which one failed.

Each pass is a function ``(spec, graph, collector) -> None`` in its own module,
listed in :data:`DEFAULT_PASSES`; a pass reports problems to the collector and
stores results in ``node["meta"]``. A pass that raises (a bug) is reported with
the names of the passes that ran before it.
"""

from __future__ import annotations

from typing import Callable

from graphspec.errors import Collector, GraphspecError
from graphspec.graph.model import Graph, Spec
from graphspec.passes import cost, lint, shapes

Pass = Callable[[Spec, Graph, Collector], None]

DEFAULT_PASSES: list[tuple[str, Pass]] = [
    ("shapes", shapes.run),
    ("cost", cost.run),
    ("lint", lint.run),
]


def run_passes(spec: Spec, passes: list[tuple[str, Pass]], out: Collector) -> None:
    for graph in spec.graphs.values():
        done: list[str] = []
        for name, fn in passes:
            errors_before = len(out.errors)
            try:
                fn(spec, graph, out)
            except GraphspecError:
                raise
            except Exception as exc:  # a bug: name the pass and what ran before it
                after = f" after {', '.join(done)}" if done else ""
                raise RuntimeError(f"pass {name!r} failed on graph {graph.name!r}{after}: {exc!r}") from exc
            done.append(name)
            if len(out.errors) > errors_before and name == "shapes":
                break  # costs need shapes; lint warnings would be noise


def run_default_passes(spec: Spec, out: Collector) -> None:
    run_passes(spec, DEFAULT_PASSES, out)
