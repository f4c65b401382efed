"""The background checkpoint writer: jobs run in order, one at a time; a job's error reaches the caller."""

from __future__ import annotations

import threading

import pytest

from graphspec.errors import GraphspecError
from graphspec.train.writer import BackgroundWriter


def test_jobs_run_in_order_one_at_a_time():
    done: list[int] = []
    running = threading.Lock()

    def job(i: int) -> None:
        assert running.acquire(blocking=False), "two jobs at once"
        try:
            done.append(i)
        finally:
            running.release()

    w = BackgroundWriter()
    for i in range(20):
        w.submit(job, i)
    w.wait()
    assert done == list(range(20))


def test_a_failed_write_is_raised_by_the_next_submit_or_wait(tmp_path):
    from graphspec.io import atomic_write

    w = BackgroundWriter()
    w.submit(atomic_write, tmp_path / "no-such-folder" / "last.state.pt", b"x")
    with pytest.raises(GraphspecError) as exc:
        w.wait()
    assert int(exc.value.exit_code) == 4 and "no-such-folder" in str(exc.value)
    w.wait()  # reported once
    w.submit(atomic_write, tmp_path / "ok.bin", b"y")
    w.wait()
    assert (tmp_path / "ok.bin").read_bytes() == b"y"
