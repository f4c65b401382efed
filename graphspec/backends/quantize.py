"""fp16 and int8 versions of an exported fp32 ONNX model, checked against it.

:func:`convert` takes the fp32 model ``graphspec export`` wrote and writes the
requested precision:

- ``int8``: onnxruntime's ``quant_pre_process`` first (without it the quantizer
  fails on exported models with "Inferred shape and existing shape differ", and
  it folds LSTM weights so they can be quantized), then
  - static QDQ, per-channel weights, uint8 activations / int8 weights, min-max
    calibration (entropy/percentile as options) for conv, dense and attention
    nets: measured 0.30x the fp32 time on ResNet-18 where int8 activations give
    0.76x and dynamic int8 3.5x (slower);
  - dynamic int8 for nets with an ``LSTM`` (onnxruntime has a dynamic int8 LSTM,
    no static one); ``GRU`` and ``RNN`` have no int8 kernel and stay fp32 (the
    report says so). Dynamic int8 on other nets only when asked (``mode``).
    When the all-int8 model fails the check, the first layer (reading the raw
    inputs) is kept fp32 and the model quantized again: per-channel int8 in the
    digits LeNet's conv1 cost 0.74 points of accuracy, with conv1 in fp32 none.
- ``fp16``: onnxconverter-common's float16 conversion, inputs and outputs kept
  fp32. On a CPU it halves the file but not the time (onnxruntime's CPU kernels
  are fp32; the casts cost what the smaller weights save).

Then the check, the precision counterpart of the parity report: both models run
on held-out data; top-1 agreement of every class output (pass: >= 99 % by
default), accuracy of both on the test split when there are labels (pass: at
most 0.5 points lost), and the max abs difference of every output (pass for
fp16: within ``atol``, 1e-2 by default). The figures, the precision and the calibration source go into the
model's metadata (``graphspec.precision``, ``graphspec.calibration``,
``graphspec.precision_check``).

Calibration data comes from the caller (:mod:`graphspec.train.calibration`
reads the spec's train split or a ``.npz``); random inputs are only used when
the caller says so explicitly, because they calibrate badly (on the digits
LeNet they flipped predictions and gave logit errors of 15).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphspec.errors import GraphspecError

if TYPE_CHECKING:  # numpy is imported where it is used: building the CLI parser imports this module
    import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATORS = ("minmax", "entropy", "percentile")
MODES = ("auto", "static", "dynamic")
DEFAULT_MIN_AGREEMENT = 0.99
DEFAULT_MAX_LOSS = 0.5  # points of test accuracy
FP16_ATOL = 1e-2
MAX_CALIBRATION = 1024  # examples: min-max ranges settle long before this
BATCH = 64
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN", "Attention")
INT8_RECURRENT = ("LSTM",)  # recurrent ops with an int8 kernel in onnxruntime (dynamic only)
INT8_MODES_NOTE = {"GRU": "onnxruntime has no int8 GRU", "RNN": "onnxruntime has no int8 RNN"}
METADATA_KEYS = ("graphspec.precision", "graphspec.calibration", "graphspec.precision_check")


@dataclass
class CalibrationData:
    """Examples named like the model's inputs: ``inputs`` calibrate, ``heldout`` check."""

    inputs: dict[str, np.ndarray]
    source: str
    heldout: dict[str, np.ndarray] | None = None  # None: check on ``inputs``
    heldout_source: str = ""
    test: dict[str, np.ndarray] | None = None
    test_labels: np.ndarray | None = None
    class_names: list[str] | None = None
    random: bool = False

    def check_set(self) -> tuple[dict[str, np.ndarray], str]:
        if self.heldout is not None and len(next(iter(self.heldout.values()))):
            return self.heldout, self.heldout_source
        return self.inputs, self.heldout_source or f"the calibration data ({self.source})"


