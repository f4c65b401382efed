"""Scale and CausalMask, and the written-out attention of gpt_mini they make self-contained."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

import graphspec
from graphspec.ops.attention import CausalMask
from graphspec.ops.tensor import Scale
from graphspec.ops.types import ShapeError, TensorType

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_scale_multiplies_and_keeps_shape():
    op = Scale(factor=0.25)
    t = TensorType(("batch", 4, 8))
    assert op.infer(t) == t
    x = torch.randn(2, 4, 8)
    assert torch.equal(op.build_torch(t)(x), x * 0.25)
    with pytest.raises(ValidationError):
        Scale()
    with pytest.raises(ShapeError):
        op.infer(TensorType(("batch", 4), "int64"))


def test_causal_mask_hides_the_future_at_any_length():
    op = CausalMask()
    assert op.infer(TensorType(("batch", 2, "seq", "seq"))).shape == ("batch", 2, "seq", "seq")
    with pytest.raises(ShapeError):
        op.infer(TensorType(("seq",)))
    module = op.build_torch(TensorType(("batch", 2, "seq", "seq")))
    for t in (1, 5):
        out = module(torch.zeros(3, 2, t, t))
        future = torch.ones(t, t, dtype=torch.bool).triu(1)
        assert torch.isinf(out[..., future]).all() and (out[..., ~future] == 0).all()


def test_gpt_mini_written_out_attention_equals_multihead_attention():
    """The 'main' graph (primitives) and 'mha' (MultiheadAttention, causal) compute the same model."""
    spec = graphspec.load(str(SPECS / "gpt_mini.yaml"), set={"params.dropout": 0.0})
    main, mha = spec.to_torch(graph="main").eval(), spec.to_torch(graph="mha").eval()
    state = dict(main.state_dict())
    for i in range(4):
        p = f"h.{i}.attn."
        state[p + "in_proj_weight"] = state.pop(p + "c_attn.weight")
        state[p + "in_proj_bias"] = state.pop(p + "c_attn.bias")
        state[p + "out_proj.weight"] = state.pop(p + "c_proj.weight")
        state[p + "out_proj.bias"] = state.pop(p + "c_proj.bias")
    mha.load_state_dict(state, strict=True)
    tokens = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        a, b = main(tokens), mha(tokens)
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
        # causal: changing the last token leaves every earlier position unchanged
        changed = tokens.clone()
        changed[:, -1] = (changed[:, -1] + 1) % 256
        assert torch.allclose(main(changed)[:, :-1], a[:, :-1], atol=1e-6)
    assert math.isclose(spec.graph("main").total_params, spec.graph("mha").total_params)
