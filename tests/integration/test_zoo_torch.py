"""Every zoo spec and graph compiles to PyTorch and agrees with its static analysis.

For each graph: the parameter count equals ``graph.total_params``; the real
output shapes equal the static ones (symbolic dims bound) at two batch sizes
and, where an input has a ``seq`` (or other non-batch symbolic) dim, at two
sequence lengths; a state_dict round trip reproduces the outputs; eval mode is
deterministic and train mode runs (BatchNorm statistics move) where the graph
has ops that train differently.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

import graphspec
from graphspec.backends.torch_fx import example_inputs
from graphspec.ops.types import bind

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
# graphs above this many MACs (ImageNet-size) run at batch 1 and 2 only
from zoo_cases import zoo_graph_params  # noqa: E402

BIG_MACS = 500_000_000
def zoo_cases():
    return zoo_graph_params()


CASES = zoo_cases()


@functools.lru_cache(maxsize=1)  # one compiled model alive at a time (VGG-11 holds 0.5 GB)
def compiled(name: str, graph: str | None):
    spec = graphspec.load(name)
    torch.manual_seed(0)
    return spec, spec.graph(graph), spec.to_torch(graph=graph)


def symbols(graph) -> list[str]:
    out: list[str] = []
    for spec in graph.inputs.values():
        for d in spec.type.shape:
            if isinstance(d, str) and d not in out:
                out.append(d)
    return out


def size_sets(spec, graph) -> list[dict[str, int]]:
    """Concrete sizes to try: two batch sizes, then a second length for other symbols."""
    base = {s: spec.dims.get(s, 1 if s == "batch" else 8) for s in symbols(graph)}
    big = graph.total_macs > BIG_MACS
    sets = [{**base, "batch": 1}, {**base, "batch": 2 if big else 3}]
    others = [s for s in base if s != "batch"]
    if others:
        sets.append({**base, "batch": 2, **{s: max(2, base[s] // 2 + 1) for s in others}})
    return sets


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


def expected_shapes(graph, sizes) -> list[tuple[int, ...]]:
    return [tuple(bind(graph.output_type(o), sizes).shape) for o in graph.outputs]


def trains_differently(graph) -> bool:
    return any(type(graph.node(n)["op"]).stateful_training for n in graph.op_nodes())


@pytest.mark.parametrize("name,graph_name", CASES)
def test_parameter_count_equals_analysis(name, graph_name):
    spec, graph, model = compiled(name, graph_name)
    assert sum(p.numel() for p in model.parameters()) == graph.total_params
    assert model.graphspec_inputs == list(graph.inputs)
    assert model.graphspec_outputs == list(graph.outputs)
    # module paths are node ids: every parameter belongs to a node's module,
    # or is a Parameter node's tensor, keyed by its path itself
    modules = {graph.node(n)["module"] for n in graph.op_nodes()}
    for key in model.state_dict():
        assert key in modules or any(key.startswith(m + ".") for m in modules), key


@pytest.mark.parametrize("name,graph_name", CASES)
def test_output_shapes_equal_static_shapes(name, graph_name):
    spec, graph, model = compiled(name, graph_name)
    model.eval()
    for sizes in size_sets(spec, graph):
        inputs = example_inputs(graph, sizes)
        with torch.no_grad():
            outputs = as_tuple(model(*inputs))
        got = [tuple(t.shape) for t in outputs]
        assert got == expected_shapes(graph, sizes), f"sizes {sizes}"
        for o, t in zip(graph.outputs, outputs):
            assert str(t.dtype) == f"torch.{graph.output_type(o).dtype}", o


@pytest.mark.parametrize("name,graph_name", CASES)
def test_state_dict_round_trip_and_modes(name, graph_name):
    spec, graph, model = compiled(name, graph_name)
    torch.manual_seed(1)
    other = spec.to_torch(graph=graph_name)
    result = other.load_state_dict(model.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    other.eval()
    sizes = size_sets(spec, graph)[0]
    inputs = example_inputs(graph, sizes)
    with torch.no_grad():
        first = as_tuple(model(*inputs))
        copy = as_tuple(other(*inputs))
    for a, c in zip(first, copy):
        # same weights, eval mode: identical (so eval is also deterministic: no dropout or sampling)
        torch.testing.assert_close(a, c, rtol=0, atol=0, equal_nan=True)
    if not trains_differently(graph):
        return
    # train mode: batch 2 (BatchNorm needs more than one value per channel)
    train_inputs = example_inputs(graph, {**sizes, "batch": 2})
    other.train()
    stats_before = {k: v.clone() for k, v in other.state_dict().items() if "running_" in k}
    with torch.no_grad():
        outputs = as_tuple(other(*train_inputs))
    assert [tuple(t.shape) for t in outputs] == expected_shapes(graph, {**sizes, "batch": 2})
    if stats_before:
        after = other.state_dict()
        assert any(not torch.equal(v, after[k]) for k, v in stats_before.items()), "BatchNorm statistics did not move in train mode"
