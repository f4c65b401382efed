"""Parity of an exported ONNX model with the PyTorch module it came from.

Both run on the same random inputs (valid token ids for Embedding inputs) at
two or more points: batch sizes 1 and 3 (the export used 2, so this also proves
the batch dim is dynamic) and, for every other symbolic dim (``seq``), the
spec's example size and a smaller one. PyTorch runs in eval mode on the CPU in
float32, onnxruntime on the chosen provider (the CPU by default).

Tolerance (float32): an output passes when every element satisfies

    |onnx - torch| <= atol * max(1, scale) + rtol * |torch|,   atol = 1e-4, rtol = 1e-3

where ``scale`` is the output's largest magnitude max|torch| at that point: the
absolute part grows with large-valued outputs (logits in the thousands carry
float32 rounding of ~1e-4 even on their small elements), and stays ``atol``
for outputs within [-1, 1]. fp16/bf16 outputs use atol = rtol = 1e-2; integer
and bool outputs must be equal. NaN or Inf in either output never passes (a
model that computes NaN proves nothing). Reported per output:

- ``max_abs``: max |onnx - torch|;
- ``max_rel``: max |onnx - torch| / max(|torch|, atol) (the floor keeps
  elements near zero from dominating);
- ``ratio``: max |onnx - torch| / tolerance; <= 1 passes, so it reads as the
  fraction of the tolerance used;
- ``varies``: whether the PyTorch output depends on the input (it differs
  between the examples of a batch, or between points of the same shape). An
  output that does not compares constants: the report says so (``constant
  outputs``), since parity then says nothing about the layers before it.

To make random-weight models meaningful, :func:`calibrate_norms` gives norm
layers seeded statistics before the export when no trained weights are given
(default BatchNorm statistics are an identity, and in deep nets such as
MobileNetV2 the activations then shrink until every input gives the same logits).

A failure is a ``parity`` error (exit 6) naming the worst output (highest ratio).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from graphspec.backends.example_inputs import make_inputs, symbols_of
from graphspec.errors import GraphspecError

FP32_ATOL = 1e-4
FP32_RTOL = 1e-3
HALF_ATOL = 1e-2
HALF_RTOL = 1e-2
CRITERION = "|onnx - torch| <= atol * max(1, max|torch|) + rtol * |torch| for every element; NaN/Inf never pass"

PARITY_BATCH_SIZES = (1, 3)


@dataclass
class OutputCheck:
    name: str
    shape: list[int]
    dtype: str
    max_abs: float
    max_rel: float
    ratio: float
    passed: bool
    atol: float
    rtol: float
    note: str | None = None
    scale: float = 1.0  # the factor atol was multiplied by: max(1, max|torch|)
    varies: bool | None = None  # the torch output depends on the input (None: not decidable)

    def to_json(self) -> dict:
        d = {
            "shape": self.shape,
            "dtype": self.dtype,
            "max_abs": _num(self.max_abs),
            "max_rel": _num(self.max_rel),
            "ratio": _num(self.ratio),
            "passed": self.passed,
        }
        if (self.atol, self.rtol) != (FP32_ATOL, FP32_RTOL):
            d["atol"], d["rtol"] = self.atol, self.rtol
        if self.scale != 1.0:
            d["atol_scale"] = _num(self.scale)
        if self.varies is not None:
            d["varies"] = self.varies
        if self.note:
            d["note"] = self.note
        return d


def _num(x: float):
    """JSON has no inf/nan: say them as strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return float(x)


@dataclass
class ParityPoint:
    sizes: dict[str, int]
    outputs: list[OutputCheck]

    def to_json(self) -> dict:
        return {"sizes": self.sizes, "outputs": {o.name: o.to_json() for o in self.outputs}}


