"""Dense and tensor-plumbing ops: infer vs. torch, params, errors, symbolic dims."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from torch.utils.flop_counter import FlopCounterMode

from _opcheck import random_tensor, run_op
from graphspec.backends import torch_modules as tm
from graphspec.ops.dense import Embedding, MatMul
from graphspec.ops.tensor import (
    Add,
    Chunk,
    Concat,
    Identity,
    Mean,
    Mul,
    Permute,
    Reshape,
    Select,
    Split,
    Squeeze,
    Sub,
    Sum,
    Transpose,
    Unsqueeze,
    reshape_shape,
)
from graphspec.ops.types import ShapeError, TensorType, bind

T = TensorType
FAST = settings(max_examples=40, deadline=None)

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


# ---------------------------------------------------------------- MatMul


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    # each operand keeps a suffix of the batch dims, some of them squashed to 1
    a_batch = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - draw(st.integers(0, len(batch))):]]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - draw(st.integers(0, len(batch))):]]
    a = (k,) if draw(st.booleans()) and not a_batch else tuple(a_batch) + (n, k)
    b = (k,) if draw(st.booleans()) and not b_batch else tuple(b_batch) + (k, m)
    return a, b


@FAST
@given(matmul_shapes())
def test_matmul_matches_torch(ab):
    a, b = T(ab[0]), T(ab[1])
    op = MatMul()
    _, (out,) = run_op(op, a, b)
    with FlopCounterMode(display=False) as fc:
        torch.matmul(torch.randn(a.shape), torch.randn(b.shape))
    macs = op.count_macs(a, b, outputs=(op.infer(a, b),))
    assert macs == math.prod(out.shape) * a.shape[-1]
    if fc.get_total_flops():  # the flop counter skips dot and mv (1-D operands)
        assert macs == fc.get_total_flops() // 2


def test_matmul_symbolic_and_errors():
    assert MatMul().infer(T(("batch", "seq", 8)), T((8, 3))).shape == ("batch", "seq", 3)
    assert MatMul().infer(T(("batch", 4, "k")), T(("batch", "k", 5))).shape == ("batch", 4, 5)
    assert MatMul().count_macs(T((2, 3, 4)), T((4, 5)), outputs=(T((2, 3, 5)),)) == 2 * 3 * 4 * 5
    with pytest.raises(ShapeError, match="last dim of a"):
        MatMul().infer(T((2, 3)), T((4, 5)))
    with pytest.raises(ShapeError, match="broadcast"):
        MatMul().infer(T((2, 3, 4)), T((3, 4, 5)))
    with pytest.raises(ShapeError, match="dtype"):
        MatMul().infer(T((3, 4)), T((4, 5), "float64"))
    with pytest.raises(ShapeError, match="floating-point"):
        MatMul().infer(T((3, 4), "int64"), T((4, 5), "int64"))


# ---------------------------------------------------------------- Embedding


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
@pytest.mark.parametrize("shape,dtype", [((2, 5), "int64"), ((7,), "int32"), (("batch", "seq"), "int64")])
def test_embedding(shape, dtype, padding_idx):
    op = Embedding(num_embeddings=11, embedding_dim=6, padding_idx=padding_idx)
    assert op.infer(T(shape, dtype)) == T(shape + (6,), "float32")
    if all(isinstance(d, int) for d in shape):
        module, _ = run_op(op, T(shape, dtype))
        assert list(module.state_dict()) == ["weight"]
        if padding_idx is not None:
            assert module.weight[padding_idx].abs().sum() == 0
    assert op.count_params(T(shape, dtype)) == 66


def test_embedding_errors():
    with pytest.raises(ShapeError, match="integer indices") as exc:
        Embedding(num_embeddings=4, embedding_dim=2).infer(T((2, 3)))
    assert exc.value.code == "dtype"
    with pytest.raises(ValidationError, match="padding_idx must be within"):
        Embedding(num_embeddings=4, embedding_dim=2, padding_idx=4)
    with pytest.raises(ValidationError):
        Embedding(num_embeddings=0, embedding_dim=2)
    with pytest.raises(ValidationError):
        Embedding(num_embeddings=4, embedding_dim=2, max_norm=1.0)  # unknown field


# ---------------------------------------------------------------- Reshape


@st.composite
def reshape_cases(draw):
    shape = draw(shapes)
    factors = list(shape)
    draw(st.randoms()).shuffle(factors)
    # regroup the shuffled sizes into a target of 1..len dims with the same product
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(factors) - 1)), max_size=len(factors) - 1)))
    bounds = [0] + cuts + [len(factors)]
    target = [math.prod(factors[i:j]) for i, j in zip(bounds, bounds[1:]) if i < j]
    target = [s if s != shape[i] or i >= len(shape) or not draw(st.booleans()) else 0 for i, s in enumerate(target)]
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@FAST
@given(reshape_cases())
def test_reshape_matches_torch(case):
    shape, target = case
    run_op(Reshape(shape=target), T(shape))


@FAST
@given(reshape_cases(), st.integers(1, 5))
def test_reshape_symbolic_batch_binds_to_concrete(case, batch):
    """A symbolic batch copied with 0 flows through and binds to the concrete answer."""
    shape, target = case
    target = (0,) + target
    symbolic = Reshape(shape=target).infer(T(("batch",) + shape))
    concrete = Reshape(shape=target).infer(T((batch,) + shape))
    assert symbolic.shape[0] == "batch"
    assert bind(symbolic, {"batch": batch}) == concrete


@pytest.mark.parametrize(
    "shape,target,expected",
    [
        (("batch", 4, 4), (0, -1), ("batch", 16)),
        (("batch", "seq", 64), (0, 0, 8, -1), ("batch", "seq", 8, 8)),
        (("batch", "seq", 64), (-1, 64), ("batch*seq", 64)),
        (("batch", 6), (-1, 4), ("(batch*6)//4", 4)),
        (("batch", 4), (8,), (8,)),  # decidable only at run time: accepted
        ((2, 3), (6, 1, 1), (6, 1, 1)),
    ],
)
def test_reshape_static_rule(shape, target, expected):
    assert reshape_shape(shape, target) == expected


def test_reshape_errors():
    with pytest.raises(ShapeError, match="as many elements"):
        Reshape(shape=[5, -1]).infer(T((2, 3, 4)))
    with pytest.raises(ShapeError, match="as many elements"):
        Reshape(shape=[0, 5]).infer(T(("batch", 2, 3)))
    with pytest.raises(ShapeError, match="only 2 dims"):
        Reshape(shape=[0, 0, 0]).infer(T((2, 3)))
    with pytest.raises(ValidationError, match="at most one -1"):
        Reshape(shape=[-1, -1])
    with pytest.raises(ValidationError):
        Reshape(shape=[-2, 3])


# ---------------------------------------------------------------- Permute / Transpose / Squeeze / Unsqueeze / Select


@FAST
@given(shapes.flatmap(lambda s: st.tuples(st.just(s), st.permutations(range(len(s))), st.lists(st.booleans(), min_size=len(s), max_size=len(s)))))
def test_permute_matches_torch(case):
    shape, perm, negative = case
    dims = [d - len(shape) if neg else d for d, neg in zip(perm, negative)]
    run_op(Permute(dims=dims), T(shape))


def test_permute_symbolic_and_errors():
    assert Permute(dims=[0, 2, 1]).infer(T(("batch", "seq", 8))).shape == ("batch", 8, "seq")
    with pytest.raises(ShapeError, match="exactly once"):
        Permute(dims=[0, 0, 1]).infer(T((2, 3, 4)))
    with pytest.raises(ShapeError, match="exactly once"):
        Permute(dims=[0, 2, -1]).infer(T((2, 3, 4)))  # -1 is 2
    with pytest.raises(ShapeError, match="exactly once"):
        Permute(dims=[1, 0]).infer(T((2, 3, 4)))
    with pytest.raises(ValidationError):
        Permute(dims=[])


@pytest.mark.parametrize("d0,d1", [(0, 1), (1, 2), (-1, 0), (2, 2)])
def test_transpose(d0, d1):
    run_op(Transpose(dim0=d0, dim1=d1), T((2, 3, 4)))


def test_transpose_symbolic_and_errors():
    assert Transpose(dim0=1, dim1=2).infer(T(("batch", "seq", 8))).shape == ("batch", 8, "seq")
    with pytest.raises(ShapeError, match="dim1=3 is out of range"):
        Transpose(dim0=0, dim1=3).infer(T((2, 3, 4)))


@pytest.mark.parametrize("dim", [1, -2])
def test_squeeze(dim):
    run_op(Squeeze(dim=dim), T((2, 1, 4)))
    assert Squeeze(dim=dim).infer(T(("batch", 1, "seq"))).shape == ("batch", "seq")


def test_squeeze_errors():
    with pytest.raises(ShapeError, match="must have size 1"):
        Squeeze(dim=0).infer(T((2, 1)))
    with pytest.raises(ShapeError, match="must have size 1"):
        Squeeze(dim=0).infer(T(("batch", 1)))


@pytest.mark.parametrize("dim", [0, 1, 3, -1, -4])
def test_unsqueeze(dim):
    run_op(Unsqueeze(dim=dim), T((2, 3, 4)))


def test_unsqueeze_symbolic_and_errors():
    assert Unsqueeze(dim=1).infer(T(("batch", 8))).shape == ("batch", 1, 8)
    with pytest.raises(ShapeError, match="out of range"):
        Unsqueeze(dim=3).infer(T((2, 3)))


@pytest.mark.parametrize("dim,index", [(1, -1), (1, 0), (0, 1), (-1, 3), (2, -4)])
def test_select(dim, index):
    run_op(Select(dim=dim, index=index), T((2, 5, 4)))


def test_select_symbolic_and_errors():
    # the last step of an RNN output with a symbolic sequence length
    assert Select(dim=1, index=-1).infer(T(("batch", "seq", 16))).shape == ("batch", 16)
    with pytest.raises(ShapeError, match="index=5 is out of range for size 5"):
        Select(dim=1, index=5).infer(T((2, 5, 4)))
    with pytest.raises(ShapeError, match="index=-6"):
        Select(dim=1, index=-6).infer(T((2, 5, 4)))


# ---------------------------------------------------------------- Concat


@st.composite
def concat_cases(draw):
    base = list(draw(shapes))
    dim = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    types = []
    for s in sizes:
        shape = list(base)
        shape[dim] = s
        types.append(T(tuple(shape)))
    return dim, types


@FAST
@given(concat_cases())
def test_concat_matches_torch(case):
    dim, types = case
    run_op(Concat(dim=dim), *types)


def test_concat_symbolic_and_errors():
    out = Concat(dim=-1).infer(T(("batch", "seq", 8)), T(("batch", "seq", 4)), T(("batch", "seq", 4)))
    assert out.shape == ("batch", "seq", 16)
    assert Concat(dim=1).infer(T(("batch", "n")), T(("batch", "m"))).shape == ("batch", "n+m")
    assert Concat(dim=1).infer(T(("batch", 3)), T((2, 3))).shape == (2, 6)  # a fixed size wins
    with pytest.raises(ShapeError, match="equal sizes except along dim=1") as exc:
        Concat(dim=1).infer(T((2, 3, 4)), T((2, 3, 5)))
    assert "Received: shapes [2, 3, 4], [2, 3, 5]" in str(exc.value)
    with pytest.raises(ShapeError, match="same rank"):
        Concat(dim=0).infer(T((2, 3)), T((2, 3, 1)))
    with pytest.raises(ShapeError, match="dtype"):
        Concat(dim=0).infer(T((2, 3)), T((2, 3), "int64"))
    with pytest.raises(ShapeError, match="at least two") as exc:
        Concat(dim=0).infer(T((2, 3)))
    assert exc.value.code == "arity"
    with pytest.raises(ValidationError):
        Concat()  # dim is required: a default would silently join the wrong axis


# ---------------------------------------------------------------- Split / Chunk


@pytest.mark.parametrize(
    "spec,dim,shape,sizes",
    [
        ([2, 3], -1, (4, 5), [2, 3]),
        ([1, 1, 1, 1], 0, (4, 5), [1, 1, 1, 1]),
        (2, 1, (4, 5), [2, 2, 1]),
        (5, 1, (4, 5), [5]),
        (1, 1, (3, 8), [1] * 8),
        ([4], 1, ("batch", 4), [4]),
        ([3, 1], 1, ("batch", "n"), [3, 1]),  # sections on a symbolic dim: checked at run time
    ],
)
def test_split(spec, dim, shape, sizes):
    op = Split(split_size_or_sections=spec, dim=dim)
    types = op.infer(T(shape))
    axis = dim % len(shape)
    assert [t.shape[axis] for t in types] == sizes
    assert all(t.shape[:axis] == shape[:axis] for t in types)
    if all(isinstance(d, int) for d in shape):
        run_op(op, T(shape))
    assert len(types) <= len(Split.outputs) and Split.outputs[0] == "out0"


def test_split_errors():
    with pytest.raises(ShapeError, match=r"add up to the size along dim=1. Received: sections \[2, 2\] \(sum 4\)"):
        Split(split_size_or_sections=[2, 2], dim=1).infer(T((3, 5)))
    with pytest.raises(ShapeError, match="at most 8 pieces"):
        Split(split_size_or_sections=1, dim=1).infer(T((3, 9)))
    with pytest.raises(ShapeError, match="fixed size") as exc:
        Split(split_size_or_sections=2, dim=0).infer(T(("batch", 4)))
    assert exc.value.hint
    with pytest.raises(ValidationError, match="1 to 8 sizes"):
        Split(split_size_or_sections=[1] * 9, dim=0)
    with pytest.raises(ValidationError):
        Split(split_size_or_sections=[2, 0], dim=0)
    with pytest.raises(ValidationError):
        Split(split_size_or_sections=0, dim=0)


@pytest.mark.parametrize("chunks,size", [(2, 8), (3, 7), (3, 9), (1, 4), (8, 8), (4, 10)])
def test_chunk(chunks, size):
    op = Chunk(chunks=chunks, dim=-1)
    _, outs = run_op(op, T((2, size)))
    assert len(outs) == chunks
    assert op.infer(T(("batch", size)))[0].shape[0] == "batch"


def test_chunk_errors():
    with pytest.raises(ShapeError, match="does not make 5 chunks") as exc:
        Chunk(chunks=5, dim=1).infer(T((2, 6)))  # torch.chunk gives 3 pieces of 2
    assert "torch.chunk would return 3" in str(exc.value)
    with pytest.raises(ShapeError, match="fixed size"):
        Chunk(chunks=2, dim=0).infer(T(("batch", 6)))
    with pytest.raises(ValidationError):
        Chunk(chunks=9, dim=0)


# ---------------------------------------------------------------- Add / Mul / Sub


@st.composite
def broadcast_cases(draw):
    out = draw(shapes)
    n = draw(st.integers(2, 3))
    types = []
    for _ in range(n):
        keep = draw(st.integers(0, len(out)))
        shape = tuple(d if draw(st.booleans()) else 1 for d in out[len(out) - keep:])
        types.append(T(shape))
    return types


@FAST
@given(broadcast_cases())
def test_elementwise_merges_match_torch(types):
    run_op(Add(), *types)
    run_op(Mul(), *types)
    run_op(Sub(), *types[:2])


def test_elementwise_merges_symbolic_and_errors():
    assert Mul().infer(T(("batch", "seq", 8)), T(("batch", "seq", 1))).shape == ("batch", "seq", 8)
    assert Sub().infer(T(("batch", 8)), T((8,))).shape == ("batch", 8)
    with pytest.raises(ShapeError, match="Mul: shapes do not broadcast"):
        Mul().infer(T((2, 3)), T((2, 4)))
    with pytest.raises(ShapeError, match="Sub inputs must share a dtype"):
        Sub().infer(T((2, 3)), T((2, 3), "float64"))
    with pytest.raises(ShapeError, match="at least two"):
        Mul().infer(T((2, 3)))


# ---------------------------------------------------------------- Mean / Sum / Identity


@pytest.mark.parametrize("dim", [None, 0, -1, [1, 2], [0, -1]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(dim, keepdim):
    run_op(Mean(dim=dim, keepdim=keepdim), T((2, 3, 4)))
    run_op(Sum(dim=dim, keepdim=keepdim), T((2, 3, 4)))
    run_op(Sum(dim=dim, keepdim=keepdim), T((2, 3, 4), "int32"))  # -> int64 as in torch
    run_op(Sum(dim=dim, keepdim=keepdim), T((2, 3, 4), "bool"))


def test_reductions_symbolic_and_errors():
    assert Mean(dim=1).infer(T(("batch", "seq", 8))).shape == ("batch", 8)
    assert Sum(dim=[1], keepdim=True).infer(T(("batch", "seq", 8))).shape == ("batch", 1, 8)
    assert Sum().infer(T((2, 3), "uint8")) == T((), "int64")
    with pytest.raises(ShapeError, match="floating-point"):
        Mean().infer(T((2, 3), "int64"))
    with pytest.raises(ShapeError, match="dim lists a dim twice"):
        Sum(dim=[1, -1]).infer(T((2, 3)))
    with pytest.raises(ShapeError, match="out of range"):
        Mean(dim=2).infer(T((2, 3)))
    with pytest.raises(ValidationError):
        Mean(dim=[])  # torch would read [] as "all dims"


def test_identity():
    run_op(Identity(), T((2, 3)))
    assert Identity().infer(T(("batch", 3), "int64")) == T(("batch", 3), "int64")


def test_param_free_ops_have_no_params_or_macs():
    x = T((2, 4, 6))
    for op in (Reshape(shape=[0, -1]), Permute(dims=[0, 2, 1]), Concat(dim=1), Split(split_size_or_sections=3, dim=2),
               Mul(), Mean(dim=1), Select(dim=1, index=0)):
        inputs = (x, x) if isinstance(op, (Concat, Mul)) else (x,)
        outs = op.infer(*inputs)
        assert op.count_params(*inputs) == 0
        assert op.count_macs(*inputs, outputs=outs if isinstance(outs, tuple) else (outs,)) == 0


# ---------------------------------------------------------------- torch.fx


class _W1(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)


class _W2(_W1):
    def forward(self, a, b):
        return self.m(a, b)


class _W3(_W1):
    def forward(self, a, b, c):
        return self.m(a, b, c)


FX_CASES = {
    "AddN": (lambda: tm.AddN(), [(2, 3), (1, 3), (2, 1)]),
    "MulN": (lambda: tm.MulN(), [(2, 3), (3,)]),
    "Sub": (lambda: tm.Sub(), [(2, 3), (1, 3)]),
    "MatMul": (lambda: tm.MatMul(), [(2, 3, 4), (4, 5)]),
    "Concat": (lambda: tm.Concat(-1), [(2, 3), (2, 4), (2, 1)]),
    "Reshape": (lambda: tm.Reshape([0, -1, 2]), [(2, 3, 4)]),
    "Permute": (lambda: tm.Permute([2, 0, 1]), [(2, 3, 4)]),
    "Transpose": (lambda: tm.Transpose(1, -1), [(2, 3, 4)]),
    "Squeeze": (lambda: tm.Squeeze(1), [(2, 1, 4)]),
    "Unsqueeze": (lambda: tm.Unsqueeze(-1), [(2, 3)]),
    "Select": (lambda: tm.Select(1, -1), [(2, 3, 4)]),
    "Split": (lambda: tm.Split([1, 3], 2), [(2, 3, 4)]),
    "Chunk": (lambda: tm.Chunk(2, 2), [(2, 3, 4)]),
    "Mean": (lambda: tm.Mean((1, 2), True), [(2, 3, 4)]),
    "Sum": (lambda: tm.Sum(None), [(2, 3, 4)]),
}


@pytest.mark.parametrize("name", sorted(FX_CASES))
def test_torch_module_symbolic_traces(name):
    make, shapes_ = FX_CASES[name]
    wrapper = {1: _W1, 2: _W2, 3: _W3}[len(shapes_)](make())
    traced = torch.fx.symbolic_trace(wrapper)
    xs = [random_tensor(T(s)) for s in shapes_]
    expected, got = wrapper(*xs), traced(*xs)
    for e, g in zip(expected if isinstance(expected, tuple) else (expected,), got if isinstance(got, tuple) else (got,)):
        torch.testing.assert_close(g, e)


# ---------------------------------------------------------------- ONNX


def test_reshape_exports_with_dynamic_batch(tmp_path):
    pytest.importorskip("onnxruntime")
    from _opcheck import export_and_run

    module = Reshape(shape=[0, -1, 4]).build_torch(T(("batch", 8, 6)))
    export_and_run(module, [torch.randn(2, 8, 6)], [{0: "batch"}], [torch.randn(5, 8, 6)], tmp_path)
