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
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError, Location
from graphspec.train.callbacks import Callback, CallbackList
from graphspec.train.runspec import dump_spec as _dump_spec
from graphspec.train.runspec import load_run_spec, spec_differences
from graphspec.train.writer import BackgroundWriter


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
    callbacks: list[Callback] = field(default_factory=list)  # run on rank 0, after the loggers
    mlflow: bool = False  # log to MLflow too (as if train.loggers held mlflow)
    mlflow_uri: str | None = None  # MLflow tracking URI; None: $MLFLOW_TRACKING_URI or MLflow's default


# ----------------------------------------------------------------- config
def resolve_config(spec):
    """The spec's train config (validated by ``load()``) and its task class."""
    from graphspec.train.tasks import get_task

    if spec.train_config is None:
        raise GraphspecError.one(
            "missing-field",
            "the spec has no 'train:' section",
            location=spec.tree.loc(()) if spec.tree is not None else None,
            hint="add one (see docs/training.md), or pass it with --set train.task=classify --set train.data=digits",
        )
    return spec.train_config, get_task(spec.train_config.task)


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
def run_dir_for(spec, opts: RunOptions) -> Path:
    """runs/<name>, claimed atomically for this process (see graphspec/train/rundir.py).

    --name as given; otherwise the spec's name, numbered (-2, -3 ...) past
    existing runs; with --resume and no --name, the latest numbered run.
    """
    from graphspec.train.rundir import claim_run_dir

    return claim_run_dir(spec.name, opts.runs_dir, opts.name, opts.resume)


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

    ``on_step(global_step, logs)`` is called after every step with the step's logs as floats.
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
        floats = {"loss": lv}
        if len(logs) > 1:
            for k, v in logs.items():
                if k != "loss":
                    floats[k] = fv = float(v)
                    extra_sums[k] = extra_sums.get(k, 0.0) + fv
        if on_step is not None:
            on_step(step + n_steps, floats)
    metrics = {"loss": loss_sum / max(n_steps, 1)}
    metrics.update({k: v / max(n_steps, 1) for k, v in extra_sums.items()})
    return metrics, n_steps


# ----------------------------------------------------------------- run state
@dataclass
class RunState:
    """One run from setup to result: what the phases below share, and what callbacks see.

    ``epoch`` counts finished epochs and ``step`` optimizer steps (both continue
    after --resume); ``rows`` holds one metrics row per finished epoch, as in
    metrics.jsonl; ``stopped`` is "completed", "early_stopping" or a callback's reason.
    """

    spec: Any
    cfg: Any
    opts: RunOptions
    task_cls: Any = None
    device: Any = None
    rank: int = 0
    world: int = 1
    run_dir: Path = Path(".")
    progress: Any = None
    task: Any = None  # graphspec.train.tasks.base.Task
    saved: dict[str, Any] | None = None  # last.state.pt of the run being resumed
    epoch: int = 0
    step: int = 0
    wall_before: float = 0.0  # seconds spent by earlier sessions of a resumed run
    t_start: float = 0.0
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: str = "completed"
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_weights: Any = None
    n_params: int = 0
    callbacks: CallbackList = field(default_factory=CallbackList)
    writer: BackgroundWriter = field(default_factory=BackgroundWriter)  # checkpoint files, behind the loop

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def models(self) -> dict[str, Any]:
        return self.task.models if self.task is not None else {}

    @property
    def model(self):
        """The task's first model (the only one, except for gan/dqn: see ``models``)."""
        return next(iter(self.models.values()), None)

    @property
    def optimizer(self):
        return next(iter(self.task.optimizers.values()), None) if self.task is not None else None

    @property
    def scheduler(self):
        return next(iter(self.task.schedules.values()), None) if self.task is not None else None

    def lr(self) -> float | None:
        sched = self.scheduler
        return sched.lr() if sched is not None else None


def train(spec, opts: RunOptions) -> dict[str, Any]:
    """Train what ``spec.train`` describes into ``runs/<name>``; returns the final metrics."""
    import torch

    threads = torch.get_num_threads()
    try:
        return _train(spec, opts)
    finally:
        torch.set_num_threads(threads)  # set_threads() may have lowered it for this run
        from graphspec.train.rundir import settle_claims

        settle_claims()  # unlock the run folder; drop it if the run failed before writing anything


