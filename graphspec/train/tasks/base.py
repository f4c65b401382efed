"""The Task interface: what a kind of training (classify, vae, dqn ...) must provide.

The engine (:mod:`graphspec.train.engine`) owns everything common to all
tasks: the run folder, epochs, progress, metrics files and plots, NaN checks,
early stopping, best/last checkpoints, resume, RNG states and DDP setup. A task
owns what differs: its config fields, the data, the models and optimizers it
builds from the spec's graphs, one training step, evaluation and what it saves.

Writing a task::

    from graphspec.config.tasks import TaskSchema, register_schema
    from graphspec.config.train import TrainConfig
    from graphspec.train.tasks.base import Task, register_task

    class VAEConfig(TrainConfig):          # extra fields, extra="forbid" inherited
        beta: float = 1.0

    @register_schema                       # torch-free: validate checks train: with it
    class VAESchema(TaskSchema):
        name = "vae"
        Config = VAEConfig
        metrics_supported = ("loss",)

    @register_task
    class VAETask(Task, VAESchema):        # the torch side

        def setup(self):                   # after seeding, before any resume
            self.splits = ...              # e.g. graphspec.train.data.load_splits(self.cfg, graph, self.ctx.spec_dir, self.name)
            self.module = self.compile(self.cfg.graph or "vae")
            self.model = self.add_model("vae", self.module)   # DDP/compiled wrapper to call in train_step
            self.add_optimizer("main", self.module.parameters())  # after the data: step schedules count batches

        def num_train_batches(self):
            return -(-len(self.train_x) // self.cfg.batch_size)

        def train_batches(self, epoch, generator):
            return self.batches((self.train_x,), generator)   # shuffled, DDP-sharded, on the device

        def train_step(self, batch):
            (x,) = batch
            with self.autocast():
                loss = ...
            self.optimize(loss * self.loss_scale)   # backward, grad clip, step, schedule
            return {"loss": loss.detach()}

        def evaluate(self, split):
            return {"loss": ...}           # the engine prefixes "val_"/"test_"

The lifecycle, driven by the engine::

    task = TaskClass(ctx)        # ctx: TrainContext (spec, cfg, device, rank ...)
    task.setup()
    [engine loads last.state.pt into task when resuming]
    for epoch in range(start, cfg.epochs):
        for batch in task.train_batches(epoch, generator):   # generator seeded by (seed, epoch)
            logs = task.train_step(batch)    # "loss" is checked for NaN/Inf
        task.on_epoch_end(epoch, metrics)   # epoch-wise schedules
        metrics |= {"val_" + k: v for k, v in task.evaluate("val").items()}
        [engine saves last/best: task.weights() and task.state_dict()]
    task.load_weights(best); test = task.evaluate("test")
    task.save_artifacts(run_dir)

Saved files: ``*.safetensors`` hold :meth:`Task.weights` (a flat
``{node path.param: tensor}``, so any graph of the spec using those node paths
loads them); ``*.state.pt`` holds :meth:`Task.state_dict` (optimizers,
schedules, task state) plus the engine's RNG states, loadable with
``torch.load(weights_only=True)`` -- so task state must be tensors, numbers,
strings, lists and dicts only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator

from graphspec.errors import GraphspecError
from graphspec.config.tasks import TaskSchema, register_schema
from graphspec.config.train import TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from graphspec.graph.model import Spec

# ----------------------------------------------------------------- registry
_TASKS: dict[str, type["Task"]] = {}
_BUILTIN_MODULES = {
    "classify": "graphspec.train.tasks.supervised",
    "regress": "graphspec.train.tasks.supervised",
    "sequence": "graphspec.train.tasks.supervised",
    "vae": "graphspec.train.tasks.vae",
    "gan": "graphspec.train.tasks.gan",
    "dqn": "graphspec.train.tasks.dqn",
}


def register_task(cls: type["Task"]) -> type["Task"]:
    """Class decorator: make a task available as ``train: {task: <cls.name>}``."""
    if not getattr(cls, "name", None):
        raise ValueError(f"task class {cls.__name__} has no name")
    if cls.name in _TASKS and _TASKS[cls.name] is not cls:
        raise ValueError(f"task {cls.name!r} is registered twice")
    _TASKS[cls.name] = cls
    register_schema(cls)  # a task registered only here is still checked by load()
    return cls


def _import_builtin(name: str) -> None:
    import importlib

    module = _BUILTIN_MODULES.get(name)
    if module and name not in _TASKS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module
                raise


def task_names() -> list[str]:
    """Names of the tasks whose module is present (built-ins first)."""
    import importlib.util

    names = [n for n, m in _BUILTIN_MODULES.items() if n in _TASKS or importlib.util.find_spec(m) is not None]
    return names + sorted(n for n in _TASKS if n not in names)


def get_task(name: str) -> type["Task"]:
    from graphspec.errors import did_you_mean

    _import_builtin(name)
    if name not in _TASKS:
        raise GraphspecError.one("usage", f"unknown task {name!r}", hint=did_you_mean(name, task_names()) or "tasks: " + ", ".join(task_names()))
    return _TASKS[name]


# ----------------------------------------------------------------- context
@dataclass
class TrainContext:
    """What the engine hands a task."""

    spec: "Spec"
    cfg: TrainConfig
    device: Any = "cpu"  # torch.device
    precision: str = "fp32"  # fp32 | bf16 | fp16 (the last two on CUDA only)
    compile: bool = False  # torch.compile the models
    rank: int = 0
    world_size: int = 1
    run_dir: Any = None  # pathlib.Path of runs/<name>, None when evaluating in memory
    log: Callable[[str], None] = print  # one line of progress text (rank 0 only prints)
    spec_dir: Any = None  # folder relative data paths are resolved against
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class Task(TaskSchema):
    """Base class of all tasks: subclass it and a :class:`TaskSchema` (name, Config, metrics,
    data kinds, config checks), implement the four abstract methods."""

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.spec = ctx.spec
        self.device = ctx.device
        self.models: dict[str, "nn.Module"] = {}  # name -> module whose weights are saved
        self.optimizers: dict[str, "torch.optim.Optimizer"] = {}
        self.schedules: dict[str, Any] = {}  # name -> graphspec.train.optim.Schedule
        self.scaler = None  # torch.amp.GradScaler under fp16
        self._wrapped: dict[str, "nn.Module"] = {}  # DDP wrappers by model name
        # set by batches(): (examples on this rank * world size) / examples in the global batch.
        # Multiply a per-rank mean loss by it before optimize() so that DDP's gradient
        # average equals the single-process gradient of the global batch, even for a
        # last batch that does not split evenly. 1.0 without DDP.
        self.loss_scale = 1.0

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.cfg.metrics) if self.cfg.metrics is not None else self.default_metrics

    # ---- to implement ---------------------------------------------------
    def setup(self) -> None:
        """Load data (and check it against the graphs), build models, optimizers and schedules."""
        raise NotImplementedError

    def train_batches(self, epoch: int, generator: "torch.Generator") -> Iterable[Any]:
        """The batches of one epoch. Draw all randomness (shuffling, sampling) from
        ``generator``, which the engine seeds from (seed, epoch), so a resumed run
        sees the same batches; under DDP yield only this rank's share (see :meth:`batches`)."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, Any]:
        """One optimisation step; returns floats or 0-d tensors, ``loss`` included (checked for NaN/Inf)."""
        raise NotImplementedError

    def evaluate(self, split: str) -> dict[str, float]:
        """Metrics on ``split`` ("val" or "test") without prefix, e.g. {"loss": .., "accuracy": ..}.
        Under DDP every rank calls it; return the same numbers on every rank."""
        raise NotImplementedError

    # ---- optional hooks -------------------------------------------------
    def num_train_batches(self) -> int | None:
        """Batches per epoch on this rank (for progress bars and step schedules); None if unknown."""
        return None

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch's validation: advance epoch-wise schedules (default)."""
        for sched in self.schedules.values():
            sched.epoch_end(metrics.get(self.cfg.monitor, metrics.get("val_loss")))

    def has_split(self, split: str) -> bool:
        """Whether evaluate(split) has data (the engine skips empty splits)."""
        return True

    def weights(self) -> dict[str, "torch.Tensor"]:
        """Flat {key: tensor} saved to *.safetensors: the union of the models' state_dicts.

        Models of one spec share keys where they share node paths; a key held by
        two models with different tensors is an error (override to prefix them).
        """
        out: dict[str, Any] = {}
        for mname, model in self.models.items():
            for k, v in model.state_dict().items():
                if k in out and out[k].data_ptr() != v.data_ptr():
                    raise GraphspecError.one("internal", f"weight {k!r} is held by two models of task {self.name!r} (second: {mname})")
                out[k] = v
        return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}

    def load_weights(self, tensors: dict[str, "torch.Tensor"], strict: bool = True) -> None:
        """Load a :meth:`weights` dict into the models; a missing or mis-shaped key is a "checkpoint" error."""
        problems = []
        used = set()
        for mname, model in self.models.items():
            own = model.state_dict()
            sub = {}
            for k, v in own.items():
                if k not in tensors:
                    problems.append(f"missing weight {k!r} ({mname})")
                elif tuple(tensors[k].shape) != tuple(v.shape):
                    problems.append(f"weight {k!r} has shape {list(tensors[k].shape)} in the checkpoint, {list(v.shape)} in the model")
                else:
                    sub[k] = tensors[k]
                    used.add(k)
            if not problems:
                model.load_state_dict(sub, strict=True)
        if strict:
            extra = sorted(set(tensors) - used)
            if extra:
                problems.append("unexpected weights " + ", ".join(repr(k) for k in extra[:5]) + (" ..." if len(extra) > 5 else ""))
        if problems:
            raise GraphspecError.one(
                "checkpoint",
                "checkpoint does not match the spec: " + "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                hint="was the run trained from another spec or with other params? retrain, or pass the same --set values",
            )

    def state_dict(self) -> dict[str, Any]:
        """Resumable state besides weights: optimizers, schedules, grad scaler, plus :meth:`extra_state`."""
        return {
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedules": {k: s.state_dict() for k, s in self.schedules.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedules.items():
            s.load_state_dict(state["schedules"][k])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.load_extra_state(state.get("extra") or {})

    def extra_state(self) -> dict[str, Any]:
        """Task state a resume needs beyond optimizers (replay buffer, env counters ...)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save_artifacts(self, run_dir) -> list[str]:
        """Write task-specific files (sample grids ...) into the run folder on rank 0; return their names."""
        return []

    def train(self, mode: bool = True) -> None:
        for m in self.models.values():
            m.train(mode)

    # ---- helpers for subclasses -----------------------------------------
    def compile(self, graph: str | None = None, outputs: list[str] | None = None) -> "nn.Module":
        """The fx GraphModule of ``graph`` (default: train.graph or the spec's only graph) on the device."""
        name = graph or self.cfg.graph
        self._check_budget(name)
        module = self.spec.to_torch(name, outputs=outputs)
        return module.to(self.device)

    def _check_budget(self, graph: str | None) -> None:
        """Parameters, gradients, optimizer state and activations at train.batch_size fit the memory budget."""
        from graphspec.backends.example_inputs import sizes_at
        from graphspec.passes import budget

        g = self.spec.graph(graph)
        budget.check(g, sizes_at(g, int(self.cfg.batch_size), self.spec.dims), what="training", training=True)

    def add_model(self, name: str, module: "nn.Module", save: bool = True) -> "nn.Module":
        """Register a model (its weights are saved if ``save``); returns the module to call in
        train_step: the DDP wrapper under --nproc, a torch.compile'd one under --compile."""
        if save:
            self.models[name] = module
        run = module
        if self.ctx.distributed and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel as DDP

            dev = self.device
            run = DDP(module, device_ids=[dev.index] if getattr(dev, "type", "cpu") == "cuda" else None)
        if self.ctx.compile:
            import torch

            run = torch.compile(run)
        self._wrapped[name] = run
        return run

    def add_optimizer(self, name: str, params, cfg=None, schedule_cfg=None) -> "torch.optim.Optimizer":
        """Build ``cfg`` (default train.optimizer) over ``params`` and its schedule (default train.schedule)."""
        from graphspec.train.optim import Schedule, make_optimizer

        opt = make_optimizer(cfg or self.cfg.optimizer, params)
        self.optimizers[name] = opt
        per_epoch = self.num_train_batches()
        self.schedules[name] = Schedule(opt, schedule_cfg or self.cfg.schedule, epochs=self.cfg.epochs, steps_per_epoch=per_epoch)
        if self.ctx.precision == "fp16" and self.scaler is None:
            import torch

            self.scaler = torch.amp.GradScaler("cuda")
        return opt

    def make_loss(self, cfg=None) -> "nn.Module":
        """The torch.nn loss named by train.loss (or ``default_loss``)."""
        from graphspec.train.optim import make_loss

        cfg = cfg or self.cfg.loss
        if cfg is None:
            from graphspec.config.train import LossConfig

            cfg = LossConfig(name=self.default_loss)
        return make_loss(cfg)

    def autocast(self):
        """Context for forward passes: bf16/fp16 autocast on CUDA, nothing on fp32."""
        if self.ctx.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if self.ctx.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def optimize(self, loss: "torch.Tensor", name: str = "main", params=None) -> None:
        """Backward, optional grad clipping (train.grad_clip), optimizer step, step-wise schedule.

        ``params`` limits clipping to these parameters (default: the optimizer's).
        A non-finite loss is not checked here: the engine reads every step's loss
        anyway and stops the run on NaN/Inf, keeping the last good checkpoint, so
        an extra per-step check (a sync, ~25 us) would only guard weights that are
        discarded.
        """
        import torch

        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip:
                self.scaler.unscale_(opt)
        else:
            loss.backward()
        if self.cfg.grad_clip:
            ps = params if params is not None else [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(ps, self.cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        self.schedules[name].step_end()

    def batches(self, arrays: tuple, generator: "torch.Generator | None", batch_size: int | None = None, shuffle: bool = True, drop_last: bool = False) -> Iterator[tuple]:
        """Batches of this rank from same-length tensors ``arrays``.

        The permutation is drawn from ``generator`` on every rank alike; each
        global batch of train.batch_size examples is split evenly over the
        ranks (DistributedSampler-style), so N processes see the same global
        batches as one. Tensors are moved to the device.
        """
        import torch

        n = len(arrays[0])
        bs = batch_size or self.cfg.batch_size
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        world, rank = self.ctx.world_size, self.ctx.rank
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            if drop_last and len(idx) < bs:
                break
            if world > 1:
                n_global = len(idx)
                if n_global < world:  # a remainder too small to give every rank an example
                    break
                idx = idx[rank::world]
                self.loss_scale = len(idx) * world / n_global
            yield tuple(a[idx].to(self.device, non_blocking=True) for a in arrays)

    def all_reduce_mean(self, values: dict[str, float], weight: float = 1.0) -> dict[str, float]:
        """Weighted mean of ``values`` over ranks (identity without DDP)."""
        if not self.ctx.distributed:
            return dict(values)
        import torch
        import torch.distributed as dist

        keys = sorted(values)
        t = torch.tensor([values[k] * weight for k in keys] + [weight], dtype=torch.float64, device=self._reduce_device())
        dist.all_reduce(t)
        return {k: float(t[i] / t[-1]) for i, k in enumerate(keys)}

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        if not self.ctx.distributed:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._reduce_device())
        dist.all_reduce(t)
        return t.tolist()

    def _reduce_device(self):
        return self.device if getattr(self.device, "type", "cpu") == "cuda" else "cpu"

    def close(self) -> None:
        """Release resources (environments, files)."""


def data_error(message: str, hint: str | None = None) -> GraphspecError:
    """A "data" error (exit 5): data and model disagree."""
    return GraphspecError.one("data", message, hint=hint)
