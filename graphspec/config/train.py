"""The ``train:`` section of a spec: pydantic models (``extra="forbid"``).

A spec's ``train:`` mapping is validated in two steps, like nodes: first only
``task`` is read, then the task's own config model (a subclass of
:class:`TrainConfig`, see :mod:`graphspec.config.tasks`) validates the whole
mapping. :mod:`graphspec.pipeline` runs both steps inside ``load()`` and
locates every error at ``file:line:col`` of the offending value.

This module imports no torch: the allowlists of optimizers, schedulers and
losses are static tables, so ``train:`` can be checked without training.

>>> cfg = TrainConfig.model_validate({"task": "classify", "data": "digits"})
>>> cfg.data.source, cfg.optimizer.name, cfg.epochs
('digits', 'Adam', 10)
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphspec.diagnostics import FieldError
from graphspec.config.data import InitFromConfig, ParamGroupConfig, TransformsConfig, folder_kind

# ----------------------------------------------------------------- allowlists
# optimizer name -> options it accepts besides lr and weight_decay
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "SGD": ("momentum", "nesterov", "dampening"),
    "Adam": ("betas", "eps", "amsgrad"),
    "AdamW": ("betas", "eps", "amsgrad"),
    "NAdam": ("betas", "eps"),
    "RAdam": ("betas", "eps"),
    "Adamax": ("betas", "eps"),
    "RMSprop": ("momentum", "alpha", "eps", "centered"),
    "Adagrad": ("eps", "lr_decay"),
    "Adadelta": ("eps", "rho"),
}
OPTIMIZER_OPTIONS = ("momentum", "nesterov", "dampening", "betas", "eps", "amsgrad", "alpha", "centered", "lr_decay", "rho")

# scheduler name -> options it accepts (torch.optim.lr_scheduler keyword names)
SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": (),
    "StepLR": ("step_size", "gamma"),
    "MultiStepLR": ("milestones", "gamma"),
    "ExponentialLR": ("gamma",),
    "CosineAnnealingLR": ("T_max", "eta_min"),
    "LinearLR": ("start_factor", "end_factor", "total_iters"),
    "OneCycleLR": ("max_lr", "pct_start", "anneal_strategy", "div_factor", "final_div_factor"),
    "ReduceLROnPlateau": ("mode", "factor", "patience", "threshold", "min_lr"),
}
SCHEDULE_OPTIONS = tuple(sorted({o for opts in SCHEDULES.values() for o in opts}))

# loss name (torch.nn class) -> options it accepts
LOSSES: dict[str, tuple[str, ...]] = {
    "CrossEntropyLoss": ("label_smoothing", "ignore_index"),
    "NLLLoss": ("ignore_index",),
    "BCEWithLogitsLoss": (),
    "BCELoss": (),
    "MSELoss": (),
    "L1Loss": (),
    "SmoothL1Loss": ("beta",),
    "HuberLoss": ("delta",),
    "KLDivLoss": ("log_target",),
    "GaussianNLLLoss": ("eps", "full"),
    "PoissonNLLLoss": ("log_input", "full", "eps"),
}

# every metric a task may report; each task lists the ones it supports
METRICS = ("accuracy", "top5_accuracy", "loss", "mse", "mae", "rmse", "r2", "perplexity", "return")

TASKS = ("classify", "regress", "sequence", "vae", "gan", "dqn")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # schemas built on first use: validate start-up


# ----------------------------------------------------------------- sections
class OptimizerConfig(StrictModel):
    """torch.optim optimizer: a name from the allowlist and its options."""

    name: Literal[tuple(OPTIMIZERS)] = Field("Adam", description="torch.optim class")  # type: ignore[valid-type]
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0)
    momentum: Optional[float] = Field(None, ge=0)
    nesterov: Optional[bool] = None
    dampening: Optional[float] = Field(None, ge=0)
    betas: Optional[tuple[float, float]] = None
    eps: Optional[float] = Field(None, gt=0)
    amsgrad: Optional[bool] = None
    alpha: Optional[float] = Field(None, gt=0)
    centered: Optional[bool] = None
    lr_decay: Optional[float] = Field(None, ge=0)
    rho: Optional[float] = Field(None, ge=0, le=1)
    param_groups: Optional[list[ParamGroupConfig]] = Field(None, description="per-parameter options: [{params: 'fc*', lr: ...}], first match wins; the rest use the options above")

    @field_validator("betas")
    @classmethod
    def _betas(cls, v):
        if v is not None and not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"betas must be in [0, 1). Received: {list(v)}")
        return v

    @model_validator(mode="after")
    def _options_apply(self):
        allowed = OPTIMIZERS[self.name]
        for opt in OPTIMIZER_OPTIONS:
            if getattr(self, opt) is not None and opt not in allowed:
                raise FieldError(opt, f"{self.name} takes no option {opt!r}; it takes lr, weight_decay" + "".join(f", {a}" for a in allowed))
        return self

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        for opt in OPTIMIZERS[self.name]:
            if getattr(self, opt) is not None:
                out[opt] = getattr(self, opt)
        return out


class ScheduleConfig(StrictModel):
    """torch.optim.lr_scheduler schedule, with an optional linear warmup.

    ``interval`` says when the schedule advances: after every optimizer step
    (``step``) or every epoch (``epoch``). Counts such as ``T_max`` and
    ``total_iters`` default to the whole run in that unit. ReduceLROnPlateau
    always advances per epoch on ``early_stopping.metric`` (or val_loss).
    """

    name: Literal[tuple(SCHEDULES)] = Field("constant", description="torch.optim.lr_scheduler class, or constant")  # type: ignore[valid-type]
    warmup_steps: int = Field(0, ge=0, description="optimizer steps of linear warmup from lr/warmup_steps to lr")
    interval: Optional[Literal["step", "epoch"]] = Field(None, description="default: epoch for StepLR/MultiStepLR/ExponentialLR, else step")
    step_size: Optional[int] = Field(None, gt=0)
    gamma: Optional[float] = Field(None, gt=0)
    milestones: Optional[list[int]] = None
    T_max: Optional[int] = Field(None, gt=0)
    eta_min: Optional[float] = Field(None, ge=0)
    start_factor: Optional[float] = Field(None, gt=0, le=1)
    end_factor: Optional[float] = Field(None, ge=0, le=1)
    total_iters: Optional[int] = Field(None, gt=0)
    max_lr: Optional[float] = Field(None, gt=0)
    pct_start: Optional[float] = Field(None, gt=0, lt=1)
    anneal_strategy: Optional[Literal["cos", "linear"]] = None
    div_factor: Optional[float] = Field(None, gt=0)
    final_div_factor: Optional[float] = Field(None, gt=0)
    mode: Optional[Literal["min", "max"]] = None
    factor: Optional[float] = Field(None, gt=0, lt=1)
    patience: Optional[int] = Field(None, ge=0)
    threshold: Optional[float] = Field(None, ge=0)
    min_lr: Optional[float] = Field(None, ge=0)

    @model_validator(mode="after")
    def _options_apply(self):
        allowed = SCHEDULES[self.name]
        for opt in SCHEDULE_OPTIONS:
            if getattr(self, opt) is not None and opt not in allowed:
                raise FieldError(opt, f"{self.name} takes no option {opt!r}" + (f"; it takes {', '.join(allowed)}" if allowed else ""))
        if self.name == "StepLR" and self.step_size is None:
            raise FieldError("step_size", "StepLR needs step_size")
        if self.name == "MultiStepLR" and not self.milestones:
            raise FieldError("milestones", "MultiStepLR needs milestones (a list of increasing counts)")
        if self.name == "ExponentialLR" and self.gamma is None:
            raise FieldError("gamma", "ExponentialLR needs gamma")
        if self.name in ("OneCycleLR", "ReduceLROnPlateau") and self.interval is not None:
            want = "step" if self.name == "OneCycleLR" else "epoch"
            if self.interval != want:
                raise FieldError("interval", f"{self.name} advances per {want}")
        return self

    @property
    def every(self) -> str:
        if self.name == "ReduceLROnPlateau":
            return "epoch"
        if self.name == "OneCycleLR":
            return "step"
        if self.interval:
            return self.interval
        return "epoch" if self.name in ("StepLR", "MultiStepLR", "ExponentialLR") else "step"

    def kwargs(self) -> dict[str, Any]:
        return {o: getattr(self, o) for o in SCHEDULES[self.name] if getattr(self, o) is not None}


class LossConfig(StrictModel):
    """A torch.nn loss by class name, with its options; ``loss: MSELoss`` is short for ``{name: MSELoss}``."""

    name: Literal[tuple(LOSSES)]  # type: ignore[valid-type]
    label_smoothing: Optional[float] = Field(None, ge=0, lt=1)
    ignore_index: Optional[int] = None
    beta: Optional[float] = Field(None, gt=0)
    delta: Optional[float] = Field(None, gt=0)
    log_target: Optional[bool] = None
    eps: Optional[float] = Field(None, gt=0)
    full: Optional[bool] = None
    log_input: Optional[bool] = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _options_apply(self):
        allowed = LOSSES[self.name]
        for opt in ("label_smoothing", "ignore_index", "beta", "delta", "log_target", "eps", "full", "log_input"):
            if getattr(self, opt) is not None and opt not in allowed:
                raise FieldError(opt, f"{self.name} takes no option {opt!r}" + (f"; it takes {', '.join(allowed)}" if allowed else ""))
        return self

    def kwargs(self) -> dict[str, Any]:
        return {o: getattr(self, o) for o in LOSSES[self.name] if getattr(self, o) is not None}


class EarlyStoppingConfig(StrictModel):
    """Stop when ``metric`` has not improved for ``patience`` epochs; ``best`` weights follow the same metric."""

    metric: str = Field("val_loss", description="a logged metric, e.g. val_loss or val_accuracy")
    patience: int = Field(5, ge=1)
    mode: Optional[Literal["min", "max"]] = Field(None, description="default: max for accuracy/r2/return metrics, else min")
    min_delta: float = Field(0.0, ge=0)

    @property
    def direction(self) -> str:
        return self.mode or metric_mode(self.metric)


def metric_mode(metric: str) -> str:
    """"max" for metrics that grow when better (accuracy, r2, return), else "min".

    >>> metric_mode("val_accuracy"), metric_mode("val_loss")
    ('max', 'min')
    """
    return "max" if any(k in metric for k in ("accuracy", "r2", "return")) else "min"


DATA_BUILTINS = ("digits", "digits_rows", "sine")


class DataConfig(StrictModel):
    """Where the examples come from.

    ``source`` is ``digits`` (images [N,1,8,8] in 0..1), ``digits_rows`` (the
    same as sequences [N,8,8]), ``sine`` (generated noisy sine sequences),
    ``text:PATH`` (next-character prediction over a text file), ``PATH.npz``
    (arrays named like the graph's inputs plus ``target``) or ``PATH.csv``
    (``columns`` features, ``target`` column). ``data: digits`` is short for
    ``data: {source: digits}``. Relative paths are relative to the spec file.
    """

    source: str = Field(description="digits | digits_rows | sine | text:PATH | PATH.npz | PATH.npy | PATH.csv | images:DIR | mnist:DIR | fashion_mnist:DIR | cifar10:DIR | cifar100:DIR")
    target: Optional[str] = Field(None, description="target array (.npz) or column (.csv); default 'target' (.npz) or the last column (.csv)")
    columns: Optional[list[str]] = Field(None, description=".csv: feature columns (default: all but the target)")
    input: Optional[str] = Field(None, description=".csv: graph input fed the feature columns (default: the only input)")
    delimiter: str = Field(",", min_length=1, max_length=1)
    target_dtype: Optional[Literal["int64", "float32"]] = Field(None, description=".csv: default int64 for classify, float32 otherwise")
    seq_len: Optional[int] = Field(None, gt=0, le=100_000, description="sine/text: steps per example (default 32 for sine, 64 for text)")
    samples: Optional[int] = Field(None, gt=0, le=10_000_000, description="sine: examples generated (default 2000)")
    horizon: int = Field(1, gt=0, le=10_000, description="sine: future values to predict")
    noise: float = Field(0.05, ge=0, description="sine: standard deviation of added noise")
    # users' data (graphspec/config/data.py, docs/training.md "Your own data")
    transforms: Optional[TransformsConfig] = Field(None, description="image sources: decode, resize, crop, flip, normalize")
    on_bad_file: Literal["stop", "skip"] = Field("stop", description="images: a broken or non-image file stops the run, or is skipped with a warning")
    workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes decoding batches (images without cache, .npy)")
    cache: Optional[bool] = Field(None, description="images: keep decoded images in memory (default: when they take at most 512 MiB)")
    categorical: Optional[list[str]] = Field(None, description=".csv: feature columns holding categories (text columns are categorical anyway)")
    encoding: Literal["onehot", "codes"] = Field("onehot", description=".csv: categorical features as one-hot floats, or integer codes for an Embedding input")
    standardize: Union[bool, list[str]] = Field(False, description=".csv: standardise numeric feature columns (all, or these) with the training split's mean/std")
    unknown: Literal["error", "zero"] = Field("error", description=".csv: a category the training split lacks is an error, or all-zero one-hot / code 0")
    inputs: Optional[dict[str, list[str]]] = Field(None, description=".csv: graph input -> its columns (default: input gets columns)")
    mmap: Optional[bool] = Field(None, description=".npy/.npz: read examples from disk per batch (default: on for .npy; .npz members must be stored uncompressed)")
    options: dict[str, Any] = Field(default_factory=dict, description="extra options read by custom tasks")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"source": v} if isinstance(v, str) else v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if folder_kind(v):
            if not v.partition(":")[2]:
                raise ValueError(f"{v} needs a folder, e.g. {v}data/{v.rstrip(':')}")
            return v
        if v in DATA_BUILTINS or v.startswith("text:") or v.endswith((".npz", ".csv", ".npy")):
            if v == "text:":
                raise ValueError("text: needs a path, e.g. text:graphspec/train/data/tiny.txt")
            return v
        raise ValueError(f"unknown data source {v!r}; use digits, digits_rows, sine, text:PATH, PATH.npz, PATH.npy, PATH.csv, images:DIR, mnist:DIR, fashion_mnist:DIR, cifar10:DIR or cifar100:DIR")

    @property
    def kind(self) -> str:
        if self.source in DATA_BUILTINS:
            return self.source
        if self.source.startswith("text:"):
            return "text"
        if folder_kind(self.source):
            return folder_kind(self.source)
        return self.source.rsplit(".", 1)[-1]


class TrainConfig(StrictModel):
    """Options every task shares. Tasks subclass it to add their own fields."""

    task: Literal[TASKS] = Field(description="classify | regress | sequence | vae | gan | dqn")  # type: ignore[valid-type]
    graph: Optional[str] = Field(None, description="graph to train (default: the spec's only graph, or the task's choice)")
    output: Optional[str] = Field(None, description="graph output the loss reads (default: the first)")
    data: Optional[DataConfig] = None
    epochs: int = Field(10, ge=1, le=1_000_000)
    batch_size: int = Field(64, ge=1, le=1_000_000, description="global batch size (split across processes under --nproc)")
    eval_batch_size: Optional[int] = Field(None, ge=1, le=1_000_000, description="default: 4 x batch_size")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    loss: Optional[LossConfig] = Field(None, description="default: the task's (CrossEntropyLoss for classify, MSELoss for regress)")
    metrics: Optional[list[str]] = Field(None, description="default: the task's")
    grad_clip: Optional[float] = Field(None, gt=0, description="clip the global gradient norm to this value")
    early_stopping: Optional[EarlyStoppingConfig] = None
    best_metric: Optional[str] = Field(None, description="metric choosing best.safetensors (default: early_stopping.metric, else val_loss)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seeds weights, data order and dropout")
    val_split: float = Field(0.15, ge=0, lt=1, description="fraction of the examples held out for validation")
    test_split: float = Field(0.15, ge=0, lt=1, description="fraction held out for the final test")
    split_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the train/val/test split (fixed, independent of seed)")
    init_from: Optional[InitFromConfig] = Field(None, description="start from these weights (fine-tuning), see docs/training.md")
    freeze: Optional[list[str]] = Field(None, description="globs over node paths / parameter names whose parameters are not trained")
    freeze_bn_eval: bool = Field(True, description="frozen BatchNorm layers stay in eval mode (running statistics fixed)")
    loggers: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=lambda: ["tensorboard"],
        description="experiment trackers: tensorboard (event files in the run folder), mlflow (needs graphspec[mlflow]); [] for none",
    )

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        if v is not None:
            for m in v:
                if m not in METRICS:
                    raise ValueError(f"unknown metric {m!r}; metrics: {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _splits(self):
        if self.val_split + self.test_split >= 1:
            raise FieldError("val_split", f"val_split + test_split must be below 1. Received: {self.val_split} + {self.test_split}")
        return self

    @property
    def monitor(self) -> str:
        if self.best_metric:
            return self.best_metric
        return self.early_stopping.metric if self.early_stopping else "val_loss"

    @property
    def monitor_mode(self) -> str:
        if self.early_stopping and self.early_stopping.metric == self.monitor and self.early_stopping.mode:
            return self.early_stopping.mode
        return metric_mode(self.monitor)


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
