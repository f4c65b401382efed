"""Pooling and resampling: max/avg pooling, adaptive average pooling, Upsample.

Pooling has no parameters and, by the torchvision/fvcore convention, no MACs.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator

from graphspec.ops.conv import AdaptiveSizes, Pads, Scales, Sizes, _SpatialOp, invalid, show
from graphspec.ops.registry import OnnxMapping, Op, TorchCall, bind_call, onnx_attrs_ok, register
from graphspec.ops.shapes import check_positive, pool_out
from graphspec.ops.types import Dim, ShapeError, TensorType, dim_mul, expect_float


class _PoolNd(_SpatialOp):
    category = "pool"

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        is_max = issubclass(cls, _MaxPoolNd)
        known = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")
        known += ("storage_order",) if is_max else ("count_include_pad",)
        if op_type not in cls.onnx_types or len(consts) != 1 or consts[0] is not None or not onnx_attrs_ok(attrs, known):
            return None
        window = cls.onnx_window(attrs, tuple(attrs.get("kernel_shape") or ()))
        if window is None or (not is_max and window.pop("dilation") != 1):
            return None
        params = dict(window, ceil_mode=bool(attrs.get("ceil_mode", 0)))
        if not is_max:
            params["count_include_pad"] = bool(attrs.get("count_include_pad", 0))  # ONNX's default is 0, torch's True
        return OnnxMapping(params)
    kernel_size: Sizes = Field(description="window size: an int, or one int per spatial axis")
    stride: Optional[Sizes] = Field(None, description="step between windows (default: kernel_size)")
    padding: Pads = Field(0, description="implicit padding on both sides, at most half the kernel")
    ceil_mode: bool = Field(False, description="round the output size up instead of down")

    def dilations(self) -> tuple[int, ...]:
        return (1,) * self.nd

    @classmethod
    def check_against(cls, name: str, value: Any, earlier: dict[str, Any]) -> None:
        # torch's kernels check kernel_size // 2 >= padding, dilation or not
        if name == "padding" and "kernel_size" in earlier:
            if any(p > k // 2 for p, k in zip(cls.per_axis(value), cls.per_axis(earlier["kernel_size"]))):
                raise invalid(f"Input should be at most half of kernel_size ({show(earlier['kernel_size'])})")

    def infer(self, x: TensorType) -> TensorType:
        self.check_input(x)
        stride = self.per_axis(self.kernel_size if self.stride is None else self.stride)
        axes = zip(x.shape[-self.nd :], self.per_axis(self.kernel_size), stride, self.per_axis(self.padding), self.dilations())
        out = tuple(pool_out(s, k, st, p, d, self.ceil_mode) for s, k, st, p, d in axes)
        check_positive(out, self.op_name, self.received(x))
        return x.with_shape(x.shape[: -self.nd] + out)


class _MaxPoolNd(_PoolNd):
    dilation: Sizes = Field(1, description="spacing between window elements: an int or one per axis")

    def dilations(self) -> tuple[int, ...]:
        return self.per_axis(self.dilation)

    def torch_call(self, x: TensorType) -> TorchCall:
        kwargs = dict(stride=self.stride, padding=self.padding, dilation=self.dilation, ceil_mode=self.ceil_mode)
        return TorchCall(f"torch.nn.MaxPool{self.nd}d", (self.kernel_size,), kwargs)


@register
class MaxPool1d(_MaxPoolNd):
    """Maximum over sliding windows of [N, C, L].

    >>> MaxPool1d(kernel_size=2).infer(TensorType(("batch", 8, 100)))
    TensorType(shape=('batch', 8, 50), dtype='float32')
    """

    torch_classes = ("torch.nn.MaxPool1d",)
    onnx_types = ("MaxPool",)

    nd = 1
    layout = "C, L"


@register
class MaxPool2d(_MaxPoolNd):
    """Maximum over sliding windows of [N, C, H, W].

    >>> MaxPool2d(kernel_size=3, stride=2).infer(TensorType(("batch", 64, 55, 55)))
    TensorType(shape=('batch', 64, 27, 27), dtype='float32')
    """

    torch_classes = ("torch.nn.MaxPool2d",)
    onnx_types = ("MaxPool",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        bound = bind_call(args, kwargs, names, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
        if fn != "max_pool2d" or not bound or bound.pop("return_indices"):
            return None
        del bound["input"]
        return {k: cls.plain_axes(v) for k, v in bound.items()}

    nd = 2
    layout = "C, H, W"


@register
class AvgPool1d(_PoolNd):
    """Mean over sliding windows of [N, C, L]."""

    torch_classes = ("torch.nn.AvgPool1d",)
    onnx_types = ("AveragePool",)

    nd = 1
    layout = "C, L"
    count_include_pad: bool = Field(True, description="count padded zeros in the mean")

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "torch.nn.AvgPool1d",
            (self.kernel_size,),
            dict(stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad),
        )


@register
class AvgPool2d(_PoolNd):
    """Mean over sliding windows of [N, C, H, W]."""

    torch_classes = ("torch.nn.AvgPool2d",)
    onnx_types = ("AveragePool",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        bound = bind_call(args, kwargs, names, {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True, "divisor_override": None})
        if fn != "avg_pool2d" or not bound:
            return None
        del bound["input"]
        return {k: cls.plain_axes(v) for k, v in bound.items()}

    nd = 2
    layout = "C, H, W"
    count_include_pad: bool = Field(True, description="count padded zeros in the mean")
    divisor_override: Optional[int] = Field(None, gt=0, description="divide by this instead of the window size")

    def torch_call(self, x: TensorType) -> TorchCall:
        kwargs = dict(stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)
        return TorchCall("torch.nn.AvgPool2d", (self.kernel_size,), {**kwargs, "divisor_override": self.divisor_override})


class _AdaptiveAvgPoolNd(_SpatialOp):
    category = "pool"
    onnx_types = ("GlobalAveragePool",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if op_type not in cls.onnx_types or attrs or len(types) != 1 or types[0] is None or types[0].rank != cls.nd + 2:
            return None
        return OnnxMapping({"output_size": 1})
    output_size: AdaptiveSizes = Field(description="output size: an int, or one per axis (null keeps the input size)")

    def infer(self, x: TensorType) -> TensorType:
        self.check_input(x)
        out = tuple(s if o is None else o for s, o in zip(x.shape[-self.nd :], self.per_axis(self.output_size)))
        return x.with_shape(x.shape[: -self.nd] + out)


@register
class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average-pool [N, C, L] to a fixed length, whatever the input length."""

    torch_classes = ("torch.nn.AdaptiveAvgPool1d",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "output_size"))
        return {"output_size": cls.plain_axes(bound["output_size"])} if fn == "adaptive_avg_pool1d" and bound else None

    nd = 1
    layout = "C, L"

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.AdaptiveAvgPool1d", (self.output_size,))


