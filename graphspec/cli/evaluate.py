"""Test metrics of a trained run, from its best weights (or --weights last).

Rebuilds the model from the run's own resolved spec (runs/<name>/spec.yaml,
with the params and --set values used for training) or from SPEC when given,
loads runs/<name>/best.safetensors and evaluates the spec's validation and
test splits. A SPEC that differs from the run's (other --set values, an edited
file) gets a warning. A missing, corrupt or mismatched checkpoint is a
"checkpoint" error (exit 8).

Examples:
  graphspec evaluate --run runs/digits_lenet5
  graphspec evaluate --run runs/mlp-s1 --weights last --json
  graphspec evaluate specs/digits_lenet5.yaml --run runs/digits_lenet5 --set train.test_split=0.3
"""

from __future__ import annotations

import argparse

from graphspec.cli.common import add_json_argument, add_spec_arguments, device_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_spec_arguments(p, graph=False, spec_required=False)
    p.add_argument("--run", required=True, help="the run folder, e.g. runs/digits_lenet5")
    p.add_argument("--weights", choices=("best", "last"), default="best", help="which checkpoint (default: best)")
    p.add_argument("--device", type=device_type, default="auto", help="auto, cpu, cuda or cuda:N")
    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from graphspec.api import Run
    from graphspec.cli.common import load_spec
    from graphspec.spec.overrides import parse_assignments
    from graphspec.train.engine import load_run_spec

    if args.spec is not None:
        spec = load_spec(args)
    else:  # the run's own resolved spec
        spec = load_run_spec(args.run, set=parse_assignments(args.overrides))
    result = Run(args.run, spec=spec).evaluate(device=args.device, which=args.weights)  # the Python API's path
    if args.json:
        from graphspec.io import json_dumps

        print(json_dumps(result, indent=2))  # null, never NaN
        return 0
    print(f"{result['spec']} ({result['task']}) from {args.run}/{args.weights}.safetensors (epoch {result.get('epoch')})")
    for k, v in result.items():
        if k.startswith(("val_", "test_")):
            print(f"  {k:<20} {v:.4f}")
    if "per_class" in result:
        print_per_class(result)
    if "warning" in result:
        print(f"  warning: {result['warning']}")
    return 0


def print_per_class(result: dict) -> None:
    """Per-class accuracy (recall) with support, and where the confusion-matrix picture went."""
    pc = result["per_class"]
    width = max(len(n) for n in pc["accuracy"])
    print(f"  per-class accuracy ({pc['split']} split):")
    for name, acc in pc["accuracy"].items():
        print(f"    {name:<{width}}  {'-' if acc is None else f'{acc:.4f}'}  ({pc['support'][name]} examples)")
    if result.get("confusion_matrix"):
        print(f"  confusion matrix: {result['confusion_matrix']}")
