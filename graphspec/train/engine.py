"""The training loop every task shares: run folder, epochs, checkpoints, resume, NaN guard, DDP.

:func:`train` is what ``graphspec train`` calls; :func:`evaluate_run` is
``graphspec evaluate``. Determinism: weights are initialised after
``seed_everything(train.seed)``; epoch ``e`` shuffles with a generator seeded
from ``(seed, e)``; the global RNG states (dropout ...) are saved with every
checkpoint. So on CPU a run resumed from its last checkpoint ends with the same
weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError, Location


@dataclass
class RunOptions:
    name: str | None = None
    runs_dir: str = "runs"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"
    compile: bool = False
    resume: bool = False
    quiet: bool = False
    progress: str | None = None  # rich | plain | quiet; None: auto from the TTY and quiet
    threads: int | None = None  # CPU intra-op threads; None: auto (see set_threads)
    extras: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------- config
def resolve_config(spec):
    """The spec's validated train config and task class; errors are located in the spec file."""
    from graphspec.errors import Collector
    from graphspec.train.config import parse_train, spec_tree
    from graphspec.train.tasks import get_task

    tree = spec_tree(spec)
    cfg = parse_train(spec.train, tree=tree)
    cls = get_task(cfg.task)
    out = Collector()
    for loc, msg in cls.check_config(cfg, spec):
        where = tree.loc(("train",) + tuple(loc)) if tree is not None else None
        out.add("bad-value", f"{'.'.join(('train',) + tuple(map(str, loc)))}: {msg}", location=where)
    out.raise_if_errors()
    return cfg, cls


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GraphspecError.one("usage", f"unknown device {name!r}", hint="auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GraphspecError.one("dependency", "--device cuda, but torch sees no CUDA GPU", hint="use --device cpu (or auto)")
    return dev


def spec_dir_of(spec) -> Path | None:
    if spec.path and Path(spec.path).exists():
        return Path(spec.path).resolve().parent
    return None


SMALL_MODEL = 2_000_000  # parameters below which one CPU thread is fastest


def set_threads(task, device, threads: int | None) -> None:
    """CPU intra-op threads: ``threads`` if given; else 1 for small models (below
    SMALL_MODEL parameters), whose per-op work is too small to split, unless
    OMP_NUM_THREADS is set. A resume makes the same choice, so it stays bit-identical."""
    import torch

    if device.type != "cpu":
        return
    if threads:
        torch.set_num_threads(threads)
        return
    if os.environ.get("OMP_NUM_THREADS"):
        return
    n = sum(p.numel() for m in task.models.values() for p in m.parameters())
    if n < SMALL_MODEL:
        torch.set_num_threads(1)


# ----------------------------------------------------------------- run folders
_NAME_OK = re.compile(r"[A-Za-z0-9_.\-]+")


def run_dir_for(spec, opts: RunOptions) -> Path:
    """runs/<name>: --name as given; otherwise the spec's name, numbered (-2, -3 ...) past existing runs.

    With --resume and no --name, the latest numbered run of the spec.
    """
    runs = Path(opts.runs_dir)
    if opts.name:
        if not _NAME_OK.fullmatch(opts.name) or opts.name in (".", ".."):
            raise GraphspecError.one("usage", f"--name {opts.name!r}: use letters, digits, '_', '-' and '.'")
        return runs / opts.name
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", spec.name or "run")
    existing = [base] + [f"{base}-{i}" for i in range(2, 10_000)]
    taken = [n for n in existing if (runs / n).exists()]
    if opts.resume:
        if not taken:
            raise GraphspecError.one("checkpoint", f"no run of {base!r} in {str(runs)!r} to resume", hint="start it without --resume")
        latest = max(taken, key=lambda n: 1 if n == base else int(n.rsplit("-", 1)[1]))
        return runs / latest
    for n in existing:
        if not (runs / n).exists():
            return runs / n
    raise GraphspecError.one("usage", f"too many runs of {base!r} in {str(runs)!r}; pass --name")  # pragma: no cover


def _dump_spec(spec, cfg) -> str:
    import yaml

    data = dict(spec.raw) if isinstance(spec.raw, dict) else {}
    data["train"] = cfg.model_dump(mode="json", exclude_none=True)
    head = f"# resolved spec of this run (source {spec.path}, sha256 {spec.sha256})\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------- distributed
def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _init_dist(device):
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)


def _any_rank(flag: bool, world: int) -> bool:
    if world <= 1:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t)
    return bool(t.item() > 0)


def _broadcast_obj(obj, world: int):
    if world <= 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ----------------------------------------------------------------- training
