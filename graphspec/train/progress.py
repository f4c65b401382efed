"""Training progress: a rich progress bar with ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any


def fmt_metrics(row: dict[str, Any], keys=None) -> str:
    parts = []
    for k, v in row.items():
        if keys is not None and k not in keys:
            continue
        if k in ("epoch", "step", "wall_s", "epoch_s", "lr"):
            continue
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}" if "accuracy" not in k else f"{k} {v:.4f}")
    return "  ".join(parts)


class Progress:
    """``mode``: "rich" (bars, a TTY), "plain" (one line per epoch) or "quiet"."""

    def __init__(self, mode: str, epochs: int, stream=None):
        self.mode = mode
        self.epochs = epochs
        self.stream = stream or sys.stderr
        self._bar = None
        self._task = None
        self._t0 = time.perf_counter()

    @classmethod
    def auto(cls, epochs: int, quiet: bool, stream=None) -> "Progress":
        stream = stream or sys.stderr
        if quiet:
            return cls("quiet", epochs, stream)
        return cls("rich" if getattr(stream, "isatty", lambda: False)() else "plain", epochs, stream)

    def log(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self._bar is not None:
            self._bar.console.print(text, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def start(self) -> None:
        if self.mode != "rich":
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._bar.start()
        self._overall = self._bar.add_task("run", total=self.epochs, info="")

    def begin_epoch(self, epoch: int, batches: int | None, done_epochs: int = 0) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._bar.update(self._overall, completed=done_epochs)
        self._task = self._bar.add_task(f"epoch {epoch + 1}/{self.epochs}", total=batches, info="")
        self._n = 0

    def step(self, loss: float | None = None) -> None:
        if self._bar is None:
            return
        self._n += 1
        if self._n % 5 == 0 or loss is None:
            self._bar.update(self._task, completed=self._n, info=f"loss {loss:.4g}" if loss is not None else "")

    def end_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        text = f"epoch {epoch + 1}/{self.epochs}  {fmt_metrics(row)}  ({row.get('epoch_s', 0):.1f}s)"
        if self._bar is not None:
            self._bar.update(self._task, completed=self._bar.tasks[-1].total or self._n)
            self._bar.update(self._overall, completed=epoch + 1, info=fmt_metrics(row, {"val_loss", "val_accuracy"}))
            self._bar.console.print(text, highlight=False)
        else:
            self.log(text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
