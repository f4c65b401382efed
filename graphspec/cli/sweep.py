"""Search hyperparameters with Optuna; every trial is a normal training run.

The search space comes from --param (repeatable) and/or the spec's sweep:
section (--param wins for a path given in both):

  --param params.width=int(16,128,log)        integers, log-uniform
  --param train.optimizer.lr=float(1e-4,1e-2,log)
  --param params.act=choice(ReLU,GELU)        one of the values
  --param params.depth=int(1,4,step=1)

Trial N trains into runs/<sweep>/trial-N/ (spec.yaml, metrics, weights,
results.json) and is pruned early when its per-epoch metric falls behind
(median pruner; --pruner none to train every trial fully). At the end: a
table of the trials (--json: one document) and runs/<sweep>/best.yaml, the
spec with the winning values. The study is stored in runs/<sweep>/study.db;
--storage URL takes any database Optuna accepts, so several processes (or
machines) can share one study: --trials is the size of the whole study, and
running the same command again continues it up to --trials.

Exit codes: 0 done, 2 bad --param/option, 3 invalid spec or sweep: section,
9 optuna not installed (pip install 'graphspec[sweep]').

Examples:
  graphspec sweep digits_mlp --param params.hidden=int(16,256,log) \\
      --param train.optimizer.lr=float(1e-4,1e-2,log) --trials 12 --metric val_accuracy
  graphspec sweep digits_mlp --param params.hidden=int(16,256,log) --trials 20 \\
      --storage sqlite:///digits.db --name digits-hp      # run it in two shells at once
"""

from __future__ import annotations

import argparse

from graphspec.cli.common import (
    add_budget_argument,
    add_json_argument,
    add_spec_arguments,
    apply_budget,
    device_type,
    float_range,
    int_range,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_spec_arguments(p, graph=False)
    p.add_argument("--param", action="append", default=[], metavar="PATH=RANGE", help="a searched value: int(LO,HI[,log][,step=N]), float(LO,HI[,log][,step=X]) or choice(A,B,...) (repeatable)")
    p.add_argument("--trials", type=int_range(1, 1_000_000, "a trial count"), help="trials in the whole study (default: sweep.trials, else 20)")
    p.add_argument("--timeout", type=float_range(1e-3, 1e9, "seconds"), help="seconds after which this process starts no new trial")
    p.add_argument("--metric", help="per-epoch metric to optimise (default: sweep.metric, else the spec's best_metric, else val_loss)")
    p.add_argument("--direction", choices=("maximize", "minimize"), help="default: maximize for accuracy/r2/return, else minimize")
    p.add_argument("--name", help="sweep name: the folder runs/<name> and the study name (default: <spec name>-sweep)")
    p.add_argument("--runs-dir", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL shared by several processes (default: sqlite in the sweep folder)")
    p.add_argument("--sampler", choices=("tpe", "random"), help="default: tpe")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), help="default: median")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1, "a seed"), help="sampler seed (default: random)")
    p.add_argument("--epochs", type=int_range(1, 10**6, "an epoch count"), help="override train.epochs for every trial")
    p.add_argument("--device", type=device_type, default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    add_budget_argument(p)
    add_json_argument(p)


def options(args: argparse.Namespace):
    """SweepOptions from the command line and the spec's sweep: section (the command line wins)."""
    import graphspec
    from graphspec.config.sweep import check_unique, parse_param
    from graphspec.spec.overrides import Override, parse_assignments
    from graphspec.sweep.section import read_section
    from graphspec.sweep.study import SweepOptions

    apply_budget(args)
    cli_params = [parse_param(t) for t in args.param]
    check_unique(cli_params)
    sets = parse_assignments(args.overrides)
    if args.epochs is not None:
        sets.append(Override("train.epochs", args.epochs, text=f"--epochs {args.epochs}"))
    section = read_section(graphspec.load(args.spec, set=sets or None))
    given = {p.path for p in cli_params}
    params = cli_params + [p for p in section.params if p.path not in given]

    def pick(name, default):
        value = getattr(args, name)
        return value if value is not None else (getattr(section, name) if getattr(section, name) is not None else default)

    return SweepOptions(
        spec=args.spec,
        params=params,
        trials=pick("trials", 20),
        sets=sets,
        timeout=pick("timeout", None),
        metric=pick("metric", None),
        direction=pick("direction", None),
        name=args.name,
        runs_dir=args.runs_dir,
        storage=args.storage,
        sampler=pick("sampler", "tpe"),
        pruner=pick("pruner", "median"),
        seed=pick("seed", None),
        device=args.device,
        quiet=args.quiet or args.json,
    )


def run(args: argparse.Namespace) -> int:
    from graphspec.sweep.report import print_table
    from graphspec.sweep.study import require_optuna, run_sweep

    opts = options(args)
    require_optuna()
    doc = run_sweep(opts)
    if args.json:
        from graphspec.io import json_dumps

        print(json_dumps(doc, indent=2))  # null, never NaN
    else:
        print_table(doc)
    return 0
