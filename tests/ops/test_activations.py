"""Activations and (log-)softmax against PyTorch: shapes, values, params, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

torch = pytest.importorskip("torch")
F = torch.nn.functional

from graphspec.ops import activation  # noqa: E402
from graphspec.ops.activation import (  # noqa: E402
    ELU,
    GELU,
    SiLU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    ReLU6,
    Hardswish,
    Sigmoid,
    Softmax,
    Tanh,
)
from graphspec.ops.registry import Op  # noqa: E402
from graphspec.ops.types import ShapeError, TensorType  # noqa: E402

T = TensorType

# (op, reference function of the input): the module must compute exactly this
CASES = [
    (ReLU(), F.relu),
    (LeakyReLU(), lambda x: F.leaky_relu(x, 0.01)),
    (LeakyReLU(negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2)),
    (GELU(), F.gelu),
    (GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (SiLU(), F.silu),
    (Tanh(), torch.tanh),
    (Sigmoid(), torch.sigmoid),
    (ReLU6(), F.relu6),
    (Hardswish(), F.hardswish),
    (ELU(), F.elu),
    (ELU(alpha=0.5), lambda x: F.elu(x, 0.5)),
    (Softmax(), lambda x: F.softmax(x, -1)),
    (Softmax(dim=1), lambda x: F.softmax(x, 1)),
    (LogSoftmax(), lambda x: F.log_softmax(x, -1)),
    (LogSoftmax(dim=0), lambda x: F.log_softmax(x, 0)),
]
IDS = [repr(op) for op, _ in CASES]


@pytest.mark.parametrize("op, reference", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(4, 10), (2, 3, 5), (2, 3, 4, 4)])
def test_activation_matches_torch(op, reference, shape):
    x = torch.randn(shape) * 4
    module = op.build_torch(T(shape))
    y = module(x)
    assert op.infer(T(shape)).shape == tuple(y.shape)
    torch.testing.assert_close(y, reference(x))
    assert op.count_params(T(shape)) == sum(p.numel() for p in module.parameters()) == 0
    assert op.count_macs(T(shape), outputs=(T(shape),)) == 0
    assert module.state_dict() == {}


@pytest.mark.parametrize("op, reference", CASES, ids=IDS)
def test_symbolic_dims_pass_through(op, reference):
    x = T(("batch", "seq", 64), "bfloat16")
    assert op.infer(x) == x


@pytest.mark.parametrize("op, reference", CASES, ids=IDS)
def test_integer_inputs_are_refused(op, reference):
    with pytest.raises(ShapeError, match="floating-point") as e:
        op.infer(T((2, 3), "int64"))
    assert e.value.code == "dtype"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(-6, 6), st.sampled_from([Softmax, LogSoftmax]))
def test_softmax_dim_is_checked_like_torch(shape, dim, cls):
    op = cls(dim=dim)
    x = torch.randn(shape)
    try:
        out = op.infer(T(tuple(shape)))
    except ShapeError as e:
        assert str(e).startswith(f"{cls.__name__}: dim={dim} is out of range for a rank-{len(shape)} tensor")
        with pytest.raises(IndexError):
            op.build_torch(T(tuple(shape)))(x)
        return
    assert out.shape == tuple(op.build_torch(out)(x).shape)


def test_softmax_errors():
    with pytest.raises(ShapeError, match=r"Softmax: dim=2 is out of range for a rank-2 tensor\. Received: input \[batch, 10\], dim=2"):
        Softmax(dim=2).infer(T(("batch", 10)))
    with pytest.raises(ShapeError, match="at least one dim"):
        LogSoftmax().infer(T(()))


def test_bad_params():
    with pytest.raises(ValidationError):
        GELU(approximate="fast")
    with pytest.raises(ValidationError):
        Softmax(dim="last")
    with pytest.raises(ValidationError, match="Extra inputs"):
        ReLU6(inplace=True)
    with pytest.raises(ValidationError, match="Extra inputs"):
        LeakyReLU(slope=0.1)


def test_fields_are_torch_names_and_documented():
    ops = [c for c in vars(activation).values() if isinstance(c, type) and issubclass(c, Op) and c.op_name]
    assert {c.op_name for c in ops} >= {
        "ReLU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "ReLU6", "Hardswish", "ELU", "Softmax", "LogSoftmax",
    }
    for cls in ops:
        assert cls.summary(), cls
        assert all(f.description for f in cls.model_fields.values()), cls
        assert cls.category == "activation"
    assert set(LeakyReLU.model_fields) == {"negative_slope"}
    assert set(ELU.model_fields) == {"alpha"}
    assert set(GELU.model_fields) == {"approximate"}
    assert set(Softmax.model_fields) == set(LogSoftmax.model_fields) == {"dim"}
