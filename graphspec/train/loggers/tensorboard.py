"""TensorBoard event files in the run folder: ``tensorboard --logdir runs`` shows every run.

Scalars (tags):

- ``step/train_loss`` (and the task's other per-step logs, e.g. ``step/train_loss_d``),
  ``step/lr``: one point per optimizer step;
- ``epoch/<column>``: every metrics.jsonl column (``train_loss``, ``val_loss``,
  ``val_accuracy``, ``lr`` ...) once per epoch, at the global step the epoch ended
  on (so they line up with the per-step curves; ``epoch/epoch`` gives the epoch);
- the spec's ``params`` and the resolved ``train:`` options as HParams (with
  ``epoch/val_*``/``epoch/train_*`` as its metrics), and the resolved spec as text.

Per-step values are buffered in memory and sent once per epoch to a helper
process (:mod:`graphspec.train.loggers.tbevents`) that writes the event file:
tensorboard checksums every record in pure Python, which the training loop
should not pay for (with thousands of steps per epoch it would be seconds). The
loop pays a list append per step and one pipe write per epoch. A resumed run
purges the events past its checkpoint's step (``purge_step``), so a killed
epoch does not show twice.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from graphspec.train.callbacks import Callback
from graphspec.train.helper import Helper
from graphspec.train.loggers import require, run_params

_SKIP = {"step", "epoch_s", "wall_s"}


class TensorBoardLogger(Callback):
    def __init__(self) -> None:
        require("tensorboard", "tensorboard", "pip install tensorboard, or turn it off with --set 'train.loggers=[]'")
        self._helper: Helper | None = None
        self._sink = None  # in-process EventSink, when the helper cannot run
        self._steps: list[tuple[int, float, dict[str, float], float | None]] = []
        self._hparams_done = False

    # ---- hooks ---------------------------------------------------------------
    def on_train_start(self, state: Any) -> None:
        resumed = state.epoch > 0
        purge = state.step + 1 if resumed else None
        self._hparams_done = resumed  # written by the first session
        self._helper = Helper("graphspec.train.loggers.tbevents", str(state.run_dir), str(purge) if purge is not None else "-")
        if not self._helper.start():
            self._in_process(state, purge)
        if not resumed:
            self._send({"text": ["spec", _as_markdown(_spec_text(state))]}, state)

    def on_step_end(self, state: Any, logs: dict[str, float]) -> None:
        self._steps.append((state.step, time.time(), logs, state.lr()))

    def on_epoch_end(self, state: Any, logs: dict[str, Any]) -> None:
        values = {f"epoch/{k}": float(v) for k, v in logs.items() if k not in _SKIP and isinstance(v, (int, float))}
        msg: dict[str, Any] = {"scalars": self._step_scalars() + [[int(logs["step"]), time.time(), values]]}
        if not self._hparams_done:
            msg["hparams"] = [run_params(state), [k for k in values if k.startswith(("epoch/train_", "epoch/val_"))]]
            self._hparams_done = True
        self._send(msg, state)

    def on_train_end(self, state: Any, result: dict[str, Any]) -> None:
        self._close(state, "success")

    def on_train_error(self, state: Any, error: BaseException) -> None:
        self._close(state, "failure")

    # ---- sending -------------------------------------------------------------
    def _step_scalars(self) -> list[list]:
        out = []
        for step, wall, logs, lr in self._steps:
            values = {f"step/train_{k}": v for k, v in logs.items()}
            if lr is not None:
                values["step/lr"] = lr
            out.append([step, wall, values])
        self._steps.clear()
        return out

    def _send(self, msg: dict[str, Any], state: Any) -> None:
        if self._sink is None and self._helper is not None and self._helper.send(msg):
            return
        if self._sink is None:  # the helper is gone: write the rest here
            self._in_process(state, None)
        self._sink.handle(msg)

    def _in_process(self, state: Any, purge: int | None) -> None:
        from graphspec.train.loggers.tbevents import EventSink

        self._sink = EventSink(state.run_dir, purge)

    def _close(self, state: Any, status: str) -> None:
        if self._helper is None and self._sink is None:
            return
        msg: dict[str, Any] = {"end": status}
        if self._steps:  # an epoch cut short (diverged, interrupted)
            msg["scalars"] = self._step_scalars()
        self._send(msg, state)
        helper, self._helper = self._helper, None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        elif helper is not None and not helper.finish():
            print("graphspec: warning: the TensorBoard event writer failed; the event file may be incomplete", file=sys.stderr)


def _spec_text(state: Any) -> str:
    path = state.run_dir / "spec.yaml"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"(no {path})"


def _as_markdown(text: str) -> str:
    # TensorBoard renders text as Markdown: an indented block keeps the YAML as is
    return "\n".join("    " + line for line in text.splitlines())
