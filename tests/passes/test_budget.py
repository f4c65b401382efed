"""The memory budget: estimates from the analysis, refusals naming the node or the dim."""

import pytest

import graphspec
from graphspec.errors import ExitCode, GraphspecError
from graphspec.passes import budget

WIDE = """\
graphspec: 1
name: wide
inputs:
  x: {shape: [batch, "${inp}"]}
nodes:
  fc: {op: Linear, in: x, out_features: "${width}"}
  act: {op: ReLU, in: fc}
outputs: {y: act}
params: {width: 10, inp: 1000}
"""

IMAGE = """\
graphspec: 1
name: image
dims: {side: 64}
inputs:
  img: {shape: [batch, 3, side, side]}
nodes:
  conv: {op: Conv2d, in: img, out_channels: 8, kernel_size: 3, padding: 1}
outputs: {y: conv}
"""


def load(text, **overrides):
    return graphspec.load("b.yaml", set=overrides or None, text=text)


@pytest.fixture(autouse=True)
def _reset():
    budget.set_limit(None)
    yield
    budget.set_limit(None)


def test_estimate_counts_parameters_and_every_tensor():
    g = load(WIDE).graph()
    est = budget.estimate(g, {"batch": 4})
    assert est.params == 1000 * 10 + 10
    assert est.param_bytes == est.params * 4
    assert est.activation_bytes == 4 * (4 * 1000 + 4 * 10 + 4 * 10)  # x, fc, act
    assert est.biggest_params == ("fc", 10010)
    assert est.biggest_tensor[0] == "x"
    train = budget.estimate(g, {"batch": 4}, training=True)
    assert train.param_bytes == 4 * est.param_bytes and train.activation_bytes == 2 * est.activation_bytes
    assert budget.estimate(g, None).activation_bytes == 0


def test_huge_parameters_name_the_node():
    g = load(WIDE, **{"params.width": 10**6, "params.inp": 10**6}).graph()
    with pytest.raises(GraphspecError) as info:
        budget.check(g, None, what="compiling")
    d = info.value.diagnostics[0]
    assert info.value.exit_code == ExitCode.SPEC and d.code == "too-large" and d.node == "fc"
    assert "node 'fc' (Linear) alone holds 1,000,001,000,000 parameters" in d.message
    assert d.location is not None and d.location.line == 6
    assert "--budget" in d.hint and budget.ENV_VAR in d.hint


def test_huge_dims_name_the_input_and_the_dim():
    g = load(IMAGE, **{"dims.side": 200_000}).graph()
    with pytest.raises(GraphspecError) as info:
        budget.check(g, {"batch": 2, "side": 200_000}, what="exporting")
    d = info.value.diagnostics[0]
    assert "input 'img' is [2, 3, 200000, 200000]" in d.message or "node 'conv'" in d.message
    assert "(side) = 200,000" in d.message


def test_flag_env_and_default(monkeypatch):
    g = load(IMAGE).graph()
    need = budget.estimate(g, {"batch": 2, "side": 64}).total
    budget.check(g, {"batch": 2, "side": 64}, what="x")  # the default: plenty
    monkeypatch.setenv(budget.ENV_VAR, str(need - 1))
    with pytest.raises(GraphspecError):
        budget.check(g, {"batch": 2, "side": 64}, what="x")
    budget.set_limit(need)  # the flag wins over the environment
    budget.check(g, {"batch": 2, "side": 64}, what="x")
    budget.set_limit(None)
    monkeypatch.setenv(budget.ENV_VAR, "lots")
    with pytest.raises(GraphspecError) as info:
        budget.limit()
    assert info.value.exit_code == ExitCode.USAGE and budget.ENV_VAR in info.value.diagnostics[0].message
    monkeypatch.delenv(budget.ENV_VAR)
    assert budget.limit() == budget.DEFAULT_BUDGET == 16 * 2**30


@pytest.mark.parametrize("text", ["", "abc", "-5G", "1e30", "12X", "0", "0.5"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        budget.parse_size(text)


def test_to_torch_refuses_before_allocating():
    spec = load(WIDE, **{"params.width": 10**6, "params.inp": 10**6})
    with pytest.raises(GraphspecError) as info:
        spec.to_torch()  # would allocate 4 TB
    assert info.value.diagnostics[0].code == "too-large"


def test_zoo_models_fit_the_default_budget():
    for name in ("resnet18", "vgg11", "mobilenet_v2"):
        g = graphspec.load(name).graph()
        est = budget.check(g, {"batch": 64}, what="training", training=True)
        assert est.total < budget.DEFAULT_BUDGET
