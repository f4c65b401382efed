"""Train what a spec's train: section describes, into runs/<name>/.

Writes spec.yaml (the resolved spec), metrics.jsonl and metrics.csv (one row
per epoch), loss.png/metrics.png (redrawn every epoch), last.safetensors and
best.safetensors (the weights), last.state.pt and best.state.pt (optimizer,
schedule, RNG states, epoch and step: what --resume needs), TensorBoard event
files (train.loggers, default [tensorboard]) and results.json (final metrics,
test metrics from the best weights). Every file is written atomically.
--mlflow [URI] also logs params, metrics and artifacts to MLflow.

Exit codes: 0 done, 3 invalid train: section, 5 data do not fit the model,
7 training diverged (NaN/Inf loss; the last good checkpoint is kept),
8 a checkpoint to resume is missing or corrupt.

Examples:
  graphspec train specs/digits_lenet5.yaml
  graphspec train digits_mlp --epochs 5 --seed 1 --name mlp-s1
  graphspec train digits_lenet5 --name lenet --resume
  graphspec train digits_lenet5 --set train.optimizer.lr=3e-3 --json
  graphspec train digits_mlp --mlflow              # + MLflow (./mlflow.db, ./mlruns)
  tensorboard --logdir runs                        # the curves of every run
  graphspec train digits_lenet5 --nproc 2          # DDP (gloo on CPU, NCCL on CUDA)
"""

from __future__ import annotations

import argparse
import os
import sys

from graphspec.cli.common import add_budget_argument, add_json_argument, add_spec_arguments, apply_budget, device_type, int_range, threads_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_spec_arguments(p, graph=False)
    p.add_argument("--name", help="run name: the folder runs/<name> (default: the spec's name, numbered past existing runs)")
    p.add_argument("--runs-dir", default="runs", help="folder holding the runs (default: runs)")
    p.add_argument("--epochs", type=int_range(1, 10**6, "an epoch count"), help="override train.epochs")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1, "a seed"), help="override train.seed")
    p.add_argument("--device", type=device_type, default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="autocast precision; bf16/fp16 need CUDA")
    p.add_argument("--threads", type=threads_type, help="CPU threads for torch (default: 1 for models under 2M parameters, else torch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the models")
    p.add_argument("--resume", action="store_true", help="continue runs/<name> from last.state.pt")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="log the run to MLflow too (needs graphspec[mlflow]): at URI, else $MLFLOW_TRACKING_URI, else MLflow's default (./mlflow.db)",
    )
    add_json_argument(p)
    add_budget_argument(p)
    p.add_argument("--nproc", type=int_range(1, 1024, "a process count"), default=1, help="train with N processes (DDP via torchrun); train.batch_size stays the global batch")


def _overrides(args) -> list[str]:
    sets = list(args.overrides)
    if args.epochs is not None:
        sets.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        sets.append(f"train.seed={args.seed}")
    return sets


def run(args: argparse.Namespace) -> int:
    from graphspec.errors import GraphspecError

    try:
        return _run(args)
    except GraphspecError as exc:
        path = os.environ.get("GRAPHSPEC_EXIT_FILE")
        if path and int(os.environ.get("RANK", "0")) == 0:
            with open(path, "w") as f:
                f.write(str(int(exc.exit_code)))
        raise


def _run(args: argparse.Namespace) -> int:
    import graphspec
    from graphspec.errors import GraphspecError
    from graphspec.spec.overrides import parse_assignments

    if args.epochs is not None and args.epochs < 1:
        raise GraphspecError.one("usage", f"--epochs must be at least 1. Received: {args.epochs}")
    if args.nproc < 1:
        raise GraphspecError.one("usage", f"--nproc must be at least 1. Received: {args.nproc}")
    apply_budget(args)
    spec = graphspec.load(args.spec, set=parse_assignments(_overrides(args)))
    if args.nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _launch(args, spec)

    from graphspec.api import train  # the Python API's train: one code path

    result = train(
        spec,
        name=args.name,
        runs_dir=args.runs_dir,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        resume=args.resume,
        quiet=args.quiet,
        threads=args.threads,
        mlflow=args.mlflow is not None,
        mlflow_uri=args.mlflow or None,
    ).results
    if args.json and int(os.environ.get("RANK", "0")) == 0:
        from graphspec.io import json_dumps

        print(json_dumps(result, indent=2))  # null, never NaN
    return 0


def _launch(args: argparse.Namespace, spec) -> int:
    """Re-run this command under torchrun with N processes; rank 0 writes the run."""
    import subprocess
    import tempfile

    from graphspec.train.engine import RunOptions, resolve_config, run_dir_for

    resolve_config(spec)  # report train: errors once, here, not N times
    run_dir = run_dir_for(spec, RunOptions(name=args.name, runs_dir=args.runs_dir, resume=args.resume))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}", "-m", "graphspec", "train", args.spec]
    for s in _overrides(args):
        cmd += ["--set", s]
    cmd += ["--name", run_dir.name, "--runs-dir", args.runs_dir, "--device", args.device, "--precision", args.precision]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.mlflow is not None:
        cmd += [f"--mlflow={args.mlflow}"] if args.mlflow else ["--mlflow"]
    for flag in ("compile", "resume", "quiet", "json"):
        if getattr(args, flag):
            cmd.append(f"--{flag}")
    fd, exit_file = tempfile.mkstemp(prefix="graphspec-exit-")
    os.close(fd)
    env = dict(os.environ, GRAPHSPEC_EXIT_FILE=exit_file, GRAPHSPEC_CLAIMED_RUN=str(run_dir))  # workers reuse this process's claim
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.nproc)))
    if not args.quiet:
        print(f"launching {args.nproc} processes: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    try:
        rc = subprocess.call(cmd, env=env)
        with open(exit_file) as f:
            text = f.read().strip()
    finally:
        try:
            os.unlink(exit_file)
        except OSError:
            pass
    if rc != 0 and text:
        return int(text)
    return rc
