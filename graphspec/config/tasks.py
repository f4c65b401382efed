"""What each training task accepts, without the task's torch code.

A :class:`TaskSchema` holds a task's config model, its metrics, the data kinds
it takes and the checks between its config and the spec's graphs. The torch
side (:mod:`graphspec.train.tasks`) subclasses these schemas, so the one
definition serves ``graphspec validate`` (torch-free) and ``graphspec train``.

>>> task_schema("vae").Config.model_validate({"task": "vae", "data": "digits"}).beta
1.0
>>> task_names()
['classify', 'regress', 'sequence', 'vae', 'gan', 'dqn']
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from graphspec.config.train import LossConfig, OptimizerConfig, ScheduleConfig, StrictModel, TrainConfig

# ``spec`` arguments are graphspec.graph.model.Spec; not imported, so this
# module sits below the graph layer (the pipeline passes the spec in).
Spec = Any
Problems = list[tuple[tuple, str]]


class TaskSchema:
    """A task's name, config model, metrics and data kinds, and its config-vs-spec checks."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    doc: ClassVar[str] = ""
    default_loss: ClassVar[str | None] = None  # a LOSSES name, used when train.loss is absent
    default_metrics: ClassVar[tuple[str, ...]] = ("loss",)
    metrics_supported: ClassVar[tuple[str, ...]] = ("loss",)
    data_kinds: ClassVar[tuple[str, ...] | None] = None  # DataConfig.kind values accepted; None: any (or none)

    @classmethod
    def check_config(cls, cfg: TrainConfig, spec: "Spec") -> Problems:
        """Problems between the config and the spec, as ``(loc inside train:, message)``; empty if fine.

        Runs inside ``load()``, before any data is read; the messages become located ``bad-value`` errors.
        """
        problems: Problems = []
        if cls.data_kinds is not None:
            if cfg.data is None:
                problems.append(((), f"task {cls.name!r} needs 'data'"))
            elif cfg.data.kind not in cls.data_kinds:
                problems.append((("data",), f"task {cls.name!r} cannot use data {cfg.data.source!r}; it takes {', '.join(cls.data_kinds)}"))
        for m in cfg.metrics or ():
            if m not in cls.metrics_supported:
                problems.append((("metrics",), f"task {cls.name!r} does not report {m!r}; it reports {', '.join(cls.metrics_supported)}"))
        if cfg.graph is not None and cfg.graph not in spec.graphs:
            problems.append((("graph",), f"spec has no graph {cfg.graph!r}; graphs: {', '.join(spec.graphs)}"))
        return problems


_SCHEMAS: dict[str, type[TaskSchema]] = {}


def register_schema(cls: type[TaskSchema]) -> type[TaskSchema]:
    """Make ``train: {task: <cls.name>}`` known to the checker (the torch task registry calls this too)."""
    if not cls.name:
        raise ValueError(f"task class {cls.__name__} has no name")
    _SCHEMAS[cls.name] = cls
    return cls


def task_names() -> list[str]:
    return list(_SCHEMAS)


def task_schema(name: str) -> type[TaskSchema] | None:
    return _SCHEMAS.get(name)


# ----------------------------------------------------------------- supervised
@register_schema
class ClassifySchema(TaskSchema):
    name = "classify"
    doc = "classification: logits [batch, classes] against class numbers"
    default_metrics = ("accuracy",)
    metrics_supported = ("loss", "accuracy", "top5_accuracy")
    data_kinds = ("digits", "digits_rows", "npz", "npy", "csv", "images", "mnist", "fashion_mnist", "cifar10", "cifar100")


@register_schema
class RegressSchema(TaskSchema):
    name = "regress"
    doc = "regression / forecasting: real-valued targets shaped like the output"
    default_metrics = ("mse", "mae")
    metrics_supported = ("loss", "mse", "mae", "rmse", "r2")
    data_kinds = ("sine", "npz", "npy", "csv")


@register_schema
class SequenceSchema(TaskSchema):
    name = "sequence"
    doc = "sequence classification or next-token prediction"
    default_metrics = ("accuracy", "perplexity")
    metrics_supported = ("loss", "accuracy", "top5_accuracy", "perplexity")
    data_kinds = ("digits_rows", "text", "npz", "npy", "csv")


