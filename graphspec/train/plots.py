"""PNG learning curves of a run: loss.png (train/val loss), metrics.png (the other metrics), lr.png.

:class:`CurvePlots` (an engine callback, always on) redraws them after every
epoch, so an interrupted run has its curves. Drawing takes matplotlib a few
hundred milliseconds, as long as a small model's whole epoch, so a helper
process does it (``python -m graphspec.train.plots RUN_DIR`` fed one JSON
metrics row per line on stdin): the training loop only writes a line to a
pipe (:mod:`graphspec.train.helper`). So that it takes no more than a fifth
of a core from a busy machine, the helper rests four times its last drawing
time between redraws; rows arriving meanwhile are drawn together, and the last
rows are always drawn. Every file is replaced atomically. If the helper
cannot run, the curves are drawn in-process when the run ends.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from graphspec.io import atomic_write
from graphspec.train.callbacks import Callback
from graphspec.train.helper import Helper, messages

_SKIP = {"epoch", "step", "wall_s", "epoch_s", "lr"}
REST = 4.0  # the helper rests this many times its last drawing time before the next redraw


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


class CurvePlots(Callback):
    """Redraws the curves after every epoch (in a helper process) and once more at the end."""

    def __init__(self) -> None:
        self._helper: Helper | None = None

    def on_train_start(self, state: Any) -> None:
        self._helper = Helper("graphspec.train.plots", str(state.run_dir))
        if self._helper.start() and state.rows:  # a resumed run: the earlier epochs
            self._helper.send(*state.rows)

    def on_epoch_end(self, state: Any, logs: dict[str, Any]) -> None:
        if self._helper is not None:
            self._helper.send(logs)

    def on_train_end(self, state: Any, result: dict[str, Any]) -> None:
        self._finish(state)

    def on_train_error(self, state: Any, error: BaseException) -> None:
        self._finish(state)

    def _finish(self, state: Any) -> None:
        helper, self._helper = self._helper, None
        if (helper is None or not helper.finish()) and state.rows:
            try:  # the helper could not run or died: draw here
                plot_curves(state.run_dir, state.rows)
            except Exception as exc:  # noqa: BLE001 -- plots are a convenience; never fail a run on them
                print(f"graphspec: warning: could not draw plots: {exc}", file=sys.stderr)


# ----------------------------------------------------------------- the helper process
def serve(run_dir: Path, stream=None) -> None:
    """Read metrics rows (JSON lines) from ``stream`` and redraw after each batch of them, until EOF."""
    stream = stream if stream is not None else sys.stdin
    rows: list[dict[str, Any]] = []
    lock = threading.Lock()
    changed = threading.Event()
    eof = threading.Event()

    def read() -> None:
        try:
            for row in messages(stream):
                with lock:
                    rows.append(row)
                changed.set()
        finally:
            eof.set()
            changed.set()

    threading.Thread(target=read, daemon=True).start()
    drawn = 0
    while True:
        changed.wait()
        changed.clear()
        done = eof.is_set()
        with lock:
            snap = list(rows)
        if len(snap) != drawn:
            t0 = time.perf_counter()
            plot_curves(run_dir, snap)
            drawn = len(snap)
            if not done:  # rest (waking at once at the end): at most 1/(1 + REST) of a core
                eof.wait(REST * (time.perf_counter() - t0))
        if done:
            return


if __name__ == "__main__":  # pragma: no cover -- run as the helper process
    try:
        serve(Path(sys.argv[1]))
    except BaseException:  # noqa: BLE001 -- the parent sees the exit code and redraws in-process
        sys.exit(1)
