"""Per-class accuracy and the confusion matrix of a classifier (``graphspec evaluate``).

Rows are true classes, columns predicted ones; the picture (``confusion_test.png``
in the run folder) shows counts with each row shaded by its share, labelled
with the data's class names when the run has them (``data.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def per_class(cm: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """{"accuracy": {name: recall or None}, "support": {name: count}} from a confusion matrix.

    >>> per_class(np.array([[3, 1], [0, 2]]), ["a", "b"])["accuracy"]
    {'a': 0.75, 'b': 1.0}
    """
    support = cm.sum(axis=1)
    acc = {str(n): (float(cm[i, i] / support[i]) if support[i] else None) for i, n in enumerate(names)}
    return {"accuracy": acc, "support": {str(n): int(support[i]) for i, n in enumerate(names)}}


def plot(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> Path:
    """Write the confusion matrix as a PNG (atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graphspec.io import atomic_write

    k = len(names)
    size = min(2 + 0.45 * k, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(n) for n in names], rotation=90 if k > 10 else 0)
    ax.set_yticks(ticks, [str(n) for n in names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8, color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path
