"""Tensor plumbing: reshape, permute, merge and split, reductions, selection."""

from __future__ import annotations

from pydantic import Field

from graphspec.ops.registry import Op, register
from graphspec.ops.types import ShapeError, TensorType, dim_prod, norm_axis, same_dim


@register
class Flatten(Op):
    """Flatten dims start_dim..end_dim into one (default: all but the batch dim)."""

    category = "tensor"
    start_dim: int = Field(1, description="first dim to flatten")
    end_dim: int = Field(-1, description="last dim to flatten")

    def infer(self, x: TensorType) -> TensorType:
        if x.rank == 0:
            return x.with_shape((1,))
        s = norm_axis(self.start_dim, x.rank, "start_dim")
        e = norm_axis(self.end_dim, x.rank, "end_dim")
        if s > e:
            raise ShapeError(f"start_dim ({self.start_dim}) comes after end_dim ({self.end_dim}) for shape {x}")
        return x.with_shape(x.shape[:s] + (dim_prod(x.shape[s : e + 1]),) + x.shape[e + 1 :])

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Flatten(self.start_dim, self.end_dim)


def broadcast(a: tuple, b: tuple, what: str) -> tuple:
    """NumPy broadcasting of two shapes.

    >>> broadcast((4, 1, 3), (5, 3), "Add")
    (4, 5, 3)
    """
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif same_dim(x, y):
            out.append(x if isinstance(x, int) else y)
        else:
            raise ShapeError(
                f"{what}: shapes do not broadcast. Received: [{', '.join(map(str, a))}] and [{', '.join(map(str, b))}]"
            )
    return tuple(reversed(out))


@register
class Add(Op):
    """Element-wise sum of two or more tensors (broadcasting), e.g. a residual merge."""

    category = "merge"
    inputs = ("*xs",)

    def infer(self, *xs: TensorType) -> TensorType:
        if len(xs) < 2:
            raise ShapeError(f"Add needs at least two inputs. Received: {len(xs)}", code="arity")
        shape = xs[0].shape
        for x in xs[1:]:
            if x.dtype != xs[0].dtype:
                raise ShapeError(f"Add inputs must share a dtype. Received: {xs[0].dtype} and {x.dtype}", code="dtype")
            shape = broadcast(shape, x.shape, "Add")
        return TensorType(shape, xs[0].dtype)

    def count_macs(self, *xs, outputs) -> int:
        return 0  # additions are not multiply-accumulates (torchvision convention)

    def build_torch(self, *xs):
        from graphspec.backends.torch_modules import AddN

        return AddN()