def _train(spec, opts: RunOptions) -> dict[str, Any]:
    state = _setup(spec, opts)
    try:
        _run_epochs(state)
        return _finish(state)
    except Diverged as exc:
        _drain(state)
        error = _diverged_error(state, exc)
        state.callbacks.on_train_error(state, error)
        raise error from None
    except BaseException as exc:
        _drain(state)
        state.callbacks.on_train_error(state, exc)
        raise


# ---- setup: config, processes, run folder, model, resume ----------------------------
def _setup(spec, opts: RunOptions) -> RunState:
    from graphspec.train import checkpoint as ck

    cfg, cls = resolve_config(spec)
    callbacks = _make_callbacks(cfg, opts)  # before the run folder: a missing logger package fails first
    state = RunState(spec=spec, cfg=cfg, opts=opts, task_cls=cls)
    _setup_processes(state)
    _claim_run_dir(state)
    state.progress = _make_progress(state)
    ck.seed_everything(cfg.seed)
    _build_model(state)
    if state.saved is not None:
        _restore(state)
    elif state.main:
        state.run_dir.mkdir(parents=True, exist_ok=True)
        ck.atomic_write(state.run_dir / "spec.yaml", _dump_spec(spec, cfg), mode="w")
    state.n_params = sum(p.numel() for m in state.task.models.values() for p in m.parameters())
    if state.main:
        state.callbacks = CallbackList(callbacks)
        if state.saved is None:
            state.progress.log(
                f"training {spec.name} ({cfg.task}, {state.n_params:,} parameters) on {state.device}"
                + (f" x{state.world} processes" if state.world > 1 else "")
                + f" for {cfg.epochs} epochs -> {state.run_dir}"
            )
    return state


def _make_callbacks(cfg, opts: RunOptions) -> list[Callback]:
    from graphspec.train.loggers import make_loggers
    from graphspec.train.plots import CurvePlots

    names = list(cfg.loggers) + (["mlflow"] if opts.mlflow else [])
    # the plots first: their final redraw is done when the loggers collect the artifacts
    return [CurvePlots(), *make_loggers(names, mlflow_uri=opts.mlflow_uri), *opts.callbacks]


def _setup_processes(state: RunState) -> None:
    """The device, and the process group under torchrun."""
    import torch

    opts = state.opts
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
    state.device, state.rank, state.world = device, rank, world


def _claim_run_dir(state: RunState) -> None:
    """runs/<name> (chosen on rank 0, shared), and its last.state.pt under --resume."""
    from graphspec.train import checkpoint as ck

    spec, opts, main = state.spec, state.opts, state.main
    run_dir = run_dir_for(spec, opts) if main else None
    state.run_dir = run_dir = Path(_broadcast_obj(str(run_dir) if run_dir else None, state.world))
    if opts.resume and (run_dir / "last.state.pt").exists():
        state.saved = ck.load_state(run_dir / "last.state.pt")
    elif opts.resume:
        pass  # killed before its first checkpoint: start over in place (rundir.py)
    elif main and run_dir.exists() and any(run_dir.iterdir()):
        raise GraphspecError.one(
            "usage",
            f"run folder {str(run_dir)!r} already exists",
            hint="continue it with --resume, or pick another --name",
        )


def _make_progress(state: RunState):
    from graphspec.train.progress import Progress

    opts, epochs = state.opts, state.cfg.epochs
    if not state.main:
        return Progress("quiet", epochs)
    return Progress(opts.progress or "quiet", epochs) if opts.progress else Progress.auto(epochs, opts.quiet)