@dataclass
class PrecisionReport:
    precision: str
    method: str  # "static QDQ ...", "dynamic ...", "float16 ..."
    calibration: str | None
    checked_on: str
    examples: int
    min_agreement: float
    atol: float | None
    max_loss: float = 0.5  # points of test accuracy
    agreement: dict[str, float] = field(default_factory=dict)  # class output -> share of equal top-1
    max_abs: dict[str, float] = field(default_factory=dict)
    accuracy_fp32: float | None = None
    accuracy: float | None = None
    test_examples: int = 0
    quantized: dict[str, int] = field(default_factory=dict)  # op type -> count converted
    kept_fp32: dict[str, int] = field(default_factory=dict)  # compute op type -> count left in fp32
    notes: list[str] = field(default_factory=list)
    first_layer: list[str] = field(default_factory=list)  # node names of the layer reading the raw inputs
    size_fp32: int = 0
    size: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        out = [f"top-1 agreement of {k!r} {v:.2%} < {self.min_agreement:.2%}" for k, v in self.agreement.items() if v < self.min_agreement]
        if self.atol is not None:
            out += [f"max abs difference of {k!r} {v:.3g} > atol {self.atol:g}" for k, v in self.max_abs.items() if not v <= self.atol]
        out += [f"output {k!r} is NaN or Inf where fp32 is not" for k, v in self.max_abs.items() if v != v or v == float("inf")]
        if self.accuracy is not None and self.accuracy_fp32 is not None and 100 * (self.accuracy_fp32 - self.accuracy) > self.max_loss + 1e-9:
            out.append(f"test accuracy {self.accuracy:.2%} is {100 * (self.accuracy_fp32 - self.accuracy):.2f} points below fp32's {self.accuracy_fp32:.2%} (limit {self.max_loss:g})")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "precision": self.precision,
            "method": self.method,
            "calibration": self.calibration,
            "checked_on": self.checked_on,
            "examples": self.examples,
            "criterion": f"top-1 agreement >= {self.min_agreement:g}; test accuracy loss <= {self.max_loss:g} points" + (f"; |{self.precision} - fp32| <= {self.atol:g}" if self.atol is not None else ""),
            "agreement": {k: round(v, 6) for k, v in self.agreement.items()},
            "max_abs": {k: _num(v) for k, v in self.max_abs.items()},
            "accuracy_fp32": self.accuracy_fp32,
            "accuracy": self.accuracy,
            "accuracy_change_points": None if self.accuracy is None or self.accuracy_fp32 is None else round(100 * (self.accuracy - self.accuracy_fp32), 3),
            "test_examples": self.test_examples,
            "quantized_ops": self.quantized,
            "fp32_ops": self.kept_fp32,
            "notes": self.notes,
            "size_bytes_fp32": self.size_fp32,
            "size_bytes": self.size,
            "size_ratio": round(self.size / self.size_fp32, 4) if self.size_fp32 else None,
            "seconds": round(self.seconds, 3),
            "failures": self.failures,
        }

    def summary(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        parts = [f"{k!r} agreement {v:.2%}" for k, v in self.agreement.items()]
        parts += [f"{k!r} max abs {v:.3g}" for k, v in self.max_abs.items()]
        if self.accuracy is not None and self.accuracy_fp32 is not None:
            parts.append(f"test accuracy {self.accuracy:.2%} vs fp32 {self.accuracy_fp32:.2%} ({100 * (self.accuracy - self.accuracy_fp32):+.2f} points)")
        return f"{self.precision} check {verdict} against fp32 on {self.examples} example(s) of {self.checked_on}: " + ", ".join(parts)

    def error(self) -> GraphspecError:
        return GraphspecError.one(
            "parity",
            f"the {self.precision} model departs from fp32 on {self.checked_on}: " + "; ".join(self.failures),
            hint="calibrate on more representative data (--calibration), try --calibrator entropy, or keep fp32/fp16"
            if self.precision == "int8" else "raise --precision-atol if this difference is acceptable, or keep fp32",
        )


def _num(x: float) -> float | str:
    return x if x == x and abs(x) != float("inf") else str(x)


def precision_report_path(path: str | Path) -> Path:
    """model.onnx -> model.precision.json"""
    p = Path(path)
    return p.with_name(p.stem + ".precision.json")


# ---------------------------------------------------------------------------- conversion


def op_counts(model) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def _quantized_ops(model) -> tuple[dict[str, int], dict[str, int]]:
    """(op type -> count run in int8, compute op type -> count left fp32) of a quantized model."""
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    done: Counter = Counter()
    kept: Counter = Counter()
    for n in model.graph.node:
        if n.op_type in ("DynamicQuantizeLSTM", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "QLinearConv", "QLinearMatMul"):
            done[n.op_type] += 1
        elif n.op_type in COMPUTE_OPS:
            weight = n.input[1] if len(n.input) > 1 else ""
            src = producers.get(weight)
            if src is not None and src.op_type == "DequantizeLinear" and (src.input[0] in inits or src.input[0] in producers):
                done[n.op_type] += 1
            else:
                kept[n.op_type] += 1
    return dict(done), dict(kept)


def choose_mode(model, mode: str) -> str:
    if mode != "auto":
        return mode
    ops = op_counts(model)
    return "dynamic" if any(ops.get(o) for o in INT8_RECURRENT) else "static"


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over in-memory batches."""

    def __init__(self, feeds: dict[str, np.ndarray], batch: int = BATCH):
        import numpy as np

        n = len(next(iter(feeds.values())))
        if n > batch:  # equal batches: the histogram calibrators stack them
            n -= n % batch
        self._batches = iter([{k: np.ascontiguousarray(v[i : i + batch]) for k, v in feeds.items()} for i in range(0, n, batch)])

    def get_next(self):
        return next(self._batches, None)

    def __iter__(self):
        return iter(self.get_next, None)


def _subset(feeds: dict[str, np.ndarray], limit: int, seed: int = 0) -> dict[str, np.ndarray]:
    import numpy as np

    n = len(next(iter(feeds.values())))
    if n <= limit:
        return feeds
    idx = np.sort(np.random.default_rng(seed).permutation(n)[:limit])
    return {k: v[idx] for k, v in feeds.items()}


def _preprocess(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
    except Exception:  # symbolic shape inference gives up on some graphs: the rest still helps
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        except Exception as exc:
            raise GraphspecError.one("export", f"onnxruntime's quant_pre_process fails on this model: {_line(exc)}") from None


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:400] if text else type(exc).__name__


def input_layers(model) -> list[str]:
    """Names of the compute nodes that read a graph input directly (the first layer)."""
    names = {i.name for i in model.graph.input}
    return [n.name for n in model.graph.node if n.op_type in COMPUTE_OPS and n.input and n.input[0] in names]


def quantize_int8(
    src: Path, dst: Path, data: CalibrationData | None, *, mode: str = "auto", calibrator: str = "minmax", keep_first: bool = True
) -> tuple[str, list[str], list[str]]:
    """Write the int8 model of ``src`` to ``dst``; returns (method description, notes, first-layer node names)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from graphspec.backends.onnx_export import quiet

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="graphspec-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        with quiet():
            _preprocess(src, pre)
        model = onnx.load(str(pre))
        chosen = choose_mode(model, mode)
        first = input_layers(model) if chosen == "static" else []
        for op, why in INT8_MODES_NOTE.items():
            if op_counts(model).get(op):
                notes.append(f"{op} stays fp32: {why}")
        try:
            with quiet():
                if chosen == "dynamic":
                    quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=False)
                    method = "dynamic int8 (int8 weights, activations quantized at run time)"
                else:
                    if data is None:
                        raise GraphspecError.one("usage", "static int8 needs calibration data", hint="pass --calibration FILE.npz")
                    method_enum = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[calibrator]
                    quantize_static(
                        str(pre), str(dst), _Reader(_subset(data.inputs, MAX_CALIBRATION)),
                        nodes_to_exclude=first if keep_first else None,
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=method_enum,
                        extra_options={"CalibTensorRangeSymmetric": False},
                    )
                    method = f"static QDQ int8 (per-channel int8 weights, uint8 activations, {calibrator} calibration)"
                    if keep_first and first:
                        notes.append(f"first layer {', '.join(first)} stays fp32")
        except GraphspecError:
            raise
        except Exception as exc:
            raise GraphspecError.one(
                "export", f"onnxruntime cannot quantize this model to int8 ({chosen}): {_line(exc)}",
                hint="keep --precision fp32 or fp16 for this model",
            ) from None
    return method, notes, first