class Diverged(Exception):
    pass


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 12345) % (2**63 - 1)


def train_epoch(task, epoch: int, seed: int, step: int = 0, world: int = 1, on_step=None) -> tuple[dict[str, float], int]:
    """One epoch of ``task``'s training batches: (mean of each train_step log, steps taken).

    Raises Diverged on a NaN/Inf loss (on any rank under DDP).
    """
    import torch

    gen = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
    loss_sum = 0.0
    extra_sums: dict[str, float] = {}
    n_steps = 0
    for batch in task.train_batches(epoch, gen):
        logs = task.train_step(batch)
        lv = float(logs["loss"])
        bad = not math.isfinite(lv)
        if (bad or world > 1) and _any_rank(bad, world):
            raise Diverged(f"loss is {lv if bad else 'not finite on another process'} at epoch {epoch + 1}, step {step + n_steps + 1}")
        n_steps += 1
        loss_sum += lv
        if len(logs) > 1:
            for k, v in logs.items():
                if k != "loss":
                    extra_sums[k] = extra_sums.get(k, 0.0) + float(v)
        if on_step is not None:
            on_step(lv)
    metrics = {"loss": loss_sum / max(n_steps, 1)}
    metrics.update({k: v / max(n_steps, 1) for k, v in extra_sums.items()})
    return metrics, n_steps


def train(spec, opts: RunOptions) -> dict[str, Any]:
    """Train what ``spec.train`` describes into ``runs/<name>``; returns the final metrics."""
    import torch

    threads = torch.get_num_threads()
    try:
        return _train(spec, opts)
    finally:
        torch.set_num_threads(threads)  # set_threads() may have lowered it for this run


