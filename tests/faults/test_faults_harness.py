"""The harness itself can fail: a wrong exit code, a traceback or a hang is caught."""

from __future__ import annotations

import pytest
from harness import Result, expect, run_cli, tiny_spec


def test_clean_run_passes(tmp_path):
    r = run_cli("validate", tiny_spec(tmp_path), cwd=tmp_path)
    expect(r, 0, names=["tiny.yaml"])


def test_wrong_code_fails():
    with pytest.raises(AssertionError, match="expected exit"):
        expect(Result(["x"], 3, "", "a.yaml: error", 0.1), 4)


def test_exit_one_fails():
    with pytest.raises(AssertionError, match="internal error"):
        expect(Result(["x"], 1, "", "graphspec: internal error: boom", 0.1), 1)


def test_traceback_fails():
    with pytest.raises(AssertionError, match="traceback"):
        expect(Result(["x"], 4, "", "Traceback (most recent call last):\n  File", 0.1), 4)


def test_unnamed_file_fails():
    with pytest.raises(AssertionError, match="does not name"):
        expect(Result(["x"], 4, "", "error: no such file", 0.1), 4, names=["a.yaml"])


def test_hang_fails(tmp_path):
    with pytest.raises(AssertionError, match="hang"):
        # Python alone takes longer than 10 ms to start, so this run "hangs".
        run_cli("validate", tiny_spec(tmp_path), cwd=tmp_path, timeout=0.01)
