"""Element-wise activations and (log-)softmax."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, bind_call, onnx_attrs_ok, register
from graphspec.ops.types import ShapeError, TensorType, expect_float, norm_axis


class _Elementwise(Op):
    category = "activation"
    # ONNX attribute -> field (LeakyRelu's alpha is negative_slope)
    onnx_fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if op_type not in cls.onnx_types or len(consts) != 1 or consts[0] is not None or not onnx_attrs_ok(attrs, tuple(cls.onnx_fields)):
            return None
        # float32 attributes read back as 0.0099999998: keep the digits a person wrote
        return OnnxMapping({cls.onnx_fields[k]: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in attrs.items()})

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        return x


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    torch_classes = ("torch.nn.ReLU",)
    onnx_types = ("Relu",)
    torch_functions = ("relu",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.ReLU")


@register
class LeakyReLU(_Elementwise):
    """max(0, x) + negative_slope * min(0, x)."""

    torch_classes = ("torch.nn.LeakyReLU",)
    onnx_types = ("LeakyRelu",)
    onnx_fields = {"alpha": "negative_slope"}

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "negative_slope", "inplace"), {"negative_slope": 0.01, "inplace": False})
        return {"negative_slope": bound["negative_slope"]} if fn == "leaky_relu" and bound else None

    negative_slope: float = Field(0.01, description="slope for negative inputs")

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.LeakyReLU", kwargs={"negative_slope": self.negative_slope})


@register
class GELU(_Elementwise):
    """x * Φ(x), the Gaussian error linear unit (approximate: 'tanh' for the fast form)."""

    torch_classes = ("torch.nn.GELU",)
    onnx_types = ("Gelu",)
    onnx_fields = {"approximate": "approximate"}

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "approximate"), {"approximate": "none"})
        return {"approximate": bound["approximate"]} if fn == "gelu" and bound else None

    approximate: Literal["none", "tanh"] = Field("none", description="'none' (exact erf) or 'tanh' approximation")

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.GELU", kwargs={"approximate": self.approximate})


@register
class SiLU(_Elementwise):
    """x * sigmoid(x), also called swish."""

    torch_classes = ("torch.nn.SiLU",)
    torch_functions = ("silu",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.SiLU")


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    torch_classes = ("torch.nn.Tanh",)
    onnx_types = ("Tanh",)
    torch_functions = ("tanh",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Tanh")


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    torch_classes = ("torch.nn.Sigmoid",)
    onnx_types = ("Sigmoid",)
    torch_functions = ("sigmoid",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Sigmoid")


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    torch_classes = ("torch.nn.ReLU6",)
    onnx_types = ("Clip",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # Clip(x, 0, 6) with constant bounds (inputs since opset 11)
        if op_type not in cls.onnx_types or attrs or len(consts) != 3 or consts[0] is not None or any(c is None or c.size != 1 for c in consts[1:]):
            return None
        return OnnxMapping({}) if (float(consts[1].reshape(-1)[0]), float(consts[2].reshape(-1)[0])) == (0.0, 6.0) else None
    torch_functions = ("relu6",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.ReLU6")


@register
class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6, the cheap swish of MobileNetV3."""

    torch_classes = ("torch.nn.Hardswish",)
    onnx_types = ("HardSwish",)
    torch_functions = ("hardswish",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Hardswish")


@register
class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6, the cheap sigmoid of MobileNetV3's squeeze-excitation gate."""

    torch_classes = ("torch.nn.Hardsigmoid",)
    onnx_types = ("HardSigmoid",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if op_type not in cls.onnx_types or len(consts) != 1 or consts[0] is not None or not onnx_attrs_ok(attrs, ("alpha", "beta")):
            return None
        # torch's is max(0, min(1, x/6 + 1/2)); ONNX's default alpha is 0.2
        if abs(attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(attrs.get("beta", 0.5) - 0.5) > 1e-6:
            return None
        return OnnxMapping({})
    torch_functions = ("hardsigmoid",)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Hardsigmoid")


@register
class ELU(_Elementwise):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    torch_classes = ("torch.nn.ELU",)
    onnx_types = ("Elu",)
    onnx_fields = {"alpha": "alpha"}

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "alpha", "inplace"), {"alpha": 1.0, "inplace": False})
        return {"alpha": bound["alpha"]} if fn == "elu" and bound else None

    alpha: float = Field(1.0, description="value the output approaches for large negative inputs (negated)")

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.ELU", kwargs={"alpha": self.alpha})


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

    torch_classes = ("torch.nn.Softmax",)
    onnx_types = ("Softmax",)
    onnx_fields = {"axis": "dim"}

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim", "_stacklevel", "dtype"), {"_stacklevel": 3, "dtype": None})
        return {"dim": bound["dim"]} if fn == "softmax" and bound and bound["dim"] is not None and bound["dtype"] is None else None

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Softmax", kwargs={"dim": self.dim})


@register
class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along dim, computed stably (pair with NLL loss)."""

    torch_classes = ("torch.nn.LogSoftmax",)
    onnx_types = ("LogSoftmax",)
    onnx_fields = {"axis": "dim"}

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim", "_stacklevel", "dtype"), {"_stacklevel": 3, "dtype": None})
        return {"dim": bound["dim"]} if fn == "log_softmax" and bound and bound["dim"] is not None and bound["dtype"] is None else None

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.LogSoftmax", kwargs={"dim": self.dim})
