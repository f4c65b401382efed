"""Ops of the modern vision families: arithmetic with a constant, stochastic
depth (EfficientNet, ConvNeXt) and channels-first LayerNorm (ConvNeXt)."""

from __future__ import annotations

import math
from typing import Literal, Union

from pydantic import Field, field_validator

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, bind_call, register
from graphspec.ops.tensor import broadcast
from graphspec.ops.types import ShapeError, TensorType, expect_float, expect_rank, fixed

# a constant operand: a number, or nested lists of numbers (a broadcastable tensor)
ConstT = Union[float, list]
MAX_CONST_ELEMENTS = 65_536  # a constant lives in the spec text; bigger data is a weight


def _const_shape(value: ConstT, what: str = "value") -> tuple[int, ...]:
    """Shape of a number or a nested list of numbers (rectangular).

    >>> _const_shape(2.0), _const_shape([[1, 2, 3]])
    ((), (1, 3))
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number or a list of numbers, not a boolean")
    if isinstance(value, (int, float)):
        return ()
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what} must be a number or a non-empty list of numbers")
    inner = [_const_shape(v, what) for v in value]
    if any(s != inner[0] for s in inner):
        raise ValueError(f"{what} must be rectangular: its rows have different shapes")
    return (len(value),) + inner[0]


@register
class Arith(Op):
    """Arithmetic with a constant: x + c, x - c, x * c, x / c, c - x or c / x.

    The constant is a number or a tensor written as nested lists that
    broadcasts against x (it is not a weight: state_dict keeps no entry).
    """

    torch_classes = ("graphspec.backends.vision_modules.Arith",)
    onnx_types = ("Add", "Sub", "Mul", "Div")

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        """A tensor and a constant, either order (two tensors are Add/Sub/Mul)."""
        if op_type not in cls.onnx_types or attrs or len(consts) != 2 or (consts[0] is None) == (consts[1] is None):
            return None
        fn = op_type.lower()
        if consts[0] is not None:
            fn = {"sub": "rsub", "div": "rdiv"}.get(fn, fn)
        const = consts[0] if consts[0] is not None else consts[1]
        if const.dtype.kind != "f" and const.dtype.kind not in "iu":
            return None
        value = float(const.reshape(-1)[0]) if const.size == 1 and const.ndim <= 1 else const.astype(float).tolist()
        return OnnxMapping({"fn": fn, "value": value}, (1 if consts[0] is not None else 0,))

    @classmethod
    def from_torch(cls, module):
        return {"fn": module.fn, "value": module.value} if super().from_torch(module) is not None else None

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        # a tensor and a number, either order: x + 1, 1 - x, x / 6, torch.mul(x, 0.5)
        if kwargs or len(args) != 2 or fn not in ("add", "sub", "mul", "div", "truediv"):
            return None
        (a, b) = args
        fn = "div" if fn == "truediv" else fn
        if isinstance(a, TensorType) and isinstance(b, (int, float)) and not isinstance(b, bool):
            return {"fn": fn, "value": b}
        if isinstance(b, TensorType) and isinstance(a, (int, float)) and not isinstance(a, bool):
            return {"fn": {"sub": "rsub", "div": "rdiv"}.get(fn, fn), "value": a}
        return None

    category = "merge"
    fn: Literal["add", "sub", "mul", "div", "rsub", "rdiv"] = Field(description="add, sub, mul, div (x op value) or rsub, rdiv (value op x)")
    value: ConstT = Field(description="a number, or nested lists that broadcast against the input, e.g. [[[0.485]], [[0.456]], [[0.406]]]")

    @field_validator("value", mode="before")  # before: pydantic would read true as 1.0
    @classmethod
    def _check_value(cls, v: ConstT) -> ConstT:
        shape = _const_shape(v)
        if math.prod(shape) > MAX_CONST_ELEMENTS:
            raise ValueError(f"value has {math.prod(shape):,} elements; the limit is {MAX_CONST_ELEMENTS:,}")
        return v

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        shape = broadcast(x.shape, _const_shape(self.value), f"Arith {self.fn}")
        if len(shape) != x.rank or any(a != b for a, b in zip(shape, x.shape)):
            raise ShapeError(f"Arith: value of shape {list(_const_shape(self.value))} would grow the input {x}; it must broadcast to the input's shape")
        return x

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.vision_modules.Arith", (self.fn, self.value))


@register
class StochasticDepth(Op):
    """Drop a residual branch per sample (row) or per batch with probability p while training.

    Survivors are scaled by 1/(1-p); in eval it is the identity. The semantics
    are torchvision.ops.stochastic_depth's (reimplemented with torch only).
    """

    torch_classes = ("graphspec.backends.vision_modules.StochasticDepth", "torchvision.ops.stochastic_depth.StochasticDepth")

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "p", "mode", "training"), {"training": True})
        return {"p": bound["p"], "mode": bound["mode"]} if fn == "stochastic_depth" and bound else None

    category = "regularization"
    stateful_training = True
    p: float = Field(ge=0.0, le=1.0, description="probability of dropping the branch")
    mode: Literal["row", "batch"] = Field(description="'row': per sample; 'batch': the whole batch at once")

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        if x.rank == 0:
            raise ShapeError("StochasticDepth needs an input with a batch dim. Received: a scalar")
        return x

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.vision_modules.StochasticDepth", (self.p, self.mode))


@register
class LayerNorm2d(Op):
    """LayerNorm over the channels of [N, C, H, W] at each position (ConvNeXt's channels-first LayerNorm)."""

    torch_classes = ("graphspec.backends.vision_modules.LayerNorm2d", "torchvision.models.convnext.LayerNorm2d")

    category = "norm"
    eps: float = Field(1e-6, gt=0, description="added to the variance for numerical stability")
    elementwise_affine: bool = Field(True, description="learn a per-channel scale and shift")

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        expect_rank(x, (4,), "LayerNorm2d input [N, C, H, W]")
        fixed(x.shape[1], f"LayerNorm2d: the channel dim of input {x}")
        return x

    def count_params(self, x: TensorType) -> int:
        return 2 * fixed(x.shape[1], "channels") if self.elementwise_affine else 0

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "graphspec.backends.vision_modules.LayerNorm2d",
            (fixed(x.shape[1], "channels"),),
            dict(eps=self.eps, elementwise_affine=self.elementwise_affine),
        )
