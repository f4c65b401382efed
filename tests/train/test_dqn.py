"""Task dqn: config checks, env/graph agreement, a tiny run, target network, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import checkpoint as ck
from graphspec.train.engine import RunOptions, resolve_config, train

from _recipe import Recipe, messages

SPEC = Path(__file__).resolve().parents[2] / "specs" / "cartpole_dqn.yaml"
TINY = {
    "params.hidden": 16,
    "train.epochs": 2,
    "train.steps_per_epoch": 300,
    "train.train_every": 4,
    "train.gradient_steps": 2,
    "train.batch_size": 32,
    "train.learning_starts": 100,
    "train.target": {"update_every": 50},
    "train.epsilon": {"steps": 400},
    "train.eval_episodes": 2,
    "train.test_episodes": 3,
    "train.early_stopping": None,
}


_RECIPE = Recipe(SPEC.stem, TINY)
load = _RECIPE.load
run = _RECIPE.run


def make_task(**sets):
    from graphspec.train.tasks.base import TrainContext
    from graphspec.train.tasks.dqn import DQNTask

    torch.set_num_threads(1)  # as the engine does for small models (threads only add overhead here)
    spec = load(**sets)
    cfg, _ = resolve_config(spec)
    task = DQNTask(TrainContext(spec=spec, cfg=cfg, device=torch.device("cpu")))
    task.setup()
    return task


def test_config_defaults_and_errors():
    cfg, cls = resolve_config(load())
    assert cls.name == "dqn" and cfg.env.id == "CartPole-v1" and cfg.monitor == "val_return" and cfg.monitor_mode == "max"
    assert any("takes no data" in m for m in messages(load, **{"train.data": "digits"}))
    assert any("regression loss" in m for m in messages(load, **{"train.loss": "CrossEntropyLoss"}))
    assert any("unknown field 'eps'" in m for m in messages(load, **{"train.eps": 0.1}))
    assert any("learning_starts" in m for m in messages(load, **{"train.learning_starts": 10}))
    cfg, _ = resolve_config(load(**{"train.env": "Acrobot-v1"}))
    assert cfg.env.id == "Acrobot-v1"


@pytest.mark.parametrize(
    "sets, text",
    [
        ({"params.observations": 5}, "observations of shape [4]"),
        ({"params.actions": 3}, "has 2 actions"),
        ({"train.env": "NoSuchEnv-v0"}, "NoSuchEnv-v0"),
    ],
)
def test_env_and_graph_must_agree(sets, text):
    with pytest.raises(GraphspecError) as exc:
        make_task(**sets)
    assert text in exc.value.diagnostics[0].message


def test_online_and_target_are_two_copies():
    task = make_task()
    assert set(task.weights()) == set(task.online.state_dict())  # only the online network is saved
    assert all(torch.equal(a, b) for a, b in zip(task.online.state_dict().values(), task.target.state_dict().values()))
    assert task.online.get_parameter("q.0.weight") is not task.target.get_parameter("q.0.weight")
    init = {k: v.clone() for k, v in task.target.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    for batch in task.train_batches(0, gen):
        task.train_step(batch)
    assert task.env_steps == 300 and task.buffer.size == 300 and task.updates == 2 * (300 - 100) // 4 + 2
    assert task.epsilon() == pytest.approx(1.0 - 0.95 * 300 / 400)
    # refreshed (every 50 env steps), then the online network moved on with the last round of updates
    assert not all(torch.equal(a, init[k]) for k, a in task.target.state_dict().items())
    assert not all(torch.equal(a, b) for a, b in zip(task.online.state_dict().values(), task.target.state_dict().values()))
    task._update_target()
    assert all(torch.equal(a, b) for a, b in zip(task.online.state_dict().values(), task.target.state_dict().values()))


def test_tiny_run(tmp_path):
    res = run(tmp_path)
    for k in ("val_return", "val_explore_return", "test_return", "test_return_std", "test_return_min", "train_q"):
        assert k in res, k
    assert res["best_metric"] == "val_return" and res["steps"] == 2 * 75
    d = tmp_path / "r"
    assert (d / "returns.png").stat().st_size > 100 and (d / "returns.json").is_file()
    weights, _ = ck.load_weights(d / "best.safetensors")
    q = load().to_torch()
    q.load_state_dict(weights, strict=True)
    assert q(torch.zeros(1, 4)).shape == (1, 2)


def test_resume_is_exact(tmp_path):
    """Resume mid-episode: the buffer, target network, counters and the CartPole state come back."""
    straight = run(tmp_path, name="a", **{"train.epochs": 3})
    run(tmp_path, name="b", **{"train.epochs": 2})
    resumed = run(tmp_path, name="b", resume=True, **{"train.epochs": 3})
    wa, _ = ck.load_weights(tmp_path / "a" / "last.safetensors")
    wb, _ = ck.load_weights(tmp_path / "b" / "last.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert resumed["test_return"] == straight["test_return"]
    sa = ck.load_state(tmp_path / "a" / "last.state.pt")["task_state"]["extra"]
    sb = ck.load_state(tmp_path / "b" / "last.state.pt")["task_state"]["extra"]
    assert sa["episodes"] == sb["episodes"] and torch.equal(sa["buffer"]["obs"], sb["buffer"]["obs"])


def test_resume_without_buffer(tmp_path):
    run(tmp_path, name="c", **{"train.save_buffer": False})
    assert ck.load_state(tmp_path / "c" / "last.state.pt")["task_state"]["extra"]["buffer"] is None
    res = run(tmp_path, name="c", resume=True, **{"train.save_buffer": False, "train.epochs": 3})
    assert res["epochs"] == 3


def test_run_episodes_is_seeded():
    from graphspec.train.data.gym import run_episodes

    def act(obs):
        return (obs[:, 2] > 0).astype(np.int64)  # push towards the pole's lean

    a = run_episodes(act, "CartPole-v1", [1, 2, 3], parallel=2)
    assert a == run_episodes(act, "CartPole-v1", [1, 2, 3]) and min(a) > 20


@pytest.mark.slow
def test_quality_recipe_reaches_target(tmp_path):
    """The zoo recipe as written: the best policy averages >= 475 over 100 greedy episodes."""
    res = train(graphspec.load(str(SPEC)), RunOptions(name="q", runs_dir=str(tmp_path), quiet=True))
    assert res["test_return"] >= 475
