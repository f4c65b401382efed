"""Every zoo spec and graph: export to ONNX, checker, parity on onnxruntime, metadata,
dim names, node names, and a batch size (and sequence length) the export never saw.

The ImageNet-sized models are marked slow (they still run by default); each
test exports one graph once.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphspec
from graphspec.backends import example_inputs as ex
from graphspec.backends import onnx_cleanup
from graphspec.backends import onnx_export as oe
from graphspec.backends import parity
from graphspec.runtime.session import Session

from zoo_cases import zoo_graph_params

SPECS = Path(__file__).resolve().parents[2] / "specs"
CASES = zoo_graph_params(single="main")


def test_the_zoo_is_not_empty():
    assert len(CASES) >= 10


@pytest.mark.parametrize("name,graph", CASES)
def test_zoo_export_parity(name, graph, tmp_path):
    spec = graphspec.load(str(SPECS / f"{name}.yaml"))
    if graph not in spec.graphs:  # the regex guess of graph names was wrong: use the real ones
        assert graph == "main"
        graph = next(iter(spec.graphs))
    g = spec.graph(graph)
    result = oe.export(spec, tmp_path / f"{name}.{graph}.onnx", graph=graph)

    # parity at batch 1 and 3 (and two sequence lengths), all outputs within tolerance
    rep = result.parity
    assert rep.passed, rep.summary()
    assert len(rep.points) >= (2 if ex.symbols_of(g) else 1)
    assert {o.name for _, o in rep.checks} == set(g.outputs)
    assert json.loads(Path(result.parity_path).read_text())["passed"] is True

    model = onnx.load(result.model_path, load_external_data=False)
    # metadata
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["graphspec.spec"] == spec.text and meta["graphspec.sha256"] == spec.sha256
    assert meta["graphspec.version"] == graphspec.__version__
    assert [i["name"] for i in json.loads(meta["graphspec.inputs"])] == list(g.inputs)
    assert [o["name"] for o in json.loads(meta["graphspec.outputs"])] == list(g.outputs)

    # symbolic dims keep the spec's names on inputs, and batch stays symbolic on outputs
    for vi in model.graph.input:
        for d, want in zip(vi.type.tensor_type.shape.dim, g.inputs[vi.name].type.shape):
            if isinstance(want, str):
                assert d.dim_param == want, (vi.name, want, d)
            else:
                assert d.dim_value == want
    for vi in model.graph.output:
        spec_shape = g.output_type(vi.name).shape
        for d, want in zip(vi.type.tensor_type.shape.dim, spec_shape):
            if want == "batch":
                assert d.dim_param == "batch", (vi.name, d)
    assert result.static_dims == {}

    # node names follow spec module paths
    modules = {g.node(n)["module"] for n in g.op_nodes()}
    named = [n.name.split("/")[0] for n in model.graph.node if "/" in n.name]
    assert named and all(onnx_cleanup._is_spec_scope(s, modules) for s in named)
    assert len(named) >= 0.6 * len(model.graph.node), [n.name for n in model.graph.node]

    # sizes never used at export (batch 2) nor in the parity check (batch 1, 3)
    sizes = {s: (5 if batch_like else parity._other_size(parity._other_size(result_dim))) for s, batch_like in ex.symbols_of(g).items() for result_dim in [ex.example_sizes(spec, g)[s]]}
    names = [i["name"] for i in result.inputs]
    feeds = ex.make_inputs(g, names, sizes, seed=11)
    got = Session(result.model_path, provider="cpu").run(feeds)
    ref = parity.run_torch(result.module, feeds, names)
    for out_name, r in zip([o["name"] for o in result.outputs], ref):
        check = parity.compare(out_name, r, got[out_name])
        assert check.passed, (out_name, sizes, check)
        if "batch" in sizes:
            assert got[out_name].shape[0] == 5 or "batch" not in [d for d in g.output_type(out_name).shape[:1]]
    assert np.isfinite(sum(float(np.abs(v).sum()) for v in got.values()))
