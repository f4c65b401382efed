"""Latency of a model: PyTorch eager, torch.compile, onnxruntime CPU (and CUDA where present).

The target is a spec (exported to a temporary ONNX file first) or an .onnx file
(the PyTorch side is then rebuilt, with random weights, from the spec stored in
its metadata). All backends run side by side, interleaved in rotating rounds
after a warm-up, with the same thread count and a short pause before each call
(so that one framework's spinning threads do not slow the next); reported:
median, p10 and p90 per call in milliseconds, and each median's ratio to
PyTorch eager. A backend that
cannot run (torch.compile without a compiler, no GPU) is reported unavailable.
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import add_budget_argument, add_json_argument, apply_budget, batches_type, float_range, repeat_type, threads_type, warmup_type

BACKEND_CHOICES = ("eager", "compile", "ort-cpu", "eager-cuda", "ort-cuda")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a spec file or zoo name (e.g. resnet18), or an .onnx file")
    p.add_argument("--graph", "-g", help="which graph of a multi-graph spec")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a value in the spec, e.g. --set params.classes=10 (repeatable)",
    )
    p.add_argument("--batch", type=batches_type, default=[1], metavar="N,M", help="batch sizes, comma separated (default: 1)")
    p.add_argument("--threads", type=threads_type, default=None, metavar="N", help="threads for PyTorch and onnxruntime (default: physical cores)")
    p.add_argument("--repeat", type=repeat_type, default=30, metavar="N", help="timed rounds (one call per backend each) per batch size (default: 30)")
    p.add_argument("--warmup", type=warmup_type, default=3, metavar="N", help="untimed calls per backend first (default: 3)")
    p.add_argument("--max-seconds", type=float_range(0.001, 86400.0, "seconds"), default=60.0, metavar="S", help="stop adding rounds after this long per batch size (at least 5 rounds)")
    p.add_argument("--gap-ms", type=float_range(0.0, 10000.0, "milliseconds"), default=20.0, metavar="MS", help="sleep before each timed call, so that one backend's spinning threads do not slow the next (default: 20)")
    p.add_argument(
        "--backends", default=",".join(BACKEND_CHOICES), metavar="A,B",
        help="which backends: " + ", ".join(BACKEND_CHOICES) + " (default: all; GPU ones only where a GPU is present)",
    )
    p.add_argument("--precision", default="fp32", metavar="P,Q", help="also time onnxruntime CPU on these precisions of the model, e.g. fp32,int8,fp16 (converted as export --precision does)")
    p.add_argument("--calibration", metavar="FILE.npz", help="int8 calibration inputs for --precision (default: the spec's train: data)")
    add_budget_argument(p)
    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from graphspec.errors import GraphspecError
    from graphspec.runtime import bench

    batches = args.batch
    apply_budget(args)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in BACKEND_CHOICES]
    if bad:
        raise GraphspecError.one("usage", f"unknown backend(s) {', '.join(bad)}", hint="choose from " + ", ".join(BACKEND_CHOICES))
    spec = None
    if args.target.endswith(".onnx"):
        target = bench.target_from_onnx(args.target)
    else:
        from graphspec.cli.common import load_spec

        args.spec = args.target
        spec = load_spec(args)
        target = bench.target_from_spec(spec, args.graph, export=any(b.startswith("ort") for b in backends))
    try:
        from graphspec.cli.export_deploy import bench_variants

        bench_variants(args, target, spec)
        report = bench.run_bench(
            target, batches, threads=args.threads, repeat=args.repeat, warmup=args.warmup, backends=backends,
            max_seconds=args.max_seconds, gap=args.gap_ms / 1e3,
        )
    finally:
        if target.tmpdir is not None:
            target.tmpdir.cleanup()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print_report(report)
    return 0


def print_report(report: dict) -> None:
    title = report["model"] + (f" / {report['graph']}" if report.get("graph") else "")
    extra = f", export {report['export_seconds']:.1f} s" if report.get("export_seconds") is not None else ""
    print(
        f"bench {title}: {report['threads']} thread(s), up to {report['repeat']} interleaved rounds after {report['warmup']} warm-up calls, "
        f"{report.get('gap_ms', 0):g} ms pause before each call{extra}"
    )
    for note in report.get("notes", []):
        print(f"  note: {note}")
    for res in report["results"]:
        print(f"batch {res['batch']}:")
        rows = [("backend", "median ms", "p10 ms", "p90 ms", "vs eager")]
        unavailable = []
        for key, s in res["backends"].items():
            if "unavailable" in s:
                unavailable.append((s["label"], s["unavailable"]))
                continue
            ratio = f"{s['ratio_to_eager']:.2f}x" if "ratio_to_eager" in s else "-"
            rows.append((s["label"], f"{s['median_ms']:.3f}", f"{s['p10_ms']:.3f}", f"{s['p90_ms']:.3f}", ratio))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            print("  " + r[0].ljust(widths[0]) + "  " + "  ".join(c.rjust(w) for c, w in zip(r[1:], widths[1:])))
        for label, why in unavailable:
            print(f"  {label}: unavailable ({why})")