@dataclass
class ParityReport:
    provider: str
    atol: float
    rtol: float
    points: list[ParityPoint] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def checks(self) -> list[tuple[ParityPoint, OutputCheck]]:
        return [(p, o) for p in self.points for o in p.outputs]

    @property
    def passed(self) -> bool:
        return all(o.passed for _, o in self.checks)

    def worst(self) -> tuple[ParityPoint, OutputCheck] | None:
        items = self.checks
        if not items:
            return None
        return max(items, key=lambda po: (not po[1].passed, _key(po[1].ratio)))

    @property
    def constant_outputs(self) -> list[str]:
        """Outputs whose PyTorch values do not depend on the input (parity compares constants)."""
        return [o.name for o in self.points[0].outputs if o.varies is False] if self.points else []

    def per_output(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for _, o in self.checks:
            s = out.setdefault(o.name, {"max_abs": 0.0, "max_rel": 0.0, "ratio": 0.0, "passed": True})
            s["max_abs"] = max(s["max_abs"], o.max_abs, key=_key)
            s["max_rel"] = max(s["max_rel"], o.max_rel, key=_key)
            s["ratio"] = max(s["ratio"], o.ratio, key=_key)
            s["passed"] = s["passed"] and o.passed
        return out

    def to_json(self) -> dict:
        worst = self.worst()
        return {
            "passed": self.passed,
            "provider": self.provider,
            "atol": self.atol,
            "rtol": self.rtol,
            "criterion": CRITERION,
            "worst_output": worst[1].name if worst else None,
            "worst_sizes": worst[0].sizes if worst else None,
            "max_abs": _num(worst[1].max_abs) if worst else 0.0,
            "max_rel": _num(max((o.max_rel for _, o in self.checks), default=0.0, key=_key)),
            "outputs": {k: {kk: _num(vv) if kk != "passed" else vv for kk, vv in v.items()} for k, v in self.per_output().items()},
            "points": [p.to_json() for p in self.points],
            "constant_outputs": self.constant_outputs,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        worst = self.worst()
        if worst is None:
            return "parity: nothing compared"
        p, o = worst
        sizes = ", ".join(f"{k}={v}" for k, v in p.sizes.items()) or "static shapes"
        verdict = "ok" if self.passed else "FAILED"
        text = (
            f"parity {verdict} on onnxruntime {self.provider} at {len(self.points)} point(s): worst output {o.name!r} "
            f"max abs {o.max_abs:.3g}, max rel {o.max_rel:.3g} ({sizes}); tolerance atol {self.atol:g}, rtol {self.rtol:g}"
        )
        if self.constant_outputs:
            text += (
                f"; warning: constant outputs {', '.join(self.constant_outputs)} (the same for every input, "
                "so parity says nothing about the layers before them)"
            )
        return text

    def error(self) -> GraphspecError:
        worst = self.worst()
        assert worst is not None
        p, o = worst
        sizes = ", ".join(f"{k}={v}" for k, v in p.sizes.items()) or "static shapes"
        failing = sorted({o2.name for _, o2 in self.checks if not o2.passed})
        detail = o.note or f"max abs error {o.max_abs:.3g}, max rel error {o.max_rel:.3g}, {o.ratio:.3g}x the tolerance"
        return GraphspecError.one(
            "parity",
            f"onnxruntime ({self.provider}) and PyTorch disagree on output {o.name!r} at {sizes}: {detail} "
            f"(atol {o.atol:g}, rtol {o.rtol:g}); failing outputs: {', '.join(failing)}",
            node=o.name,
            hint="an op exports differently from its PyTorch version; compare with 'graphspec infer' on the same inputs",
        )


def _key(x: float) -> float:
    return float("inf") if isinstance(x, float) and math.isnan(x) else x


def tolerance(dtype: str, atol: float | None = None, rtol: float | None = None) -> tuple[float, float]:
    if dtype in ("float16", "bfloat16"):
        base = (HALF_ATOL, HALF_RTOL)
    else:
        base = (FP32_ATOL, FP32_RTOL)
    return (base[0] if atol is None else atol, base[1] if rtol is None else rtol)


def compare(name: str, ref: np.ndarray, got: np.ndarray, atol: float | None = None, rtol: float | None = None) -> OutputCheck:
    """Compare one output (``ref`` from PyTorch, ``got`` from onnxruntime)."""
    ref = np.asarray(ref)
    got = np.asarray(got)
    a, r = tolerance(ref.dtype.name, atol, rtol)
    if ref.shape != got.shape:
        return OutputCheck(
            name, list(ref.shape), ref.dtype.name, float("inf"), float("inf"), float("inf"), False, a, r,
            note=f"shape differs: PyTorch {list(ref.shape)}, onnxruntime {list(got.shape)}",
        )
    if ref.size == 0:
        return OutputCheck(name, list(ref.shape), ref.dtype.name, 0.0, 0.0, 0.0, True, a, r)
    if ref.dtype.kind in "biu":
        diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        mx = float(diff.max())
        ok = bool(mx == 0)
        return OutputCheck(name, list(ref.shape), ref.dtype.name, mx, mx, 0.0 if ok else float("inf"), ok, 0.0, 0.0, note=None if ok else "integer outputs differ")
    rf = ref.astype(np.float64)
    gt = got.astype(np.float64)
    bad = ~np.isfinite(rf) | ~np.isfinite(gt)
    if bad.any():  # NaN == NaN would "agree" on a model that computes nothing
        where = "PyTorch" if not np.isfinite(rf).all() else "onnxruntime"
        return OutputCheck(
            name, list(ref.shape), ref.dtype.name, float("inf"), float("inf"), float("inf"), False, a, r,
            note=f"NaN or Inf in the {where} output ({int(bad.sum())} of {bad.size} elements): parity cannot be judged",
        )
    diff = np.abs(rf - gt)
    mag = np.abs(rf)
    scale = max(1.0, float(mag.max()))
    max_abs = float(diff.max())
    max_rel = float((diff / np.maximum(mag, a)).max())
    ratio = float((diff / (a * scale + r * mag)).max())
    return OutputCheck(name, list(ref.shape), ref.dtype.name, max_abs, max_rel, ratio, bool(ratio <= 1.0), a, r, scale=scale)


def varies(outputs: Sequence[np.ndarray], batch_axis: bool = True) -> bool | None:
    """Whether PyTorch outputs (one per point) depend on the input; None when undecidable.

    Yes when the examples of a batch differ (axis 0, batch > 1) or when two
    points of the same shape differ (their inputs differ).

    >>> varies([np.ones((3, 2)), np.ones((1, 2))]), varies([np.arange(6.0).reshape(3, 2)])
    (False, True)
    """
    decidable = False
    for out in outputs:
        out = np.asarray(out)
        if out.dtype.kind not in "fiub" or out.size == 0:
            continue
        if batch_axis and out.ndim >= 1 and out.shape[0] > 1:
            decidable = True
            if _differ(out, out[:1]):
                return True
    for i, x in enumerate(outputs):
        for y in outputs[i + 1:]:
            if np.shape(x) == np.shape(y) and np.size(x):
                decidable = True
                if _differ(np.asarray(x), np.asarray(y)):
                    return True
    return False if decidable else None


def _batch_first(graph, output: str) -> bool:
    """Whether the output's axis 0 is a batch-like dim (so its examples may differ)."""
    try:
        t = graph.output_type(output)
    except KeyError:
        return False
    batch_dims = {k for k, v in symbols_of(graph).items() if v}
    return t is not None and len(t.shape) > 0 and t.shape[0] in batch_dims


def _differ(x: np.ndarray, y: np.ndarray) -> bool:
    """More than float32 noise apart (relative to the values' magnitude)."""
    xf = x.astype(np.float64)
    yf = np.broadcast_to(y.astype(np.float64), xf.shape)
    finite = np.isfinite(xf) & np.isfinite(yf)
    if not finite.any():
        return False
    spread = float(np.abs(xf - yf)[finite].max())
    return spread > 1e-6 * max(1.0, float(np.abs(xf[finite]).max()))


def calibrate_norms(module, feeds: dict[str, np.ndarray], input_names: Sequence[str], seed: int = 0) -> int:
    """Seeded statistics and affine parameters for the module's BatchNorm layers; returns how many.

    Running statistics are measured on ``feeds`` (one forward pass in train
    mode, cumulative averages), then affine parameters are drawn around 1 and 0,
    so that eval-mode outputs depend on the input the way a trained model's do.
    Only for random-weight modules (no trained weights given): other layers and
    modes are left as they were.
    """
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    gen = torch.Generator().manual_seed(seed)
    saved = [(m, m.momentum) for m in norms]
    was_training = module.training
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative: one pass sets the batch's statistics
        module.train()
        with torch.no_grad():
            module(*[torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names])
            for m in norms:
                if m.affine:
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5, generator=gen))
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        module.train(was_training)
    return len(norms)