def _build_model(state: RunState) -> None:
    """The task and its freshly initialised (seeded) models: the one place a model is built,
    so the place to change it before training (initial weights, frozen parts)."""
    from graphspec.train.tasks.base import TrainContext

    opts = state.opts
    ctx = TrainContext(
        spec=state.spec,
        cfg=state.cfg,
        device=state.device,
        precision=opts.precision,
        compile=opts.compile,
        rank=state.rank,
        world_size=state.world,
        run_dir=state.run_dir,
        log=state.progress.log,
        spec_dir=spec_dir_of(state.spec),
        extras=dict(opts.extras),
    )
    task = state.task_cls(ctx)
    task.setup()
    from graphspec.train.finetune import prepare

    prepare(task, resume=state.saved is not None)  # train.init_from / freeze / optimizer.param_groups
    set_threads(task, state.device, opts.threads)
    state.task = task


def _restore(state: RunState) -> None:
    """Weights, optimizer/schedule/task state, RNG states and counters from last.state.pt."""
    from graphspec.train import checkpoint as ck

    saved, spec, cfg, task = state.saved, state.spec, state.cfg, state.task
    if saved.get("spec_name") != spec.name or saved.get("task") != cfg.task:
        raise GraphspecError.one(
            "checkpoint",
            f"{str(state.run_dir)!r} was trained from spec {saved.get('spec_name')!r} (task {saved.get('task')!r}), not {spec.name!r} (task {cfg.task!r})",
        )
    task.load_weights(saved["weights"])
    task.load_state_dict(saved["task_state"])
    ck.set_rng_state(saved["rng"])
    state.epoch = int(saved["epoch"])
    state.step = int(saved["step"])
    state.wall_before = float(saved["wall_s"])
    state.best_value = saved["best_value"]
    state.best_epoch = int(saved["best_epoch"])
    state.bad_epochs = int(saved["bad_epochs"])
    state.stopped = saved.get("stopped") or "completed"
    if "rows" in saved:
        state.rows = json.loads(saved["rows"])
    else:
        state.rows = [r for r in ck.read_metrics(state.run_dir) if r.get("epoch", 0) <= state.epoch]
    state.progress.log(f"resuming {state.run_dir} at epoch {state.epoch + 1}/{cfg.epochs} (step {state.step})")


# ---- the epoch loop --------------------------------------------------------------
def _run_epochs(state: RunState) -> None:
    state.callbacks.on_train_start(state)
    state.t_start = time.perf_counter()
    state.progress.start()
    try:
        while state.stopped == "completed" and state.epoch < state.cfg.epochs:
            _run_epoch(state)
    finally:
        state.progress.stop()


def _run_epoch(state: RunState) -> None:
    """Train one epoch, validate, track the best value, call the callbacks, write the checkpoint."""
    task, epoch, start = state.task, state.epoch, state.step
    t0 = time.perf_counter()
    task.train(True)
    state.progress.begin_epoch(epoch, task.num_train_batches(), epoch)
    train_metrics, n_steps = train_epoch(task, epoch, state.cfg.seed, start, state.world, _step_hook(state))
    state.step = start + n_steps
    row = _epoch_row(state, task.all_reduce_mean(train_metrics), t0)
    state.rows.append(row)
    improved = _update_best(state, row)
    state.epoch = epoch + 1
    reason = state.callbacks.on_epoch_end(state, row)
    if state.world > 1:
        reason = _broadcast_obj(reason, state.world)  # callbacks run on rank 0; every rank stops
    if reason and state.stopped == "completed":
        state.stopped = reason
    _checkpoint(state, improved)
    state.progress.end_epoch(epoch, row)
    if state.stopped == "early_stopping":
        state.progress.log(
            f"early stopping: {state.cfg.monitor} has not improved for {state.bad_epochs} epochs (best {state.best_value:.4g} at epoch {state.best_epoch})"
        )
    elif state.stopped != "completed":
        state.progress.log(f"stopped after epoch {state.epoch}: {state.stopped}")


def _step_hook(state: RunState):
    """The per-step function train_epoch calls: progress, then the callbacks that listen to steps."""
    progress_step = state.progress.step
    listeners = state.callbacks.step_listeners
    if not listeners:
        return lambda step, logs: progress_step(logs["loss"])

    def hook(step: int, logs: dict[str, float]) -> None:
        progress_step(logs["loss"])
        state.step = step
        for cb in listeners:
            cb.on_step_end(state, logs)

    return hook


