"""Torch modules of the ops in :mod:`graphspec.ops.vision`.

Small and self-contained: ``graphspec codegen`` copies their source into the
files it writes.
"""

from __future__ import annotations

import torch
from torch import nn


class Arith(nn.Module):
    """x (fn) value for a constant value: add, sub, mul, div, rsub (value - x), rdiv (value / x)."""

    def __init__(self, fn: str, value):
        super().__init__()
        self.fn = fn
        self.value = value
        # a list constant is a non-persistent buffer: it follows .to(device), stays out of state_dict
        self.register_buffer("const", torch.tensor(value, dtype=torch.float32) if isinstance(value, list) else None, persistent=False)

    def extra_repr(self) -> str:
        return f"fn={self.fn!r}, value={self.value!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.value if self.const is None else self.const.to(x.dtype)
        if self.fn == "add":
            return x + c
        if self.fn == "sub":
            return x - c
        if self.fn == "mul":
            return x * c
        if self.fn == "div":
            return x / c
        if self.fn == "rsub":
            return c - x
        return c / x


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, reimplemented with torch only (same semantics)."""

    def __init__(self, p: float, mode: str):
        super().__init__()
        self.p = p
        self.mode = mode

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of [N, C, H, W] (torchvision's ConvNeXt LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LearnedTensor(nn.Module):
    """A learned tensor as a module: ``forward()`` returns it (the Parameter op outside a graph)."""

    def __init__(self, shape: tuple[int, ...], init: str = "zeros_", **init_kwargs: float):
        super().__init__()
        # init names a torch.nn.init function (the Parameter op's init_call)
        self.value = nn.Parameter(getattr(nn.init, init)(torch.empty(shape), **init_kwargs))

    def forward(self) -> torch.Tensor:
        return self.value


class ExpandAs(nn.Module):
    """x.expand() to the sizes of `like` at `dims` (-1 keeps x's size elsewhere)."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = list(dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        sizes = [like.shape[i] if i in self.dims else -1 for i in range(x.ndim)]
        return x.expand(sizes)
