"""Task ``dqn``: deep Q-learning on a gymnasium environment (Mnih et al. 2015).

One graph (``train.graph``, default the spec's only graph) maps a batch of
observations to one Q-value per action; it is compiled twice, as the online
network (trained, saved) and the target network (a copy refreshed every
``target.update_every`` environment steps, or blended with ``tau`` < 1).

There is no dataset, so the engine's units are mapped as follows:

- an **epoch** is ``steps_per_epoch`` environment steps, then a greedy
  evaluation of ``eval_episodes`` episodes (always the same seeds): the
  ``val_`` metrics; ``best.safetensors`` keeps the online network of the
  epoch with the best ``val_return`` (the default ``best_metric``);
- a **batch** (what the engine counts as a step) is ``train_every``
  environment steps with the epsilon-greedy policy, followed by
  ``gradient_steps`` updates on minibatches of ``batch_size`` transitions
  from the replay buffer once it holds ``learning_starts`` transitions;
- **test** is ``test_episodes`` greedy episodes of the best network on other
  seeds: ``test_return`` (mean), ``test_return_std``, ``test_return_min``.

The update: ``loss(Q(s, a), r + gamma * (1 - terminated) * max_a' Q_target(s', a'))``
with ``train.loss`` (default HuberLoss; SmoothL1Loss, MSELoss, L1Loss also
work), or the Double DQN target with ``double: true``. Truncated episodes
(time limit) bootstrap from s'. Epsilon falls linearly from
``epsilon.start`` to ``epsilon.end`` over ``epsilon.steps`` environment steps.

Randomness: exploration and minibatch sampling draw from the engine's
per-epoch generator; episode ``i`` of training resets with seed
``seed * 1_000_003 + i``. Resume restores the online and target networks,
optimizer, counters, the return history, the replay buffer (with
``save_buffer``, default; otherwise it refills from scratch) and, for
environments with a plain ``state`` array (classic control), the episode in
progress -- so on CPU a resumed CartPole run retraces the uninterrupted one.
Other environments restart the episode in progress.

Files: ``returns.png`` (training episode returns and greedy evaluations
against environment steps) and ``returns.json`` (the same numbers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphspec.config.tasks import DQNSchema
from graphspec.config.train import LossConfig
from graphspec.train.tasks.base import Task, data_error, register_task


class ReplayBuffer:
    """A ring buffer of transitions (obs, action, reward, next obs, terminated) as preallocated tensors."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...]):
        self.capacity = capacity
        self.obs = torch.zeros((capacity,) + obs_shape)
        self.next_obs = torch.zeros((capacity,) + obs_shape)
        self.action = torch.zeros(capacity, dtype=torch.long)
        self.reward = torch.zeros(capacity)
        self.done = torch.zeros(capacity)
        self.pos = 0
        self.size = 0

    def add(self, obs, action: int, reward: float, next_obs, done: bool) -> None:
        i = self.pos
        self.obs[i] = torch.as_tensor(obs)
        self.next_obs[i] = torch.as_tensor(next_obs)
        self.action[i] = action
        self.reward[i] = reward
        self.done[i] = float(done)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        idx = torch.randint(self.size, (n,), generator=generator)
        return self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.done[idx]

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {
            "pos": self.pos,
            "size": n,
            "obs": self.obs[:n].clone(),
            "next_obs": self.next_obs[:n].clone(),
            "action": self.action[:n].clone(),
            "reward": self.reward[:n].clone(),
            "done": self.done[:n].clone(),
        }

    def load_state_dict(self, st: dict[str, Any]) -> None:
        n = int(st["size"])
        if n > self.capacity:
            raise data_error(f"the checkpoint's replay buffer holds {n} transitions, more than train.buffer_size {self.capacity}")
        for k in ("obs", "next_obs", "action", "reward", "done"):
            getattr(self, k)[:n] = st[k]
        self.pos, self.size = int(st["pos"]), n


