"""A SIGALRM deadline for tests that prove a hostile input cannot hang."""

from __future__ import annotations

import signal
from contextlib import contextmanager


class Hang(Exception):
    """The guarded code ran past its deadline."""


@contextmanager
def time_limit(seconds: float, what: str = "the call"):
    def on_alarm(signum, frame):
        raise Hang(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