def _epoch_row(state: RunState, train_metrics: dict[str, float], t0: float) -> dict[str, Any]:
    """The epoch's metrics row: train means, validation metrics, learning rate, times."""
    task, epoch = state.task, state.epoch
    row: dict[str, Any] = {"epoch": epoch + 1, "step": state.step}
    row.update({f"train_{k}": v for k, v in train_metrics.items()})
    if task.has_split("val"):
        row.update({f"val_{k}": v for k, v in task.evaluate("val").items()})
    val_loss = row.get("val_loss")
    if val_loss is not None and not math.isfinite(val_loss):
        raise Diverged(f"validation loss is {val_loss} after epoch {epoch + 1}")
    row["lr"] = state.lr()
    task.on_epoch_end(epoch, row)
    row["epoch_s"] = time.perf_counter() - t0
    row["wall_s"] = state.wall_before + time.perf_counter() - state.t_start
    return row


def _update_best(state: RunState, row: dict[str, Any]) -> bool:
    """Whether the monitored value improved (best.safetensors follows it); counts early-stopping patience."""
    cfg = state.cfg
    value = row.get(cfg.monitor, row.get("val_loss", row.get("train_loss")))
    delta = cfg.early_stopping.min_delta if cfg.early_stopping else 0.0
    best = state.best_value
    improved = best is None or (
        value is not None and math.isfinite(value) and (value < best - delta if cfg.monitor_mode == "min" else value > best + delta)
    )
    if improved:
        state.best_value, state.best_epoch, state.bad_epochs = value, row["epoch"], 0
    else:
        state.bad_epochs += 1
    if cfg.early_stopping and state.bad_epochs >= cfg.early_stopping.patience:
        state.stopped = "early_stopping"
    return improved


def _checkpoint(state: RunState, improved: bool) -> None:
    """metrics.jsonl/csv, last.* and (if improved) best.*: everything --resume needs, written atomically."""
    from graphspec.train import checkpoint as ck

    weights = state.task.weights() if state.main else None
    if improved:
        state.best_weights = weights
    if not state.main:
        return
    spec, cfg = state.spec, state.cfg
    meta = {"epoch": state.epoch, "step": state.step, "spec": spec.name, "spec_sha256": spec.sha256, "task": cfg.task}
    st = {
        "format": ck.STATE_FORMAT,
        "spec_name": spec.name,
        "task": cfg.task,
        "epoch": state.epoch,
        "step": state.step,
        "wall_s": state.rows[-1]["wall_s"],
        "best_value": state.best_value,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped": state.stopped if state.stopped != "completed" else None,
        "weights": weights,
        "task_state": state.task.state_dict(),
        "rng": ck.rng_state(),
        "rows": json.dumps(state.rows),
    }
    blobs = ck.weights_bytes(weights, meta), ck.state_bytes(st)  # snapshots, taken before training goes on
    state.writer.submit(_save_checkpoint, state.run_dir, improved, list(state.rows), *blobs)


def _diverged_error(state: RunState, exc: Diverged) -> GraphspecError:
    last = state.rows[-1]["epoch"] if state.rows else None
    intact = (
        f"the last good checkpoint (epoch {last}) is intact: {state.run_dir / 'last.safetensors'}"
        if last
        else "no checkpoint was written (it diverged in the first epoch)"
    )
    return GraphspecError.one(
        "diverged",
        f"training diverged: {exc}; {intact}",
        location=_train_loc(state.spec, "optimizer"),
        hint="lower train.optimizer.lr, set train.grad_clip, add warmup (train.schedule.warmup_steps), or check the data for NaN/Inf",
    )


# ---- finish: test metrics from the best weights, results.json ---------------------------
def _finish(state: RunState) -> dict[str, Any]:
    from graphspec.train import checkpoint as ck

    task = state.task
    state.writer.wait()  # every checkpoint on disk (best.safetensors may be read back)
    _load_best(state)
    test = task.evaluate("test") if task.has_split("test") else {}
    result = _result(state, test)
    if not state.main:
        task.close()
        return result
    try:
        from graphspec.io import json_dumps  # NaN/Inf -> null: results.json stays valid JSON

        ck.atomic_write(state.run_dir / "results.json", json_dumps(result, indent=2) + "\n", mode="w")
        result["artifacts"] = task.save_artifacts(state.run_dir)
    finally:
        task.close()
    state.callbacks.on_train_end(state, result)
    if not state.opts.quiet:
        test_txt = "  ".join(f"test_{k} {v:.4f}" for k, v in test.items())
        state.progress.log(
            f"done: {result['epochs']} epochs in {result['wall_s']:.1f}s; best epoch {state.best_epoch}; {test_txt} -> {state.run_dir}"
        )
    return result


