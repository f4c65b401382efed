"""Run an ONNX model on onnxruntime with inputs from a .npy or .npz file.

A .npy feeds a single-input model; an .npz holds one array per input, named
after the inputs. Inputs are checked against the model first (names, dtypes,
fixed dims; symbolic dims such as batch take any size): a mismatch is exit 5.
Prints each output's shape and range (and, for [batch, classes] outputs, the
argmax of each row), or writes the outputs to an .npz with -o.

Providers: auto picks CUDA only where an NVIDIA GPU is present, else the CPU;
forcing cuda/tensorrt where it cannot run is exit 9.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from graphspec.cli.common import add_budget_argument, add_json_argument, apply_budget, threads_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file (e.g. from 'graphspec export')")
    p.add_argument("--input", "-i", required=True, metavar="X.npz|X.npy", help="inputs: .npy for a single-input model, else .npz with arrays named after the inputs")
    p.add_argument("-o", "--output", metavar="OUT.npz", help="write the outputs here (.npz; .npy for a single output)")
    p.add_argument("--provider", default="auto", choices=("auto", "cpu", "cuda", "tensorrt"), help="onnxruntime execution provider (default: auto)")
    p.add_argument("--threads", type=threads_type, default=None, metavar="N", help="intra-op threads (default: physical cores)")
    add_budget_argument(p)
    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from graphspec.runtime.inference import format_summary, load_inputs, save_outputs, summarize
    from graphspec.runtime.session import Session

    apply_budget(args)
    session = Session(args.model, provider=args.provider, threads=args.threads)
    feeds = load_inputs(args.input, [i.name for i in session.inputs])
    from graphspec.runtime.embedded import check_inference_budget

    check_inference_budget(session, feeds, args.model)
    t0 = time.perf_counter()
    outputs = session.run(feeds)
    seconds = time.perf_counter() - t0
    written = save_outputs(args.output, outputs) if args.output else None
    summaries = [summarize(k, v) for k, v in outputs.items()]
    add_class_names(summaries, session.metadata)
    if args.json:
        doc = {
            "model": args.model,
            "provider": session.provider,
            "providers": session.providers,
            "inputs": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in feeds.items()},
            "outputs": {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in summaries},
            "seconds": round(seconds, 6),
            "written": written,
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0
    ins = ", ".join(f"{k} [{', '.join(map(str, v.shape))}]" for k, v in feeds.items())
    print(f"{args.model} on onnxruntime {session.provider} ({ins}) in {seconds * 1e3:.2f} ms")
    for s in summaries:
        print("  " + format_summary(s).replace("\n", "\n  "))
        if "class_names" in s:
            print("      class per row: " + " ".join(s["class_names"]) + (" ..." if s.get("argmax_truncated") else ""))
    if written:
        print(f"outputs written to {written}")
    return 0


def add_class_names(summaries: list[dict], metadata: dict[str, str]) -> None:
    """Name each row's argmax with the training data's class names (ONNX metadata ``graphspec.data``
    that ``graphspec export --weights RUN`` copies from the run's data.json), when the counts agree."""
    try:
        names = json.loads(metadata.get("graphspec.data") or "{}").get("class_names")
    except (ValueError, AttributeError):
        return
    if not isinstance(names, list):
        return
    for s in summaries:
        if "argmax" in s and s["shape"][-1] == len(names):
            s["class_names"] = [str(names[i]) for i in s["argmax"]]
