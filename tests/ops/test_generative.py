"""Reparameterize: sampling in training, the mean in eval, shapes and tracing."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from _opcheck import export_and_run, run_op
from graphspec.ops.generative import Reparameterize
from graphspec.ops.types import ShapeError, TensorType

T = TensorType


@pytest.mark.parametrize("shape", [(4, 8), (2, 3, 5), (1,)])
@pytest.mark.parametrize("train", [False, True])
def test_reparameterize_matches_torch(shape, train):
    run_op(Reparameterize(), T(shape), T(shape), train=train)
    run_op(Reparameterize(sample_in_eval=True), T(shape), T(shape), train=train)


def test_samples_in_training_with_the_right_moments():
    module = Reparameterize().build_torch(T((20000, 2)), T((20000, 2))).train()
    mu = torch.tensor([1.0, -2.0]).expand(20000, 2)
    logvar = torch.tensor([0.0, 2 * torch.log(torch.tensor(3.0)).item()]).expand(20000, 2)  # std 1 and 3
    torch.manual_seed(0)
    z = module(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.1, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 3.0]), atol=0.1, rtol=0)
    assert not torch.equal(module(mu, logvar), module(mu, logvar))


def test_eval_returns_mu_unless_sample_in_eval():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(Reparameterize().build_torch(T((4, 3)), T((4, 3))).eval()(mu, logvar), mu)
    sampling = Reparameterize(sample_in_eval=True).build_torch(T((4, 3)), T((4, 3))).eval()
    assert not torch.equal(sampling(mu, logvar), mu)


def test_reparameterize_symbolic_and_errors():
    op = Reparameterize()
    assert op.infer(T(("batch", 16)), T(("batch", 16))) == T(("batch", 16))
    assert op.infer(T(("batch", 16)), T((4, 16))) == T((4, 16))  # the fixed size says more
    assert op.count_params(T((2, 16)), T((2, 16))) == 0
    assert Reparameterize.inputs == ("mu", "logvar") and Reparameterize.outputs == ("z",)
    with pytest.raises(ShapeError, match="same shape and dtype"):
        op.infer(T((2, 16)), T((2, 8)))
    with pytest.raises(ShapeError, match="same shape and dtype"):
        op.infer(T((2, 16)), T((16,)))  # no broadcasting: eval returns mu's shape
    with pytest.raises(ShapeError, match="floating-point"):
        op.infer(T((2, 16), "int64"), T((2, 16), "int64"))
    with pytest.raises(ValidationError):
        Reparameterize(sample_in_eval="sometimes")
    with pytest.raises(ValidationError):
        Reparameterize(beta=1.0)


class _Wrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, mu, logvar):
        return self.m(mu, logvar)


@pytest.mark.parametrize("train", [False, True])
def test_reparameterize_symbolic_traces(train):
    wrapper = _Wrap(Reparameterize().build_torch(T((4, 3)), T((4, 3)))).train(train)
    traced = torch.fx.symbolic_trace(wrapper)  # the mode is read at trace time
    mu, logvar = torch.randn(4, 3), torch.full((4, 3), -30.0)  # std ~ 3e-7
    torch.testing.assert_close(traced(mu, logvar), mu, atol=1e-5, rtol=0)


def test_reparameterize_exports_as_the_mean(tmp_path):
    pytest.importorskip("onnxruntime")
    module = Reparameterize().build_torch(T(("batch", 8)), T(("batch", 8)))
    export_and_run(
        module,
        [torch.randn(2, 8), torch.randn(2, 8)],
        [{0: "batch"}, {0: "batch"}],
        [torch.randn(5, 8), torch.randn(5, 8)],
        tmp_path,
    )
