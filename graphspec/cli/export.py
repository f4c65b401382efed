"""Export a graph to ONNX (torch.onnx.export, dynamo) and prove parity on onnxruntime.

Symbolic dims of the inputs (batch, seq) stay dynamic and keep their names in
the ONNX model. The model is checked with onnx.checker (full_check) and run on
onnxruntime against PyTorch (eval mode) at batch sizes 1 and 3 (and two
sequence lengths where the spec has a symbolic seq dim). An output passes when
|onnx - torch| <= atol + rtol * |torch| everywhere (float32: atol 1e-4,
rtol 1e-3). The report is printed (--json) and written next to the model as
MODEL.parity.json. Exit code 6 when parity fails, naming the worst output.

The spec, its sha256, the graphspec version and the interface (names and dims)
go into the model's metadata (graphspec.spec, graphspec.sha256, ...); ONNX node
names follow spec node paths (layer1.0.conv1/Conv).
"""

from __future__ import annotations

import argparse
import json
import sys

from graphspec.cli.common import add_budget_argument, add_json_argument, add_spec_arguments, human, load_spec, opset_type, tolerance_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_json_argument(p)
    p.add_argument("-o", "--output", metavar="MODEL.onnx", help="where to write the model (default: NAME[.GRAPH].onnx here)")
    p.add_argument("--outputs", action="append", default=[], metavar="A,B", help="export only these outputs (output names or node paths, e.g. fc_mu; repeatable or comma separated); the graph is pruned to what they need")
    p.add_argument("--weights", metavar="FILE|RUN_DIR", help="trained weights: a .safetensors file or a run folder (runs/NAME/ with best.safetensors or last.safetensors)")
    p.add_argument("--opset", type=opset_type, default=None, metavar="N", help="ONNX opset version, 18 to 23, written exactly (default: the exporter's)")
    p.add_argument("--provider", default="cpu", choices=("auto", "cpu", "cuda", "tensorrt"), help="onnxruntime provider for the parity check (default: cpu)")
    p.add_argument("--atol", type=tolerance_type, default=None, help="absolute tolerance of the parity check (float32 default 1e-4)")
    p.add_argument("--rtol", type=tolerance_type, default=None, help="relative tolerance of the parity check (float32 default 1e-3)")
    p.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check (not recommended)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr (--json is quiet too)")
    add_budget_argument(p)
    from graphspec.cli.export_deploy import add_deploy_arguments  # --precision, --calibration, --web

    add_deploy_arguments(p)


class Progress:
    """Stage lines on stderr for long exports: a stage is announced once it has run for
    ``after`` seconds (a small model exports silently), with the time so far."""

    def __init__(self, enabled: bool = True, after: float = 2.0) -> None:
        import threading
        import time

        self.enabled, self.after, self.t0 = enabled, after, time.monotonic()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def stage(self, text: str) -> None:
        if not self.enabled:
            return
        import threading

        self._cancel()
        self._timer = threading.Timer(self.after, self._say, args=(text,))
        self._timer.daemon = True
        self._timer.start()

    def _say(self, text: str) -> None:
        import time

        with self._lock:
            print(f"graphspec export: {text} ... ({time.monotonic() - self.t0:.0f} s so far)", file=sys.stderr, flush=True)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self._cancel()


def default_output(spec, graph_name: str | None) -> str:
    if graph_name and len(spec.graphs) > 1:
        return f"{spec.name}.{graph_name}.onnx"
    return f"{spec.name}.onnx"


def run(args: argparse.Namespace) -> int:
    from graphspec.api import export  # the Python API's export: one code path
    from graphspec.errors import ExitCode
    from graphspec.spec.overrides import parse_assignments

    spec = load_spec(args)
    graph = spec.graph(args.graph)  # errors early when several graphs and no --graph
    outputs = [s.strip() for item in args.outputs for s in item.split(",") if s.strip()] or None
    path = args.output or default_output(spec, graph.name)
    overrides = parse_assignments(args.overrides) if args.overrides else None
    from graphspec.cli import export_deploy

    deploy_data = export_deploy.prepare(args, spec, graph)  # a bad --calibration fails before the slow export
    with Progress(enabled=not (args.quiet or args.json)) as progress:
        result = export(
            spec,
            path,
            graph=graph.name,
            outputs=outputs,
            weights=args.weights,
            opset=args.opset,
            parity=not args.no_parity,
            provider=args.provider,
            atol=args.atol,
            rtol=args.rtol,
            overrides=overrides,
            progress=progress.stage,
        )
    parity = result.parity
    deploy = export_deploy.finish(args, spec, graph, result, deploy_data) if parity is None or parity.passed else {}
    if args.json:
        json.dump({**result.to_json(), **export_deploy.json_part(deploy)}, sys.stdout, indent=2)
        print()
    else:
        print_report(result)
        export_deploy.print_report(deploy)
    if deploy.get("_report") is not None and not deploy["_report"].passed:
        from graphspec.cli.common import print_diagnostics

        print_diagnostics(deploy["_report"].error().diagnostics)
        return int(ExitCode.PARITY)
    if parity is not None and not parity.passed:
        from graphspec.cli.common import print_diagnostics

        print_diagnostics(parity.error().diagnostics)
        return int(ExitCode.PARITY)
    return 0


def _pct(ratio: float) -> str:
    """Share of the tolerance used: 0.04%, 12%, 350%."""
    if ratio != ratio or ratio == float("inf"):
        return "inf"
    return f"{ratio * 100:.2g}%"


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "?"


def print_report(result) -> None:
    out = sys.stdout
    kb = result.size_bytes
    print(
        f"exported {result.spec} (graph {result.graph}) -> {result.model_path}: {human(kb)}B, opset {result.opset}, "
        f"{result.nodes} nodes, in {result.export_seconds:.1f} s",
        file=out,
    )
    for kind, items in (("input ", result.inputs), ("output", result.outputs)):
        for i in items:
            print(f"  {kind} {i['name']}: {_shape(i['shape'])} {i['dtype']}", file=out)
    print(f"  dynamic dims: {', '.join(result.dynamic_dims) or 'none'}", file=out)
    if result.weights:
        extra = f" ({result.ignored_weight_keys} tensors of other graphs ignored)" if result.ignored_weight_keys else ""
        print(f"  weights: {result.weights}{extra}", file=out)
    print(f"  onnx.checker (full_check): ok in {result.check_seconds:.1f} s", file=out)
    print(f"  metadata: {', '.join(result.metadata_keys)}", file=out)
    for w in result.warnings:
        print(f"  warning: {w}", file=out)
    p = result.parity
    if p is None:
        print("  parity: skipped (--no-parity)", file=out)
        return
    print(
        f"  parity on onnxruntime {p.provider} vs PyTorch (eval), pass when |onnx - torch| <= {p.atol:g} + {p.rtol:g} * |torch|:",
        file=out,
    )
    rows = [("sizes", "output", "max abs", "max rel", "of tol.", "")]
    for point in p.points:
        sizes = ", ".join(f"{k}={v}" for k, v in point.sizes.items()) or "(static)"
        for o in point.outputs:
            rows.append((sizes, o.name, f"{o.max_abs:.2e}", f"{o.max_rel:.2e}", _pct(o.ratio), "ok" if o.passed else "FAIL" + (f" ({o.note})" if o.note else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("    " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5], file=out)
    print(f"  {p.summary()} in {p.seconds:.1f} s", file=out)
    if result.parity_path:
        print(f"  parity report: {result.parity_path}", file=out)
