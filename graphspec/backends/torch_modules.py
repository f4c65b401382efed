"""Small nn.Modules for the ops torch.nn lacks, and thin subclasses of those it has.

Rules for every class here, because the codegen command copies their source
into a standalone file and the compiled graph must trace and export:

- each class's source stands alone under the header ``import math``,
  ``import torch``, ``from torch import nn`` and ``from typing import ...``
  (no module-level helpers);
- parameters and state_dict keys are exactly torch.nn's where torch.nn has the
  module (the recurrent and attention classes subclass it and only change
  ``forward`` so that it takes tensors positionally and returns a tensor or a
  flat tuple);
- no Python control flow on tensor values and no sizes baked in at build time,
  so ``torch.fx.symbolic_trace`` works and ``torch.onnx.export(dynamo=True)``
  keeps the batch and sequence dims dynamic.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn


# ---------------------------------------------------------------- merges


class AddN(nn.Module):
    """Element-wise sum of any number of tensors (broadcasting)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class MulN(nn.Module):
    """Element-wise product of any number of tensors (broadcasting)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Scale(nn.Module):
    """x * factor, a constant (e.g. attention's 1/sqrt(head dim))."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class CausalMask(nn.Module):
    """Attention scores [..., T, S] with -inf where key j > query i (future positions)."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        # built from the actual sizes, so exports keep the sequence length dynamic
        future = torch.ones(scores.size(-2), scores.size(-1), dtype=torch.bool, device=scores.device).triu(1)
        return scores.masked_fill(future, float("-inf"))


class Sub(nn.Module):
    """a - b (broadcasting)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


class MatMul(nn.Module):
    """torch.matmul(a, b): batched matrix product with broadcast batch dims."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Concat(nn.Module):
    """Concatenate tensors along ``dim``."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------- layout


class Reshape(nn.Module):
    """Reshape to ``shape``; 0 copies the input size at that position, -1 is inferred.

    The 0 rule (ONNX's) keeps dynamic dims such as the batch dynamic, where a
    size written into the module would freeze them.
    """

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(self.shape)])

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorder dims: output dim i is input dim ``dims[i]``."""

    def __init__(self, dims: Sequence[int]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Transpose(nn.Module):
    """Swap two dims."""

    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Squeeze(nn.Module):
    """Remove one size-1 dim."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Unsqueeze(nn.Module):
    """Insert a size-1 dim at ``dim``."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Select(nn.Module):
    """Pick one index along ``dim`` and drop that dim (e.g. an RNN's last step)."""

    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


# ---------------------------------------------------------------- split


class Split(nn.Module):
    """torch.split: pieces of one size, or of the given section sizes; returns a tuple."""

    def __init__(self, split_size_or_sections: Union[int, Sequence[int]], dim: int):
        super().__init__()
        s = split_size_or_sections
        self.split_size_or_sections = s if isinstance(s, int) else list(s)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return torch.split(x, self.split_size_or_sections, dim=self.dim)

    def extra_repr(self) -> str:
        return f"split_size_or_sections={self.split_size_or_sections}, dim={self.dim}"


class Chunk(nn.Module):
    """torch.chunk: ``chunks`` pieces along ``dim``; returns a tuple."""

    def __init__(self, chunks: int, dim: int):
        super().__init__()
        self.chunks, self.dim = chunks, dim

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return torch.chunk(x, self.chunks, dim=self.dim)

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, dim={self.dim}"


# ---------------------------------------------------------------- reductions


class Mean(nn.Module):
    """Mean over ``dim`` (an int, a tuple, or None for all dims)."""

    def __init__(self, dim: Union[int, Sequence[int], None] = None, keepdim: bool = False):
        super().__init__()
        self.dim = dim if dim is None or isinstance(dim, int) else tuple(dim)
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(x, dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, keepdim={self.keepdim}"


class Sum(nn.Module):
    """Sum over ``dim`` (an int, a tuple, or None for all dims)."""

    def __init__(self, dim: Union[int, Sequence[int], None] = None, keepdim: bool = False):
        super().__init__()
        self.dim = dim if dim is None or isinstance(dim, int) else tuple(dim)
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, keepdim={self.keepdim}"


# ---------------------------------------------------------------- generative


class Reparameterize(nn.Module):
    """VAE reparameterisation: z = mu + eps * exp(0.5 * logvar), eps ~ N(0, 1).

    Samples in training mode; in eval mode returns ``mu`` (the mean code, so
    inference is deterministic) unless ``sample_in_eval`` is set.
    """

    def __init__(self, sample_in_eval: bool = False):
        super().__init__()
        self.sample_in_eval = sample_in_eval

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if self.training or self.sample_in_eval:
            std = torch.exp(0.5 * logvar)
            return mu + torch.randn_like(std) * std
        return mu

    def extra_repr(self) -> str:
        return f"sample_in_eval={self.sample_in_eval}"


# ---------------------------------------------------------------- attention


class PositionalEncoding(nn.Module):
    """Add a position code to x of shape [..., seq, d_model].

    ``kind="sinusoidal"``: a fixed table held as a non-persistent buffer (not
    in the state_dict); ``kind="learned"``: a parameter ``pe`` [max_len, d_model].
    """

    def __init__(self, d_model: int, max_len: int = 5000, kind: str = "sinusoidal"):
        super().__init__()
        self.d_model, self.max_len, self.kind = d_model, max_len, kind
        if kind == "learned":
            self.pe = nn.Parameter(torch.empty(max_len, d_model))
            nn.init.normal_(self.pe, std=0.02)
        else:
            self.register_buffer("pe", self.sinusoidal_table(max_len, d_model), persistent=False)

    @staticmethod
    def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
        """The Transformer paper's table: sin on even features, cos on odd ones."""
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term[: d_model // 2])  # odd d_model: one cos column fewer
        return pe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[: x.size(-2)]

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, kind={self.kind!r}"


class MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention taking (query, key=query, value=key) and returning only the output."""

    def __init__(self, *args, causal: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.causal = causal

    def forward(self, query: torch.Tensor, key: Optional[torch.Tensor] = None, value: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        key = query if key is None else key
        value = key if value is None else value
        mask = None
        if self.causal:
            seq = 1 if self.batch_first else 0
            # True where query i may not attend to key j > i
            mask = torch.ones(query.size(seq), key.size(seq), dtype=torch.bool, device=query.device).triu(1)
        return super().forward(query, key, value, attn_mask=mask, need_weights=False)[0]


class TransformerEncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer taking one tensor, with an optional causal mask."""

    def __init__(self, *args, causal: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mask = None
        if self.causal:
            seq = x.size(1 if self.self_attn.batch_first else 0)
            mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).triu(1)
        return super().forward(x, src_mask=mask)


# ---------------------------------------------------------------- recurrent


class RNN(nn.RNN):
    """nn.RNN taking (x, h0=None) and returning the flat tuple (output, h_n)."""

    def forward(self, x: torch.Tensor, h0: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        out, h = super().forward(x, h0)
        return out, h


class GRU(nn.GRU):
    """nn.GRU taking (x, h0=None) and returning the flat tuple (output, h_n)."""

    def forward(self, x: torch.Tensor, h0: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        out, h = super().forward(x, h0)
        return out, h


class LSTM(nn.LSTM):
    """nn.LSTM taking (x, h0=None, c0=None) and returning the flat tuple (output, h_n, c_n)."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, h0: Optional[torch.Tensor] = None, c0: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        state = None if h0 is None or c0 is None else (h0, c0)
        out, (h, c) = super().forward(x, state)
        return out, h, c
