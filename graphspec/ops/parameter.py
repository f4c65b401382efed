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

from graphspec.ops.registry import Op, TorchCall, register
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

    def init_call(self) -> tuple[str, dict[str, float]]:
        """The ``torch.nn.init`` function that fills the tensor and its keyword
        arguments: the one description of the initial values, run by
        :meth:`build_parameter` and written by :meth:`init_source`.

        >>> Parameter(shape=[2], init="trunc_normal", std=0.1).init_call()
        ('trunc_normal_', {'std': 0.1, 'a': -0.2, 'b': 0.2})
        """
        if self.init == "constant":
            kwargs = {"val": self.value}
        elif self.init == "normal":
            kwargs = {"std": self.std}
        elif self.init == "trunc_normal":  # cut at +-2 std, as ViT's and ConvNeXt's inits do
            kwargs = {"std": self.std, "a": -2 * self.std, "b": 2 * self.std}
        elif self.init == "uniform":
            kwargs = {"a": self.a, "b": self.b}
        else:  # zeros, ones
            kwargs = {}
        return f"{self.init}_", kwargs

    def build_parameter(self) -> Any:
        """The ``nn.Parameter`` the compiled graph registers at the node path."""
        import torch
        from torch import nn

        fn, kwargs = self.init_call()
        return nn.Parameter(getattr(nn.init, fn)(torch.empty(self.shape), **kwargs))

    def init_source(self) -> str:
        """Python source creating the initial tensor (torch and nn in scope).

        >>> Parameter(shape=[1, 4], init="normal", std=0.02).init_source()
        'nn.init.normal_(torch.empty(1, 4), std=0.02)'
        """
        fn, kwargs = self.init_call()
        dims = ", ".join(str(d) for d in self.shape)
        return f"nn.init.{fn}(torch.empty({dims}){''.join(f', {k}={v!r}' for k, v in kwargs.items())})"

    def torch_call(self) -> TorchCall:
        """A module holding the tensor as ``value`` and returning it (for use
        outside a compiled graph; the compiled graph registers
        :meth:`build_parameter` at the node path instead)."""
        fn, kwargs = self.init_call()
        return TorchCall("graphspec.backends.vision_modules.LearnedTensor", (tuple(self.shape), fn), kwargs)