@register_task
class DQNTask(Task, DQNSchema):
    """Deep Q-network on a gymnasium environment: online + target network from one graph."""

    # ---- setup ----------------------------------------------------------
    def setup(self) -> None:
        from graphspec.errors import GraphspecError
        from graphspec.train.data.gym import make_env, space_sizes

        cfg = self.cfg
        if self.ctx.distributed:
            raise GraphspecError.one("usage", "task dqn runs in one process; drop --nproc")
        self.graph = self.spec.graph(cfg.graph) if cfg.graph else self.spec.graph()
        if len(self.graph.inputs) != 1:
            raise data_error(f"the Q-network graph {self.graph.name!r} must have one input (the observation); it has {len(self.graph.inputs)}")
        self.output = cfg.output or next(iter(self.graph.outputs))
        self.env = make_env(cfg.env.id, cfg.env.max_episode_steps, cfg.env.kwargs)
        obs_shape, n_actions = space_sizes(self.env)
        itype = next(iter(self.graph.inputs.values())).type
        otype = self.graph.output_type(self.output)
        if len(itype.shape) != len(obs_shape) + 1 or any(isinstance(w, int) and w != g for w, g in zip(itype.shape[1:], obs_shape)):
            raise data_error(
                f"{cfg.env.id} gives observations of shape {list(obs_shape)}, but graph input {next(iter(self.graph.inputs))!r} is [{', '.join(map(str, itype.shape))}]",
                hint="make the input [batch, " + ", ".join(map(str, obs_shape)) + "]",
            )
        if otype is None or otype.rank != 2 or (isinstance(otype.shape[1], int) and otype.shape[1] != n_actions):
            raise data_error(
                f"{cfg.env.id} has {n_actions} actions, but output {self.output!r} is [{', '.join(map(str, otype.shape)) if otype else '?'}]; it must be [batch, {n_actions}]",
                hint=f"one Q-value per action (e.g. --set params.actions={n_actions})",
            )
        self.obs_shape, self.n_actions = obs_shape, n_actions
        self.online = self.compile(self.graph.name, outputs=[self.output])
        self.q = self.add_model("online", self.online)
        self.target = self.compile(self.graph.name, outputs=[self.output])
        self.target.load_state_dict(self.online.state_dict())
        self.target.eval()
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.add_model("target", self.target, save=False)
        self.loss_fn = self.make_loss(cfg.loss or LossConfig(name="HuberLoss"))
        self.add_optimizer("main", self.online.parameters())
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_shape)
        self.env_steps = 0
        self.updates = 0
        self.episode = 0
        self.ep_return = 0.0
        self.ep_len = 0
        self.obs = None
        self.episodes: list[list[float]] = []  # [env step at its end, return]
        self.evals: list[list[float]] = []  # [env step, mean greedy return]
        self._gen: torch.Generator | None = None
        self._epoch_start_episode = 0

    # ---- acting ---------------------------------------------------------
    def _episode_seed(self, i: int) -> int:
        return (self.cfg.seed * 1_000_003 + i) % (2**31)

    def _reset(self) -> None:
        self.obs, _ = self.env.reset(seed=self._episode_seed(self.episode))
        self.ep_return, self.ep_len = 0.0, 0

    @torch.no_grad()
    def _greedy(self, obs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32)).to(self.device)
        return self.online(x).argmax(-1).cpu().numpy()

    def epsilon(self) -> float:
        return self.cfg.epsilon.at(self.env_steps)

    def _env_step(self) -> None:
        if self.obs is None:
            self._reset()
        gen = self._gen
        if float(torch.rand((), generator=gen)) < self.epsilon():
            action = int(torch.randint(self.n_actions, (), generator=gen))
        else:
            action = int(self._greedy(self.obs[None])[0])
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        self.buffer.add(self.obs, action, float(reward), next_obs, bool(terminated))
        self.env_steps += 1
        self.ep_return += float(reward)
        self.ep_len += 1
        self.obs = next_obs
        if terminated or truncated:
            self.episodes.append([float(self.env_steps), self.ep_return])
            self.episode += 1
            self.obs = None
        if self.env_steps % self.cfg.target.update_every == 0:
            self._update_target()

    @torch.no_grad()
    def _update_target(self) -> None:
        tau = self.cfg.target.tau
        if tau >= 1.0:
            self.target.load_state_dict(self.online.state_dict())
            return
        for pt, po in zip(self.target.state_dict().values(), self.online.state_dict().values()):
            if pt.is_floating_point():
                pt.mul_(1 - tau).add_(po, alpha=tau)
            else:
                pt.copy_(po)

    # ---- training -------------------------------------------------------
    def num_train_batches(self) -> int:
        return -(-self.cfg.steps_per_epoch // self.cfg.train_every)

    def train_batches(self, epoch: int, generator: torch.Generator):
        self._gen = generator
        self._epoch_start_episode = len(self.episodes)
        n, k = self.cfg.steps_per_epoch, self.cfg.train_every
        return (min(k, n - s) for s in range(0, n, k))

    def train_step(self, batch: int) -> dict[str, Any]:
        cfg = self.cfg
        for _ in range(batch):
            self._env_step()
        if self.buffer.size < max(cfg.learning_starts, cfg.batch_size):
            return {"loss": 0.0, "q": 0.0, "epsilon": self.epsilon()}
        loss_sum = q_sum = 0.0
        for _ in range(cfg.gradient_steps):
            o, a, r, o2, d = (t.to(self.device) for t in self.buffer.sample(cfg.batch_size, self._gen))
            with self.autocast():
                q_all = self.q(o)
            q = q_all.float().gather(1, a[:, None]).squeeze(1)
            with torch.no_grad():
                if cfg.double:
                    a2 = self.online(o2).argmax(-1, keepdim=True)
                    q2 = self.target(o2).float().gather(1, a2).squeeze(1)
                else:
                    q2 = self.target(o2).float().max(-1).values
                y = r + cfg.gamma * (1.0 - d) * q2
            loss = self.loss_fn(q, y)
            self.optimize(loss)
            self.updates += 1
            loss_sum += float(loss.detach())
            q_sum += float(q.detach().mean())
        g = cfg.gradient_steps
        return {"loss": loss_sum / g, "q": q_sum / g, "epsilon": self.epsilon()}

    # ---- evaluation -----------------------------------------------------
    def eval_returns(self, seeds) -> list[float]:
        from graphspec.train.data.gym import run_episodes

        cfg = self.cfg
        was = self.online.training
        self.online.eval()
        rng = np.random.default_rng(12345)
        eps = cfg.eval_epsilon

        def act(obs: np.ndarray) -> np.ndarray:
            a = self._greedy(obs)
            if eps > 0:
                explore = rng.random(len(a)) < eps
                a = np.where(explore, rng.integers(self.n_actions, size=len(a)), a)
            return a

        try:
            return run_episodes(act, cfg.env.id, seeds, cfg.env.max_episode_steps, cfg.env.kwargs)
        finally:
            self.online.train(was)

    def evaluate(self, split: str) -> dict[str, float]:
        cfg = self.cfg
        if split == "test":
            seeds = [2_000_000_000 + i for i in range(cfg.test_episodes)]
        else:
            seeds = [1_000_000_000 + i for i in range(cfg.eval_episodes)]
        rets = np.asarray(self.eval_returns(seeds), dtype=np.float64)
        out = {"return": float(rets.mean()), "return_std": float(rets.std()), "return_min": float(rets.min())}
        if split == "val":
            self.evals.append([float(self.env_steps), out["return"]])
            recent = [r for _, r in self.episodes[self._epoch_start_episode :]]
            out.update(
                {
                    "explore_return": float(np.mean(recent)) if recent else float("nan"),
                    "episodes": float(len(self.episodes)),
                    "env_steps": float(self.env_steps),
                    "epsilon": self.epsilon(),
                }
            )
        return out

    # ---- resume ---------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        from graphspec.train.data.gym import snapshot

        st: dict[str, Any] = {
            "target": {k: v.detach().cpu().clone() for k, v in self.target.state_dict().items()},
            "env_steps": self.env_steps,
            "updates": self.updates,
            "episode": self.episode,
            "ep_return": self.ep_return,
            "ep_len": self.ep_len,
            "episodes": [list(e) for e in self.episodes],
            "evals": [list(e) for e in self.evals],
            "obs": None if self.obs is None else torch.as_tensor(np.asarray(self.obs, dtype=np.float32)).clone(),
            "env": None if self.obs is None else snapshot(self.env),
            "buffer": self.buffer.state_dict() if self.cfg.save_buffer else None,
        }
        return st

    def load_extra_state(self, st: dict[str, Any]) -> None:
        from graphspec.train.data.gym import restore

        if not st:
            return
        self.target.load_state_dict(st["target"])
        self.env_steps = int(st["env_steps"])
        self.updates = int(st["updates"])
        self.episode = int(st["episode"])
        self.episodes = [list(e) for e in st["episodes"]]
        self.evals = [list(e) for e in st["evals"]]
        if st.get("buffer") is not None:
            self.buffer.load_state_dict(st["buffer"])
        self.obs = None
        if st.get("obs") is not None and st.get("env") is not None:
            self.env.reset(seed=self._episode_seed(self.episode))
            restore(self.env, st["env"])
            self.obs = st["obs"].numpy()
            self.ep_return, self.ep_len = float(st["ep_return"]), int(st["ep_len"])
        # else: the episode in progress restarts (its seed is the same episode index)

    # ---- artifacts ------------------------------------------------------
    def save_artifacts(self, run_dir) -> list[str]:
        from graphspec.train.checkpoint import atomic_write
        from graphspec.train.grids import save_returns_plot

        run_dir = Path(run_dir)
        names = [save_returns_plot(run_dir / "returns.png", self.episodes, self.evals, title=f"{self.spec.name} on {self.cfg.env.id}")]
        data = {"env": self.cfg.env.id, "env_steps": self.env_steps, "updates": self.updates, "episodes": self.episodes, "evals": self.evals}
        atomic_write(run_dir / "returns.json", json.dumps(data) + "\n", mode="w")
        names.append("returns.json")
        return names

    def close(self) -> None:
        try:
            self.env.close()
        except Exception:  # pragma: no cover
            pass
