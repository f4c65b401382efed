"""Properties of the size arithmetic the shape pass relies on: conv/pool output
sizes (against PyTorch's documented formulas, and PyTorch itself when present)
and symbolic dim arithmetic (binding a symbolic result equals computing with
the bound sizes)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graphspec.ops.shapes import conv_out, conv_transpose_out, pool_out
from graphspec.ops.types import bind_dim, dim_add, dim_floordiv, dim_mul, dim_prod, dim_sub, same_dim

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(1, 512)
kernels = st.integers(1, 11)
strides = st.integers(1, 5)
paddings = st.integers(0, 5)
dilations = st.integers(1, 3)


def torch_formula_conv(size, k, s, p, d):
    # torch.nn.Conv1d docs: L_out = floor((L_in + 2p - d(k-1) - 1) / s + 1)
    return math.floor((size + 2 * p - d * (k - 1) - 1) / s + 1)


@PROPS
@given(sizes, kernels, strides, paddings, dilations)
def test_conv_out_matches_the_documented_formula(size, k, s, p, d):
    assert conv_out(size, k, s, p, d) == torch_formula_conv(size, k, s, p, d)


@PROPS
@given(sizes, kernels, strides, paddings, dilations, st.booleans())
def test_pool_out_matches_the_documented_formula(size, k, s, p, d, ceil_mode):
    # torch.nn.MaxPool1d docs, plus the rule that the last window starts inside the input or left padding
    span = size + 2 * p - d * (k - 1) - 1
    expected = (math.ceil(span / s) if ceil_mode else math.floor(span / s)) + 1
    if ceil_mode and (expected - 1) * s >= size + p:
        expected -= 1
    assert pool_out(size, k, s, p, d, ceil_mode) == expected


@PROPS
@given(sizes, kernels, strides, paddings, dilations, st.integers(0, 4))
def test_conv_transpose_out_matches_the_documented_formula(size, k, s, p, d, op):
    expected = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    assert conv_transpose_out(size, k, s, p, op, d) == expected


@PROPS
@given(st.integers(1, 64), kernels, strides, paddings, dilations, st.integers(1, 64))
def test_symbolic_conv_out_binds_to_the_concrete_size(size, k, s, p, d, other):
    symbolic = conv_out("h", k, s, p, d)
    assert bind_dim(symbolic, {"h": size}) == conv_out(size, k, s, p, d)
    # pooling without ceil_mode uses the same rule
    assert bind_dim(pool_out("h", k, s, p, d), {"h": size}) == pool_out(size, k, s, p, d)
    symbolic_t = conv_transpose_out("h", k, s, p, 0, d)
    assert bind_dim(symbolic_t, {"h": size}) == conv_transpose_out(size, k, s, p, 0, d)


# -- against PyTorch itself (shape inference on the meta device: no compute) ----


@PROPS
@given(st.integers(1, 64), st.integers(1, 7), strides, st.integers(0, 3), dilations)
def test_conv_out_matches_torch(size, k, s, p, d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.empty(1, 1, size, device="meta")
    w = torch.empty(1, 1, k, device="meta")
    ours = conv_out(size, k, s, p, d)
    if ours <= 0:
        with pytest.raises(RuntimeError):
            F.conv1d(x, w, stride=s, padding=p, dilation=d)
    else:
        assert F.conv1d(x, w, stride=s, padding=p, dilation=d).shape[-1] == ours


@PROPS
@given(st.integers(1, 64), st.integers(1, 7), strides, st.integers(0, 3), st.integers(1, 2), st.booleans())
def test_pool_out_matches_torch(size, k, s, p, d, ceil_mode):
    torch = pytest.importorskip("torch")
    assume(p <= k // 2)  # torch's own rule for pooling padding
    F = torch.nn.functional
    x = torch.zeros(1, 1, size)
    ours = pool_out(size, k, s, p, d, ceil_mode)
    if ours <= 0:
        with pytest.raises(RuntimeError):
            F.max_pool1d(x, k, s, p, d, ceil_mode=ceil_mode)
    else:
        assert F.max_pool1d(x, k, s, p, d, ceil_mode=ceil_mode).shape[-1] == ours


@PROPS
@given(st.integers(1, 32), st.integers(1, 5), strides, st.integers(0, 2), st.integers(1, 2), st.integers(0, 4))
def test_conv_transpose_out_matches_torch(size, k, s, p, d, op):
    torch = pytest.importorskip("torch")
    assume(op < max(s, d))  # torch's rule for output_padding
    F = torch.nn.functional
    x = torch.empty(1, 1, size, device="meta")
    w = torch.empty(1, 1, k, device="meta")
    ours = conv_transpose_out(size, k, s, p, op, d)
    assume(ours > 0)
    got = F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    assert got.shape[-1] == ours


# -- symbolic dim arithmetic -------------------------------------------------------

SIZES = {"batch": 3, "seq": 7, "h": 11}


def dims():
    leaves = st.one_of(st.integers(0, 9), st.sampled_from(sorted(SIZES)))

    def extend(children):
        return st.tuples(st.sampled_from(["add", "sub", "mul", "floordiv"]), children, children)

    return st.recursive(leaves, extend, max_leaves=6)


def build(tree):
    """(symbolic dim, its value at SIZES) for a random composition of the dim helpers."""
    if isinstance(tree, int):
        return tree, tree
    if isinstance(tree, str):
        return tree, SIZES[tree]
    op, left, right = tree
    (a, va), (b, vb) = build(left), build(right)
    if op == "add":
        return dim_add(a, b), va + vb
    if op == "sub":
        return dim_sub(a, b), va - vb
    if op == "mul":
        return dim_mul(a, b), va * vb
    if vb == 0:
        raise ZeroDivisionError
    return dim_floordiv(a, b), va // vb


@PROPS
@given(dims())
def test_symbolic_arithmetic_binds_to_python_arithmetic(tree):
    try:
        dim, value = build(tree)
    except ZeroDivisionError:
        return
    assert bind_dim(dim, SIZES) == value
    if isinstance(dim, int):
        assert dim == value  # all-int arithmetic folds to a number


@PROPS
@given(st.lists(st.one_of(st.integers(1, 9), st.sampled_from(sorted(SIZES))), max_size=5))
def test_dim_prod(parts):
    expected = math.prod(SIZES.get(p, p) if isinstance(p, str) else p for p in parts)
    assert bind_dim(dim_prod(parts), SIZES) == expected


def test_identities_keep_symbols_readable():
    assert dim_mul(1, "batch") == "batch" and dim_mul("seq", 1) == "seq"
    assert dim_add("seq", 0) == "seq" and dim_sub("seq", 0) == "seq"
    assert dim_floordiv("seq", 1) == "seq"
    assert dim_add("seq", -2) == "seq-2"
    assert same_dim("batch", 3) and same_dim(4, 4) and not same_dim(4, 5)


def test_unknown_symbols_bind_to_one():
    assert bind_dim("batch*4", {}) == 4
