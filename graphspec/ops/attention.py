"""Attention: MultiheadAttention, TransformerEncoderLayer, PositionalEncoding.

Sequences are [batch, seq, feature] by default (``batch_first: true``, unlike
torch.nn); embedding sizes are inferred from the inputs.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from graphspec.ops.registry import Op, TorchCall, register
from graphspec.ops.types import Dim, ShapeError, TensorType, expect_float, expect_rank, fixed, same_dim

_BATCH_FIRST = (
    "inputs are [batch, seq, feature] (True, the default here, unlike torch.nn) or [seq, batch, feature]"
)


def _check_heads(embed: Dim, heads: int, what: str, field: str) -> None:
    if isinstance(embed, int) and embed % heads:
        raise ShapeError(
            f"{what}: the embedding size must be divisible by {field}. Received: embedding size {embed}, {field}={heads}",
            hint=f"pick {field} among the divisors of {embed}",
        )


def _attention_macs(batch: int, q_len: int, k_len: int, embed: int, kdim: int, vdim: int) -> int:
    """Projections of q, k, v and the output, plus the score (QK^T) and value matmuls."""
    projections = q_len * embed * embed + k_len * kdim * embed + k_len * vdim * embed + q_len * embed * embed
    return batch * (projections + 2 * q_len * k_len * embed)


def _attention_params(embed: int, kdim: int, vdim: int, bias: bool) -> int:
    """nn.MultiheadAttention: q/k/v projections (+ in_proj_bias) and out_proj."""
    return embed * (embed + kdim + vdim) + embed * embed + (4 * embed if bias else 0)


@register
class MultiheadAttention(Op):
    """Scaled dot-product attention over num_heads heads; key defaults to query, value to key."""

    torch_classes = ("graphspec.backends.torch_modules.MultiheadAttention", "torch.nn.MultiheadAttention")

    @classmethod
    def from_torch(cls, module):
        if super().from_torch(module) is None:
            return None
        return dict(num_heads=module.num_heads, dropout=module.dropout, bias=module.in_proj_bias is not None,
                    batch_first=module.batch_first, causal=getattr(module, "causal", False))

    category = "attention"
    stateful_training = True
    inputs = ("query", "key?", "value?")
    num_heads: int = Field(gt=0, le=1024, description="parallel heads; must divide the embedding size (query's last dim)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the attention weights (training only)")
    bias: bool = Field(True, description="learn biases in the input and output projections")
    batch_first: bool = Field(True, description=_BATCH_FIRST)
    causal: bool = Field(False, description="mask the future: query position i attends only to key positions <= i")

    def _resolve(self, query, key, value) -> tuple[TensorType, TensorType, TensorType]:
        key = query if key is None else key
        return query, key, key if value is None else value

    def _batch_seq(self, t: TensorType) -> tuple[Dim, Dim]:
        return (t.shape[0], t.shape[1]) if self.batch_first else (t.shape[1], t.shape[0])

    def infer(self, query: TensorType, key: Optional[TensorType] = None, value: Optional[TensorType] = None) -> TensorType:
        q, k, v = self._resolve(query, key, value)
        for t, name in ((q, "query"), (k, "key"), (v, "value")):
            expect_rank(t, 3, f"MultiheadAttention {name} ([batch, seq, feature])")
            expect_float(t, f"MultiheadAttention {name}")
            if t.dtype != q.dtype:
                raise ShapeError(f"MultiheadAttention inputs must share a dtype. Received: query {q.dtype}, {name} {t.dtype}", code="dtype")
        _check_heads(q.shape[-1], self.num_heads, "MultiheadAttention", "num_heads")
        (qb, _), (kb, ks), (vb, vs) = self._batch_seq(q), self._batch_seq(k), self._batch_seq(v)
        if not (same_dim(qb, kb) and same_dim(kb, vb) and same_dim(ks, vs)):
            raise ShapeError(
                "MultiheadAttention: query, key and value must share the batch size, and key and value the sequence length. "
                f"Received: query {q}, key {k}, value {v}"
            )
        return q

    def count_params(self, query, key=None, value=None) -> int:
        q, k, v = self._resolve(query, key, value)
        embed = fixed(q.shape[-1], "the embedding size (query's last dim)")
        return _attention_params(embed, fixed(k.shape[-1], "key's last dim"), fixed(v.shape[-1], "value's last dim"), self.bias)

    def count_macs(self, query, key=None, value=None, *, outputs) -> int:
        q, k, v = self._resolve(query, key, value)
        (batch, q_len), (_, k_len) = self._batch_seq(q), self._batch_seq(k)
        return _attention_macs(int(batch), int(q_len), int(k_len), int(q.shape[-1]), int(k.shape[-1]), int(v.shape[-1]))

    def torch_call(self, query, key=None, value=None) -> TorchCall:
        q, k, v = self._resolve(query, key, value)
        embed = q.shape[-1]
        return TorchCall(
            "graphspec.backends.torch_modules.MultiheadAttention",
            (embed, self.num_heads),
            dict(
                dropout=self.dropout,
                bias=self.bias,
                # None means "the query's size": the same module, written shorter
                kdim=None if k.shape[-1] == embed else k.shape[-1],
                vdim=None if v.shape[-1] == embed else v.shape[-1],
                batch_first=self.batch_first,
                causal=self.causal,
            ),
        )


@register
class TransformerEncoderLayer(Op):
    """Self-attention then a feed-forward block, each with residual and LayerNorm (d_model inferred)."""

    torch_classes = ("graphspec.backends.torch_modules.TransformerEncoderLayer", "torch.nn.TransformerEncoderLayer")

    @classmethod
    def from_torch(cls, module):
        if super().from_torch(module) is None:
            return None
        acts = {1: "relu", 2: "gelu"}  # torch's code for its two built-in activations
        return dict(nhead=module.self_attn.num_heads, dim_feedforward=module.linear1.out_features,
                    dropout=module.dropout.p, activation=acts.get(getattr(module, "activation_relu_or_gelu", 0), "unknown"),
                    layer_norm_eps=module.norm1.eps, batch_first=module.self_attn.batch_first,
                    norm_first=module.norm_first, bias=module.linear1.bias is not None, causal=getattr(module, "causal", False))

    category = "attention"
    stateful_training = True
    nhead: int = Field(gt=0, le=1024, description="attention heads; must divide d_model (the input's last dim)")
    dim_feedforward: int = Field(2048, gt=0, le=1_000_000, description="hidden size of the feed-forward block")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in attention, feed-forward and residuals (training only)")
    activation: Literal["relu", "gelu"] = Field("relu", description="activation of the feed-forward block")
    layer_norm_eps: float = Field(1e-5, gt=0.0, le=1.0, description="epsilon of the LayerNorms")
    batch_first: bool = Field(True, description=_BATCH_FIRST)
    norm_first: bool = Field(False, description="pre-norm (LayerNorm before attention and feed-forward) instead of post-norm")
    bias: bool = Field(True, description="learn biases in the linear layers and LayerNorms")
    causal: bool = Field(False, description="mask the future: position i attends only to positions <= i")

    def infer(self, x: TensorType) -> TensorType:
        expect_rank(x, 3, "TransformerEncoderLayer input ([batch, seq, d_model])")
        expect_float(x, "TransformerEncoderLayer input")
        _check_heads(x.shape[-1], self.nhead, "TransformerEncoderLayer", "nhead")
        return x

    def count_params(self, x: TensorType) -> int:
        e, f = fixed(x.shape[-1], "d_model (the input's last dim)"), self.dim_feedforward
        feed_forward = 2 * e * f + ((f + e) if self.bias else 0)
        norms = 2 * (e + (e if self.bias else 0))
        return _attention_params(e, e, e, self.bias) + feed_forward + norms

    def count_macs(self, x: TensorType, outputs) -> int:
        batch, seq = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        e = int(x.shape[-1])
        attention = _attention_macs(int(batch), int(seq), int(seq), e, e, e)
        return attention + 2 * int(batch) * int(seq) * e * self.dim_feedforward

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall(
            "graphspec.backends.torch_modules.TransformerEncoderLayer",
            (x.shape[-1], self.nhead),
            dict(
                dim_feedforward=self.dim_feedforward,
                dropout=self.dropout,
                activation=self.activation,
                layer_norm_eps=self.layer_norm_eps,
                batch_first=self.batch_first,
                norm_first=self.norm_first,
                bias=self.bias,
                causal=self.causal,
            ),
        )


@register
class PositionalEncoding(Op):
    """Add position codes to x [..., seq, d_model]: a fixed sinusoidal table or a learned one."""

    torch_classes = ("graphspec.backends.torch_modules.PositionalEncoding",)

    category = "attention"
    kind: Literal["sinusoidal", "learned"] = Field(
        "sinusoidal",
        description="sinusoidal: the Transformer paper's fixed table (a buffer, not in the state_dict); "
        "learned: a trainable [max_len, d_model] parameter",
    )
    max_len: int = Field(5000, gt=0, le=1_000_000, description="longest sequence the table covers")

    def infer(self, x: TensorType) -> TensorType:
        if x.rank < 2:
            raise ShapeError(f"PositionalEncoding input must be [..., seq, d_model]. Received: shape {x}")
        expect_float(x, "PositionalEncoding input")
        seq = x.shape[-2]
        if isinstance(seq, int) and seq > self.max_len:
            raise ShapeError(
                f"PositionalEncoding: the sequence length must not exceed max_len. Received: seq {seq}, max_len={self.max_len}",
                hint="raise max_len",
            )
        return x

    def count_params(self, x: TensorType) -> int:
        if self.kind == "sinusoidal":
            return 0
        return self.max_len * fixed(x.shape[-1], "d_model (the input's last dim)")

    def torch_call(self, x: TensorType) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.PositionalEncoding", (fixed(x.shape[-1], "d_model (the input's last dim)"), self.max_len, self.kind))


@register
class CausalMask(Op):
    """Mask attention scores [..., T, S] causally: -inf where key j > query i, so softmax ignores the future."""

    torch_classes = ("graphspec.backends.torch_modules.CausalMask",)

    category = "attention"
    inputs = ("scores",)

    def infer(self, scores: TensorType) -> TensorType:
        expect_float(scores, "scores")
        if scores.rank < 2:
            raise ShapeError(f"scores must have rank 2 or more ([..., queries, keys]). Received: shape {scores}")
        return scores

    def torch_call(self, scores) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.CausalMask")
