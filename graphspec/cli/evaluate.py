"""Test metrics of a trained run, from its best weights (or --weights last).

Rebuilds the model from SPEC (with the same --set values used for training),
loads runs/<name>/best.safetensors and evaluates the spec's validation and
test splits. A missing, corrupt or mismatched checkpoint is a "checkpoint"
error (exit 8).

Examples:
  graphspec evaluate specs/digits_lenet5.yaml --run runs/digits_lenet5
  graphspec evaluate digits_mlp --run runs/mlp-s1 --json
"""

from __future__ import annotations

import argparse
import json

from graphspec.cli.common import add_json_argument, add_spec_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_spec_arguments(p, graph=False)
    p.add_argument("--run", required=True, help="the run folder, e.g. runs/digits_lenet5")
    p.add_argument("--weights", choices=("best", "last"), default="best", help="which checkpoint (default: best)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from graphspec.cli.common import load_spec
    from graphspec.train.engine import evaluate_run

    spec = load_spec(args)
    result = evaluate_run(spec, args.run, device=args.device, which=args.weights)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['spec']} ({result['task']}) from {args.run}/{args.weights}.safetensors (epoch {result.get('epoch')})")
    for k, v in result.items():
        if k.startswith(("val_", "test_")):
            print(f"  {k:<20} {v:.4f}")
    if "warning" in result:
        print(f"  warning: {result['warning']}")
    return 0