# ----------------------------------------------------------------- vae
class VAEOutputs(StrictModel):
    """Names of the full graph's outputs."""

    recon: str = "recon"
    mu: str = "mu"
    logvar: str = "logvar"


class GridConfig(StrictModel):
    """The PNG grids written into the run folder."""

    samples: int = Field(64, ge=1, le=1024, description="images per grid")
    nrow: Optional[int] = Field(None, ge=1, le=1024, description="images per row (default: square)")
    image_shape: Optional[list[int]] = Field(None, min_length=2, max_length=3, description="[H, W] or [C, H, W] of one example (default: from the output shape; a flat square vector shows as a square)")
    scale: int = Field(4, ge=1, le=64, description="screen pixels per image pixel")


class VAEConfig(TrainConfig):
    """``train:`` of task vae."""

    decoder: Optional[str] = Field(None, description="graph that maps z to an example, for samples (default: 'decoder' if the spec has it)")
    outputs: VAEOutputs = Field(default_factory=VAEOutputs, description="names of the full graph's recon, mu and logvar outputs")
    reconstruction: Literal["bce", "mse"] = Field("bce", description="bce: binary cross-entropy summed over features (needs outputs in [0, 1]); mse: squared error summed")
    beta: float = Field(1.0, ge=0, description="weight of the KL term (1: the loss is the negative ELBO)")
    kl_warmup_epochs: int = Field(0, ge=0, description="raise the KL weight linearly from 0 to beta over this many epochs")
    eval_samples: int = Field(1, ge=1, le=1000, description="z draws per example when estimating val/test metrics")
    data_range: tuple[float, float] = Field((0.0, 1.0), description="map the data's [0, 1] onto this range")
    grid: GridConfig = Field(default_factory=GridConfig)


@register_schema
class VAESchema(TaskSchema):
    name = "vae"
    Config = VAEConfig
    doc = "variational autoencoder (recon/mu/logvar graph + decoder graph sharing node paths)"
    default_metrics = ("loss",)
    metrics_supported = ("loss",)
    data_kinds = ("digits", "npz")

    @classmethod
    def _main_graph(cls, cfg: VAEConfig, spec: "Spec") -> str:
        if cfg.graph:
            return cfg.graph
        want = {cfg.outputs.recon, cfg.outputs.mu, cfg.outputs.logvar}
        for name, g in spec.graphs.items():
            if want <= set(g.outputs):
                return name
        return next(iter(spec.graphs))

    @classmethod
    def _decoder_graph(cls, cfg: VAEConfig, spec: "Spec", main: str) -> str | None:
        if cfg.decoder:
            return cfg.decoder
        return "decoder" if "decoder" in spec.graphs and main != "decoder" else None

    @classmethod
    def check_config(cls, cfg, spec) -> Problems:
        problems = super().check_config(cfg, spec)
        if cfg.loss is not None:
            problems.append((("loss",), "task 'vae' takes no train.loss; set train.reconstruction (bce or mse) and train.beta"))
        if cfg.decoder is not None and cfg.decoder not in spec.graphs:
            problems.append((("decoder",), f"spec has no graph {cfg.decoder!r}; graphs: {', '.join(spec.graphs)}"))
        main = cls._main_graph(cfg, spec)
        if main in spec.graphs:
            outs = spec.graphs[main].outputs
            for role, name in cfg.outputs.model_dump().items():
                if name not in outs:
                    where = ("outputs", role) if role in cfg.outputs.model_fields_set else ("graph",) if cfg.graph else ()
                    problems.append((where, f"graph {main!r} has no output {name!r} (the {role}); outputs: {', '.join(outs)}"))
        return problems


# ----------------------------------------------------------------- gan
class RoleConfig(StrictModel):
    """One network of the GAN: its graph, optimizer, schedule and updates per batch."""

    graph: Optional[str] = Field(None, description="graph of this role (default: the role's name)")
    output: Optional[str] = Field(None, description="graph output used (default: the first)")
    optimizer: Optional[OptimizerConfig] = Field(None, description="default: train.optimizer")
    schedule: Optional[ScheduleConfig] = Field(None, description="default: train.schedule")
    steps: int = Field(1, ge=1, le=100, description="updates of this role per batch of real examples")
    ema: Optional[float] = Field(None, ge=0, lt=1, description="generator only: keep an exponential moving average of the weights with this decay; samples, metrics and saved weights use it")


