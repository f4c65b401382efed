"""Parameter, Hardsigmoid, Arith, StochasticDepth and LayerNorm2d: shape rules,
counts, torch semantics and ONNX parity."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from graphspec.ops.activation import Hardsigmoid
from graphspec.ops.parameter import Parameter
from graphspec.ops.types import ShapeError, TensorType
from graphspec.ops.vision import Arith, LayerNorm2d, StochasticDepth
from _opcheck import export_and_run, run_op


def test_parameter_shape_count_and_inits():
    op = Parameter(shape=[1, 3, 4], init="trunc_normal", std=0.5)
    assert op.infer() == TensorType((1, 3, 4)) and op.count_params() == 12
    value = op.build_parameter()
    assert isinstance(value, torch.nn.Parameter) and value.abs().max() <= 1.0
    assert torch.equal(Parameter(shape=[2], init="ones").build_parameter(), torch.ones(2))
    u = Parameter(shape=[1000], init="uniform", a=2.0, b=3.0).build_parameter()
    assert 2.0 <= u.min() and u.max() <= 3.0
    holder = op.build_torch()
    assert holder() is holder.value and sum(p.numel() for p in holder.parameters()) == 12
    with pytest.raises(ValidationError):
        Parameter(shape=[0])
    with pytest.raises(ValidationError):
        Parameter(shape=[2**20, 2**20])


def test_hardsigmoid():
    t = TensorType(("batch", 5))
    module, _ = run_op(Hardsigmoid(), TensorType((3, 5)))
    x = torch.linspace(-5, 5, 11)
    assert torch.allclose(module(x), torch.clamp(x + 3, 0, 6) / 6)
    assert Hardsigmoid().infer(t) == t


@pytest.mark.parametrize(
    "fn, value, expected",
    [
        ("add", 2.0, lambda x: x + 2),
        ("sub", 0.5, lambda x: x - 0.5),
        ("mul", [[[2.0]], [[3.0]]], lambda x: x * torch.tensor([2.0, 3.0]).view(2, 1, 1)),
        ("div", 4, lambda x: x / 4),
        ("rsub", 1.0, lambda x: 1 - x),
        ("rdiv", [1.0, 2.0, 3.0], lambda x: torch.tensor([1.0, 2.0, 3.0]) / x),
    ],
)
def test_arith_with_a_constant(fn, value, expected):
    op = Arith(fn=fn, value=value)
    t = TensorType((2, 2, 4, 3))
    module, _ = run_op(op, t)
    x = torch.randn(2, 2, 4, 3).abs() + 0.5
    assert torch.allclose(module(x), expected(x))
    assert module.state_dict() == {}  # a constant is not a weight


def test_arith_refuses_what_does_not_broadcast_or_grows():
    with pytest.raises(ShapeError):
        Arith(fn="add", value=[1.0, 2.0]).infer(TensorType((2, 3)))
    with pytest.raises(ShapeError):
        Arith(fn="add", value=[[1.0], [2.0]]).infer(TensorType((3,)))
    for bad in ([], [[1.0], [1.0, 2.0]], True, "x"):
        with pytest.raises(ValidationError):
            Arith(fn="add", value=bad)
    with pytest.raises(ValidationError):
        Arith(fn="pow", value=2.0)


def _torchvision_stochastic_depth(x, p, mode, training=True):
    """torchvision.ops.stochastic_depth 0.29, verbatim (the reference semantics)."""
    if not training or p == 0.0:
        return x
    survival_rate = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return x * noise


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_matches_torchvision_in_train_and_eval(mode):
    op = StochasticDepth(p=0.3, mode=mode)
    t = TensorType((64, 3, 2, 2))
    module, _ = run_op(op, t, train=True)
    x = torch.randn(64, 3, 2, 2)
    module.train()
    torch.manual_seed(5)
    got = module(x)
    torch.manual_seed(5)
    assert torch.equal(got, _torchvision_stochastic_depth(x, 0.3, mode))
    kept = (got != 0).flatten(1).any(1)
    if mode == "row":
        assert 0 < kept.sum() < 64  # some rows dropped, some kept (p=0.3 of 64)
        assert torch.allclose(got[kept], x[kept] / 0.7)
    module.eval()
    assert torch.equal(module(x), x)
    assert op.stateful_training
    with pytest.raises(ValidationError):
        StochasticDepth(p=1.5, mode="row")


def test_layernorm2d_normalises_channels_like_torchvision():
    op = LayerNorm2d()
    t = TensorType((2, 6, 3, 5))
    module, _ = run_op(op, t)
    assert op.count_params(t) == 12 and list(module.state_dict()) == ["weight", "bias"]
    with torch.no_grad():
        module.weight.uniform_()
        module.bias.uniform_()
    x = torch.randn(2, 6, 3, 5)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), module.weight, module.bias, 1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(module(x), ref, atol=1e-6)
    with pytest.raises(ShapeError):
        op.infer(TensorType((2, 6)))


@pytest.mark.parametrize(
    "op",
    [Hardsigmoid(), Arith(fn="rdiv", value=[[[1.0]], [[2.0]], [[3.0]]]), StochasticDepth(p=0.2, mode="row"), LayerNorm2d()],
    ids=lambda op: op.op_name,
)
def test_onnx_parity(op, tmp_path):
    t = TensorType(("batch", 3, 4, 4))
    module = op.build_torch(TensorType((2, 3, 4, 4))).eval()
    examples = [torch.randn(2, 3, 4, 4) + 5]
    others = [torch.randn(5, 3, 4, 4) + 5]
    assert op.infer(t).shape == t.shape
    export_and_run(module, examples, [{0: "batch"}], others, tmp_path)


def test_expand_as_broadcasts_to_the_batch(tmp_path):
    from graphspec.ops.tensor import ExpandAs

    op = ExpandAs()
    token, tokens = TensorType((1, 1, 8)), TensorType(("batch", 5, 8))
    assert op.infer(token, tokens).shape == ("batch", 1, 8)
    with pytest.raises(ShapeError):
        op.infer(TensorType((2, 1, 8)), tokens)  # size 2 at the batch dim cannot expand
    with pytest.raises(ShapeError):
        op.infer(TensorType((1, 8)), tokens)
    module, _ = run_op(op, TensorType((1, 1, 8)), TensorType((3, 5, 8)))
    t = torch.randn(1, 1, 8)
    assert torch.equal(module(t, torch.zeros(3, 5, 8)), t.expand(3, 1, 8))
    export_and_run(module, [t, torch.zeros(2, 5, 8)], [{}, {0: "batch"}], [t, torch.zeros(6, 5, 8)], tmp_path)


def test_parameter_constant_init_and_its_source():
    op = Parameter(shape=[3, 1, 1], init="constant", value=1e-6)
    assert torch.equal(op.build_parameter(), torch.full((3, 1, 1), 1e-6))
    for p in (op, Parameter(shape=[2, 3], init="trunc_normal", std=0.1), Parameter(shape=[4], init="uniform", a=-1, b=1)):
        value = eval(p.init_source(), {"torch": torch, "nn": torch.nn})  # noqa: S307 - our own text
        assert value.shape == tuple(p.shape)
    with pytest.raises(ValidationError):
        Parameter(shape=[2], init="constant")
