"""Tensor types and symbolic dimension arithmetic, pure Python (no torch).

A dimension is an ``int`` or a symbolic ``str`` such as ``"batch"`` or
``"seq*8"``. Arithmetic on dims folds ints and keeps symbols as readable
expressions, which :func:`bind_dim` evaluates later with concrete sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Union

from graphspec.spec.schema import DTYPES  # noqa: F401 - re-exported; the file format owns the list

Dim = Union[int, str]

FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
INT_DTYPES = ("int64", "int32", "uint8")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


class ShapeError(Exception):
    """A shape or dtype rule failed; the analysis turns it into a diagnostic."""

    def __init__(self, message: str, hint: str | None = None, code: str = "shape"):
        super().__init__(message)
        self.code = code
        self.hint = hint


@dataclass(frozen=True)
class TensorType:
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)


def _wrap(d: Dim) -> str:
    s = str(d)
    return s if _SIMPLE.fullmatch(s) else f"({s})"


def dim_mul(a: Dim, b: Dim) -> Dim:
    """Multiply two dims, folding ints.

    >>> dim_mul(3, 4), dim_mul("seq", 8), dim_mul(1, "batch")
    (12, 'seq*8', 'batch')
    """
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1:
        return b
    if b == 1:
        return a
    return f"{_wrap(a)}*{_wrap(b)}"


def dim_add(a: Dim, b: Dim) -> Dim:
    """Add two dims, folding ints.

    >>> dim_add(2, 3), dim_add("seq", 0), dim_add("seq", "seq")
    (5, 'seq', 'seq+seq')
    """
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if a == 0:
        return b
    if b == 0:
        return a
    if isinstance(b, int) and b < 0:
        return f"{_wrap(a)}-{-b}"
    return f"{_wrap(a)}+{_wrap(b)}"


def dim_sub(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a - b
    if b == 0:
        return a
    return f"{_wrap(a)}-{_wrap(b)}"


def dim_floordiv(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    if b == 1:
        return a
    return f"{_wrap(a)}//{_wrap(b)}"


def dim_prod(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = dim_mul(out, d)
    return out


def same_dim(a: Dim, b: Dim) -> bool:
    """Equal, or not decidable statically (two different symbols may agree at run time)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return True if (isinstance(a, str) or isinstance(b, str)) else a == b


def bind_dim(d: Dim, sizes: Mapping[str, int]) -> int:
    """Evaluate a symbolic dim with concrete sizes (unknown symbols default to 1).

    >>> bind_dim("(seq+2)//2", {"seq": 10})
    6
    """
    if isinstance(d, int):
        return d
    if _NAME.fullmatch(d):  # the common case: a plain symbol such as "batch"
        return sizes.get(d, 1)
    from graphspec.spec.expr import evaluate

    names = set(_NAME.findall(d))
    scope = {n: sizes.get(n, 1) for n in names}
    # dims built by the analysis can be long (40 stride-2 layers); no length cap
    return int(evaluate(d, scope, max_chars=None))


def bind(t: TensorType, sizes: Mapping[str, int]) -> TensorType:
    return TensorType(tuple(bind_dim(d, sizes) for d in t.shape), t.dtype)


def norm_axis(axis: int, rank: int, what: str = "dim") -> int:
    """Normalise a possibly negative axis, with a clear error when out of range.

    >>> norm_axis(-1, 4)
    3
    """
    if not -rank <= axis < rank:
        raise ShapeError(f"{what}={axis} is out of range for a rank-{rank} tensor")
    return axis % rank


def expect_rank(t: TensorType, ranks, what: str = "input") -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if t.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{what} must have rank {want}. Received: shape {t} (rank {t.rank})")


def expect_float(t: TensorType, what: str = "input") -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{what} must be a floating-point tensor. Received: dtype {t.dtype}", code="dtype")


def fixed(d: Dim, what: str) -> int:
    """A dim that must be known statically (e.g. in_features of a Linear)."""
    if not isinstance(d, int):
        raise ShapeError(
            f"{what} must be a fixed size to create weights. Received: symbolic dim {d!r}",
            hint="give this dim a number in the input shape",
        )
    return d