class GANRoles(StrictModel):
    generator: RoleConfig = Field(default_factory=RoleConfig)
    discriminator: RoleConfig = Field(default_factory=RoleConfig)


class JudgeConfig(StrictModel):
    """A trained classifier that labels generated examples (e.g. specs/digits_lenet5.yaml and its best.safetensors)."""

    spec: str = Field(description="classifier spec: a path (relative to this spec) or a zoo name")
    weights: str = Field(description="its .safetensors weights (relative paths: to this spec, else the working directory)")
    graph: Optional[str] = None
    output: Optional[str] = Field(None, description="logits output (default: the first)")
    samples: int = Field(1000, ge=10, le=1_000_000, description="generated examples labelled")
    min_share: float = Field(0.03, gt=0, lt=1, description="share of the samples a class needs to count as covered")
    input_range: tuple[float, float] = Field((0.0, 1.0), description="value range the classifier was trained on")


class GANGrid(GridConfig):
    every: int = Field(1, ge=0, le=1_000_000, description="write a sample grid every N epochs (0: only at the end)")


class GANConfig(TrainConfig):
    """``train:`` of task gan."""

    roles: GANRoles = Field(default_factory=GANRoles)
    gan_loss: Literal["non_saturating", "minimax"] = Field("non_saturating", description="the generator's loss")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="one-sided: the discriminator's target for real examples is 1 - this")
    data_range: tuple[float, float] = Field((0.0, 1.0), description="map the data's [0, 1] onto this range (use [-1, 1] for a Tanh generator)")
    eval_samples: int = Field(1000, ge=2, le=1_000_000, description="generated examples for the val/test metrics")
    best_metric: Optional[str] = Field("val_mmd", description="metric choosing best.safetensors")
    judge: Optional[JudgeConfig] = None
    grid: GANGrid = Field(default_factory=GANGrid)


@register_schema
class GANSchema(TaskSchema):
    name = "gan"
    Config = GANConfig
    doc = "GAN: generator and discriminator graphs of one spec, alternating updates"
    default_metrics = ("loss",)
    metrics_supported = ("loss",)
    data_kinds = ("digits", "npz")

    @classmethod
    def check_config(cls, cfg, spec) -> Problems:
        problems = super().check_config(cfg, spec)
        if cfg.loss is not None:
            problems.append((("loss",), "task 'gan' takes no train.loss; set train.gan_loss (non_saturating or minimax)"))
        if cfg.roles.discriminator.ema is not None:
            problems.append((("roles", "discriminator", "ema"), "ema applies to the generator only"))
        if cfg.graph is not None:
            problems.append((("graph",), "task 'gan' takes its graphs from train.roles.generator.graph and train.roles.discriminator.graph"))
        for role in ("generator", "discriminator"):
            rc = getattr(cfg.roles, role)
            g = rc.graph or role
            if g not in spec.graphs:
                where = ("roles", role, "graph") if rc.graph else ("roles",) if "roles" in cfg.model_fields_set else ()
                problems.append((where, f"spec has no graph {g!r} for the {role}; graphs: {', '.join(spec.graphs)}"))
            elif rc.output is not None and rc.output not in spec.graphs[g].outputs:
                problems.append((("roles", role, "output"), f"graph {g!r} has no output {rc.output!r}; outputs: {', '.join(spec.graphs[g].outputs)}"))
        return problems


# ----------------------------------------------------------------- dqn
class EnvConfig(StrictModel):
    """The gymnasium environment (created offline)."""

    id: str = Field("CartPole-v1", description="gymnasium environment id with Box observations and Discrete actions")
    max_episode_steps: Optional[int] = Field(None, gt=0, le=10_000_000, description="override the id's time limit")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of gymnasium.make")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"id": v} if isinstance(v, str) else v


class EpsilonConfig(StrictModel):
    """Epsilon-greedy exploration: linear from start to end over ``steps`` environment steps."""

    start: float = Field(1.0, ge=0, le=1)
    end: float = Field(0.05, ge=0, le=1)
    steps: int = Field(10_000, ge=1, le=1_000_000_000)

    def at(self, t: int) -> float:
        return self.end + (self.start - self.end) * max(0.0, 1.0 - t / self.steps)


