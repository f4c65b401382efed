"""Helper processes: work that watches a run (plots, event files) done beside the training loop.

A :class:`Helper` runs ``python -m MODULE ARGS...`` with a pipe on its stdin
and sends it JSON messages, one per line; the training process only pays a
``json.dumps`` and a pipe write. The helper reads until end of file (which it
also gets when the training process is killed, so it finishes what it was
sent) and exits 0 when all went well. It runs in its own session, so Ctrl-C
stops the run, which then closes the pipe and waits for the helper to finish.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class Helper:
    def __init__(self, module: str, *args: str) -> None:
        self.cmd = [sys.executable, "-m", module, *args]
        self._proc: subprocess.Popen | None = None
        self.broken = False

    def start(self) -> bool:
        """Start the process; False (and ``broken``) if it cannot run."""
        try:
            self._proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        except OSError:
            self.broken = True
        return not self.broken

    def send(self, *messages: Any) -> bool:
        """Send JSON messages; False once the helper is gone (the caller falls back)."""
        if self._proc is None or self.broken:
            return False
        try:
            self._proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
            self._proc.stdin.flush()
        except (OSError, ValueError):
            self.broken = True
        return not self.broken

    def finish(self, timeout: float = 300) -> bool:
        """Close the pipe and wait; True if the helper did everything it was sent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return False
        try:
            proc.stdin.close()
        except OSError:
            self.broken = True
        try:
            ok = proc.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            ok = False
        return ok and not self.broken


def messages(stream: TextIO) -> Iterator[Any]:
    """The JSON messages of a helper's stdin, until end of file."""
    for line in stream:
        if line.strip():
            yield json.loads(line)