def points(graph, example: dict[str, int], static: dict[str, int] | None = None) -> list[dict[str, int]]:
    """The dim sizes to check parity at: batch 1 and 3, other dims at the example size and a smaller one."""
    static = static or {}
    symbols = symbols_of(graph)
    if not symbols:
        return [{}]
    out = []
    for i, batch in enumerate(PARITY_BATCH_SIZES):
        sizes = {}
        for name, batch_like in symbols.items():
            if name in static:
                sizes[name] = static[name]
            elif batch_like:
                sizes[name] = batch
            else:
                sizes[name] = example[name] if i == 0 else _other_size(example[name])
        out.append(sizes)
    return out


def _other_size(n: int) -> int:
    """A second size for a non-batch dim: smaller (a table such as max_len may bound it), >= 2.

    >>> _other_size(64), _other_size(28), _other_size(3), _other_size(2)
    (48, 21, 2, 3)
    """
    if n <= 2:
        return n + 1
    return max(2, n - max(1, n // 4))


def run_torch(module, feeds: dict[str, np.ndarray], input_names: Sequence[str], device: str = "cpu") -> list[np.ndarray]:
    """The module's outputs as numpy arrays (the module must already be on ``device``)."""
    import torch

    with torch.no_grad():
        out = module(*[torch.from_numpy(np.ascontiguousarray(feeds[n])).to(device) for n in input_names])
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return [t.detach().cpu().numpy() for t in out]


def run_onnx(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One onnxruntime run (a separate function so tests can perturb its results)."""
    return session.run(feeds)


def check(
    module,
    model: str | bytes,
    graph,
    input_names: Sequence[str],
    output_names: Sequence[str],
    points: Sequence[dict[str, int]],
    *,
    provider: str = "cpu",
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 1,
    session: Any = None,
    device: str = "cpu",
) -> ParityReport:
    """Run PyTorch (on ``device``, where the module already is) and onnxruntime at each point; compare every output."""
    from graphspec.runtime.session import Session

    t0 = time.perf_counter()
    module.eval()
    sess = session or Session(model, provider=provider, tf32=False)
    report = ParityReport(provider=sess.provider, atol=FP32_ATOL if atol is None else atol, rtol=FP32_RTOL if rtol is None else rtol)
    refs: list[list[np.ndarray]] = []
    for i, sizes in enumerate(points):
        feeds = make_inputs(graph, input_names, sizes, seed=seed + i)
        try:
            ref = run_torch(module, feeds, input_names, device)
        except Exception as exc:
            raise GraphspecError.one(
                "parity",
                f"PyTorch itself fails at sizes {sizes}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                hint="the parity check varies batch and sequence sizes; does the model accept these?",
            ) from None
        try:
            got = run_onnx(sess, feeds)
        except GraphspecError as exc:
            raise GraphspecError.one(
                "parity",
                f"onnxruntime fails at sizes {sizes} where PyTorch runs: {exc.diagnostics[0].message}",
                hint="a dim may have been fixed at export; see the export's warnings",
            ) from None
        checks = []
        for name, r in zip(output_names, ref):
            checks.append(compare(name, r, got[name], atol, rtol))
        report.points.append(ParityPoint(dict(sizes), checks))
        refs.append(ref)
    for j, name in enumerate(output_names):
        v = varies([r[j] for r in refs], batch_axis=_batch_first(graph, name))
        for p in report.points:
            p.outputs[j].varies = v
    report.seconds = time.perf_counter() - t0
    return report