@register
class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average-pool [N, C, H, W] to a fixed size, e.g. output_size: 1 for global pooling.

    >>> AdaptiveAvgPool2d(output_size=[1, None]).infer(TensorType(("batch", 512, 7, "w")))
    TensorType(shape=('batch', 512, 1, 'w'), dtype='float32')
    """

    torch_classes = ("torch.nn.AdaptiveAvgPool2d",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "output_size"))
        return {"output_size": cls.plain_axes(bound["output_size"])} if fn == "adaptive_avg_pool2d" and bound else None

    nd = 2
    layout = "C, H, W"

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.AdaptiveAvgPool2d", (self.output_size,))


# mode -> input ranks torch's interpolate accepts (batched only: [N, C, *spatial])
_UPSAMPLE_RANKS: dict[str, tuple[int, ...]] = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "bicubic": (4,),
    "trilinear": (5,),
}


def scale_dim(size: Dim, factor: float) -> Dim:
    """floor(size * factor), as torch computes an upsampled size.

    >>> scale_dim(7, 1.5), scale_dim("h", 2.0), scale_dim("h", 1.5)
    (10, 'h*2', 'floor(h*1.5)')
    """
    if isinstance(size, int):
        return int(size * factor)  # torch truncates the double product
    if float(factor).is_integer():
        return dim_mul(size, int(factor))
    return f"floor({size}*{factor})" if size.isidentifier() else f"floor(({size})*{factor})"


@register
class Upsample(Op):
    """Resize [N, C, *spatial] by a scale factor or to a size (nearest, bilinear, ...).

    >>> Upsample(scale_factor=2).infer(TensorType(("batch", 16, 7, 7)))
    TensorType(shape=('batch', 16, 14, 14), dtype='float32')
    """

    torch_classes = ("torch.nn.Upsample",)

    category = "pool"
    size: Optional[Sizes] = Field(None, description="output spatial size: an int or one per axis")
    # validate_default: the "size or scale_factor" rule must also run when both are left out
    scale_factor: Optional[Scales] = Field(
        None, validate_default=True, description="multiplier for the spatial size: a number or one per axis"
    )
    mode: Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"] = Field(
        "nearest", description="interpolation algorithm"
    )
    align_corners: Optional[bool] = Field(
        None, description="align corner pixels (linear, bilinear, bicubic and trilinear modes only)"
    )

    @field_validator("scale_factor", mode="after")
    @classmethod
    def _size_or_scale(cls, v: Any, info: ValidationInfo) -> Any:
        if "size" in info.data and (info.data["size"] is None) == (v is None):
            both = v is not None
            raise invalid("Give size or scale_factor, not both" if both else "Give size or scale_factor")
        return v

    @field_validator("align_corners", mode="after")
    @classmethod
    def _interpolating(cls, v: Optional[bool], info: ValidationInfo) -> Optional[bool]:
        mode = info.data.get("mode", "")
        if v is not None and mode.startswith("nearest"):
            raise invalid(f"align_corners only applies to interpolating modes, not mode {mode!r}")
        return v

    def infer(self, x: TensorType) -> TensorType:
        ranks = _UPSAMPLE_RANKS[self.mode]
        if x.rank not in ranks:
            want = " or ".join(str(r) for r in ranks)
            raise ShapeError(
                f"{self.op_name}: mode={self.mode!r} needs an input of rank {want} ([N, C, *spatial]). "
                f"Received: shape {x} (rank {x.rank})"
            )
        expect_float(x)
        nd = x.rank - 2
        given: Any = self.size if self.size is not None else self.scale_factor
        name = "size" if self.size is not None else "scale_factor"
        if isinstance(given, tuple) and len(given) != nd:
            raise ShapeError(
                f"{self.op_name}: {name} needs one value per spatial dim ({nd}). Received: input {x}, {name}={show(given)}"
            )
        values = given if isinstance(given, tuple) else (given,) * nd
        if self.size is not None:
            out: tuple[Dim, ...] = tuple(values)
        else:
            out = tuple(scale_dim(s, f) for s, f in zip(x.shape[2:], values))
        check_positive(out, self.op_name, f"input {x}, {name}={show(given)}")
        return x.with_shape(x.shape[:2] + out)

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "torch.nn.Upsample", kwargs=dict(size=self.size, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)
        )
