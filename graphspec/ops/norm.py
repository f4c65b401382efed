"""Normalisation and regularisation: BatchNorm, LayerNorm, GroupNorm, Dropout.

Channel and normalised sizes come from the input shape, never from parameters.
BatchNorm and Dropout compute differently in training (``stateful_training``).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Optional

from pydantic import Field

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, bind_call, onnx_attrs_ok, register
from graphspec.ops.types import ShapeError, TensorType, expect_float, fixed

Momentum = Annotated[float, Field(ge=0.0, le=1.0)]


def _channels(op: Op, x: TensorType) -> int:
    return fixed(x.shape[1], f"{op.op_name}: the channel dim (dim 1) of input {x}")


class _BatchNorm(Op):
    category = "norm"
    stateful_training = True
    ranks: ClassVar[tuple[int, ...]] = (4,)
    layout: ClassVar[str] = "[N, C, H, W]"
    onnx_types = ("BatchNormalization",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if op_type not in cls.onnx_types or len(consts) != 5 or consts[0] is not None or any(c is None for c in consts[1:]):
            return None
        if types[0] is None or types[0].rank not in cls.ranks or not onnx_attrs_ok(attrs, ("epsilon", "momentum", "training_mode")) or attrs.get("training_mode", 0):
            return None
        # float32 attributes read back as 9.99999974738e-06: keep the digits a person wrote
        params = dict(eps=float(f"{attrs.get('epsilon', 1e-5):.6g}"), momentum=float(f"{1 - attrs.get('momentum', 0.9):.6g}"))
        scale, shift, mean, var = consts[1:]
        return OnnxMapping(params, (0,), {"weight": scale, "bias": shift}, {"running_mean": mean, "running_var": var})

    eps: float = Field(1e-5, gt=0, description="added to the variance for numerical stability")
    momentum: Optional[Momentum] = Field(
        0.1, description="weight of the newest batch in the running statistics (null: cumulative average)"
    )
    affine: bool = Field(True, description="learn a per-channel scale and shift")
    track_running_stats: bool = Field(True, description="keep running mean/variance for evaluation")

    def infer(self, x: TensorType) -> TensorType:
        if x.rank not in self.ranks:
            want = " or ".join(str(r) for r in self.ranks)
            raise ShapeError(
                f"{self.op_name}: input must have rank {want} ({self.layout}). Received: shape {x} (rank {x.rank})"
            )
        expect_float(x)
        _channels(self, x)
        return x

    def count_params(self, x: TensorType) -> int:
        return 2 * _channels(self, x) if self.affine else 0

    def torch_call(self, x: TensorType) -> TorchCall:
        kwargs = dict(eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track_running_stats)
        return TorchCall(f"torch.nn.{self.op_name}", (_channels(self, x),), kwargs)


@register
class BatchNorm1d(_BatchNorm):
    """Batch normalisation over [N, C] or [N, C, L], per channel C.

    >>> BatchNorm1d().infer(TensorType(("batch", 128)))
    TensorType(shape=('batch', 128), dtype='float32')
    """

    torch_classes = ("torch.nn.BatchNorm1d",)

    ranks = (2, 3)
    layout = "[N, C] or [N, C, L]"


@register
class BatchNorm2d(_BatchNorm):
    """Batch normalisation over [N, C, H, W], per channel C."""

    torch_classes = ("torch.nn.BatchNorm2d",)

    ranks = (4,)
    layout = "[N, C, H, W]"


@register
class LayerNorm(Op):
    """Normalise over the last normalized_dims dims (their sizes are inferred).

    ``normalized_dims: 1`` (the default) is torch's ``LayerNorm(x.shape[-1])``;
    ``normalized_dims: 3`` on [N, C, H, W] is ``LayerNorm([C, H, W])``.

    >>> LayerNorm().infer(TensorType(("batch", "seq", 512)))
    TensorType(shape=('batch', 'seq', 512), dtype='float32')
    """

    torch_classes = ("torch.nn.LayerNorm",)
    onnx_types = ("LayerNormalization",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        scale = consts[1] if len(consts) > 1 else None
        shift = consts[2] if len(consts) > 2 else None
        x = types[0] if types else None
        if op_type not in cls.onnx_types or x is None or scale is None or (len(consts) > 2 and shift is None):
            return None
        if not onnx_attrs_ok(attrs, ("axis", "epsilon", "stash_type")):
            return None
        axis = int(attrs.get("axis", -1))
        dims = -axis if axis < 0 else x.rank - axis
        if scale.ndim != dims:
            return None
        params = dict(normalized_dims=dims, eps=float(f"{attrs.get('epsilon', 1e-5):.6g}"), bias=shift is not None)
        return OnnxMapping(params, (0,), {"weight": scale, **({"bias": shift} if shift is not None else {})})

    @classmethod
    def from_torch(cls, module):
        if super().from_torch(module) is None:
            return None
        return dict(normalized_dims=len(module.normalized_shape), eps=module.eps,
                    elementwise_affine=module.elementwise_affine, bias=getattr(module, "bias", None) is not None or not module.elementwise_affine)

    category = "norm"
    normalized_dims: int = Field(
        1, ge=1, le=8, description="how many trailing dims to normalise over (torch's normalized_shape is their sizes)"
    )
    eps: float = Field(1e-5, gt=0, description="added to the variance for numerical stability")
    elementwise_affine: bool = Field(True, description="learn a per-element scale (and shift, see bias)")
    bias: bool = Field(True, description="learn the shift too (with elementwise_affine)")

    def normalized_shape(self, x: TensorType) -> tuple[int, ...]:
        if x.rank < self.normalized_dims:
            raise ShapeError(
                f"{self.op_name}: normalized_dims cannot exceed the input rank. "
                f"Received: input {x} (rank {x.rank}), normalized_dims={self.normalized_dims}"
            )
        return tuple(
            fixed(d, f"{self.op_name}: every normalised dim of input {x}") for d in x.shape[x.rank - self.normalized_dims :]
        )

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        self.normalized_shape(x)
        return x

    def count_params(self, x: TensorType) -> int:
        if not self.elementwise_affine:
            return 0
        return math.prod(self.normalized_shape(x)) * (2 if self.bias else 1)

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "torch.nn.LayerNorm",
            (self.normalized_shape(x),),
            dict(eps=self.eps, elementwise_affine=self.elementwise_affine, bias=self.bias),
        )


@register
class GroupNorm(Op):
    """Normalise [N, C, *] over groups of channels (num_groups must divide C).

    >>> GroupNorm(num_groups=32).infer(TensorType(("batch", 256, "h", "w")))
    TensorType(shape=('batch', 256, 'h', 'w'), dtype='float32')
    """

    torch_classes = ("torch.nn.GroupNorm",)

    category = "norm"
    num_groups: int = Field(gt=0, description="number of channel groups; must divide the channel count")
    eps: float = Field(1e-5, gt=0, description="added to the variance for numerical stability")
    affine: bool = Field(True, description="learn a per-channel scale and shift")

    def infer(self, x: TensorType) -> TensorType:
        if x.rank < 2:
            raise ShapeError(f"{self.op_name}: input must have rank 2 or more ([N, C, *]). Received: shape {x} (rank {x.rank})")
        expect_float(x)
        c = _channels(self, x)
        if c % self.num_groups:
            raise ShapeError(
                f"{self.op_name}: num_groups must divide the number of channels. "
                f"Received: input {x} with {c} channels, num_groups={self.num_groups}",
                hint="pick num_groups among the divisors of the channel count",
            )
        return x

    def count_params(self, x: TensorType) -> int:
        return 2 * _channels(self, x) if self.affine else 0

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.GroupNorm", (self.num_groups, _channels(self, x)), dict(eps=self.eps, affine=self.affine))


@register
class Dropout(Op):
    """Zero each element with probability p while training (and scale the rest by 1/(1-p))."""

    torch_classes = ("torch.nn.Dropout",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "p", "training", "inplace"), {"p": 0.5, "training": True, "inplace": False})
        return {"p": bound["p"]} if fn == "dropout" and bound else None

    category = "regularization"
    stateful_training = True
    p: float = Field(0.5, ge=0.0, le=1.0, description="probability of zeroing an element")

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        return x

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.Dropout", kwargs={"p": self.p})


@register
class Dropout2d(Op):
    """Zero whole channels of [N, C, H, W] with probability p while training."""

    torch_classes = ("torch.nn.Dropout2d",)

    category = "regularization"
    stateful_training = True
    p: float = Field(0.5, ge=0.0, le=1.0, description="probability of zeroing a channel")

    def infer(self, x: TensorType) -> TensorType:
        # torch also takes rank 3, but reads it as [N, C, L] with a warning: refuse instead
        if x.rank != 4:
            raise ShapeError(
                f"{self.op_name}: input must have rank 4 ([N, C, H, W]). Received: shape {x} (rank {x.rank})",
                hint="use Dropout for other ranks",
            )
        expect_float(x)
        return x

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.Dropout2d", kwargs={"p": self.p})
