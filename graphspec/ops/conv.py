"""Convolutions: Conv1d, Conv2d, ConvTranspose2d (in_channels inferred).

Also home of the small helpers that the spatial ops (conv and pooling) share:
per-axis parameters given as an int or a list, rank checks that name the
expected layout, and error text in the "rule, then Received: ..." form.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field, PlainValidator, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, onnx_attrs_ok, onnx_pads, plain, register
from graphspec.ops.shapes import check_positive, conv_out, conv_transpose_out
from graphspec.ops.types import Dim, ShapeError, TensorType, expect_float, fixed


def invalid(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message`` (no "Value error, " prefix).

    Messages state the rule only, pydantic-style ("Input should be ..."): the
    spec builder appends "Received: <value>" and the field's YAML location.
    """
    return PydanticCustomError("value_error", "{message}", {"message": message})


def _number(v: Any, floats: bool) -> int | float | None:
    """v as an int (or float), or None; bools are not numbers here and 3.0 counts as 3."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and not floats:
        return int(v) if v.is_integer() else None
    return v


def per_axis_param(rule: str, schema: Any, *, floats: bool = False, zero_ok: bool = False,
                   words: tuple[str, ...] = (), nulls: bool = False) -> Any:
    """A field type for "one number for all spatial axes, or a list with one per axis".

    A plain validator rather than a pydantic union: a bad value then gets one
    error at the field's own location, "Input should be <rule>", instead of one
    error per union branch with the branch name in its loc.
    """

    def check(v: Any) -> Any:
        if isinstance(v, str) and v in words:
            return v
        is_list = isinstance(v, (list, tuple))
        out = []
        for item in v if is_list else [v]:
            if item is None and nulls and is_list:
                out.append(None)
                continue
            n = _number(item, floats)
            if n is None or n < 0 or (n == 0 and not zero_ok):
                raise invalid(f"Input should be {rule}")
            out.append(n)
        if is_list and not out:
            raise invalid("Input should not be an empty list")
        return tuple(out) if is_list else out[0]

    return Annotated[Any, PlainValidator(check, json_schema_input_type=schema)]


PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
# One value for every spatial axis, or one per axis (the list length is checked
# against the op's number of spatial dims by _SpatialOp._check_field).
Sizes = per_axis_param("a positive int or a list of them", Union[PosInt, list[PosInt]])
Pads = per_axis_param("an int >= 0 or a list of them", Union[NonNegInt, list[NonNegInt]], zero_ok=True)
ConvPads = per_axis_param(
    "an int >= 0, a list of them, 'same' or 'valid'",
    Union[NonNegInt, list[NonNegInt], Literal["same", "valid"]],
    zero_ok=True,
    words=("same", "valid"),
)
# output_size of adaptive pooling: a null entry keeps that input size (torch's None)
AdaptiveSizes = per_axis_param(
    "a positive int or a list of them (null keeps an input size)", Union[PosInt, list[Optional[PosInt]]], nulls=True
)
Scales = per_axis_param("a positive number or a list of them", Union[PosFloat, list[PosFloat]], floats=True)

MAX_CHANNELS = 1_000_000


def show(value: Any) -> str:
    """A parameter value as a user wrote it in YAML.

    >>> show((3, None)), show(5), show("same"), show(True)
    ('[3, null]', '5', "'same'", 'true')
    """
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value) if isinstance(value, str) else str(value)


def numel(t: TensorType, what: str = "input") -> int:
    """Element count at concrete sizes (MACs are counted after binding dims).

    >>> numel(TensorType((2, 3, 4)))
    24
    """
    n = 1
    for d in t.shape:
        n *= fixed(d, f"every dim of the {what} (to count MACs)")
    return n


class _SpatialOp(Op):
    """Base of ops over ``nd`` trailing spatial dims, batched or not: [N,] C, *spatial."""

    @classmethod
    def plain_axes(cls, value: Any) -> Any:
        """A per-axis argument of a torch call as a spec value ([3, 3] reads as 3)."""
        return plain(value, collapse=True)

    @classmethod
    def onnx_window(cls, attrs: dict[str, Any], kernel: tuple[int, ...]) -> dict[str, Any] | None:
        """kernel_size/stride/padding/dilation of an ONNX Conv/Pool node's attributes,
        None when they do not fit this op (another rank, asymmetric pads)."""
        pads = onnx_pads(attrs, cls.nd)
        if len(kernel) != cls.nd or pads is None:
            return None
        out = {"kernel_size": plain(tuple(int(k) for k in kernel), True), "padding": pads}
        for field_name, attr in (("stride", "strides"), ("dilation", "dilations")):
            values = tuple(int(v) for v in attrs.get(attr) or (1,) * cls.nd)
            if len(values) != cls.nd:
                return None
            out[field_name] = plain(values, True)
        return out

    nd: ClassVar[int] = 2
    layout: ClassVar[str] = "C, H, W"
    # fields holding one int per spatial axis (or one int for all of them)
    axis_fields: ClassVar[tuple[str, ...]] = ("kernel_size", "stride", "padding", "dilation", "output_padding", "output_size")

    @field_validator("*", mode="after")
    @classmethod
    def _check_field(cls, v: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name in cls.axis_fields and isinstance(v, tuple) and len(v) != cls.nd:
            raise invalid(f"Input should have one value per spatial dim ({cls.nd})")
        # Rules between fields are checked on the later field (info.data holds the
        # earlier ones that passed), so the error points at a parameter, not the node.
        if name == "groups" and info.data.get("out_channels", 0) % v:  # convolutions
            raise invalid(f"Input should divide out_channels ({info.data['out_channels']})")
        cls.check_against(name, v, info.data)
        return v

    @classmethod
    def check_against(cls, name: str, value: Any, earlier: dict[str, Any]) -> None:
        """Raise invalid(...) when field ``name`` breaks a rule with an earlier field."""

    @classmethod
    def per_axis(cls, value: Any) -> tuple:
        """An axis field as one value per spatial axis."""
        return value if isinstance(value, tuple) else (value,) * cls.nd

    def check_input(self, x: TensorType) -> None:
        """Rank nd+1 (unbatched) or nd+2 (batched), floating point, as torch accepts."""
        if x.rank not in (self.nd + 1, self.nd + 2):
            raise ShapeError(
                f"{self.op_name}: input must have rank {self.nd + 1} or {self.nd + 2} "
                f"([{self.layout}] or [N, {self.layout}]). Received: shape {x} (rank {x.rank})"
            )
        expect_float(x)

    def channels(self, x: TensorType) -> int:
        return fixed(x.shape[-self.nd - 1], f"{self.op_name}: the channel dim of input {x} (in_channels)")

    def received(self, x: TensorType, always: tuple[str, ...] = ("kernel_size",)) -> str:
        """'input [..], kernel_size=.., <other fields the user set>' for error messages."""
        names = [
            n
            for n in type(self).model_fields
            if n in always or (n in self.axis_fields and n in self.model_fields_set)
        ]
        return ", ".join([f"input {x}"] + [f"{n}={show(getattr(self, n))}" for n in names])


class _ConvNd(_SpatialOp):

    onnx_types = ("Conv",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        weight = consts[1] if len(consts) > 1 else None
        bias = consts[2] if len(consts) > 2 else None
        if op_type not in cls.onnx_types or consts[0] is not None or weight is None or weight.ndim != cls.nd + 2:
            return None
        if len(consts) > 2 and bias is None:  # a bias computed at run time is not a weight
            return None
        if not onnx_attrs_ok(attrs, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")):
            return None
        window = cls.onnx_window(attrs, tuple(weight.shape[2:]))
        if window is None:
            return None
        params = dict(out_channels=int(weight.shape[0]), **window, groups=int(attrs.get("group", 1)), bias=bias is not None)
        return OnnxMapping(params, (0,), {"weight": weight, **({"bias": bias} if bias is not None else {})})
    category = "conv"
    out_channels: int = Field(gt=0, le=MAX_CHANNELS, description="number of output channels (filters)")
    kernel_size: Sizes = Field(description="window size: an int, or one int per spatial axis")
    stride: Sizes = Field(1, description="step between windows: an int or one per axis")
    padding: ConvPads = Field(
        0, description="zero padding added on both sides: an int, one per axis, 'same' or 'valid'"
    )
    dilation: Sizes = Field(1, description="spacing between kernel elements: an int or one per axis")
    groups: int = Field(1, gt=0, description="split channels into this many independent groups")
    bias: bool = Field(True, description="learn an additive bias")
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = Field(
        "zeros", description="how padded values are filled"
    )

    @classmethod
    def check_against(cls, name: str, value: Any, earlier: dict[str, Any]) -> None:
        if name == "padding" and value == "same" and any(s != 1 for s in cls.per_axis(earlier.get("stride", 1))):
            raise invalid(f"'same' needs stride 1 (stride is {show(earlier['stride'])})")

    def pads(self) -> tuple[tuple[int, int], ...]:
        """(left, right) padding per axis; 'same' pads the extra element on the right, as torch does."""
        if self.padding == "valid":
            return ((0, 0),) * self.nd
        if self.padding == "same":
            totals = [d * (k - 1) for k, d in zip(self.per_axis(self.kernel_size), self.per_axis(self.dilation))]
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple((p, p) for p in self.per_axis(self.padding))

    def infer(self, x: TensorType) -> TensorType:
        self.check_input(x)
        c_in = self.channels(x)
        if c_in % self.groups:
            raise ShapeError(
                f"{self.op_name}: in_channels must be divisible by groups. "
                f"Received: input {x} with {c_in} channels, groups={self.groups}"
            )
        spatial = x.shape[-self.nd :]
        pads = self.pads()
        if self.padding_mode in ("reflect", "circular"):
            # torch pads before convolving; reflect needs pad < size, circular pad <= size
            limit = 0 if self.padding_mode == "reflect" else 1
            for s, (_, right) in zip(spatial, pads):
                if isinstance(s, int) and right >= s + limit:
                    raise ShapeError(
                        f"{self.op_name}: padding_mode={self.padding_mode!r} needs padding "
                        f"{'smaller than' if limit == 0 else 'at most'} the input size. "
                        f"Received: {self.received(x, ('kernel_size', 'padding', 'padding_mode'))}"
                    )
        if self.padding == "same":
            out: tuple[Dim, ...] = tuple(spatial)
        else:
            out = tuple(
                conv_out(s, k, st, p, d)
                for s, k, st, (p, _), d in zip(
                    spatial, self.per_axis(self.kernel_size), self.per_axis(self.stride), pads, self.per_axis(self.dilation)
                )
            )
        check_positive(out, self.op_name, self.received(x))
        return x.with_shape(x.shape[: -self.nd - 1] + (self.out_channels,) + out)

    def count_params(self, x: TensorType) -> int:
        c_in = self.channels(x)
        weights = self.out_channels * (c_in // self.groups) * math.prod(self.per_axis(self.kernel_size))
        return weights + (self.out_channels if self.bias else 0)

    def count_macs(self, x: TensorType, outputs) -> int:
        # one MAC per output element per weight in its group (torchvision/fvcore)
        kernel = math.prod(self.per_axis(self.kernel_size))
        return numel(outputs[0], "output") * (self.channels(x) // self.groups) * kernel

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            f"torch.nn.Conv{self.nd}d",
            (self.channels(x), self.out_channels),
            dict(
                kernel_size=self.kernel_size,
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                groups=self.groups,
                bias=self.bias,
                padding_mode=self.padding_mode,
            ),
        )


@register
class Conv1d(_ConvNd):
    """1-D convolution over [N, C, L] (in_channels inferred).

    >>> Conv1d(out_channels=8, kernel_size=3).infer(TensorType(("batch", 4, "seq")))
    TensorType(shape=('batch', 8, 'seq-2'), dtype='float32')
    """

    torch_classes = ("torch.nn.Conv1d",)

    nd = 1
    layout = "C, L"


@register
class Conv2d(_ConvNd):
    """2-D convolution over [N, C, H, W] (in_channels inferred).

    >>> Conv2d(out_channels=64, kernel_size=11, stride=4, padding=2).infer(TensorType(("batch", 3, 224, 224)))
    TensorType(shape=('batch', 64, 55, 55), dtype='float32')
    """

    torch_classes = ("torch.nn.Conv2d",)

    nd = 2
    layout = "C, H, W"


@register
class ConvTranspose2d(_SpatialOp):
    """Transposed 2-D convolution (upsampling), over [N, C, H, W] (in_channels inferred).

    >>> ConvTranspose2d(out_channels=3, kernel_size=4, stride=2, padding=1).infer(TensorType((1, 8, 16, 16)))
    TensorType(shape=(1, 3, 32, 32), dtype='float32')
    """

    torch_classes = ("torch.nn.ConvTranspose2d",)

    onnx_types = ("ConvTranspose",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        weight = consts[1] if len(consts) > 1 else None
        bias = consts[2] if len(consts) > 2 else None
        if op_type not in cls.onnx_types or consts[0] is not None or weight is None or weight.ndim != 4 or (len(consts) > 2 and bias is None):
            return None
        if not onnx_attrs_ok(attrs, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", "output_padding")):
            return None
        window = cls.onnx_window(attrs, tuple(weight.shape[2:]))
        if window is None:
            return None
        groups = int(attrs.get("group", 1))
        output_padding = plain(tuple(int(v) for v in attrs.get("output_padding") or (0, 0)), True)
        params = dict(out_channels=int(weight.shape[1]) * groups, **window, output_padding=output_padding, groups=groups, bias=bias is not None)
        return OnnxMapping(params, (0,), {"weight": weight, **({"bias": bias} if bias is not None else {})})

    category = "conv"
    nd = 2
    layout = "C, H, W"
    out_channels: int = Field(gt=0, le=MAX_CHANNELS, description="number of output channels")
    kernel_size: Sizes = Field(description="window size: an int or [h, w]")
    stride: Sizes = Field(1, description="upsampling step: an int or [h, w]")
    padding: Pads = Field(0, description="dilation*(kernel_size-1)-padding zeros are added to both sides")
    # before output_padding (unlike torch's argument order): its rule reads stride and dilation
    dilation: Sizes = Field(1, description="spacing between kernel elements: an int or [h, w]")
    output_padding: Pads = Field(0, description="extra size added to one side of the output (smaller than stride or dilation)")
    groups: int = Field(1, gt=0, description="split channels into this many independent groups")
    bias: bool = Field(True, description="learn an additive bias")

    @classmethod
    def check_against(cls, name: str, value: Any, earlier: dict[str, Any]) -> None:
        if name != "output_padding" or "stride" not in earlier or "dilation" not in earlier:
            return
        axes = zip(cls.per_axis(value), cls.per_axis(earlier["stride"]), cls.per_axis(earlier["dilation"]))
        if any(p >= max(s, d) for p, s, d in axes):
            raise invalid(
                "Input should be smaller than stride or dilation "
                f"(stride={show(earlier['stride'])}, dilation={show(earlier['dilation'])})"
            )

    def infer(self, x: TensorType) -> TensorType:
        self.check_input(x)
        c_in = self.channels(x)
        if c_in % self.groups:
            raise ShapeError(
                f"{self.op_name}: in_channels must be divisible by groups. "
                f"Received: input {x} with {c_in} channels, groups={self.groups}"
            )
        axes = zip(
            x.shape[-2:],
            self.per_axis(self.kernel_size),
            self.per_axis(self.stride),
            self.per_axis(self.padding),
            self.per_axis(self.output_padding),
            self.per_axis(self.dilation),
        )
        out = tuple(conv_transpose_out(*a) for a in axes)
        check_positive(out, self.op_name, self.received(x))
        return x.with_shape(x.shape[:-3] + (self.out_channels,) + out)

    def count_params(self, x: TensorType) -> int:
        weights = self.channels(x) * (self.out_channels // self.groups) * math.prod(self.per_axis(self.kernel_size))
        return weights + (self.out_channels if self.bias else 0)

    def count_macs(self, x: TensorType, outputs) -> int:
        # fvcore: every input element meets every weight of its group once
        kernel = math.prod(self.per_axis(self.kernel_size))
        return numel(x) * (self.out_channels // self.groups) * kernel

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "torch.nn.ConvTranspose2d",
            (self.channels(x), self.out_channels),
            dict(
                kernel_size=self.kernel_size,
                stride=self.stride,
                padding=self.padding,
                output_padding=self.output_padding,
                groups=self.groups,
                bias=self.bias,
                dilation=self.dilation,
            ),
        )
