"""Dump torchvision's state_dict layouts for the zoo's torchvision models.

Writes tests/fixtures/torchvision/<model>.json for every model in MODELS: the
torch and torchvision versions, the number of parameters, torchvision's
documented GFLOPS of its ImageNet weights (``meta["_ops"]``, multiply-accumulates
in graphspec's terms) and every state_dict key with its shape and dtype, in
torchvision's order. For
resnet18 it also records the outputs of torchvision's model under
*deterministic* weights (:func:`deterministic_state_dict`: a formula, not a
seeded RNG, so the values do not depend on the torch version) on a
deterministic input (:func:`deterministic_input`). The parity test recomputes
them with the compiled zoo spec in any environment, torchvision or not.

torchvision does not install beside the project's torch, so run this in a
separate environment:

    python -m venv /work/tvenv
    /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 pyyaml pydantic networkx numpy pytest
    /work/tvenv/bin/pip install --no-deps -e .
    /work/tvenv/bin/python tools/make_torchvision_fixtures.py

This file is also imported by tests/integration/test_torchvision_parity.py for
the two deterministic helpers, so keep them free of torchvision imports.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

MODELS = (
    "resnet18", "alexnet", "vgg11", "mobilenet_v2",
    # issue 10's zoo
    "resnet50", "densenet121", "googlenet", "shufflenet_v2_x1_0", "mobilenet_v3_large",
    "efficientnet_b0", "regnet_y_400mf", "vit_b_16", "convnext_tiny",
)
# constructor arguments: GoogLeNet's zoo spec has no auxiliary heads and re-normalises its input as with ImageNet weights
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True, "transform_input": True}}
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "fixtures" / "torchvision"
# how many output values the resnet18 fixture keeps (plus their sum)
N_OUTPUTS = 16


def deterministic_state_dict(layout: list[tuple[str, list[int], str]]):
    """A state_dict with values from a fixed formula, the same on every torch version.

    Weights are sin waves scaled by 1/sqrt(fan_in) so activations stay O(1)
    through deep nets; BatchNorm running variances are positive (1 +- 0.5);
    integer buffers (num_batches_tracked) are 0.
    """
    import torch

    out = {}
    for i, (key, shape, dtype) in enumerate(layout):
        n = math.prod(shape)
        if not dtype.startswith("float"):
            out[key] = torch.zeros(shape, dtype=getattr(torch, dtype))
            continue
        wave = torch.sin(torch.arange(n, dtype=torch.float64) * 0.7311 + 0.1 * i)
        if key.endswith("running_var"):
            values = 1.0 + 0.5 * wave
        elif key.endswith("running_mean") or key.endswith("bias"):
            values = 0.05 * wave
        elif len(shape) >= 2:  # conv / linear weights: fan_in = prod(shape[1:])
            values = wave * (1.0 / math.sqrt(math.prod(shape[1:])))
        else:  # BatchNorm / LayerNorm weights
            values = 1.0 + 0.1 * wave
        out[key] = values.reshape(shape).to(getattr(torch, dtype))
    return out


def meaningful_weights(model, batches: int = 1, size: int = 224, seed: int = 0) -> None:
    """Make torchvision's initialised ``model`` compute input-dependent outputs.

    At torchvision's init some outputs do not depend on the input, so equal
    outputs would prove nothing: zero-initialised weights (ViT's head, its class
    token) give constant logits, and with BatchNorm statistics at 0/1 the
    activations of GoogLeNet, ShuffleNet or MobileNetV3 shrink layer by layer.
    Zero weight tensors get random values (std 1/sqrt(fan-in)), and every
    BatchNorm's running statistics are measured on random images, so every layer
    sees unit-scale inputs and the logits depend on the image.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(math.prod(p.shape[1:])))

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch sets the statistics exactly
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(4, 3, size, size, generator=generator))
    model.eval()


def deterministic_input(shape: tuple[int, ...]):
    """A fixed input tensor of ``shape``: a smooth pattern in [-1, 1]."""
    import torch

    n = math.prod(shape)
    return torch.cos(torch.arange(n, dtype=torch.float64) * 0.01).reshape(shape).to(torch.float32)


def layout_of(module) -> list[tuple[str, list[int], str]]:
    return [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in module.state_dict().items()]


def dump(record: dict) -> str:
    """JSON with one line per state_dict entry (small, readable diffs)."""
    lines = ["{"]
    items = list(record.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if k == "state_dict":
            lines.append(f' "{k}": [')
            for j, entry in enumerate(v):
                lines.append("  " + json.dumps(entry) + ("," if j < len(v) - 1 else ""))
            lines.append(" ]" + comma)
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder of the JSON fixtures")
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)

    import torch
    import torchvision
    from torchvision import models

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        model = getattr(models, name)(weights=None, **KWARGS.get(name, {})).eval()
        layout = layout_of(model)
        weights = models.get_model_weights(name)
        default = weights.DEFAULT if hasattr(weights, "DEFAULT") else next(iter(weights))
        record = {
            "model": name,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "gflops": default.meta.get("_ops"),
            "state_dict": [{"key": k, "shape": s, "dtype": d} for k, s, d in layout],
        }
        if name == "resnet18":
            model.load_state_dict(deterministic_state_dict(layout), strict=True)
            x = deterministic_input((1, 3, 224, 224))
            with torch.no_grad():
                y = model(x).double()
            record["deterministic"] = {
                "input_shape": [1, 3, 224, 224],
                "output_shape": list(y.shape),
                "first_outputs": [float(v) for v in y.flatten()[:N_OUTPUTS]],
                "output_sum": float(y.sum()),
                "output_abs_sum": float(y.abs().sum()),
            }
        path = args.out / f"{name}.json"
        path.write_text(dump(record), encoding="utf-8")
        print(f"wrote {path}: {len(layout)} keys, {record['num_parameters']:,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