class TargetConfig(StrictModel):
    """The target network: a copy of the online one, refreshed every ``update_every`` environment steps."""

    update_every: int = Field(500, ge=1, le=1_000_000_000, description="environment steps between target updates")
    tau: float = Field(1.0, gt=0, le=1, description="1: copy; below 1: target = tau * online + (1 - tau) * target")


class DQNConfig(TrainConfig):
    """``train:`` of task dqn."""

    env: EnvConfig = Field(default_factory=EnvConfig)
    steps_per_epoch: int = Field(5000, ge=1, le=100_000_000, description="environment steps per epoch (one greedy evaluation each)")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    buffer_size: int = Field(50_000, ge=1, le=100_000_000, description="replay buffer capacity (transitions)")
    learning_starts: int = Field(1000, ge=0, description="environment steps before the first update")
    train_every: int = Field(1, ge=1, le=100_000, description="environment steps per batch (per round of updates)")
    gradient_steps: int = Field(1, ge=1, le=1000, description="updates per batch")
    double: bool = Field(False, description="Double DQN target: the online network picks a', the target network values it")
    target: TargetConfig = Field(default_factory=TargetConfig)
    epsilon: EpsilonConfig = Field(default_factory=EpsilonConfig)
    eval_epsilon: float = Field(0.0, ge=0, le=1, description="exploration during evaluation (0: greedy)")
    eval_episodes: int = Field(10, ge=1, le=100_000, description="greedy episodes per epoch (val)")
    test_episodes: int = Field(100, ge=1, le=100_000, description="greedy episodes of the best network at the end (test)")
    save_buffer: bool = Field(True, description="keep the replay buffer in last.state.pt so a resume continues with it")
    best_metric: Optional[str] = Field("val_return", description="metric choosing best.safetensors")
    loss: Optional[LossConfig] = Field(None, description="TD loss (default HuberLoss)")


TD_LOSSES = ("HuberLoss", "SmoothL1Loss", "MSELoss", "L1Loss")


@register_schema
class DQNSchema(TaskSchema):
    name = "dqn"
    Config = DQNConfig
    doc = "DQN on a gymnasium environment (online and target copies of one graph, replay buffer, epsilon-greedy)"
    default_metrics = ("return",)
    metrics_supported = ("loss", "return")
    data_kinds = None

    @classmethod
    def check_config(cls, cfg, spec) -> Problems:
        problems = super().check_config(cfg, spec)
        if cfg.data is not None:
            problems.append((("data",), "task 'dqn' takes no data; its examples come from train.env"))
        if cfg.loss is not None and cfg.loss.name not in TD_LOSSES:
            problems.append((("loss",), f"task 'dqn' needs a regression loss for the TD error: {', '.join(TD_LOSSES)}. Received: {cfg.loss.name}"))
        if cfg.graph is None and len(spec.graphs) != 1:
            problems.append(((), f"spec has {len(spec.graphs)} graphs; name the Q-network with train.graph ({', '.join(spec.graphs)})"))
        if cfg.learning_starts > 0 and cfg.learning_starts < cfg.batch_size:
            problems.append((("learning_starts",), f"learning_starts ({cfg.learning_starts}) must be at least batch_size ({cfg.batch_size})"))
        problems += _env_problems(cfg.env)
        if cfg.buffer_size < cfg.batch_size:
            problems.append((("buffer_size",), f"buffer_size ({cfg.buffer_size}) must be at least batch_size ({cfg.batch_size})"))
        return problems


def _env_problems(env: EnvConfig) -> Problems:
    """An environment id gymnasium does not know, with a did-you-mean (gymnasium imports no torch)."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - reported when the task sets up
        return []
    if env.id in gymnasium.registry:
        return []
    from graphspec.errors import did_you_mean

    ids = sorted(k for k in gymnasium.registry if "/" not in k)
    hint = did_you_mean(env.id, ids)
    where = ("env", "id") if "id" in env.model_fields_set else ("env",)
    return [(where, f"gymnasium has no environment {env.id!r}" + (f"; {hint}" if hint else ""))]
