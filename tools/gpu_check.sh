#!/usr/bin/env bash
# tools/gpu_check.sh -- on a CUDA machine: export every zoo graph to ONNX, check
# parity on onnxruntime's CUDA provider against PyTorch on CUDA (TF32 off on
# both sides, tolerance atol 1e-4 + rtol 1e-3), and time both (median ms,
# interleaved rounds). Prints one table row per graph.
#
#   bash tools/gpu_check.sh [zoo names ...]     (default: the whole zoo)
#
# GPU machines reach no package registry: wheels missing there (onnxruntime-gpu,
# pydantic, ...) are installed from ./wheels/ (or $WHEELS) when that folder
# holds any *.whl; nothing is downloaded. Environment knobs: PYTHON (default
# python3), WHEELS (default wheels), BATCH (default "1,32"), REPEAT (default 30),
# OUT (a folder for the JSON results; default: none), DRY_RUN_CPU=1 (run the
# same steps on the CPU provider and PyTorch CPU, to test this script without a GPU).
set -euo pipefail

cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-wheels}"
BATCH="${BATCH:-1,32}"
REPEAT="${REPEAT:-30}"
DRY_RUN_CPU="${DRY_RUN_CPU:-0}"

say() { printf 'gpu_check: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "no Python interpreter '$PY' (set PYTHON=...)"
if [ "$DRY_RUN_CPU" = 1 ]; then
    say "DRY_RUN_CPU=1: CPU provider and PyTorch CPU stand in for CUDA (a test of this script, not of a GPU)"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
    die "nvidia-smi not found: this check needs an NVIDIA GPU machine (on a CPU machine run tools/bench_onnx.py)"
else
    nvidia-smi -L >&2 || die "nvidia-smi sees no GPU"
fi

if [ -d "$WHEELS" ] && compgen -G "$WHEELS/*.whl" >/dev/null; then
    SITE="${TMPDIR:-/tmp}/graphspec-gpu-site"
    say "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS/ into $SITE (no network)"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
        || die "installing the wheels in $WHEELS/ failed (one version of each package, built for this Python?)"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
    say "no $WHEELS/*.whl: using the packages already installed"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# What is missing, said plainly, before any work.
DRY_RUN_CPU="$DRY_RUN_CPU" "$PY" - <<'EOF' || die "the environment is not ready (see above); carry missing packages as wheels in ./wheels/"
import importlib, sys
missing = [m for m in ("torch", "onnx", "onnxscript", "onnxruntime", "pydantic", "yaml", "networkx", "numpy", "safetensors") if importlib.util.find_spec(m) is None]
if missing:
    print("gpu_check: missing: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
import onnxruntime, torch
print(f"gpu_check: torch {torch.__version__} (CUDA {torch.version.cuda}, GPU {torch.cuda.is_available()}), "
      f"onnxruntime {onnxruntime.__version__} providers {onnxruntime.get_available_providers()}", file=sys.stderr)
import os
if not torch.cuda.is_available() and os.environ.get("DRY_RUN_CPU") != "1":
    print("gpu_check: torch sees no CUDA GPU (a CPU-only torch?)", file=sys.stderr)
    sys.exit(1)
if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
    print("gpu_check: warning: this onnxruntime has no CUDA provider (install onnxruntime-gpu from ./wheels/); "
          "the onnxruntime columns will say why", file=sys.stderr)
EOF

BATCH="$BATCH" REPEAT="$REPEAT" OUT="${OUT:-}" DRY_RUN_CPU="$DRY_RUN_CPU" "$PY" - "$@" <<'EOF'
import json, os, sys, tempfile, time, traceback
from pathlib import Path

import numpy as np
import torch

import graphspec
from graphspec.backends import onnx_export as oe
from graphspec.backends import parity
from graphspec.errors import GraphspecError
from graphspec.runtime import bench
from graphspec.runtime.session import Session
from graphspec.zoo import zoo_dir, zoo_names

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DRY = os.environ.get("DRY_RUN_CPU") == "1"
DEVICE, PROVIDER = ("cpu", "cpu") if DRY else ("cuda", "cuda")
TORCH_KEY, ORT_KEY = ("eager", "ort-cpu") if DRY else ("eager-cuda", "ort-cuda")
batches = [int(b) for b in os.environ["BATCH"].split(",") if b.strip()]
repeat = int(os.environ["REPEAT"])
names = sys.argv[1:] or zoo_names()
rows, results = [], []


def short(exc):
    if isinstance(exc, GraphspecError):
        return exc.diagnostics[0].message[:120]
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:110] if str(exc).strip() else ''}"


