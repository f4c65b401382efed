"""Learned tensors: the ``Parameter`` op (ViT's class token and position embedding,
ConvNeXt's layer scale).

A ``Parameter`` node has no inputs and is not a module: the compiled graph
registers an ``nn.Parameter`` under the node's own path, so its state_dict key
is the path itself (``class_token``, ``encoder.pos_embedding``), and reads it
with an fx ``get_attr``. Any op can take it as an input.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from graphspec.ops.registry import Op, register
from graphspec.ops.types import TensorType

# the largest learned tensor, in elements (a typo such as 10**12 fails at validate)
MAX_PARAMETER_ELEMENTS = 2**31 - 1

_INIT_ARGS = {"zeros": (), "ones": (), "constant": ("value",), "normal": ("std",), "trunc_normal": ("std",), "uniform": ("a", "b")}


@register
class Parameter(Op):
    """A learned tensor of a given shape; its state_dict key is the node path itself."""

    category = "tensor"
    inputs: ClassVar[tuple[str, ...]] = ()
    # the compiled graph registers an nn.Parameter at the node path (see build_parameter)
    is_parameter: ClassVar[bool] = True

    shape: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=8, description="the tensor's shape, e.g. [1, 1, ${hidden}]")
    init: Literal["zeros", "ones", "constant", "normal", "trunc_normal", "uniform"] = Field("zeros", description="initial values: zeros, ones, constant(value), normal(std), trunc_normal(std, cut at ±2 std), uniform(a, b)")
    value: float | None = Field(None, description="the value of init constant (e.g. ConvNeXt's layer scale 1e-6)")
    std: float | None = Field(None, gt=0, description="standard deviation of init normal / trunc_normal")
    a: float | None = Field(None, description="lower bound of init uniform")
    b: float | None = Field(None, description="upper bound of init uniform")

    @model_validator(mode="after")
    def _check_init(self) -> "Parameter":
        wanted = _INIT_ARGS[self.init]
        for arg in ("value", "std", "a", "b"):
            if getattr(self, arg) is not None and arg not in wanted:
                raise ValueError(f"init {self.init!r} takes no {arg!r}" + (f"; it takes {', '.join(wanted)}" if wanted else ""))
        for arg in wanted:
            if getattr(self, arg) is None:
                raise ValueError(f"init {self.init!r} needs {arg!r}")
        if self.init == "uniform" and not self.a < self.b:
            raise ValueError(f"init uniform needs a < b. Received: a={self.a}, b={self.b}")
        if math.prod(self.shape) > MAX_PARAMETER_ELEMENTS:
            raise ValueError(f"shape {self.shape} has {math.prod(self.shape):,} elements; the limit is {MAX_PARAMETER_ELEMENTS:,}")
        return self

    def infer(self) -> TensorType:
        return TensorType(tuple(self.shape), "float32")

    def count_params(self) -> int:
        return math.prod(self.shape)

    def build_parameter(self) -> Any:
        """The ``nn.Parameter`` the compiled graph registers at the node path."""
        import torch
        from torch import nn

        data = torch.empty(self.shape)
        if self.init == "zeros":
            nn.init.zeros_(data)
        elif self.init == "ones":
            nn.init.ones_(data)
        elif self.init == "constant":
            nn.init.constant_(data, self.value)
        elif self.init == "normal":
            nn.init.normal_(data, std=self.std)
        elif self.init == "trunc_normal":
            nn.init.trunc_normal_(data, std=self.std, a=-2 * self.std, b=2 * self.std)
        else:
            nn.init.uniform_(data, self.a, self.b)
        return nn.Parameter(data)

    def init_source(self) -> str:
        """Python source creating the initial tensor (torch and nn in scope).

        >>> Parameter(shape=[1, 4], init="normal", std=0.02).init_source()
        'nn.init.normal_(torch.empty(1, 4), std=0.02)'
        """
        dims = ", ".join(str(d) for d in self.shape)
        if self.init in ("zeros", "ones"):
            return f"torch.{self.init}({dims})"
        if self.init == "constant":
            return f"torch.full(({dims},), {self.value!r})"
        if self.init == "normal":
            return f"nn.init.normal_(torch.empty({dims}), std={self.std!r})"
        if self.init == "trunc_normal":
            return f"nn.init.trunc_normal_(torch.empty({dims}), std={self.std!r}, a={-2 * self.std!r}, b={2 * self.std!r})"
        return f"nn.init.uniform_(torch.empty({dims}), {self.a!r}, {self.b!r})"

    def build_torch(self) -> Any:
        """A module holding the tensor as ``value`` and returning it (for use
        outside a compiled graph; the compiled graph registers
        :meth:`build_parameter` at the node path instead)."""
        from graphspec.backends.vision_modules import LearnedTensor

        return LearnedTensor(self.build_parameter())
