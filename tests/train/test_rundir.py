"""Run folders are claimed atomically and locked while their run lives."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from graphspec.errors import GraphspecError
from graphspec.train import rundir


@pytest.fixture(autouse=True)
def _settle():
    yield
    rundir.settle_claims()


def test_default_names_number_past_existing(tmp_path):
    a = rundir.claim_run_dir("net", tmp_path, None, False)
    b = rundir.claim_run_dir("net", tmp_path, None, False)
    assert (a.name, b.name) == ("net", "net-2") and a.is_dir() and b.is_dir()


def test_unsafe_spec_name_is_sanitized_for_the_default(tmp_path):
    assert rundir.claim_run_dir("../x y", tmp_path, None, False).parent == tmp_path


def test_named_folder_with_checkpoint_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "last.state.pt").write_bytes(b"x")
    with pytest.raises(GraphspecError, match="already exists") as info:
        rundir.claim_run_dir("net", tmp_path, "r", False)
    assert info.value.exit_code == 2 and "--resume" in info.value.diagnostics[0].hint


def test_named_folder_without_checkpoint_says_how_to_restart(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "spec.yaml").write_text("x")
    with pytest.raises(GraphspecError, match="no checkpoint") as info:
        rundir.claim_run_dir("net", tmp_path, "r", False)
    assert "--resume" in info.value.diagnostics[0].hint
    assert rundir.claim_run_dir("net", tmp_path, "r", True) == tmp_path / "r"  # --resume restarts it


def test_empty_named_folder_is_reused(tmp_path):
    (tmp_path / "r").mkdir()
    assert rundir.claim_run_dir("net", tmp_path, "r", False) == tmp_path / "r"


def test_folder_locked_by_a_live_process_is_in_use(tmp_path):
    (tmp_path / "r").mkdir()
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / 'r')!r}, os.O_RDONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for resume in (False, True):
            with pytest.raises(GraphspecError, match="in use") as info:
                rundir.claim_run_dir("net", tmp_path, "r", resume)
            assert info.value.exit_code == 2
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.05)
    assert rundir.claim_run_dir("net", tmp_path, "r", True) == tmp_path / "r"  # the lock died with it


def test_settle_removes_only_empty_folders_it_created(tmp_path):
    a = rundir.claim_run_dir("net", tmp_path, None, False)
    b = rundir.claim_run_dir("net", tmp_path, None, False)
    (b / "spec.yaml").write_text("x")
    rundir.settle_claims()
    assert not a.exists() and b.exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".h", ""])
def test_bad_names_are_usage_errors(tmp_path, name):
    with pytest.raises(GraphspecError) as info:
        rundir.claim_run_dir("net", tmp_path, name, False)
    assert info.value.exit_code == 2


def test_runs_dir_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("x")
    with pytest.raises(GraphspecError) as info:
        rundir.claim_run_dir("net", tmp_path / "runs", None, False)
    assert info.value.exit_code == 4 and "runs" in str(info.value)