with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
    for name in names:
        try:
            spec = graphspec.load(name)
        except Exception as exc:
            rows.append((name, "-", "load failed", short(exc), "", "", "")); continue
        for gname in spec.graphs:
            tag = f"{name}/{gname}"
            rec = {"model": tag}
            try:
                t0 = time.perf_counter()
                res = oe.export(spec, Path(tmp) / f"{name}.{gname}.onnx", graph=gname, parity=True, provider="cpu")
                rec["export_seconds"] = round(time.perf_counter() - t0, 2)
                rec["parity_cpu_max_abs"] = res.parity.to_json()["max_abs"]
                module = res.module.to(DEVICE).eval()
                g = spec.graph(gname)
                names_in = [i["name"] for i in res.inputs]
                names_out = [o["name"] for o in res.outputs]
                try:
                    sess = Session(res.model_path, provider=PROVIDER, tf32=False)
                    rep = parity.check(module, res.model_path, g, names_in, names_out,
                                       parity.points(g, oe.example_sizes(spec, g)), session=sess, device=DEVICE)
                    rec["parity_cuda"] = rep.to_json()
                    par = f"{rep.to_json()['max_abs']:.1e}" + ("" if rep.passed else " FAIL")
                except GraphspecError as exc:
                    sess, par = None, f"ort-{PROVIDER}: " + short(exc)
                times = []
                for b in batches:
                    target = bench.BenchTarget(name, gname, module, g, res.model_path, names_in, dims=oe.example_sizes(spec, g))
                    feeds = bench.inputs_for(target, b)
                    bes = bench.torch_backends(module, feeds, names_in, [TORCH_KEY])
                    bes += bench.ort_backends(res.model_path, feeds, [ORT_KEY], None)
                    tm = bench.measure(bes, repeat=repeat, warmup=5, max_seconds=30)
                    t = tm[TORCH_KEY].stats()
                    o = tm[ORT_KEY].stats(t.get("median_ms"))
                    rec[f"batch{b}"] = {"torch_cuda": t, "ort_cuda": o}
                    times.append((b, t.get("median_ms"), o.get("median_ms"), o.get("ratio_to_eager"), o.get("unavailable")))
                for b, tms, oms, ratio, why in times:
                    rows.append((tag, str(b), par, f"{tms:.3f}" if tms else "-", f"{oms:.3f}" if oms else "-",
                                 f"{ratio:.2f}x" if ratio else "-", (why or "")[:60]))
                    par = ""
                    tag = ""
            except Exception as exc:
                rec["error"] = short(exc)
                rows.append((tag, "-", "ERROR", short(exc), "", "", ""))
                if os.environ.get("GRAPHSPEC_DEBUG"):
                    traceback.print_exc()
            results.append(rec)
            if not DRY:
                torch.cuda.empty_cache()

header = ("model/graph", "batch", "parity cuda (max abs)", "torch cuda ms", "ort cuda ms", "ort/torch", "note")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
print("  ".join("-" * w for w in widths))
for r in rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
if os.environ.get("OUT"):
    out = Path(os.environ["OUT"]) / "gpu_check.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}", file=sys.stderr)
failed = [r["model"] for r in results if "error" in r or ("parity_cuda" in r and not r["parity_cuda"]["passed"])]
if failed:
    print("gpu_check: failures: " + ", ".join(failed), file=sys.stderr)
    sys.exit(1)
EOF
