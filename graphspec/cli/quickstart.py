"""The whole job in one command: train LeNet-5 on digits, export it to ONNX, check it, run it.

1. trains specs/digits_lenet5.yaml (sklearn's 8x8 digits, seeded 70/15/15
   split) into runs/<name>/ like 'graphspec train';
2. exports the best weights to runs/<name>/model.onnx and checks parity with
   PyTorch on onnxruntime (like 'graphspec export --weights');
3. runs the 271 test images through onnxruntime and reports its accuracy next
   to PyTorch's, and how many predictions agree.

Takes well under 3 minutes on a laptop CPU. Exit codes as for train/export:
6 if the ONNX model disagrees with PyTorch beyond tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from graphspec.cli.common import device_type, int_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--spec", default="digits_lenet5", help="spec to train (default: the zoo's digits_lenet5)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a spec value (repeatable)")
    p.add_argument("--name", help="run name (default: the spec's name, numbered past existing runs)")
    p.add_argument("--runs-dir", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--epochs", type=int_range(1, 10**6, "an epoch count"), help="override train.epochs")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1, "a seed"), help="override train.seed")
    p.add_argument("--device", type=device_type, default="auto", help="training device: auto, cpu, cuda")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final summary")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")


def run(args: argparse.Namespace) -> int:
    import graphspec
    from graphspec.errors import GraphspecError
    from graphspec.spec.overrides import parse_assignments
    from graphspec.train.engine import RunOptions, train

    t_all = time.perf_counter()
    out = sys.stderr

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=out, flush=True)

    sets = list(args.overrides)
    if args.epochs is not None:
        sets.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        sets.append(f"train.seed={args.seed}")
    say("[1/3] loading and training " + args.spec)
    spec = graphspec.load(args.spec, set=parse_assignments(sets))
    result = train(spec, RunOptions(name=args.name, runs_dir=args.runs_dir, device=args.device, quiet=args.quiet, progress="quiet" if args.quiet else None))
    run_dir = result["run_dir"]

    say(f"[2/3] exporting {run_dir}/best.safetensors to ONNX and checking parity on onnxruntime")
    try:
        from graphspec.backends.onnx_export import export
    except ImportError as exc:  # pragma: no cover - the export backend ships with graphspec
        raise GraphspecError.one("dependency", f"the ONNX export backend is unavailable: {exc}")
    onnx_path = f"{run_dir}/model.onnx"
    t0 = time.perf_counter()
    exp = export(spec, onnx_path, weights=f"{run_dir}/best.safetensors", parity=True, strict=True)
    export_s = time.perf_counter() - t0
    worst = exp.parity.worst() if exp.parity is not None else None
    if worst is not None:
        say(f"      {exp.parity.summary()}")

    say("[3/3] test split through onnxruntime and PyTorch")
    cmp = _compare(spec, exp, onnx_path, f"{run_dir}/test_inputs.npz")
    total_s = time.perf_counter() - t_all
    summary = {
        "run_dir": run_dir,
        "onnx": onnx_path,
        "parity_report": exp.parity_path,
        "epochs": result["epochs"],
        "seed": result["seed"],
        "train_wall_s": result["wall_s"],
        "export_s": export_s,
        "total_s": total_s,
        "test_inputs": f"{run_dir}/test_inputs.npz",
        "test_samples": cmp["n"],
        "torch_test_accuracy": cmp["torch_accuracy"],
        "onnxruntime_test_accuracy": cmp["ort_accuracy"],
        "prediction_agreement": cmp["agreement"],
        "max_abs_logit_diff": cmp["max_abs_diff"],
        "parity_passed": bool(exp.parity.passed) if exp.parity is not None else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"\nquickstart done in {total_s:.0f}s\n"
            f"  run           {run_dir} ({result['epochs']} epochs, seed {result['seed']}, {result['wall_s']:.1f}s training)\n"
            f"  onnx          {onnx_path} (parity report {exp.parity_path})\n"
            f"  test images   {cmp['n']}\n"
            f"  accuracy      PyTorch {cmp['torch_accuracy']:.2%}   onnxruntime {cmp['ort_accuracy']:.2%}\n"
            f"  agreement     {cmp['agreement']:.2%} of predictions, max |logit diff| {cmp['max_abs_diff']:.2e}\n"
            f"next: graphspec infer {onnx_path} --input {run_dir}/test_inputs.npz\n"
            f"      graphspec evaluate {args.spec} --run {run_dir}\n"
            f"      graphspec export {args.spec} --weights {run_dir} --precision int8 --web {run_dir}/web   (a smaller model, and a page that runs it in the browser)\n"
            f"      graphspec serve-web {run_dir}/web"
        )
    return 0


def _compare(spec, exp, onnx_path: str, save_to: str | None = None) -> dict:
    """Accuracy of the exported module and of onnxruntime on the spec's test split."""
    import numpy as np
    import torch

    from graphspec.runtime.session import Session
    from graphspec.train.data import load_splits
    from graphspec.train.engine import resolve_config, spec_dir_of

    cfg, _ = resolve_config(spec)
    graph = spec.graph(cfg.graph) if cfg.graph else spec.graph()
    test = load_splits(cfg, graph, spec_dir_of(spec), cfg.task).test
    names = list(test.inputs)
    feeds = {n: test.inputs[n].numpy() for n in names}
    y = test.target.numpy()
    if save_to:
        import io

        from graphspec.train.checkpoint import atomic_write

        buf = io.BytesIO()
        np.savez(buf, **feeds)
        atomic_write(save_to, buf.getvalue())
    module = exp.module
    module.eval()
    with torch.no_grad():
        ref = module(*[test.inputs[n] for n in names])
    ref = (ref[0] if isinstance(ref, tuple) else ref).numpy()
    sess = Session(onnx_path, provider="cpu")
    got = sess.run(feeds)
    got = got[next(iter(got))] if isinstance(got, dict) else got[0]
    p_ref = ref.argmax(-1)
    p_got = got.argmax(-1)
    return {
        "n": int(len(y)),
        "torch_accuracy": float((p_ref == y).mean()),
        "ort_accuracy": float((p_got == y).mean()),
        "agreement": float((p_ref == p_got).mean()),
        "max_abs_diff": float(np.abs(ref - got).max()),
    }
