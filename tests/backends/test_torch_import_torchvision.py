"""graphspec import of torchvision models (runs where torchvision is installed: the
torchvision venv, e.g. /work/tvenv; skipped with that reason elsewhere).

Each model is imported at a small input size, and the command's own checks run:
the written spec loads torchvision's state_dict strict, has the same parameter
count and gives the same outputs in eval mode (BatchNorm statistics calibrated).
"""

from __future__ import annotations

import importlib.util

import pytest

HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None
pytestmark = pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not installed (run in the torchvision venv, /work/tvenv)")


# Spec length bounds: repeated blocks are written once. DenseNet's layers differ in
# the number of tensors they concatenate, so each layer of a dense block is its own block.
MAX_LINES = {"resnet18": 100, "mobilenet_v2": 120, "densenet121": 800, "convnext_tiny": 120}


@pytest.mark.parametrize("name", sorted(MAX_LINES))
def test_torchvision_model_imports_and_matches(name):
    import torch
    import torchvision

    import graphspec
    from graphspec.backends.torch_import import parse_input
    from graphspec.cli.import_ import convert

    torch.manual_seed(0)
    model = torchvision.models.get_model(name)
    inputs = dict([parse_input("x=batch,3,64,64")])
    text, report, result = convert(model, inputs, name, f"torchvision.models:{name}")
    assert report.passed and report.varies
    assert report.params_spec == sum(p.numel() for p in model.parameters())
    compiled = graphspec.load(None, text=text).to_torch()
    assert set(compiled.state_dict()) == set(model.state_dict())
    compiled.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(x), model.eval()(x), atol=1e-4, rtol=1e-4)
    assert len(text.splitlines()) <= MAX_LINES[name], "the spec should be readable: repeated blocks written once"