def convert_fp16(src: Path, dst: Path) -> tuple[str, list[str]]:
    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise GraphspecError.one("dependency", "--precision fp16 needs onnxconverter-common", hint="pip install onnxconverter-common") from None
    model = onnx.load(str(src))
    try:
        with _quiet_warnings():
            half = float16.convert_float_to_float16(model, keep_io_types=True)
        onnx.checker.check_model(half)
    except Exception as exc:
        raise GraphspecError.one("export", f"this model cannot be converted to fp16: {_line(exc)}", hint="keep --precision fp32") from None
    onnx.save_model(half, str(dst))
    return "float16 weights and activations (onnxconverter-common), fp32 inputs and outputs", []


class _quiet_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ---------------------------------------------------------------------------- the check


def _run_all(session, feeds: dict[str, np.ndarray], batch: int = 256) -> dict[str, np.ndarray]:
    import numpy as np

    n = len(next(iter(feeds.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(0, n, batch):
        out = session.run({k: v[i : i + batch] for k, v in feeds.items()})
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) for k, v in parts.items()}


def is_class_output(arr: np.ndarray) -> bool:
    """Float [batch, ..., classes] with at least two classes: top-1 is meaningful."""
    return arr.dtype.kind == "f" and arr.ndim >= 2 and arr.shape[-1] >= 2


def check(
    fp32: str | Path, converted: str | Path, precision: str, data: CalibrationData, *,
    min_agreement: float = DEFAULT_MIN_AGREEMENT, max_loss: float = DEFAULT_MAX_LOSS, atol: float | None = None,
) -> PrecisionReport:
    """Compare the converted model with fp32 on held-out data (agreement, max abs, accuracy)."""
    import numpy as np

    from graphspec.runtime.session import Session

    feeds, where = data.check_set()
    ref_s, got_s = Session(str(fp32), provider="cpu"), Session(str(converted), provider="cpu")
    ref, got = _run_all(ref_s, feeds), _run_all(got_s, feeds)
    report = PrecisionReport(
        precision=precision, method="", calibration=None, checked_on=where, examples=len(next(iter(feeds.values()))),
        min_agreement=min_agreement, max_loss=max_loss, atol=atol if atol is not None else (FP16_ATOL if precision == "fp16" else None),
    )
    for name, r in ref.items():
        g = got[name]
        if r.dtype.kind != "f":
            report.max_abs[name] = float(np.abs(r.astype(np.float64) - g.astype(np.float64)).max(initial=0.0))
            continue
        diff = np.abs(r.astype(np.float64) - g.astype(np.float64))
        report.max_abs[name] = float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0))
        if is_class_output(r):
            report.agreement[name] = float((r.argmax(-1) == g.argmax(-1)).mean())
    if data.test is not None and data.test_labels is not None:
        first = next(iter(ref))
        r, g = _run_all(ref_s, data.test)[first], _run_all(got_s, data.test)[first]
        if is_class_output(r) and r.shape[:-1] == data.test_labels.shape:
            report.accuracy_fp32 = float((r.argmax(-1) == data.test_labels).mean())
            report.accuracy = float((g.argmax(-1) == data.test_labels).mean())
            report.test_examples = int(data.test_labels.size)
    return report


