"""Learning-rate schedules with warmup, and their state for resume."""

from __future__ import annotations

import pytest
import torch

from graphspec.config.train import ScheduleConfig
from graphspec.train.optim import Schedule


def opt(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def lrs(s: Schedule, steps: int, per_epoch: int = 0) -> list[float]:
    out = []
    for i in range(steps):
        out.append(round(s.lr(), 6))
        s.opt.step()
        s.step_end()
        if per_epoch and (i + 1) % per_epoch == 0:
            s.epoch_end(1.0)
    return out


def test_linear_warmup_then_constant():
    s = Schedule(opt(), ScheduleConfig(warmup_steps=4), epochs=1, steps_per_epoch=10)
    assert lrs(s, 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_warmup_then_cosine_reaches_eta_min():
    s = Schedule(opt(), ScheduleConfig(name="CosineAnnealingLR", warmup_steps=2), epochs=1, steps_per_epoch=10)
    seq = lrs(s, 10)
    assert seq[:3] == [0.5, 1.0, 1.0]
    assert all(a >= b for a, b in zip(seq[2:], seq[3:]))
    assert s.lr() == pytest.approx(0.0, abs=1e-9)


def test_step_lr_per_epoch():
    s = Schedule(opt(), ScheduleConfig(name="StepLR", step_size=1, gamma=0.5), epochs=3, steps_per_epoch=2)
    assert lrs(s, 6, per_epoch=2) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_state_round_trip():
    cfg = ScheduleConfig(name="CosineAnnealingLR", warmup_steps=3)
    a = Schedule(opt(), cfg, epochs=2, steps_per_epoch=10)
    lrs(a, 7)
    b = Schedule(opt(), cfg, epochs=2, steps_per_epoch=10)
    b.opt.load_state_dict(a.opt.state_dict())
    b.load_state_dict(a.state_dict())
    assert lrs(a, 8) == lrs(b, 8)


def test_reduce_on_plateau():
    s = Schedule(opt(), ScheduleConfig(name="ReduceLROnPlateau", patience=0, factor=0.5), epochs=5, steps_per_epoch=1)
    for _ in range(3):
        s.epoch_end(1.0)
    assert s.lr() < 1.0
