"""Optimizers, learning-rate schedules (with warmup) and losses from the train: config."""

from __future__ import annotations

import math
from typing import Any

import torch

from graphspec.config.train import LossConfig, OptimizerConfig, ScheduleConfig


def make_optimizer(cfg: OptimizerConfig, params) -> torch.optim.Optimizer:
    cls = getattr(torch.optim, cfg.name)
    return cls(params, **cfg.kwargs())


def make_loss(cfg: LossConfig) -> torch.nn.Module:
    return getattr(torch.nn, cfg.name)(**cfg.kwargs())


class Schedule:
    """A torch lr scheduler advanced per step or per epoch, after a linear warmup.

    During the first ``warmup_steps`` optimizer steps the lr of every group
    rises linearly from lr/warmup_steps to lr; the wrapped scheduler starts
    afterwards. ``state_dict`` covers both, so a resumed run continues exactly.
    """

    def __init__(self, opt: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int | None):
        self.opt = opt
        self.cfg = cfg
        self.every = cfg.every
        self.warmup = cfg.warmup_steps
        self.steps = 0
        steps_per_epoch = steps_per_epoch or 1
        total = epochs * steps_per_epoch if self.every == "step" else epochs
        if self.every == "step":
            total = max(1, total - self.warmup)
        kw: dict[str, Any] = cfg.kwargs()
        sched = torch.optim.lr_scheduler
        name = cfg.name
        if name == "constant":
            self.inner = None
        elif name == "CosineAnnealingLR":
            kw.setdefault("T_max", total)
            self.inner = sched.CosineAnnealingLR(opt, **kw)
        elif name == "LinearLR":
            kw.setdefault("total_iters", total)
            kw.setdefault("start_factor", 1.0)
            kw.setdefault("end_factor", 0.0)
            self.inner = sched.LinearLR(opt, **kw)
        elif name == "OneCycleLR":
            kw.setdefault("max_lr", [g["lr"] for g in opt.param_groups])
            self.inner = sched.OneCycleLR(opt, total_steps=total, **kw)
        elif name == "ReduceLROnPlateau":
            self.inner = sched.ReduceLROnPlateau(opt, **kw)
        else:
            self.inner = getattr(sched, name)(opt, **kw)
        self.base = [g["lr"] for g in opt.param_groups]
        if self.warmup:
            self._set_factor(1 / self.warmup)

    def _set_factor(self, f: float) -> None:
        for g, base in zip(self.opt.param_groups, self.base):
            g["lr"] = base * f

    @property
    def in_warmup(self) -> bool:
        return self.steps < self.warmup

    def step_end(self) -> None:
        """After an optimizer step."""
        self.steps += 1
        if self.steps < self.warmup:
            self._set_factor((self.steps + 1) / self.warmup)
            return
        if self.steps == self.warmup and self.warmup:
            self._set_factor(1.0)
            return
        if self.every == "step" and self.inner is not None:
            self.inner.step()

    def epoch_end(self, metric: float | None = None) -> None:
        if self.every != "epoch" or self.inner is None or self.in_warmup:
            return
        if isinstance(self.inner, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if metric is not None and math.isfinite(metric):
                self.inner.step(metric)
        else:
            self.inner.step()

    def lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {"steps": self.steps, "base": list(self.base), "inner": self.inner.state_dict() if self.inner is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.base = list(state["base"])
        if self.inner is not None and state.get("inner") is not None:
            self.inner.load_state_dict(state["inner"])
