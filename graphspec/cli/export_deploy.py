"""The deploy options of ``graphspec export``: ``--precision``, ``--calibration``, ``--web``.

Not a command: :mod:`graphspec.cli.export` adds these arguments and calls
:func:`prepare` before exporting (so a missing or unfit calibration file fails
before the slow export) and :func:`finish` after the fp32 model passed parity:
it converts the model in place to fp16/int8 (:mod:`graphspec.backends.quantize`),
writes MODEL.precision.json beside it, and writes the web bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from graphspec.cli.common import float_range


def add_deploy_arguments(p: argparse.ArgumentParser) -> None:
    from graphspec.backends.quantize import (
        CALIBRATORS,
        DEFAULT_MAX_LOSS,
        DEFAULT_MIN_AGREEMENT,
        FP16_ATOL,
        MODES,
        PRECISIONS,
    )

    g = p.add_argument_group("precision and deployment")
    g.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32 (default); fp16 (half the file; on a CPU not faster); int8 (static QDQ, ~1/4 the file, ~3x faster on a CPU)")
    g.add_argument("--calibration", metavar="FILE.npz", help="int8 calibration inputs (one array per model input, named like it); default: the spec's train: data (train split)")
    g.add_argument("--calibrator", choices=CALIBRATORS, default="minmax", help="int8 calibration method (default: minmax)")
    g.add_argument("--quant-mode", choices=MODES, default="auto", help="int8 kind: auto (static; dynamic for LSTM nets), static, dynamic")
    g.add_argument("--min-agreement", type=float_range(0.0, 1.0, "a share"), default=DEFAULT_MIN_AGREEMENT, help=f"pass when this share of top-1 predictions equals fp32's (default {DEFAULT_MIN_AGREEMENT})")
    g.add_argument("--max-accuracy-loss", type=float_range(0.0, 100.0, "points"), default=DEFAULT_MAX_LOSS, metavar="POINTS", help=f"pass when the test accuracy drops at most this many points (default {DEFAULT_MAX_LOSS}; needs a test split)")
    g.add_argument("--precision-atol", type=float_range(0.0, 1e9, "a tolerance"), default=None, help=f"pass when every output is within this of fp32 (fp16 default {FP16_ATOL}; int8: agreement only)")
    g.add_argument("--allow-random-calibration", action="store_true", help="calibrate int8 on random inputs when there is no data (NOT recommended: it can flip predictions)")
    g.add_argument("--web", metavar="DIR", help="also write a static web bundle (model, page, onnxruntime-web) to DIR; serve it with graphspec serve-web DIR")


def prepare(args: argparse.Namespace, spec, graph) -> Any:
    """Calibration/check data for --precision, or None; fails early on a bad --calibration file."""
    from graphspec.train import calibration

    if args.web:  # before the slow export: never find out afterwards that the folder is taken
        from graphspec.web.bundle import check_folder

        check_folder(Path(args.web))
    if args.calibration:
        return calibration.from_file(args.calibration, graph)
    if args.precision == "fp32":
        if args.web:  # ranges and class names for the page, when the spec has data
            try:
                return calibration.from_spec(spec, graph)
            except Exception:  # the page has defaults; --web never fails for want of data
                return None
        return None
    try:
        return calibration.from_spec(spec, graph)
    except Exception as exc:
        from graphspec.errors import GraphspecError

        if not args.allow_random_calibration or not isinstance(exc, GraphspecError) or exc.diagnostics[0].code != "usage":
            raise
    return random_data(graph, spec)


def random_data(graph, spec):
    from graphspec.backends.example_inputs import example_sizes, make_inputs
    from graphspec.backends.quantize import CalibrationData

    print("WARNING: calibrating on RANDOM inputs (--allow-random-calibration): the int8 model may disagree with fp32 on real data", file=sys.stderr)
    sizes = {k: (64 if v == 2 else v) for k, v in example_sizes(spec, graph).items()}  # 64 examples per batch dim
    feeds = make_inputs(graph, list(graph.inputs), sizes, seed=0)
    return CalibrationData(inputs=feeds, source="RANDOM inputs (--allow-random-calibration)", heldout_source="random inputs", random=True)


def finish(args: argparse.Namespace, spec, graph, result, data) -> dict[str, Any]:
    """Convert the exported model to --precision and write --web; returns what to add to the report."""
    from graphspec.backends import quantize

    extra: dict[str, Any] = {}
    path = Path(result.model_path)
    if args.precision != "fp32":
        report = quantize.convert(
            path, path, args.precision, data, mode=args.quant_mode, calibrator=args.calibrator,
            min_agreement=args.min_agreement, max_loss=args.max_accuracy_loss, atol=args.precision_atol,
        )
        from graphspec.io import atomic_write

        rpath = quantize.precision_report_path(path)
        atomic_write(rpath, json.dumps(report.to_json(), indent=2) + "\n", mode="w")
        extra["precision"] = report.to_json()
        extra["precision_report"] = str(rpath)
        extra["_report"] = report
    if args.web:
        from graphspec.web.bundle import write_bundle

        ranges = None
        if data is not None and not data.random:
            ranges = {k: (float(v.min()), float(v.max())) for k, v in data.inputs.items() if v.dtype.kind == "f"}
        extra["web"] = write_bundle(
            args.web, path, name=spec.name, graph=graph.name, inputs=result.inputs, outputs=result.outputs,
            dims=dict(spec.dims), class_names=getattr(data, "class_names", None), value_ranges=ranges, precision=args.precision,
        )
    return extra


def print_report(extra: dict[str, Any], out=None) -> None:
    out = out or sys.stdout
    report = extra.get("_report")
    if report is not None:
        j = report.to_json()
        print(f"  {report.precision}: {report.method}", file=out)
        if report.calibration:
            print(f"  calibration: {report.calibration}", file=out)
        if j["quantized_ops"] or j["fp32_ops"]:
            ops = ", ".join(f"{k} x{v}" for k, v in j["quantized_ops"].items()) or "none"
            kept = ", ".join(f"{k} x{v}" for k, v in j["fp32_ops"].items()) or "none"
            print(f"  int8 ops: {ops}; fp32 ops: {kept}", file=out)
        for n in report.notes:
            print(f"  note: {n}", file=out)
        print(f"  size: {report.size:,} bytes, {j['size_ratio']:.2f}x the fp32 model ({report.size_fp32:,} bytes)", file=out)
        if report.precision == "fp16":
            print("  note: on a CPU fp16 halves the file but not the time (onnxruntime's CPU kernels compute in fp32); it pays off on GPUs", file=out)
        _table(report, out)
        print(f"  {report.summary()} in {report.seconds:.1f} s", file=out)
        print(f"  precision report: {extra['precision_report']}", file=out)
    web = extra.get("web")
    if web is not None:
        print(f"  web bundle: {web['folder']} ({', '.join(web['files'])}; {web['size_bytes'] / 1e6:.1f} MB, {web['runtime']})", file=out)
        print(f"  serve it: graphspec serve-web {web['folder']}  (then open http://127.0.0.1:8000/)", file=out)


def _table(report, out) -> None:
    """Per output, like the parity table: agreement, max abs difference, verdict."""
    crit = f"top-1 agreement >= {report.min_agreement:.2%}" + (f", |{report.precision} - fp32| <= {report.atol:g}" if report.atol is not None else "")
    print(f"  {report.precision} vs fp32 on {report.checked_on}, pass when {crit}:", file=out)
    rows = [("output", "agreement", "max abs", "")]
    for name, mx in report.max_abs.items():
        agree = report.agreement.get(name)
        bad = (agree is not None and agree < report.min_agreement) or (report.atol is not None and not mx <= report.atol)
        rows.append((name, f"{agree:.2%}" if agree is not None else "-", f"{mx:.3g}", "FAIL" if bad else "ok"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("    " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3], file=out)


def json_part(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if not k.startswith("_")}


def bench_variants(args: argparse.Namespace, target, spec=None) -> None:
    """``bench --precision fp32,int8,fp16``: convert the target's fp32 ONNX file next to it (target.variants)."""
    from graphspec.backends import quantize
    from graphspec.errors import GraphspecError
    from graphspec.train import calibration

    wanted = [p.strip() for p in args.precision.split(",") if p.strip()]
    bad = [p for p in wanted if p not in quantize.PRECISIONS]
    if bad:
        raise GraphspecError.one("usage", f"unknown precision(s) {', '.join(bad)}", hint="fp32, fp16, int8")
    extra = [p for p in wanted if p != "fp32"]
    if not extra:
        return
    if target.graph_obj is None:
        raise GraphspecError.one("usage", "bench --precision needs a spec (or a graphspec export) as its target: it converts the fp32 model")
    g = target.graph_obj
    if args.calibration:
        data = calibration.from_file(args.calibration, g)
    elif spec is not None:
        data = calibration.from_spec(spec, g)
    else:
        raise GraphspecError.one("usage", "bench --precision: pass --calibration FILE.npz")
    for precision in extra:
        if getattr(target, "variant_dir", None) is None:
            import tempfile

            target.variant_dir = tempfile.TemporaryDirectory(prefix="graphspec-bench-")  # removed when the target goes
        out = Path(target.variant_dir.name) / f"{target.name}.{precision}.onnx"
        rep = quantize.convert(target.model_path, out, precision, data)
        target.variants[precision] = str(out)
        target.notes.append(f"{precision}: {rep.method}; {rep.size / max(rep.size_fp32, 1):.2f}x the fp32 file; {rep.summary()}")