# ---------------------------------------------------------------------------- entry point


def convert(
    fp32: str | Path,
    path: str | Path,
    precision: str,
    data: CalibrationData | None,
    *,
    mode: str = "auto",
    calibrator: str = "minmax",
    keep_first: bool | None = None,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    max_loss: float = DEFAULT_MAX_LOSS,
    atol: float | None = None,
) -> PrecisionReport:
    """Write the ``precision`` version of the fp32 model ``fp32`` to ``path`` and check it against fp32.

    ``data`` calibrates (int8 static) and is what the check runs on; fp16 and
    dynamic int8 only need it for the check. ``keep_first`` None: quantize
    every layer, and when that fails the check, again with the first layer
    (the one reading the raw inputs) in fp32. The report is returned, not
    raised: ``report.passed`` / ``report.error()``.
    """
    from graphspec.io import atomic_write

    if precision not in ("fp16", "int8"):
        raise GraphspecError.one("usage", f"unknown precision {precision!r}", hint="fp32, fp16 or int8")
    if calibrator not in CALIBRATORS or mode not in MODES:
        raise GraphspecError.one("usage", f"unknown calibrator {calibrator!r} or mode {mode!r}", hint=f"calibrators: {', '.join(CALIBRATORS)}; modes: {', '.join(MODES)}")
    if data is None:
        raise GraphspecError.one("usage", f"--precision {precision} checks the model on data, and there is none", hint="pass --calibration FILE.npz")
    fp32, path = Path(fp32), Path(path)
    t0 = time.perf_counter()
    opts = dict(mode=mode, calibrator=calibrator, min_agreement=min_agreement, max_loss=max_loss, atol=atol)
    with tempfile.TemporaryDirectory(prefix="graphspec-precision-", dir=path.parent) as tmp:
        model, report = _attempt(fp32, Path(tmp) / "a.onnx", precision, data, keep_first=bool(keep_first), **opts)
        if keep_first is None and not report.passed and "static" in report.method and report.first_layer:
            why = "; ".join(report.failures)
            model, report = _attempt(fp32, Path(tmp) / "b.onnx", precision, data, keep_first=True, **opts)
            report.notes.insert(0, f"with every layer in int8: {why}; so the first layer stays fp32")
        report.size_fp32 = fp32.stat().st_size
        report.seconds = time.perf_counter() - t0
        set_metadata(model, report)
        blob = model.SerializeToString()
        report.size = len(blob)
        atomic_write(path, blob)
    return report


