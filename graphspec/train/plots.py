"""PNG learning curves of a run: loss.png (train/val loss) and metrics.png (the other metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphspec.train.checkpoint import atomic_write

_SKIP = {"epoch", "step", "wall_s", "epoch_s", "lr"}


def plot_curves(run_dir: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Write the curve plots for ``rows`` (metrics.jsonl lines); returns the file names written."""
    if not rows:
        return []
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in _SKIP and isinstance(v, (int, float)) and k not in keys:
                keys.append(k)
    written = []
    groups = {
        "loss.png": [k for k in keys if k.endswith("loss")],
        "metrics.png": [k for k in keys if not k.endswith("loss")],
    }
    if any("lr" in r for r in rows):
        groups["lr.png"] = ["lr"]
    for fname, ks in groups.items():
        if not ks:
            continue
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for k in ks:
            ys = [r.get(k) for r in rows]
            ax.plot(epochs, [float("nan") if y is None else y for y in ys], marker="o", markersize=3, label=k)
        ax.set_xlabel("epoch")
        ax.set_title({"loss.png": "loss", "metrics.png": "metrics", "lr.png": "learning rate"}[fname])
        if fname == "lr.png" and all((r.get("lr") or 0) > 0 for r in rows):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        atomic_write(Path(run_dir) / fname, buf.getvalue())
        written.append(fname)
    return written