def _train(spec, opts: RunOptions) -> dict[str, Any]:
    import torch

    from graphspec.train import checkpoint as ck
    from graphspec.train.progress import Progress
    from graphspec.train.tasks.base import TrainContext

    cfg, cls = resolve_config(spec)
    device = resolve_device(opts.device)
    if opts.precision != "fp32" and device.type != "cuda":
        raise GraphspecError.one("usage", f"--precision {opts.precision} needs a CUDA device; this run is on {device.type}", hint="use --precision fp32 on CPU")
    rank, world, local = dist_env()
    if world > 1:
        import warnings

        # conv weights with one input channel have ambiguous strides; DDP warns, harmlessly
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        _init_dist(device)
    main = rank == 0

    run_dir = run_dir_for(spec, opts) if main else None
    run_dir = Path(_broadcast_obj(str(run_dir) if run_dir else None, world))
    state = None
    if opts.resume:
        state = ck.load_state(run_dir / "last.state.pt")
    elif main and run_dir.exists() and any(run_dir.iterdir()):
        raise GraphspecError.one(
            "usage",
            f"run folder {str(run_dir)!r} already exists",
            hint="continue it with --resume, or pick another --name",
        )
    progress = Progress(opts.progress or "quiet", cfg.epochs) if opts.progress else Progress.auto(cfg.epochs, opts.quiet)
    if not main:
        progress = Progress("quiet", cfg.epochs)

    ck.seed_everything(cfg.seed)
    ctx = TrainContext(
        spec=spec,
        cfg=cfg,
        device=device,
        precision=opts.precision,
        compile=opts.compile,
        rank=rank,
        world_size=world,
        run_dir=run_dir,
        log=progress.log,
        spec_dir=spec_dir_of(spec),
        extras=dict(opts.extras),
    )
    task = cls(ctx)
    task.setup()
    set_threads(task, device, opts.threads)

    rows: list[dict[str, Any]] = []
    start_epoch = 0
    step = 0
    wall_before = 0.0
    best_value: float | None = None
    best_epoch = 0
    bad_epochs = 0
    stopped = "completed"
    if state is not None:
        if state.get("spec_name") != spec.name or state.get("task") != cfg.task:
            raise GraphspecError.one(
                "checkpoint",
                f"{str(run_dir)!r} was trained from spec {state.get('spec_name')!r} (task {state.get('task')!r}), not {spec.name!r} (task {cfg.task!r})",
            )
        task.load_weights(state["weights"])
        task.load_state_dict(state["task_state"])
        ck.set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        step = int(state["step"])
        wall_before = float(state["wall_s"])
        best_value = state["best_value"]
        best_epoch = int(state["best_epoch"])
        bad_epochs = int(state["bad_epochs"])
        stopped = state.get("stopped") or "completed"
        rows = json.loads(state["rows"]) if "rows" in state else [r for r in ck.read_metrics(run_dir) if r.get("epoch", 0) <= start_epoch]
        progress.log(f"resuming {run_dir} at epoch {start_epoch + 1}/{cfg.epochs} (step {step})")
    elif main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ck.atomic_write(run_dir / "spec.yaml", _dump_spec(spec, cfg), mode="w")

    n_params = sum(p.numel() for m in task.models.values() for p in m.parameters())
    if main and state is None:
        progress.log(
            f"training {spec.name} ({cfg.task}, {n_params:,} parameters) on {device}"
            + (f" x{world} processes" if world > 1 else "")
            + f" for {cfg.epochs} epochs -> {run_dir}"
        )
    monitor, mode = cfg.monitor, cfg.monitor_mode
    best_weights = None
    t_start = time.perf_counter()
    progress.start()
    try:
        done = stopped != "completed" or start_epoch >= cfg.epochs
        epoch = start_epoch
        while not done and epoch < cfg.epochs:
            t0 = time.perf_counter()
            task.train(True)
            progress.begin_epoch(epoch, task.num_train_batches(), epoch)
            train_metrics, n_steps = train_epoch(task, epoch, cfg.seed, step, world, progress.step)
            step += n_steps
            train_metrics = task.all_reduce_mean(train_metrics)
            row: dict[str, Any] = {"epoch": epoch + 1, "step": step}
            row.update({f"train_{k}": v for k, v in train_metrics.items()})
            if task.has_split("val"):
                row.update({f"val_{k}": v for k, v in task.evaluate("val").items()})
            val_loss = row.get("val_loss")
            if val_loss is not None and not math.isfinite(val_loss):
                raise Diverged(f"validation loss is {val_loss} after epoch {epoch + 1}")
            row["lr"] = next(iter(task.schedules.values())).lr() if task.schedules else None
            task.on_epoch_end(epoch, row)
            row["epoch_s"] = time.perf_counter() - t0
            row["wall_s"] = wall_before + time.perf_counter() - t_start
            rows.append(row)

            value = row.get(monitor, row.get("val_loss", row.get("train_loss")))
            improved = best_value is None or (value is not None and math.isfinite(value) and (
                value < best_value - (cfg.early_stopping.min_delta if cfg.early_stopping else 0.0)
                if mode == "min"
                else value > best_value + (cfg.early_stopping.min_delta if cfg.early_stopping else 0.0)
            ))
            if improved:
                best_value, best_epoch, bad_epochs = value, epoch + 1, 0
            else:
                bad_epochs += 1
            if cfg.early_stopping and bad_epochs >= cfg.early_stopping.patience:
                stopped = "early_stopping"
            epoch += 1
            weights = task.weights() if main else None
            if improved:
                best_weights = weights
            if main:
                meta = {"epoch": epoch, "step": step, "spec": spec.name, "spec_sha256": spec.sha256, "task": cfg.task}
                st = {
                    "format": ck.STATE_FORMAT,
                    "spec_name": spec.name,
                    "task": cfg.task,
                    "epoch": epoch,
                    "step": step,
                    "wall_s": row["wall_s"],
                    "best_value": best_value,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "stopped": stopped if stopped != "completed" else None,
                    "weights": weights,
                    "task_state": task.state_dict(),
                    "rng": ck.rng_state(),
                    "rows": json.dumps(rows),
                }
                ck.write_metrics(run_dir, rows)
                _save_checkpoint(run_dir, "best" if improved else None, weights, meta, st)
            progress.end_epoch(epoch - 1, row)
            if stopped != "completed":
                progress.log(f"early stopping: {monitor} has not improved for {bad_epochs} epochs (best {best_value:.4g} at epoch {best_epoch})")
                done = True
    except Diverged as exc:
        progress.stop()
        if main and rows:
            ck.write_metrics(run_dir, rows)
            _plots(run_dir, rows)
        last = rows[-1]["epoch"] if rows else None
        intact = (
            f"the last good checkpoint (epoch {last}) is intact: {run_dir / 'last.safetensors'}"
            if last
            else "no checkpoint was written (it diverged in the first epoch)"
        )
        raise GraphspecError.one(
            "diverged",
            f"training diverged: {exc}; {intact}",
            location=_train_loc(spec, "optimizer"),
            hint="lower train.optimizer.lr, set train.grad_clip, add warmup (train.schedule.warmup_steps), or check the data for NaN/Inf",
        )
    finally:
        progress.stop()

    # ---- final: test metrics from the best weights ----------------------------------
    if best_weights is None:
        if main:
            best_weights, _ = ck.load_weights(run_dir / "best.safetensors")
        best_weights = _broadcast_obj(best_weights, world)
    elif world > 1:
        best_weights = _broadcast_obj(best_weights, world)
    else:
        pass
    if world > 1 and not main and best_weights is None:  # pragma: no cover
        raise GraphspecError.one("internal", "best weights were not shared")
    task.load_weights(best_weights)
    test = task.evaluate("test") if task.has_split("test") else {}
    last = rows[-1] if rows else {}
    result: dict[str, Any] = {
        "name": run_dir.name,
        "run_dir": str(run_dir),
        "spec": spec.name,
        "task": cfg.task,
        "seed": cfg.seed,
        "epochs": int(last.get("epoch", 0)),
        "steps": step,
        "best_epoch": best_epoch,
        "best_metric": monitor,
        "best_value": best_value,
        "stopped": stopped,
        "params": n_params,
        "device": str(device),
        "world_size": world,
    }
    for k, v in last.items():
        if k.startswith(("train_", "val_")):
            result[k] = v
    result.update({f"test_{k}": v for k, v in test.items()})
    result["wall_s"] = float(last.get("wall_s", 0.0))
    if main:
        ck.atomic_write(run_dir / "results.json", json.dumps(result, indent=2) + "\n", mode="w")
        _plots(run_dir, rows)
        try:
            result["artifacts"] = task.save_artifacts(run_dir)
        finally:
            task.close()
        if not opts.quiet:
            test_txt = "  ".join(f"test_{k} {v:.4f}" for k, v in test.items())
            progress.log(f"done: {result['epochs']} epochs in {result['wall_s']:.1f}s; best epoch {best_epoch}; {test_txt} -> {run_dir}")
    else:
        task.close()
    return result


