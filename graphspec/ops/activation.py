"""Element-wise activations and (log-)softmax."""

from __future__ import annotations

from graphspec.ops.registry import Op, register
from graphspec.ops.types import TensorType, expect_float


class _Elementwise(Op):
    category = "activation"

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        return x


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.ReLU()
