"""Element-wise activations and (log-)softmax."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from graphspec.ops.registry import Op, register
from graphspec.ops.types import ShapeError, TensorType, expect_float, norm_axis


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


@register
class LeakyReLU(_Elementwise):
    """max(0, x) + negative_slope * min(0, x)."""

    negative_slope: float = Field(0.01, description="slope for negative inputs")

    def build_torch(self, x):
        import torch.nn as nn

        return nn.LeakyReLU(self.negative_slope)


@register
class GELU(_Elementwise):
    """x * Φ(x), the Gaussian error linear unit (approximate: 'tanh' for the fast form)."""

    approximate: Literal["none", "tanh"] = Field("none", description="'none' (exact erf) or 'tanh' approximation")

    def build_torch(self, x):
        import torch.nn as nn

        return nn.GELU(self.approximate)


@register
class SiLU(_Elementwise):
    """x * sigmoid(x), also called swish."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.SiLU()


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Tanh()


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Sigmoid()


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.ReLU6()


@register
class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6, the cheap swish of MobileNetV3."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Hardswish()


@register
class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6, the cheap sigmoid of MobileNetV3's squeeze-excitation gate."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Hardsigmoid()


@register
class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    alpha: float = Field(1.0, description="value the output approaches for large negative inputs (negated)")

    def build_torch(self, x):
        import torch.nn as nn

        return nn.ELU(self.alpha)


class _SoftmaxBase(_Elementwise):
    dim: int = Field(-1, description="dim along which the outputs sum to 1 (negative counts from the end)")

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        if x.rank == 0:
            raise ShapeError(f"{self.op_name}: input must have at least one dim. Received: shape {x}")
        try:
            norm_axis(self.dim, x.rank)
        except ShapeError as e:
            raise ShapeError(f"{self.op_name}: {e}. Received: input {x}, dim={self.dim}") from None
        return x


@register
class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along dim (default: the last).

    >>> Softmax().infer(TensorType(("batch", 10)))
    TensorType(shape=('batch', 10), dtype='float32')
    """

    def build_torch(self, x):
        import torch.nn as nn

        return nn.Softmax(self.dim)


@register
class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along dim, computed stably (pair with NLL loss)."""

    def build_torch(self, x):
        import torch.nn as nn

        return nn.LogSoftmax(self.dim)
