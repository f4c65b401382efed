"""Hooks into the training engine: loggers, pruning, anything that watches a run.

A callback subclasses :class:`Callback` and overrides the methods it needs;
``RunOptions(callbacks=[...])`` hands it to :func:`graphspec.train.engine.train`.
Callbacks run on the main process only (rank 0 under DDP), in list order, and
receive the engine's :class:`~graphspec.train.engine.RunState` (``run_dir``,
``spec``, ``cfg``, ``task``, ``model``, ``optimizer``, ``epoch``, ``step``,
``rows`` ...). The order of calls::

    on_train_start(state)                 # after setup and any resume, before the first epoch
    on_step_end(state, logs)              # after every optimizer step: {"loss": float, ...}
    on_epoch_end(state, logs)             # the epoch's metrics row, before its checkpoint is written
    on_train_end(state, result)           # the final result (results.json), after the test metrics
    on_train_error(state, error)          # instead of on_train_end when the run fails (diverged, interrupted)

``on_epoch_end`` may raise :class:`StopTraining` to end the run cleanly after
that epoch: its checkpoint is still written, the final test metrics are computed
and the result says ``"stopped": reason`` (a resumed run stays stopped, as after
early stopping). Example, stop once validation accuracy reaches 0.98::

    class StopAt(Callback):
        def on_epoch_end(self, state, logs):
            if logs.get("val_accuracy", 0.0) >= 0.98:
                raise StopTraining("target accuracy reached")
"""

from __future__ import annotations

from typing import Any


class StopTraining(Exception):
    """Raised by a callback's ``on_epoch_end``: end the run after this epoch, cleanly."""

    def __init__(self, reason: str = "stopped by a callback"):
        super().__init__(reason)
        self.reason = reason


class Callback:
    """Base class: every hook is a no-op."""

    def on_train_start(self, state: Any) -> None:
        pass

    def on_step_end(self, state: Any, logs: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, state: Any, logs: dict[str, Any]) -> None:
        pass

    def on_train_end(self, state: Any, result: dict[str, Any]) -> None:
        pass

    def on_train_error(self, state: Any, error: BaseException) -> None:
        pass


def _overrides(cb: Callback, name: str) -> bool:
    return getattr(type(cb), name, None) is not getattr(Callback, name)


class CallbackList:
    """Calls each hook on every callback in order; per-step hooks only on those that define one
    (the step hook runs in the hot loop)."""

    def __init__(self, callbacks: list[Callback] | None = None):
        self.callbacks = list(callbacks or [])
        self.step_listeners = [cb for cb in self.callbacks if _overrides(cb, "on_step_end")]

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def on_train_start(self, state: Any) -> None:
        for cb in self.callbacks:
            cb.on_train_start(state)

    def on_step_end(self, state: Any, logs: dict[str, float]) -> None:
        for cb in self.step_listeners:
            cb.on_step_end(state, logs)

    def on_epoch_end(self, state: Any, logs: dict[str, Any]) -> str | None:
        """Calls every callback (even after one asked to stop); returns the first stop reason, if any."""
        reason = None
        for cb in self.callbacks:
            try:
                cb.on_epoch_end(state, logs)
            except StopTraining as stop:
                reason = reason or stop.reason
        return reason

    def on_train_end(self, state: Any, result: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_train_end(state, result)

    def on_train_error(self, state: Any, error: BaseException) -> None:
        """Every callback gets to clean up; a failing one is reported, not raised over the real error."""
        for cb in self.callbacks:
            try:
                cb.on_train_error(state, error)
            except Exception as exc:  # noqa: BLE001 -- the run's own error is the one to show
                _warn(f"{type(cb).__name__} could not clean up: {exc}")


def _warn(text: str) -> None:
    import sys

    print(f"graphspec: warning: {text}", file=sys.stderr, flush=True)
