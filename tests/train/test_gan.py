"""Task gan: roles and optimizers as config, alternating updates, metrics, grids, EMA, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import checkpoint as ck
from graphspec.train.engine import RunOptions, resolve_config, train

from _recipe import Recipe, messages

SPEC = Path(__file__).resolve().parents[2] / "specs" / "digits_gan.yaml"
TINY = {"train.epochs": 2, "train.batch_size": 256,
        "params.ngh": 16, "params.ndh": 16, "train.eval_samples": 50, "train.grid": {"samples": 16, "every": 1},
        "train.schedule": {"name": "constant"}}  # constant: a resume with more epochs keeps the same lr


_RECIPE = Recipe(SPEC.stem, TINY)
load = _RECIPE.load
run = _RECIPE.run


def test_config_roles_and_errors():
    cfg, cls = resolve_config(load())
    assert cls.name == "gan" and cfg.roles.generator.graph == "generator" and cfg.roles.discriminator.optimizer.betas == (0.5, 0.999)
    assert cfg.monitor == "val_mmd" and cfg.monitor_mode == "min"
    assert any("no graph 'gen'" in m for m in messages(load, **{"train.roles.generator.graph": "gen"}))
    assert any("unknown field 'critic'" in m for m in messages(load, **{"train.roles.critic": {"graph": "discriminator"}}))
    assert any("ema applies to the generator only" in m for m in messages(load, **{"train.roles.discriminator.ema": 0.9}))
    assert any("takes no train.loss" in m for m in messages(load, **{"train.loss": "BCELoss"}))
    assert any("gan_loss" in m for m in messages(load, **{"train.gan_loss": "wasserstein"}))


def test_tiny_run(tmp_path):
    res = run(tmp_path)
    for k in ("train_d_loss", "train_g_loss", "train_d_real", "val_mmd", "test_mmd", "test_d_fake"):
        assert k in res, k
    d = tmp_path / "r"
    assert (d / "samples.png").is_file() and (d / "samples" / "epoch_0001.png").is_file() and (d / "samples" / "epoch_0002.png").is_file()
    weights, _ = ck.load_weights(d / "best.safetensors")
    spec = load()
    g, dis = spec.to_torch("generator"), spec.to_torch("discriminator")
    assert set(weights) == set(g.state_dict()) | set(dis.state_dict())
    g.load_state_dict({k: weights[k] for k in g.state_dict()})
    g.eval()
    assert g(torch.randn(3, 32)).shape == (3, 1, 8, 8)
    state = ck.load_state(d / "last.state.pt")
    assert set(state["task_state"]["optimizers"]) == {"generator", "discriminator"}


def test_both_networks_learn_with_their_own_optimizer():
    from graphspec.train.tasks.base import TrainContext
    from graphspec.train.tasks.gan import GANTask

    torch.set_num_threads(1)  # as the engine does for small models
    spec = load(**{"train.roles.generator.optimizer": {"name": "SGD", "lr": 0.01}})
    cfg, _ = resolve_config(spec)
    task = GANTask(TrainContext(spec=spec, cfg=cfg, device=torch.device("cpu")))
    task.setup()
    assert type(task.optimizers["generator"]).__name__ == "SGD" and type(task.optimizers["discriminator"]).__name__ == "Adam"
    g0 = {k: v.clone() for k, v in task.G_module.state_dict().items()}
    d0 = {k: v.clone() for k, v in task.D_module.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    batch = next(iter(task.train_batches(0, gen)))
    logs = task.train_step(batch)
    assert set(logs) >= {"loss", "d_loss", "g_loss", "d_real", "d_fake"}
    assert any(not torch.equal(v, g0[k]) for k, v in task.G_module.state_dict().items())
    assert any(not torch.equal(v, d0[k]) for k, v in task.D_module.state_dict().items())
    assert task.z_shape == (32,)


def test_judge_metrics(tmp_path):
    judge = graphspec.load("digits_lenet5")
    ck.save_weights(tmp_path / "judge.safetensors", {k: v.contiguous() for k, v in judge.to_torch().state_dict().items()})
    res = run(tmp_path, **{"train.epochs": 1, "train.judge": {"spec": "digits_lenet5", "weights": str(tmp_path / "judge.safetensors"), "samples": 100}})
    assert 0 <= res["test_class_coverage"] <= 10 and 0 < res["test_mean_confidence"] <= 1 and "val_min_class_share" in res


def test_ema_resume_is_exact(tmp_path):
    sets = {"train.roles.generator.ema": 0.9, "train.grid": {"samples": 4, "every": 0}}
    straight = run(tmp_path, name="a", **{**sets, "train.epochs": 3})
    run(tmp_path, name="b", **{**sets, "train.epochs": 2})
    resumed = run(tmp_path, name="b", resume=True, **{**sets, "train.epochs": 3})
    wa, _ = ck.load_weights(tmp_path / "a" / "last.safetensors")
    wb, _ = ck.load_weights(tmp_path / "b" / "last.safetensors")
    assert set(wa) == set(wb) and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert resumed["test_mmd"] == straight["test_mmd"]


def test_mmd_orders_distributions():
    from graphspec.train.tasks.gan import mmd2

    g = torch.Generator().manual_seed(1)
    real = torch.rand(200, 64, generator=g)
    assert mmd2(torch.rand(200, 64, generator=g), real, 3.0) < mmd2(torch.rand(200, 64, generator=g) * 0.5, real, 3.0)
