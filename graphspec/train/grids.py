"""PNG figures of the generative and RL tasks: image grids (vae, gan) and return curves (dqn).

Written atomically into the run folder. Images are composed with numpy and
saved with matplotlib's ``imsave`` (no figure), curves with a small figure.

>>> import numpy as np
>>> tile(np.zeros((5, 1, 8, 8)), nrow=3).shape
(19, 28)
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from graphspec.train.checkpoint import atomic_write


def image_shape_for(shape: Sequence[Any], override: Sequence[int] | None = None) -> tuple[int, ...]:
    """(C, H, W) or (H, W) of one example with ``shape`` (without the batch dim).

    A flat vector of a square number of values is shown as a square grayscale image.

    >>> image_shape_for([1, 8, 8]), image_shape_for([64]), image_shape_for([10])
    ((1, 8, 8), (8, 8), (1, 10))
    """
    if override:
        return tuple(int(s) for s in override)
    dims = [int(d) for d in shape]
    if len(dims) in (2, 3):
        return tuple(dims)
    n = int(np.prod(dims)) if dims else 1
    side = int(round(math.sqrt(n)))
    return (side, side) if side * side == n else (1, n)


def tile(images, nrow: int | None = None, pad: int = 1, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A grid of ``images`` [N, H, W], [N, 1, H, W] or [N, 3, H, W] as a float array in [0, 1] ([H', W'] or [H', W', 3])."""
    x = np.asarray(images.detach().cpu().float().numpy() if hasattr(images, "detach") else images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"tile: images must be [N, H, W] or [N, C, H, W]. Received shape {list(x.shape)}")
    lo, hi = value_range
    x = np.clip((x - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    n, c, h, w = x.shape
    if c not in (1, 3):
        x, c = x[:, :1], 1
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol_rows = int(math.ceil(n / nrow))
    grid = np.ones((c, ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32) * 0.5
    for i in range(n):
        r, col = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y0 : y0 + h, x0 : x0 + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_grid(path: str | Path, images, nrow: int | None = None, scale: int = 4, value_range: tuple[float, float] = (0.0, 1.0)) -> str:
    """Write ``images`` as one PNG grid, each pixel ``scale`` x ``scale``; returns the file name."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    g = tile(images, nrow=nrow, value_range=value_range)
    if scale > 1:
        g = np.repeat(np.repeat(g, scale, axis=0), scale, axis=1)
    buf = io.BytesIO()
    if g.ndim == 2:
        plt.imsave(buf, g, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        plt.imsave(buf, g, format="png")
    atomic_write(Path(path), buf.getvalue())
    return Path(path).name


def save_returns_plot(path: str | Path, episodes: Sequence[tuple[float, float]], evals: Sequence[tuple[float, float]], title: str = "returns", window: int = 20) -> str:
    """Training episode returns (points and a moving mean) and greedy evaluations, against env steps."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if episodes:
        s = np.array([e[0] for e in episodes], dtype=np.float64)
        r = np.array([e[1] for e in episodes], dtype=np.float64)
        ax.plot(s, r, ".", markersize=2, alpha=0.3, color="tab:blue", label="training episode")
        if len(r) >= window:
            mean = np.convolve(r, np.ones(window) / window, mode="valid")
            ax.plot(s[window - 1 :], mean, color="tab:blue", label=f"training, mean of {window}")
    if evals:
        ax.plot([e[0] for e in evals], [e[1] for e in evals], "o-", color="tab:orange", markersize=4, label="greedy evaluation (mean)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(Path(path), buf.getvalue())
    return Path(path).name
