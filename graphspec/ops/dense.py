"""Dense ops: Linear, MatMul, Embedding."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from graphspec.ops.registry import OnnxMapping, Op, TorchCall, onnx_attrs_ok, register
from graphspec.ops.tensor import broadcast
from graphspec.ops.types import ShapeError, TensorType, dim_prod, expect_float, fixed, same_dim


@register
class Linear(Op):
    """Fully connected layer over the last dim: y = x Wᵀ + b (in_features inferred)."""

    torch_classes = ("torch.nn.Linear",)
    onnx_types = ("Gemm", "MatMul")

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        """Gemm(x, W, b) with alpha = beta = 1, or MatMul(x, W) with a constant
        W (the importer passes the bias of a following Add as a third input)."""
        weight = consts[1] if len(consts) > 1 else None
        bias = consts[2] if len(consts) > 2 else None
        if op_type not in cls.onnx_types or consts[0] is not None or weight is None or weight.ndim != 2 or (len(consts) > 2 and bias is None):
            return None
        if op_type == "Gemm":
            if not onnx_attrs_ok(attrs, ("alpha", "beta", "transA", "transB")) or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                return None
            weight = weight if attrs.get("transB", 0) else weight.T
        elif attrs:
            return None
        else:
            weight = weight.T  # MatMul's B is [in, out]; torch's weight [out, in]
        out = int(weight.shape[0])
        if bias is not None:
            if bias.size != out or (bias.ndim > 1 and bias.shape[-1] != out):
                return None
            bias = bias.reshape(out)
        return OnnxMapping({"out_features": out, "bias": bias is not None}, (0,), {"weight": weight, **({"bias": bias} if bias is not None else {})})

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

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.Linear", (x.shape[-1], self.out_features), {"bias": self.bias})


@register
class MatMul(Op):
    """Matrix product a @ b with torch.matmul's rules (1-D operands, broadcast batch dims)."""

    torch_classes = ("graphspec.backends.torch_modules.MatMul",)
    torch_functions = ("matmul",)
    onnx_types = ("MatMul",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # two run-time tensors (a constant right operand is a Linear)
        if op_type not in cls.onnx_types or attrs or len(consts) != 2 or any(c is not None for c in consts):
            return None
        return OnnxMapping({}, (0, 1))

    category = "dense"
    inputs = ("a", "b")

    def infer(self, a: TensorType, b: TensorType) -> TensorType:
        for t, name in ((a, "a"), (b, "b")):
            if t.rank < 1:
                raise ShapeError(f"MatMul input {name} must have at least one dim. Received: shape {t}")
            expect_float(t, f"MatMul input {name}")
        if a.dtype != b.dtype:
            raise ShapeError(f"MatMul inputs must share a dtype. Received: {a.dtype} and {b.dtype}", code="dtype")
        # a 1-D operand is a row (a) or column (b) vector whose extra dim is dropped afterwards
        a_shape = (1,) + a.shape if a.rank == 1 else a.shape
        b_shape = b.shape + (1,) if b.rank == 1 else b.shape
        if not same_dim(a_shape[-1], b_shape[-2]):
            raise ShapeError(
                f"MatMul: the last dim of a must equal the second-to-last dim of b. Received: a {a}, b {b}"
            )
        batch = broadcast(a_shape[:-2], b_shape[:-2], "MatMul batch dims")
        shape = batch + (a_shape[-2],) * (a.rank > 1) + (b_shape[-1],) * (b.rank > 1)
        return a.with_shape(shape)

    def count_macs(self, a: TensorType, b: TensorType, outputs) -> int:
        # every output element is a dot product over the shared dim
        return int(dim_prod(outputs[0].shape)) * int(a.shape[-1])

    def torch_call(self, a: TensorType, b: TensorType) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.MatMul")


@register
class Embedding(Op):
    """Lookup table: integer indices [...] -> float32 vectors [..., embedding_dim]."""

    torch_classes = ("torch.nn.Embedding",)
    onnx_types = ("Gather",)

    @classmethod
    def from_onnx(cls, op_type, attrs, consts, types):
        # Gather(table, indices) along axis 0 with a constant 2-D float table: a lookup
        table = consts[0] if consts else None
        if op_type not in cls.onnx_types or len(consts) != 2 or table is None or consts[1] is not None or table.ndim != 2 or table.dtype.kind != "f":
            return None
        if int(attrs.get("axis", 0)) != 0 or set(attrs) - {"axis"}:
            return None
        return OnnxMapping({"num_embeddings": int(table.shape[0]), "embedding_dim": int(table.shape[1])}, (1,), {"weight": table})

    category = "dense"
    num_embeddings: int = Field(gt=0, le=100_000_000, description="size of the vocabulary (indices 0..num_embeddings-1)")
    embedding_dim: int = Field(gt=0, le=1_000_000, description="size of each embedding vector")
    padding_idx: Optional[int] = Field(
        None, description="index whose vector stays zero and gets no gradient (negative counts from the end)"
    )

    @model_validator(mode="after")
    def _check_padding_idx(self) -> "Embedding":
        n = self.num_embeddings
        if self.padding_idx is not None and not -n <= self.padding_idx < n:
            raise ValueError(f"padding_idx must be within [-{n}, {n - 1}]. Received: padding_idx={self.padding_idx}")
        return self

    def infer(self, x: TensorType) -> TensorType:
        if x.dtype not in ("int64", "int32"):
            raise ShapeError(
                f"Embedding input must hold integer indices (int64 or int32). Received: dtype {x.dtype}",
                code="dtype",
                hint="declare the input with dtype: int64",
            )
        return TensorType(x.shape + (self.embedding_dim,), "float32")

    def count_params(self, x: TensorType) -> int:
        return self.num_embeddings * self.embedding_dim

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("torch.nn.Embedding", (self.num_embeddings, self.embedding_dim), {"padding_idx": self.padding_idx})
