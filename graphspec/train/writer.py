"""Checkpoint files written behind the training loop.

Writing a checkpoint is mostly waiting for the disk (fsync of every file, so a
crash never loses a rename), tens of milliseconds per epoch, which would be a
tenth of a small model's epoch. The engine serializes the checkpoint in the
training thread (a snapshot: bytes) and hands the writing to this one
background thread, which runs one job at a time, in order. Submitting the
next job, or :meth:`wait`, first waits for the previous one and re-raises its
error (e.g. a full disk, exit 4) in the training thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class BackgroundWriter:
    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        """Run ``job(*args)`` in the background, after the previous job has finished."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(job, args), name="graphspec-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        """Block until the last job is done; raise its error, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _run(self, job: Callable[..., None], args: tuple) -> None:
        try:
            job(*args)
        except BaseException as exc:  # noqa: BLE001 -- handed to the training thread by wait()
            self._error = exc
