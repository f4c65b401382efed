"""Dense ops: Linear, MatMul, Embedding."""

from __future__ import annotations

from pydantic import Field

from graphspec.ops.registry import Op, register
from graphspec.ops.types import ShapeError, TensorType, dim_prod, expect_float, fixed


@register
class Linear(Op):
    """Fully connected layer over the last dim: y = x Wᵀ + b (in_features inferred)."""

    category = "dense"
    out_features: int = Field(gt=0, le=1_000_000, description="size of each output sample")
    bias: bool = Field(True, description="learn an additive bias")

    def infer(self, x: TensorType) -> TensorType:
        if x.rank < 1:
            raise ShapeError(f"input must have at least one dim. Received: shape {x}")
        expect_float(x)
        return x.with_shape(x.shape[:-1] + (self.out_features,))

    def count_params(self, x: TensorType) -> int:
        n_in = fixed(x.shape[-1], "the last input dim (in_features)")
        return n_in * self.out_features + (self.out_features if self.bias else 0)

    def count_macs(self, x: TensorType, outputs) -> int:
        return int(dim_prod(x.shape)) * self.out_features

    def build_torch(self, x: TensorType):
        import torch.nn as nn

        return nn.Linear(x.shape[-1], self.out_features, bias=self.bias)