def _plots(run_dir: Path, rows) -> None:
    from graphspec.train.plots import plot_curves

    try:
        plot_curves(run_dir, rows)
    except Exception as exc:  # plots are a convenience; never fail a run on them
        print(f"graphspec: warning: could not draw plots: {exc}")


def _save_checkpoint(run_dir: Path, best: str | None, weights, meta: dict, state: dict) -> None:
    from graphspec.train import checkpoint as ck

    if best:
        ck.save_weights(run_dir / "best.safetensors", weights, meta)
        ck.save_state(run_dir / "best.state.pt", state)
    ck.save_weights(run_dir / "last.safetensors", weights, meta)
    ck.save_state(run_dir / "last.state.pt", state)


def _train_loc(spec, key: str) -> Location | None:
    from graphspec.train.config import spec_tree

    tree = spec_tree(spec)
    return tree.loc(("train", key)) if tree is not None else None


# ----------------------------------------------------------------- evaluate
def evaluate_run(spec, run: str | Path, device: str = "auto", which: str = "best") -> dict[str, Any]:
    """Test (and validation) metrics of a trained run from its ``best`` (or ``last``) weights."""
    import torch

    threads = torch.get_num_threads()
    try:
        return _evaluate_run(spec, run, device, which)
    finally:
        torch.set_num_threads(threads)


def _evaluate_run(spec, run, device: str, which: str) -> dict[str, Any]:
    from graphspec.train import checkpoint as ck
    from graphspec.train.tasks.base import TrainContext

    run = Path(run)
    if not run.is_dir():
        raise GraphspecError.one("checkpoint", f"run folder {str(run)!r} not found", hint="train it first: graphspec train SPEC --name NAME")
    weights, meta = ck.load_weights(run / f"{which}.safetensors")
    cfg, cls = resolve_config(spec)
    if meta.get("task") and meta["task"] != cfg.task:
        raise GraphspecError.one("checkpoint", f"{str(run)!r} holds a {meta['task']!r} model, but the spec's task is {cfg.task!r}")
    ck.seed_everything(cfg.seed)
    ctx = TrainContext(spec=spec, cfg=cfg, device=resolve_device(device), spec_dir=spec_dir_of(spec), run_dir=run, log=lambda s: None)
    task = cls(ctx)
    task.setup()
    set_threads(task, ctx.device, None)
    task.load_weights(weights)
    out: dict[str, Any] = {"run_dir": str(run), "spec": spec.name, "task": cfg.task, "weights": which, "epoch": int(meta["epoch"]) if "epoch" in meta else None}
    if meta.get("spec_sha256") and meta["spec_sha256"] != spec.sha256:
        out["warning"] = "the spec file changed since this run was trained"
    if task.has_split("val"):
        out.update({f"val_{k}": v for k, v in task.evaluate("val").items()})
    if task.has_split("test"):
        out.update({f"test_{k}": v for k, v in task.evaluate("test").items()})
    task.close()
    return out
