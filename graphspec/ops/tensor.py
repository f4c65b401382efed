"""Tensor plumbing: reshape, permute, merge and split, reductions, selection."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Union

from pydantic import Field, field_validator

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, bind_call, register
from graphspec.ops.types import (
    FLOAT_DTYPES,
    Dim,
    ShapeError,
    TensorType,
    dim_add,
    dim_floordiv,
    dim_mul,
    dim_prod,
    expect_float,
    norm_axis,
    same_dim,
)


@register
class Flatten(Op):
    """Flatten dims start_dim..end_dim into one (default: all but the batch dim)."""

    torch_classes = ("torch.nn.Flatten",)
    onnx_types = ("Flatten",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # ONNX's Flatten makes 2-D [prod(dims < axis), prod(the rest)]: torch's flatten(1) only for axis 1
        if op_type not in cls.onnx_types or consts != [None] or attrs.get("axis", 1) != 1 or set(attrs) - {"axis"}:
            return None
        return OnnxMapping({"start_dim": 1, "end_dim": -1})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "start_dim", "end_dim"), {"start_dim": 0, "end_dim": -1})
        return {"start_dim": bound["start_dim"], "end_dim": bound["end_dim"]} if fn == "flatten" and bound else None

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

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Flatten", kwargs={"start_dim": self.start_dim, "end_dim": self.end_dim})


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


def _onnx_merge(cls, op_type: str, attrs: dict, consts: list, params: dict | None = None):
    """An ONNX node whose inputs are all run-time tensors (Add, Mul, Sub, Concat)."""
    from graphspec.ops.registry import OnnxMapping

    if op_type not in cls.onnx_types or len(consts) < 2 or any(c is not None for c in consts):
        return None
    return OnnxMapping(params or {}, tuple(range(len(consts))))


def _merge_elementwise(xs: tuple[TensorType, ...], what: str) -> TensorType:
    """Shared rule of the element-wise merges: one dtype, broadcast shapes."""
    if len(xs) < 2:
        raise ShapeError(f"{what} needs at least two inputs. Received: {len(xs)}", code="arity")
    shape = xs[0].shape
    for x in xs[1:]:
        if x.dtype != xs[0].dtype:
            raise ShapeError(f"{what} inputs must share a dtype. Received: {xs[0].dtype} and {x.dtype}", code="dtype")
        shape = broadcast(shape, x.shape, what)
    return TensorType(shape, xs[0].dtype)


class _TensorMerge(Op):
    """Base of Add, Mul and Sub: element-wise over tensors only (a tensor and a
    number is Arith), from ``torch.add(a, b)`` / ``a + b`` or an ONNX node of
    two runtime tensors."""

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        return None if attrs else _onnx_merge(cls, op_type, attrs, consts)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        if fn in cls.torch_functions and len(args) == 2 and not kwargs and all(isinstance(a, TensorType) for a in args):
            return {}
        return None


@register
class Add(_TensorMerge):
    """Element-wise sum of two or more tensors (broadcasting), e.g. a residual merge."""

    torch_classes = ("graphspec.backends.torch_modules.AddN",)
    onnx_types = ("Add",)
    torch_functions = ("add",)

    category = "merge"
    inputs = ("*xs",)

    def infer(self, *xs: TensorType) -> TensorType:
        return _merge_elementwise(xs, "Add")

    def count_macs(self, *xs, outputs) -> int:
        return 0  # additions are not multiply-accumulates (torchvision convention)

    def torch_call(self, *xs) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.AddN")


def _fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


@register
class Mul(_TensorMerge):
    """Element-wise product of two or more tensors (broadcasting), e.g. a gate."""

    torch_classes = ("graphspec.backends.torch_modules.MulN",)
    onnx_types = ("Mul",)
    torch_functions = ("mul",)

    category = "merge"
    inputs = ("*xs",)

    def infer(self, *xs: TensorType) -> TensorType:
        return _merge_elementwise(xs, "Mul")

    def torch_call(self, *xs) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.MulN")


@register
class Scale(Op):
    """Multiply by a constant: x * factor (e.g. attention scores by 1/sqrt(head dim))."""

    torch_classes = ("graphspec.backends.torch_modules.Scale",)

    category = "merge"
    factor: float = Field(description="the constant; an expression such as ${(d_model / heads) ** -0.5} works")

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        return x

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Scale", (self.factor,))


@register
class Sub(_TensorMerge):
    """Element-wise difference a - b (broadcasting)."""

    torch_classes = ("graphspec.backends.torch_modules.Sub",)
    onnx_types = ("Sub",)
    torch_functions = ("sub",)

    category = "merge"
    inputs = ("a", "b")

    def infer(self, a: TensorType, b: TensorType) -> TensorType:
        return _merge_elementwise((a, b), "Sub")

    def torch_call(self, a, b) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Sub")


@register
class Concat(Op):
    """Concatenate two or more tensors along dim; the other dims must agree."""

    torch_classes = ("graphspec.backends.torch_modules.Concat",)
    onnx_types = ("Concat",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if set(attrs) != {"axis"}:
            return None
        return _onnx_merge(cls, op_type, attrs, consts, {"dim": int(attrs["axis"])})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("tensors", "dim"), {"dim": 0})
        if fn not in ("cat", "concat", "concatenate") or not bound or not isinstance(bound["tensors"], (list, tuple)):
            return None
        return {"dim": bound["dim"]}

    category = "merge"
    inputs = ("*xs",)
    dim: int = Field(description="dim to concatenate along (negative counts from the end), e.g. 1 for channels or -1 for features")

    def infer(self, *xs: TensorType) -> TensorType:
        if len(xs) < 2:
            raise ShapeError(f"Concat needs at least two inputs. Received: {len(xs)}", code="arity")
        first = xs[0]
        axis = norm_axis(self.dim, first.rank)
        shape = list(first.shape)
        for x in xs[1:]:
            if x.dtype != first.dtype:
                raise ShapeError(f"Concat inputs must share a dtype. Received: {first.dtype} and {x.dtype}", code="dtype")
            if x.rank != first.rank or not all(
                same_dim(a, b) for i, (a, b) in enumerate(zip(shape, x.shape)) if i != axis
            ):
                raise ShapeError(
                    f"Concat inputs must have the same rank and equal sizes except along dim={self.dim}. "
                    f"Received: shapes {', '.join(str(t) for t in xs)}"
                )
            for i, d in enumerate(x.shape):
                if i == axis:
                    shape[i] = dim_add(shape[i], d)
                elif isinstance(d, int):
                    shape[i] = d  # a fixed size says more than a symbol
        return first.with_shape(shape)

    def torch_call(self, *xs) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Concat", (self.dim,))


@register
class Identity(Op):
    """Return the input unchanged (a named tap point, or a placeholder in a block)."""

    torch_classes = ("torch.nn.Identity",)

    category = "tensor"

    def infer(self, x: TensorType) -> TensorType:
        return x

    def torch_call(self, x) -> TorchCall:
        return TorchCall("torch.nn.Identity")


def reshape_shape(shape: tuple[Dim, ...], target: tuple[int, ...]) -> tuple[Dim, ...]:
    """Output shape of Reshape: 0 copies the input size at that position, -1 is inferred.

    Symbolic dims that are copied with 0 cancel out, so the element count can
    still be checked when only the copied dims are symbolic.

    >>> reshape_shape(("batch", 4, 4), (0, -1))
    ('batch', 16)
    >>> reshape_shape((2, 3, 4), (4, -1))
    (4, 6)
    >>> reshape_shape(("batch", "seq", 64), (0, 0, 8, -1))
    ('batch', 'seq', 8, 8)
    >>> reshape_shape(("batch", "seq", 64), (-1, 64))
    ('batch*seq', 64)
    """
    out: list = []
    for i, s in enumerate(target):
        if s == 0:
            if i >= len(shape):
                raise ShapeError(
                    f"Reshape: a 0 in shape copies the input size at that position, but the input has only {len(shape)} dims. "
                    f"Received: input {_fmt(shape)}, shape={list(target)}"
                )
            out.append(shape[i])
        else:
            out.append(s)
    # Copied symbols appear on both sides; what is left must hold the same number of elements.
    rest_in = [d for d in shape if isinstance(d, str)]
    for d in out:
        if isinstance(d, str):
            rest_in.remove(d)  # each 0 copies a distinct input position, so d is there
    in_known = math.prod(d for d in shape if isinstance(d, int))
    out_known = math.prod(d for d in out if isinstance(d, int) and d != -1)
    mismatch = ShapeError(
        f"Reshape: the target shape must hold as many elements as the input. "
        f"Received: input {_fmt(shape)}, shape={list(target)}"
    )
    if -1 in out:
        if out_known == 0:
            raise ShapeError(f"Reshape: -1 cannot be inferred next to a zero-size dim. Received: input {_fmt(shape)}, shape={list(target)}")
        if in_known % out_known == 0:
            inferred: Dim = dim_mul(dim_prod(rest_in), in_known // out_known)
        elif not rest_in:
            raise mismatch
        else:  # decidable only at run time
            inferred = dim_floordiv(dim_mul(dim_prod(rest_in), in_known), out_known)
        out[out.index(-1)] = inferred
    elif not rest_in and in_known != out_known:
        raise mismatch
    return tuple(out)


@register
class Reshape(Op):
    """Reshape to a target shape; 0 copies the input size (e.g. the batch) and one -1 is inferred."""

    torch_classes = ("graphspec.backends.torch_modules.Reshape",)
    onnx_types = ("Reshape",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # the target shape must be a constant; with allowzero a 0 is a size 0, not "copy"
        if op_type not in cls.onnx_types or len(consts) != 2 or consts[0] is not None or consts[1] is None or set(attrs) - {"allowzero"}:
            return None
        shape = tuple(int(v) for v in consts[1].reshape(-1))
        if attrs.get("allowzero", 0) and 0 in shape:
            return None
        return OnnxMapping({"shape": shape})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        # x.view(2, -1), x.reshape((2, -1)), torch.reshape(x, (2, -1)): sizes as ints
        # (the importer turns a size read from the input into 0 or -1)
        if fn not in ("reshape", "view") or kwargs.keys() - {"shape"} or not args:
            return None
        shape = kwargs.get("shape", args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:])
        return {"shape": tuple(shape)}

    category = "tensor"
    shape: tuple[Annotated[int, Field(ge=-1)], ...] = Field(
        max_length=16,
        description="target shape; 0 copies the input size at that position (keeps dynamic dims dynamic), "
        "-1 (at most one) is inferred from the element count",
    )

    @field_validator("shape")
    @classmethod
    def _one_minus_one(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if v.count(-1) > 1:
            raise ValueError(f"shape may contain at most one -1. Received: {list(v)}")
        return v

    def infer(self, x: TensorType) -> TensorType:
        return x.with_shape(reshape_shape(x.shape, self.shape))

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Reshape", (self.shape,))


@register
class Permute(Op):
    """Reorder dims: output dim i is input dim dims[i] (e.g. [0, 2, 1] swaps the last two)."""

    torch_classes = ("graphspec.backends.torch_modules.Permute",)
    onnx_types = ("Transpose",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        if op_type not in cls.onnx_types or consts != [None] or set(attrs) != {"perm"}:
            return None
        return OnnxMapping({"dims": tuple(int(v) for v in attrs["perm"])})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        if fn != "permute" or kwargs.keys() - {"dims"} or not args:
            return None
        dims = kwargs.get("dims", args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:])
        return {"dims": tuple(dims)}

    category = "tensor"
    dims: tuple[int, ...] = Field(min_length=1, max_length=16, description="a permutation of the input dims (negative allowed)")

    def infer(self, x: TensorType) -> TensorType:
        in_range = all(-x.rank <= d < x.rank for d in self.dims)
        norm = [d % x.rank for d in self.dims] if in_range else []
        if len(self.dims) != x.rank or sorted(norm) != list(range(x.rank)):
            raise ShapeError(
                f"Permute: dims must list every input dim exactly once. "
                f"Received: dims={list(self.dims)} for input {x} (rank {x.rank})"
            )
        return x.with_shape(x.shape[d] for d in norm)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Permute", (self.dims,))


@register
class Transpose(Op):
    """Swap two dims (e.g. dim0=1, dim1=2 turns [batch, seq, feat] into [batch, feat, seq])."""

    torch_classes = ("graphspec.backends.torch_modules.Transpose",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim0", "dim1"))
        return {"dim0": bound["dim0"], "dim1": bound["dim1"]} if fn == "transpose" and bound else None

    category = "tensor"
    dim0: int = Field(description="first dim to swap")
    dim1: int = Field(description="second dim to swap")

    def infer(self, x: TensorType) -> TensorType:
        a = norm_axis(self.dim0, x.rank, "dim0")
        b = norm_axis(self.dim1, x.rank, "dim1")
        shape = list(x.shape)
        shape[a], shape[b] = shape[b], shape[a]
        return x.with_shape(shape)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Transpose", (self.dim0, self.dim1))


class _OneAxisOp(Op):
    """Base of Squeeze and Unsqueeze: one ``dim``, from ``x.squeeze(d)`` or an ONNX node with one axis."""

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # one axis: an attribute up to opset 12, a constant input from 13
        axes = consts[1] if len(consts) == 2 else attrs.get("axes")
        if op_type not in cls.onnx_types or consts[0] is not None or axes is None or len(axes) != 1 or set(attrs) - {"axes"}:
            return None
        return OnnxMapping({"dim": int(list(axes)[0])})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim"))
        return {"dim": bound["dim"]} if fn == cls.__name__.lower() and bound and isinstance(bound["dim"], int) else None


@register
class Squeeze(_OneAxisOp):
    """Remove one dim of size 1."""

    torch_classes = ("graphspec.backends.torch_modules.Squeeze",)
    onnx_types = ("Squeeze",)

    category = "tensor"
    dim: int = Field(description="the size-1 dim to remove")

    def infer(self, x: TensorType) -> TensorType:
        axis = norm_axis(self.dim, x.rank)
        if x.shape[axis] != 1:
            raise ShapeError(f"Squeeze: dim={self.dim} must have size 1. Received: input {x}")
        return x.with_shape(x.shape[:axis] + x.shape[axis + 1 :])

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Squeeze", (self.dim,))


@register
class Unsqueeze(_OneAxisOp):
    """Insert a dim of size 1 at dim (e.g. dim=1 turns [batch, feat] into [batch, 1, feat])."""

    torch_classes = ("graphspec.backends.torch_modules.Unsqueeze",)
    onnx_types = ("Unsqueeze",)

    category = "tensor"
    dim: int = Field(description="position of the new dim in the output (negative counts from the end)")

    def infer(self, x: TensorType) -> TensorType:
        axis = norm_axis(self.dim, x.rank + 1)
        return x.with_shape(x.shape[:axis] + (1,) + x.shape[axis:])

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Unsqueeze", (self.dim,))


@register
class Select(Op):
    """Take one index along dim and drop that dim (dim=1, index=-1: an RNN's last time step)."""

    torch_classes = ("graphspec.backends.torch_modules.Select",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim", "index"))
        return {"dim": bound["dim"], "index": bound["index"]} if fn == "select" and bound else None

    category = "tensor"
    dim: int = Field(description="dim to index (negative counts from the end)")
    index: int = Field(description="position along dim (negative counts from the end)")

    def infer(self, x: TensorType) -> TensorType:
        axis = norm_axis(self.dim, x.rank)
        size = x.shape[axis]
        if isinstance(size, int) and not -size <= self.index < size:
            raise ShapeError(f"Select: index={self.index} is out of range for size {size} along dim={self.dim}. Received: input {x}")
        return x.with_shape(x.shape[:axis] + x.shape[axis + 1 :])

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Select", (self.dim, self.index))


# ------------------------------------------------------------------ split
# Ports are names, so a split's pieces are the fixed ports out0..out7; a node
# uses as many as its parameters make (infer returns exactly that many), and
# a bare reference means out0. `variable_outputs` tells the graph passes that
# fewer types than ports is expected here (it is a bug anywhere else).
MAX_PIECES = 8
PIECE_PORTS = tuple(f"out{i}" for i in range(MAX_PIECES))


def _pieces(x: TensorType, axis: int, sizes: list[Dim]) -> tuple[TensorType, ...]:
    return tuple(x.with_shape(x.shape[:axis] + (s,) + x.shape[axis + 1 :]) for s in sizes)


def _even_pieces(size: int, piece: int) -> list[int]:
    """Sizes torch.split(size=piece) makes: full pieces, then the remainder.

    >>> _even_pieces(10, 4)
    [4, 4, 2]
    """
    return [min(piece, size - start) for start in range(0, size, piece)]


@register
class Split(Op):
    """Split along dim into pieces of one size, or of listed sizes; outputs out0..out7."""

    torch_classes = ("graphspec.backends.torch_modules.Split",)
    onnx_types = ("Split",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # sections: a constant input (opset 13+); or num_outputs (18+): pieces of ceil(size / n), as torch.split
        if op_type not in cls.onnx_types or consts[0] is not None or set(attrs) - {"axis", "num_outputs"}:
            return None
        axis = int(attrs.get("axis", 0))
        if len(consts) == 2 and consts[1] is not None:
            return OnnxMapping({"split_size_or_sections": tuple(int(v) for v in consts[1].reshape(-1)), "dim": axis})
        size = types[0].shape[axis] if types and types[0] is not None and -types[0].rank <= axis < types[0].rank else None
        n = attrs.get("num_outputs")
        if len(consts) != 1 or not isinstance(size, int) or not n:
            return None
        return OnnxMapping({"split_size_or_sections": -(-size // int(n)), "dim": axis})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("tensor", "split_size_or_sections", "dim"), {"dim": 0})
        if fn != "split" or not bound:
            return None
        sizes = bound["split_size_or_sections"]
        return {"split_size_or_sections": sizes if isinstance(sizes, int) else tuple(sizes), "dim": bound["dim"]}

    category = "tensor"
    outputs = PIECE_PORTS
    variable_outputs: ClassVar[bool] = True
    split_size_or_sections: Union[Annotated[int, Field(gt=0)], tuple[Annotated[int, Field(gt=0)], ...]] = Field(
        description=f"an int: pieces of that size (the last may be smaller); a list: the size of each piece. "
        f"At most {MAX_PIECES} pieces, read from ports out0, out1, ..."
    )
    dim: int = Field(description="dim to split (negative counts from the end)")

    @field_validator("split_size_or_sections")
    @classmethod
    def _at_most_max(cls, v):
        if isinstance(v, tuple) and not 1 <= len(v) <= MAX_PIECES:
            raise ValueError(f"sections must list 1 to {MAX_PIECES} sizes. Received: {len(v)}")
        return v

    def infer(self, x: TensorType) -> tuple[TensorType, ...]:
        axis = norm_axis(self.dim, x.rank)
        size = x.shape[axis]
        spec = self.split_size_or_sections
        if isinstance(spec, tuple):
            if isinstance(size, int) and sum(spec) != size:
                raise ShapeError(
                    f"Split: the sections must add up to the size along dim={self.dim}. "
                    f"Received: sections {list(spec)} (sum {sum(spec)}) for input {x}"
                )
            return _pieces(x, axis, list(spec))
        if not isinstance(size, int):
            raise ShapeError(
                f"Split by size needs a fixed size along dim={self.dim} to know the number of pieces. Received: input {x}",
                hint="list the section sizes instead",
            )
        sizes = _even_pieces(size, spec)
        if len(sizes) > MAX_PIECES:
            raise ShapeError(
                f"Split makes at most {MAX_PIECES} pieces. Received: size {size} along dim={self.dim} "
                f"in pieces of {spec} ({len(sizes)} pieces)"
            )
        return _pieces(x, axis, sizes)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Split", (self.split_size_or_sections, self.dim))


@register
class Chunk(Op):
    """Split along dim into `chunks` near-equal pieces (torch.chunk); outputs out0..out7."""

    torch_classes = ("graphspec.backends.torch_modules.Chunk",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "chunks", "dim"), {"dim": 0})
        return {"chunks": bound["chunks"], "dim": bound["dim"]} if fn == "chunk" and bound else None

    category = "tensor"
    outputs = PIECE_PORTS
    variable_outputs: ClassVar[bool] = True
    chunks: int = Field(ge=1, le=MAX_PIECES, description="number of pieces, read from ports out0, out1, ...")
    dim: int = Field(description="dim to split (negative counts from the end)")

    def infer(self, x: TensorType) -> tuple[TensorType, ...]:
        axis = norm_axis(self.dim, x.rank)
        size = x.shape[axis]
        if not isinstance(size, int):
            raise ShapeError(
                f"Chunk needs a fixed size along dim={self.dim}. Received: input {x}",
                hint="use Split with listed sections, or chunk a fixed dim",
            )
        sizes = _even_pieces(size, -(-size // self.chunks)) if size else []
        if len(sizes) != self.chunks:
            # torch.chunk silently returns fewer pieces (e.g. 6 in 5 chunks gives 3 of 2)
            raise ShapeError(
                f"Chunk: size {size} along dim={self.dim} does not make {self.chunks} chunks "
                f"(torch.chunk would return {len(sizes)}). Received: input {x}, chunks={self.chunks}",
                hint="use Split with explicit sections",
            )
        return _pieces(x, axis, sizes)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Chunk", (self.chunks, self.dim))


# ------------------------------------------------------------------ reductions


class _Reduce(Op):
    category = "reduce"
    # an empty list would mean "all dims" to torch but "none" to the reader, so it is refused
    dim: Union[int, Annotated[tuple[int, ...], Field(min_length=1)], None] = Field(
        None, description="dim or list of dims to reduce (negative counts from the end); none: all dims"
    )
    keepdim: bool = Field(False, description="keep reduced dims with size 1")

    def _out_shape(self, x: TensorType) -> tuple[Dim, ...]:
        if self.dim is None:
            axes = set(range(x.rank))
        else:
            dims = (self.dim,) if isinstance(self.dim, int) else self.dim
            norm = [norm_axis(d, x.rank) for d in dims]
            if len(set(norm)) != len(norm):
                raise ShapeError(f"{self.op_name}: dim lists a dim twice. Received: dim={list(dims)} for input {x}")
            axes = set(norm)
        if self.keepdim:
            return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        return tuple(d for i, d in enumerate(x.shape) if i not in axes)


@register
class Mean(_Reduce):
    """Mean over dim (all dims by default); float inputs."""

    torch_classes = ("graphspec.backends.torch_modules.Mean",)
    onnx_types = ("ReduceMean",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # axes: an attribute up to opset 17, a constant input from 18
        axes = attrs.get("axes") if len(consts) == 1 else (consts[1] if consts[1] is not None else None)
        if op_type not in cls.onnx_types or consts[0] is not None or axes is None or len(axes) == 0 or set(attrs) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return None
        dims = tuple(int(a) for a in (axes.reshape(-1) if hasattr(axes, "reshape") else axes))
        return OnnxMapping({"dim": dims[0] if len(dims) == 1 else dims, "keepdim": bool(attrs.get("keepdims", 1))})

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim", "keepdim", "dtype"), {"dim": None, "keepdim": False, "dtype": None})
        if fn != "mean" or not bound or bound["dtype"] is not None:
            return None
        dim = bound["dim"]
        return {"dim": dim if dim is None or isinstance(dim, int) else tuple(dim), "keepdim": bound["keepdim"]}

    def infer(self, x: TensorType) -> TensorType:
        expect_float(x)
        return x.with_shape(self._out_shape(x))

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Mean", (self.dim, self.keepdim))


@register
class Sum(_Reduce):
    """Sum over dim (all dims by default); integer and bool inputs sum to int64 as in torch."""

    torch_classes = ("graphspec.backends.torch_modules.Sum",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        bound = bind_call(args, kwargs, ("input", "dim", "keepdim", "dtype"), {"dim": None, "keepdim": False, "dtype": None})
        if fn != "sum" or not bound or bound["dtype"] is not None:
            return None
        dim = bound["dim"]
        return {"dim": dim if dim is None or isinstance(dim, int) else tuple(dim), "keepdim": bound["keepdim"]}

    def infer(self, x: TensorType) -> TensorType:
        dtype = x.dtype if x.dtype in FLOAT_DTYPES else "int64"
        return TensorType(self._out_shape(x), dtype)

    def torch_call(self, x) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Sum", (self.dim, self.keepdim))


@register
class ExpandAs(Op):
    """Broadcast size-1 dims of x to the sizes of `like` at `dims` (the batch by default).

    No data is copied; e.g. ViT's learned [1, 1, D] class token becomes
    [batch, 1, D] to be concatenated to the patch tokens.
    """

    torch_classes = ("graphspec.backends.vision_modules.ExpandAs",)

    @classmethod
    def from_torch_call(cls, fn, args, kwargs):
        # x.expand_as(like); the importer turns x.expand(n, -1, -1), n read from like, into expand_as with dims
        if fn != "expand_as" or len(args) != 2 or not all(isinstance(a, TensorType) for a in args) or kwargs.keys() - {"dims"}:
            return None
        x, like = args
        dims = kwargs.get("dims") or [i for i, (a, b) in enumerate(zip(x.shape, like.shape)) if a == 1 and b != 1]
        return {"dims": list(dims)} if dims else None

    category = "tensor"
    inputs = ("x", "like")
    dims: list[int] = Field(default_factory=lambda: [0], min_length=1, max_length=8, description="dims of `like` whose sizes x takes (x must have size 1 there); default [0], the batch")

    def _axes(self, x: TensorType, like: TensorType) -> list[int]:
        if x.rank != like.rank:
            raise ShapeError(f"ExpandAs: x and like must have the same rank. Received: {x} and {like}")
        axes = [norm_axis(d, x.rank) for d in self.dims]
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(f"ExpandAs: x must have size 1 at dim {a} to expand it. Received: x {x}")
        return axes

    def infer(self, x: TensorType, like: TensorType) -> TensorType:
        axes = self._axes(x, like)
        return x.with_shape(like.shape[i] if i in axes else d for i, d in enumerate(x.shape))

    def torch_call(self, x: TensorType, like: TensorType) -> TorchCall:
        return TorchCall("graphspec.backends.vision_modules.ExpandAs", (self._axes(x, like),))