_PROBE = "import sys, onnxruntime as o; o.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"


def probe(path: Path, precision: str) -> None:
    """Load the converted model in a child process first: onnxruntime crashes (SIGSEGV)
    creating sessions for some converted models (the fp16 char_lm, an LSTM language
    model), and a crash must be an error message, not the end of this process."""
    import subprocess
    import sys

    try:
        r = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise GraphspecError.one("export", f"onnxruntime hangs loading the {precision} model", hint="keep --precision fp32") from None
    if r.returncode != 0:
        why = f"it crashed (signal {-r.returncode})" if r.returncode < 0 else (r.stderr.strip().splitlines() or ["it failed"])[-1][:300]
        raise GraphspecError.one(
            "export", f"onnxruntime cannot load the {precision} version of this model: {why}",
            hint="an op of this model has no working " + precision + " kernel on this onnxruntime; keep --precision fp32" + (" or try int8" if precision == "fp16" else ""),
        )


def _attempt(fp32: Path, out: Path, precision: str, data: CalibrationData, *, keep_first: bool, mode: str, calibrator: str, min_agreement: float, max_loss: float, atol: float | None):
    """One conversion and its check: (model, report)."""
    import onnx

    first: list[str] = []
    if precision == "int8":
        method, notes, first = quantize_int8(fp32, out, data, mode=mode, calibrator=calibrator, keep_first=keep_first)
    else:
        method, notes = convert_fp16(fp32, out)
    probe(out, precision)
    model = onnx.load(str(out))
    if precision == "int8":
        done, kept = _quantized_ops(model)
        if not done:
            raise GraphspecError.one(
                "export", f"no op of this model can run in int8 on onnxruntime (compute ops: {', '.join(f'{k} x{v}' for k, v in sorted(kept.items())) or 'none'})",
                hint="keep --precision fp32 or fp16",
            )
    report = check(fp32, out, precision, data, min_agreement=min_agreement, max_loss=max_loss, atol=atol)
    report.method, report.notes, report.first_layer = method, notes, first
    report.calibration = data.source if precision == "int8" and "static" in method else None
    if precision == "int8":
        report.quantized, report.kept_fp32 = _quantized_ops(model)
    if data.random and report.calibration:
        report.notes.append("calibrated on RANDOM inputs: accuracy figures of this model mean little")
    return model, report


def set_metadata(model, report: PrecisionReport) -> None:
    """Record the precision, calibration source and check figures in the model."""
    props = {
        "graphspec.precision": report.precision,
        "graphspec.calibration": report.calibration or "none",
        "graphspec.precision_check": json.dumps({k: v for k, v in report.to_json().items() if k not in ("size_bytes", "size_ratio")}),
    }
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
