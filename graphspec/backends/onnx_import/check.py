"""The checks ``graphspec import model.onnx`` runs on the spec it wrote, before writing it.

The spec text is loaded again like any spec file; its graph must have as
many parameters as the ONNX constants that became weights, its compiled
module must load those weights strict, and it must compute the outputs
onnxruntime computes on the original file (two batches of seeded random
inputs; export parity's tolerances). The report is the torch import's
(:class:`graphspec.backends.torch_import_check.ImportReport`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphspec.backends import parity
from graphspec.backends.onnx_import.build import OnnxGraph
from graphspec.backends.torch_import_check import WRITTEN, ImportReport
from graphspec.errors import Diagnostic, GraphspecError

__all__ = ["check_spec_text", "state_dict"]


def _fail(message: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError(Diagnostic("parity", message, hint=hint))


def state_dict(compiled: Any, result: OnnxGraph) -> dict:
    """The compiled module's full state_dict with the imported weights in it (loads strict)."""
    import torch

    own = compiled.state_dict()
    missing = [k for k in result.weights if k not in own]
    wrong = [k for k, v in result.weights.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    left = [k for k in own if k not in result.weights and not k.endswith("num_batches_tracked")]
    if missing or wrong or left:
        raise _fail(f"the written spec's weights do not match the ONNX constants: not in the spec {missing[:5]}, "
                    f"other shapes {wrong[:5]}, not in the ONNX file {left[:5]}", hint="a bug of graphspec import: please report it with the model")
    full = dict(own)
    for k, v in result.weights.items():
        full[k] = torch.from_numpy(np.array(v))  # a copy: initializers are read-only views.to(own[k].dtype)
    return full


def _session(model: Any, result: OnnxGraph) -> Any:
    """An onnxruntime session on ``model`` with its inputs declared as imported (--input may change them)."""
    import onnxruntime as ort

    copy = type(model)()
    copy.CopyFrom(model)
    by_onnx = {o: n for n, o in result.input_names.items()}
    for value in copy.graph.input:
        if value.name in by_onnx:
            shape = value.type.tensor_type.shape
            shape.ClearField("dim")
            for d in result.graph.inputs[by_onnx[value.name]].type.shape:
                shape.dim.add().CopyFrom(_dim(d))
    for value in copy.graph.output:  # declared output sizes follow the inputs
        value.type.tensor_type.ClearField("shape")
    del copy.graph.value_info[:]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(copy.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


def _dim(d: Any) -> Any:
    from onnx import TensorShapeProto

    out = TensorShapeProto.Dimension()
    if isinstance(d, int):
        out.dim_value = d
    else:
        out.dim_param = str(d)
    return out


def _feeds(result: OnnxGraph, seed: int) -> dict[str, np.ndarray]:
    from graphspec.backends.torch_import import _concrete_inputs

    types = {n: spec.type for n, spec in result.graph.inputs.items()}
    return {n: t.numpy() for n, t in zip(types, _concrete_inputs(types, result.sizes, seed))}


def check_spec_text(model: Any, text: str, result: OnnxGraph) -> tuple[ImportReport, dict]:
    """Load ``text``, put the weights in, compare with onnxruntime on ``model``; (report, full state_dict)."""
    import torch

    import graphspec

    spec = graphspec.load(WRITTEN, text=text)
    graph = spec.graph()
    compiled = spec.to_torch()
    weights = state_dict(compiled, result)
    compiled.load_state_dict(weights, strict=True)
    compiled.eval()
    report = ImportReport(result.onnx_params, graph.total_params, len(weights))
    if report.params_model != report.params_spec:
        raise _fail(f"the written spec has {report.params_spec:,} parameters, the ONNX file's weights {report.params_model:,}")
    session = _session(model, result)
    names = list(result.graph.inputs)
    runs = []
    for seed in (0, 1):
        feeds = _feeds(result, seed)
        try:
            ref = session.run(list(result.output_names.values()), {result.input_names[n]: feeds[n] for n in names})
        except Exception as exc:  # onnxruntime's own exception types
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _fail(f"onnxruntime cannot run the ONNX file at the input shapes {[list(f.shape) for f in feeds.values()]}: {text}",
                        hint="an --input shape the file's graph does not allow (e.g. a size baked into a Reshape)") from None
        with torch.no_grad():
            got = compiled(*[torch.from_numpy(feeds[n]) for n in names])
        got_list = [g.detach().numpy() for g in torch.utils._pytree.tree_leaves(got) if isinstance(g, torch.Tensor)]
        checks = [parity.compare(o, r, g) for o, r, g in zip(result.output_names, ref, got_list)]
        runs.append(ref)
        if not report.outputs or any(not c.passed for c in checks):
            report.outputs = checks
    report.varies = parity.varies([r[0] for r in runs])
    bad = [o for o in report.outputs if not o.passed]
    if bad:
        worst = max(bad, key=lambda o: o.ratio)
        raise _fail(f"the written spec computes output {worst.name!r} differently from onnxruntime on the ONNX file: max abs diff {worst.max_abs:.3g} "
                    f"(tolerance atol {worst.atol:g} x {worst.scale:.3g} + rtol {worst.rtol:g})" + (f"; {worst.note}" if worst.note else ""))
    return report, weights
