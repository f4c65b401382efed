"""The checks ``graphspec import`` runs on the spec it wrote, before writing it.

The spec text is loaded again like any spec file; its graph must have the
model's parameter count, load the model's ``state_dict`` strict, and compute
the same outputs in eval mode on random inputs (two batches of seeded normal
inputs; BatchNorm statistics first made meaningful with
:func:`graphspec.backends.parity.calibrate_norms`, on a copy, so outputs
depend on the input). Tolerances are export parity's (float32: atol 1e-4
scaled by the output magnitude, rtol 1e-3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from graphspec.backends import parity
from graphspec.errors import Diagnostic, GraphspecError
from graphspec.ops.types import TensorType

__all__ = ["ImportReport", "check_spec_text"]


@dataclass
class ImportReport:
    params_model: int
    params_spec: int
    state_dict_keys: int
    outputs: list[parity.OutputCheck] = field(default_factory=list)
    varies: bool | None = None

    @property
    def passed(self) -> bool:
        return self.params_model == self.params_spec and all(o.passed for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "params": {"model": self.params_model, "spec": self.params_spec},
            "state_dict_keys": self.state_dict_keys,
            "strict_load": True,
            "varies": self.varies,
            "outputs": {o.name: o.to_json() for o in self.outputs},
        }


def _fail(message: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError(Diagnostic("parity", message, hint=hint))


def _feeds(inputs: dict[str, TensorType], sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    from graphspec.backends.torch_import import _concrete_inputs

    return {n: t.numpy() for n, t in zip(inputs, _concrete_inputs(inputs, sizes, seed))}


def _outputs(module: nn.Module, feeds: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    with torch.no_grad():
        result = module(*[torch.from_numpy(feeds[n]) for n in names])
    leaves = [r for r in torch.utils._pytree.tree_leaves(result) if isinstance(r, torch.Tensor)]
    return [r.detach().float().numpy() if r.dtype == torch.bfloat16 else r.detach().numpy() for r in leaves]


WRITTEN = "<the spec graphspec import wrote>"  # how load() names the text in its diagnostics (no file exists yet)


def check_spec_text(model: nn.Module, text: str, inputs: dict[str, TensorType], sizes: dict[str, int]) -> ImportReport:
    """Load ``text`` and compare its graph with ``model``; raises GraphspecError (code parity) on a mismatch."""
    import graphspec

    spec = graphspec.load(WRITTEN, text=text)
    graph = spec.graph()
    params_model = sum(p.numel() for p in model.parameters())
    compiled = spec.to_torch()
    reference = copy.deepcopy(model).eval()
    names = list(inputs)
    calib = _feeds(inputs, {k: max(v, 4) for k, v in sizes.items()}, 7)  # BatchNorm needs > 1 value per channel
    parity.calibrate_norms(reference, calib, names)
    result = compiled.load_state_dict(reference.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise _fail(
            f"the written spec does not load the model's state_dict strict: missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}",
            hint="a bug of graphspec import: please report it with the model",
        )
    compiled.eval()
    report = ImportReport(params_model, graph.total_params, len(reference.state_dict()))
    if report.params_model != report.params_spec:
        raise _fail(f"the written spec has {report.params_spec:,} parameters, the model {report.params_model:,}")
    runs = []
    for seed in (0, 1):
        feeds = _feeds(inputs, sizes, seed)
        ref = _outputs(reference, feeds, names)
        got = _outputs(compiled, feeds, names)
        if len(ref) != len(got):
            raise _fail(f"the model returns {len(ref)} tensors, the written spec {len(got)}")
        checks = [parity.compare(out, r, g) for out, r, g in zip(graph.outputs, ref, got)]
        runs.append(ref)
        if not report.outputs or any(not c.passed for c in checks):
            report.outputs = checks
    report.varies = parity.varies([r[0] for r in runs] if runs and runs[0] else [])
    bad = [o for o in report.outputs if not o.passed]
    if bad:
        worst = max(bad, key=lambda o: o.ratio)
        raise _fail(f"the written spec computes output {worst.name!r} differently from the model: max abs diff {worst.max_abs:.3g} "
                    f"(tolerance atol {worst.atol:g} x {worst.scale:.3g} + rtol {worst.rtol:g})" + (f"; {worst.note}" if worst.note else ""))
    return report
