"""Gymnasium environments for the dqn task: offline creation, seeding, state snapshots, batched evaluation.

Nothing is downloaded: the classic-control environments (CartPole-v1,
Acrobot-v1, MountainCar-v0 ...) ship with gymnasium. Episodes are seeded one
by one (``reset(seed=...)``), so an episode's start depends only on its seed.

>>> env = make_env("CartPole-v1")
>>> space_sizes(env)
((4,), 2)
>>> obs, _ = env.reset(seed=0)
>>> snap = snapshot(env); a, *_ = env.step(0); restore(env, snap); b, *_ = env.step(0)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from graphspec.errors import GraphspecError


def make_env(env_id: str, max_episode_steps: int | None = None, kwargs: dict[str, Any] | None = None):
    """``gymnasium.make`` without the passive checker (its warnings and cost); a clear error for unknown ids."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a dependency of the dqn task
        raise GraphspecError.one("dependency", "task dqn needs gymnasium", hint="pip install gymnasium")
    extra: dict[str, Any] = dict(kwargs or {})
    if max_episode_steps is not None:
        extra["max_episode_steps"] = max_episode_steps
    try:
        return gymnasium.make(env_id, disable_env_checker=True, **extra)
    except gymnasium.error.Error as exc:
        from graphspec.errors import did_you_mean

        ids = sorted(k for k in gymnasium.registry if "/" not in k)
        raise GraphspecError.one(
            "bad-value",
            f"train.env.id: cannot make gymnasium environment {env_id!r}: {exc}",
            hint=did_you_mean(env_id, ids) or "offline environments: " + ", ".join(i for i in ids if not i.startswith(("ALE", "Gym")))[:300],
        )
    except TypeError as exc:
        raise GraphspecError.one("bad-value", f"train.env.kwargs: {env_id!r} does not accept them: {exc}")


def space_sizes(env) -> tuple[tuple[int, ...], int]:
    """(observation shape, number of actions); only Box observations and Discrete actions are supported."""
    from gymnasium import spaces

    if not isinstance(env.action_space, spaces.Discrete):
        raise GraphspecError.one("data", f"task dqn needs a discrete action space; {env.spec.id if env.spec else env} has {env.action_space}")
    if not isinstance(env.observation_space, spaces.Box):
        raise GraphspecError.one("data", f"task dqn needs a Box observation space; {env.spec.id if env.spec else env} has {env.observation_space}")
    return tuple(int(d) for d in env.observation_space.shape), int(env.action_space.n)


def _time_limit(env):
    from gymnasium.wrappers import TimeLimit

    e = env
    while e is not None:
        if isinstance(e, TimeLimit):
            return e
        e = getattr(e, "env", None)
    return None


def snapshot(env) -> dict[str, Any] | None:
    """The mid-episode state of a classic-control env (its ``state`` array, time-limit and termination counters), or None if unknown.

    Plain lists, floats and ints, so it fits a ``weights_only`` checkpoint.
    """
    u = env.unwrapped
    state = getattr(u, "state", None)
    if state is None:
        return None
    try:
        arr = np.asarray(state, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    tl = _time_limit(env)
    return {
        "state": arr.reshape(-1).tolist(),
        "shape": list(arr.shape),
        "elapsed": None if tl is None or tl._elapsed_steps is None else int(tl._elapsed_steps),
        "steps_beyond_terminated": getattr(u, "steps_beyond_terminated", None),
    }


def restore(env, snap: dict[str, Any]) -> None:
    """Put a snapshot back into an env that has been reset."""
    u = env.unwrapped
    u.state = np.asarray(snap["state"], dtype=np.float64).reshape(snap["shape"])
    if hasattr(u, "steps_beyond_terminated"):
        u.steps_beyond_terminated = snap.get("steps_beyond_terminated")
    tl = _time_limit(env)
    if tl is not None and snap.get("elapsed") is not None:
        tl._elapsed_steps = int(snap["elapsed"])


def run_episodes(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    seeds: Sequence[int],
    max_episode_steps: int | None = None,
    kwargs: dict[str, Any] | None = None,
    parallel: int = 32,
) -> list[float]:
    """Total reward of one episode per seed, ``parallel`` envs stepped together.

    ``act`` maps a batch of observations [n, *obs] (float32) to n actions.
    Returns the returns in seed order.
    """
    seeds = list(seeds)
    returns = [0.0] * len(seeds)
    for start in range(0, len(seeds), parallel):
        chunk = list(range(start, min(start + parallel, len(seeds))))
        envs = [make_env(env_id, max_episode_steps, kwargs) for _ in chunk]
        obs = [env.reset(seed=int(seeds[i]))[0] for env, i in zip(envs, chunk)]
        alive = list(range(len(chunk)))
        while alive:
            actions = act(np.stack([obs[j] for j in alive]).astype(np.float32, copy=False))
            still = []
            for j, a in zip(alive, actions):
                o, r, term, trunc, _ = envs[j].step(int(a))
                returns[chunk[j]] += float(r)
                obs[j] = o
                if not (term or trunc):
                    still.append(j)
            alive = still
        for env in envs:
            env.close()
    return returns
