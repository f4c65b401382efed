"""Fault corpus, concurrency: run folders claimed once, concurrent writers never tear a file.

Two ``graphspec train`` with the same ``--name`` never share a folder (the
second is exit 2); with the default name they get distinct numbered folders.
A folder killed before its first checkpoint restarts in place with --resume.
"""

from __future__ import annotations

import json
import signal

import pytest
from harness import SPECS, expect, finish, kill_after, run_cli, start_cli, tiny_spec, wait_for

SPEC = SPECS / "digits_mlp.yaml"
# several epochs so the two runs overlap in time
SLOW = ["--set", "train.batch_size=16", "--epochs", "3", "--quiet", "--device", "cpu"]


def _train(tmp_path, *extra):
    return start_cli("train", SPEC, "--runs-dir", tmp_path / "runs", *SLOW, *extra, cwd=tmp_path)


def test_same_name_twice_at_once(tmp_path):
    a = _train(tmp_path, "--name", "same", "--epochs", "500")  # still running when b starts
    assert wait_for(tmp_path / "runs" / "same" / "spec.yaml", proc=a)
    rb = run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "same", *SLOW, cwd=tmp_path, timeout=300)
    alive = a.poll() is None
    kill_after(a, 0)
    assert alive, "the first run ended before the second one started"
    expect(rb, 2, names=["runs/same"], contains=["in use"])
    assert not (tmp_path / "runs" / "same-2").exists()


def test_default_names_are_distinct(tmp_path):
    a, b = _train(tmp_path), _train(tmp_path)
    ra, rb = finish(a, timeout=600), finish(b, timeout=600)
    expect(ra, 0)
    expect(rb, 0)
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["digits_mlp", "digits_mlp-2"]
    for f in folders:
        assert (tmp_path / "runs" / f / "results.json").is_file()


def test_resume_while_running_is_refused(tmp_path):
    a = _train(tmp_path, "--name", "busy", "--epochs", "500")
    assert wait_for(tmp_path / "runs" / "busy" / "last.state.pt", proc=a, timeout=300)
    r = run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "busy", "--resume", *SLOW, cwd=tmp_path, timeout=300)
    alive = a.poll() is None
    kill_after(a, 0)
    assert alive, "the first run ended before the resume started"
    expect(r, 2, contains=["in use"])


def test_killed_before_first_checkpoint_restarts_in_place(tmp_path):
    run_dir = tmp_path / "runs" / "early"
    a = _train(tmp_path, "--name", "early", "--set", "train.batch_size=1")
    assert wait_for(run_dir / "spec.yaml", proc=a)
    kill_after(a, 0)
    assert not (run_dir / "last.state.pt").exists()
    again = run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "early", *SLOW, cwd=tmp_path, timeout=300)
    expect(again, 2, names=["runs/early"], contains=["--resume", "no checkpoint"])
    restart = run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "early", "--resume", *SLOW, cwd=tmp_path, timeout=600)
    expect(restart, 0)
    assert (run_dir / "results.json").is_file()


def test_existing_finished_run_is_not_overwritten(tmp_path):
    expect(run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "done", "--epochs", "1", "--quiet", cwd=tmp_path, timeout=600), 0)
    before = (tmp_path / "runs" / "done" / "last.safetensors").read_bytes()
    r = run_cli("train", SPEC, "--runs-dir", tmp_path / "runs", "--name", "done", "--epochs", "1", "--quiet", cwd=tmp_path, timeout=300)
    expect(r, 2, contains=["--resume"])
    assert (tmp_path / "runs" / "done" / "last.safetensors").read_bytes() == before


@pytest.mark.parametrize("what", ["file", "through_file"])
def test_runs_dir_that_is_not_a_folder(tmp_path, what):
    (tmp_path / "runs").write_text("not a folder")
    runs = tmp_path / "runs" if what == "file" else tmp_path / "runs" / "sub"
    r = run_cli("train", SPEC, "--runs-dir", runs, "--quiet", cwd=tmp_path, timeout=300)
    expect(r, 4, names=["runs"])


def test_concurrent_schema_writers_never_tear(tmp_path):
    out = tmp_path / "schema.json"
    procs = [start_cli("schema", "-o", out, cwd=tmp_path) for _ in range(3)]
    for p in procs:
        expect(finish(p), 0)
    json.loads(out.read_text())
    assert not list(tmp_path.glob(".*.tmp"))


def test_concurrent_codegen_writers_never_tear(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "model.py"
    procs = [start_cli("codegen", spec, "-o", out, cwd=tmp_path) for _ in range(2)]
    for p in procs:
        expect(finish(p, timeout=300), 0)
    compile(out.read_text(), str(out), "exec")


def test_concurrent_exports_never_tear(tmp_path):
    onnx = pytest.importorskip("onnx")
    spec = tiny_spec(tmp_path)
    out = tmp_path / "tiny.onnx"
    procs = [start_cli("export", spec, "-o", out, "--no-parity", cwd=tmp_path) for _ in range(2)]
    for p in procs:
        expect(finish(p, timeout=300), 0)
    onnx.checker.check_model(onnx.load(str(out)))


def test_interrupt_is_exit_130_without_traceback(tmp_path):
    a = _train(tmp_path, "--name", "int")
    assert wait_for(tmp_path / "runs" / "int" / "spec.yaml", proc=a)
    a.send_signal(signal.SIGINT)
    r = finish(a, timeout=300)
    expect(r, 130, contains=["interrupted"])