def _load_best(state: RunState) -> None:
    """Load the best weights into the task (on every rank)."""
    from graphspec.train import checkpoint as ck

    best, world = state.best_weights, state.world
    if best is None:
        if state.main:
            best, _ = ck.load_weights(state.run_dir / "best.safetensors")
        best = _broadcast_obj(best, world)
    elif world > 1:
        best = _broadcast_obj(best, world)
    if world > 1 and not state.main and best is None:  # pragma: no cover
        raise GraphspecError.one("internal", "best weights were not shared")
    state.task.load_weights(best)


def _result(state: RunState, test: dict[str, float]) -> dict[str, Any]:
    cfg, last = state.cfg, (state.rows[-1] if state.rows else {})
    result: dict[str, Any] = {
        "name": state.run_dir.name,
        "run_dir": str(state.run_dir),
        "spec": state.spec.name,
        "task": cfg.task,
        "seed": cfg.seed,
        "epochs": int(last.get("epoch", 0)),
        "steps": state.step,
        "best_epoch": state.best_epoch,
        "best_metric": cfg.monitor,
        "best_value": state.best_value,
        "stopped": state.stopped,
        "params": state.n_params,
        "device": str(state.device),
        "world_size": state.world,
    }
    for k, v in last.items():
        if k.startswith(("train_", "val_")):
            result[k] = v
    result.update({f"test_{k}": v for k, v in test.items()})
    result["wall_s"] = float(last.get("wall_s", 0.0))
    return result


def _save_checkpoint(run_dir: Path, best: bool, rows: list[dict[str, Any]], weights: bytes, state: bytes) -> None:
    """On the writer thread: the metrics files, then best.* (if improved), then last.*; each .state.pt
    after its weights, so a process killed at any moment leaves a consistent checkpoint."""
    from graphspec.train import checkpoint as ck

    ck.write_metrics(run_dir, rows)
    for name in ("best", "last") if best else ("last",):
        ck.atomic_write(run_dir / f"{name}.safetensors", weights)
        ck.atomic_write(run_dir / f"{name}.state.pt", state)


def _drain(state: RunState) -> None:
    """Let the last checkpoint reach the disk while another error ends the run; report its own failure."""
    try:
        state.writer.wait()
    except Exception as exc:  # noqa: BLE001 -- the run's error is the one raised
        print(f"graphspec: warning: the last checkpoint was not written: {exc}", file=sys.stderr, flush=True)


def _train_loc(spec, key: str) -> Location | None:
    return spec.tree.loc(("train", key)) if spec.tree is not None else None


# ----------------------------------------------------------------- evaluate
def evaluate_run(spec, run: str | Path, device: str = "auto", which: str = "best") -> dict[str, Any]:
    """Test (and validation) metrics of a trained run from its ``best`` (or ``last``) weights.

    ``spec`` None: the run's own spec.yaml (:func:`load_run_spec`)."""
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
    if spec is None:
        spec = load_run_spec(run)
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
    changed = spec_differences(spec, cfg, run, meta)
    if changed:
        out["warning"] = f"the spec differs from the one this run was trained with ({run / 'spec.yaml'}) in: {', '.join(changed)}"
    if task.has_split("val"):
        out.update({f"val_{k}": v for k, v in task.evaluate("val").items()})
    if task.has_split("test"):
        out.update({f"test_{k}": v for k, v in task.evaluate("test").items()})
        if hasattr(task, "class_report"):  # classifiers: per-class accuracy, confusion_test.png (train/confusion.py)
            out.update(task.class_report("test", run))
    task.close()
    return out
