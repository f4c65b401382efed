"""The zoo's torchvision architectures are torchvision's, weight for weight.

Always (fixtures written by tools/make_torchvision_fixtures.py from torchvision):

- the compiled zoo spec's state_dict has exactly torchvision's keys, shapes and
  dtypes, and a state_dict of that layout loads with ``strict=True``;
- resnet18 under deterministic (formula) weights gives torchvision's outputs on
  a deterministic input.

Where torchvision is importable (the separate /work/tvenv environment, see
the tool's docstring): torchvision's own randomly initialised models load into
the compiled specs with ``strict=True`` and give the same outputs in eval mode.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import graphspec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "torchvision"
MODELS = (
    "resnet18", "alexnet", "vgg11", "mobilenet_v2",
    "resnet50", "densenet121", "googlenet", "shufflenet_v2_x1_0", "mobilenet_v3_large",
    "efficientnet_b0", "regnet_y_400mf", "vit_b_16", "convnext_tiny",
)
# models whose full forward at 224x224 costs seconds on two cores
HEAVY = {"vgg11", "alexnet", "resnet50", "densenet121", "vit_b_16", "convnext_tiny"}


def _tool():
    spec = importlib.util.spec_from_file_location("make_torchvision_fixtures", ROOT / "tools" / "make_torchvision_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL = _tool()
assert tuple(TOOL.MODELS) == MODELS, "the tool and this test cover the same models"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


_COMPILED: dict[str, torch.nn.Module] = {}


def compiled(name: str) -> torch.nn.Module:
    if name not in _COMPILED:
        _COMPILED.clear()  # keep one big model alive at a time
        _COMPILED[name] = graphspec.load(name).to_torch().eval()
    return _COMPILED[name]


def layout(module: torch.nn.Module) -> list[tuple[str, list[int], str]]:
    return [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in module.state_dict().items()]


def expected_layout(name: str) -> list[tuple[str, list[int], str]]:
    return [(e["key"], e["shape"], e["dtype"]) for e in fixture(name)["state_dict"]]


def describe_difference(ours, theirs) -> str:
    a, b = {k: (s, d) for k, s, d in ours}, {k: (s, d) for k, s, d in theirs}
    lines = []
    for k in [k for k, _, _ in theirs if k not in a][:20]:
        lines.append(f"missing (torchvision has it): {k} {b[k]}")
    for k in [k for k, _, _ in ours if k not in b][:20]:
        lines.append(f"unexpected (torchvision lacks it): {k} {a[k]}")
    for k in [k for k in a if k in b and a[k] != b[k]][:20]:
        lines.append(f"shape/dtype differs: {k}: ours {a[k]}, torchvision {b[k]}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_layout_matches_torchvision(name):
    ours = layout(compiled(name))
    theirs = expected_layout(name)
    assert sorted(ours) == sorted(theirs), describe_difference(ours, theirs)
    assert sum(p.numel() for p in compiled(name).parameters()) == fixture(name)["num_parameters"]


@pytest.mark.parametrize("name", MODELS)
def test_macs_match_torchvision_documented_gflops(name):
    """torchvision documents GFLOPS (multiply-accumulates, as graphspec counts them) to 3 decimals."""
    documented = fixture(name)["gflops"]
    ours = graphspec.load(name).graph().total_macs / 1e9
    assert abs(ours - documented) <= 0.01 * documented, f"{name}: {ours:.4f} GMACs, torchvision documents {documented}"


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_layout_loads_strict(name):
    model = compiled(name)
    state = {}
    for key, shape, dtype in expected_layout(name):
        dt = getattr(torch, dtype)
        state[key] = torch.randn(shape).to(dt) if dt.is_floating_point else torch.zeros(shape, dtype=dt)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    key, value = next(iter(state.items()))
    assert torch.equal(model.state_dict()[key], value)


def test_resnet18_deterministic_outputs_match_torchvision():
    """Formula weights make the comparison portable across torch versions."""
    record = fixture("resnet18")["deterministic"]
    model = compiled("resnet18")
    model.load_state_dict(TOOL.deterministic_state_dict(expected_layout("resnet18")), strict=True)
    x = TOOL.deterministic_input(tuple(record["input_shape"]))
    with torch.no_grad():
        y = model(x).double()
    assert list(y.shape) == record["output_shape"]
    first = torch.tensor(record["first_outputs"], dtype=torch.float64)
    diff = (y.flatten()[: len(first)] - first).abs().max().item()
    assert diff < 1e-4, f"max abs diff {diff:.3g} on the first {len(first)} logits"
    assert abs(y.sum().item() - record["output_sum"]) < 1e-2
    assert abs(y.abs().sum().item() - record["output_abs_sum"]) < 1e-2


# ---------------------------------------------------------------- with torchvision

try:  # a torchvision built for another torch fails on import: treat it as absent
    import torchvision  # noqa: F401

    HAVE_TORCHVISION = True
except Exception:  # noqa: BLE001
    HAVE_TORCHVISION = False


@pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not installed (use /work/tvenv)")
@pytest.mark.parametrize("init", ["torchvision", "formula", "calibrated"])
@pytest.mark.parametrize("name", MODELS)
def test_torchvision_weights_give_same_outputs(name, init, record_property):
    """torchvision's own init (BatchNorm stats at 0/1); formula weights that also
    exercise the running statistics; torchvision's init with BatchNorm statistics
    measured on random images, under which the outputs depend on the input (checked:
    a comparison of input-independent outputs would prove nothing)."""
    from torchvision import models

    torch.manual_seed(0)
    reference = getattr(models, name)(weights=None, **TOOL.KWARGS.get(name, {})).eval()
    if init == "formula":
        reference.load_state_dict(TOOL.deterministic_state_dict(TOOL.layout_of(reference)), strict=True)
    elif init == "calibrated":
        TOOL.meaningful_weights(reference)
    model = compiled(name)
    model.load_state_dict(reference.state_dict(), strict=True)
    batch = 1 if name in HEAVY else 2
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    diff = (expected - got).abs().max().item()
    scale = expected.abs().max().item()
    if init == "calibrated":  # a meaningful comparison: the outputs depend on the input
        x2 = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            other = reference(x2)
        dependence = (expected[:1] - other).abs().max().item()
        record_property("input_dependence", dependence)
        assert dependence > 1e-3 * max(1.0, scale), f"{name}: outputs barely depend on the input ({dependence:.3g})"
    record_property("max_abs_diff", diff)
    print(f"\n{name} ({init} weights): max abs diff {diff:.3g}, output max abs {scale:.3g}")
    assert got.shape == expected.shape
    assert diff < 1e-5 * max(1.0, scale), f"{name}: max abs diff {diff:.3g} (output scale {scale:.3g})"


@pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not installed (use /work/tvenv)")
@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_equals_torchvision_in_training(mode):
    """graphspec's reimplementation draws the same noise as torchvision.ops.stochastic_depth."""
    from torchvision.ops import stochastic_depth

    from graphspec.ops.types import TensorType
    from graphspec.ops.vision import StochasticDepth

    module = StochasticDepth(p=0.4, mode=mode).build_torch(TensorType((32, 4, 3, 3))).train()
    x = torch.randn(32, 4, 3, 3)
    for seed in range(3):
        torch.manual_seed(seed)
        ours = module(x)
        torch.manual_seed(seed)
        assert torch.equal(ours, stochastic_depth(x, 0.4, mode, training=True))
