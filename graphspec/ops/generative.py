"""Ops of generative models: the VAE reparameterisation trick."""

from __future__ import annotations

from pydantic import Field

from graphspec.ops.registry import Op, TorchCall, register
from graphspec.ops.types import ShapeError, TensorType, expect_float, same_dim


@register
class Reparameterize(Op):
    """VAE sampling z = mu + eps * exp(0.5 * logvar), eps ~ N(0, I), in training; mu in eval."""

    torch_classes = ("graphspec.backends.torch_modules.Reparameterize",)

    # As in the PyTorch examples' VAE: a fresh sample in training, so the decoder
    # learns under the noise the KL term prices; the mean code in eval, so
    # inference and ONNX exports are deterministic. sample_in_eval opts out.

    category = "generative"
    stateful_training = True
    inputs = ("mu", "logvar")
    outputs = ("z",)
    sample_in_eval: bool = Field(False, description="also sample in eval mode (default: return mu, deterministically)")

    def infer(self, mu: TensorType, logvar: TensorType) -> TensorType:
        expect_float(mu, "Reparameterize mu")
        expect_float(logvar, "Reparameterize logvar")
        # no broadcasting: z would change shape between training (sample) and eval (mu)
        if mu.dtype != logvar.dtype or mu.rank != logvar.rank or not all(map(same_dim, mu.shape, logvar.shape)):
            raise ShapeError(f"Reparameterize: mu and logvar must have the same shape and dtype. Received: mu {mu} {mu.dtype}, logvar {logvar} {logvar.dtype}")
        return mu.with_shape(a if isinstance(a, int) else b for a, b in zip(mu.shape, logvar.shape))

    def torch_call(self, mu: TensorType, logvar: TensorType) -> TorchCall:
        return TorchCall("graphspec.backends.torch_modules.Reparameterize", kwargs={"sample_in_eval": self.sample_in_eval})
