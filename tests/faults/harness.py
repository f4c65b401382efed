"""Fault-corpus harness: run the real ``graphspec`` CLI on hostile inputs, capped.

How to add cases
----------------
Write a ``tests/faults/test_faults_<surface>.py`` file. Each case runs the CLI in
a subprocess (cwd = a fresh tmp folder) under a wall timeout and an address-space
cap, then asserts the documented outcome::

    from harness import expect, run_cli  # pytest puts tests/faults on sys.path

    def test_spec_is_a_fifo(tmp_path):
        fifo = tmp_path / "pipe.yaml"; os.mkfifo(fifo)
        r = run_cli("validate", str(fifo), cwd=tmp_path)
        expect(r, 4, names=["pipe.yaml"])

``expect`` checks the exit code, that it is never 1 ("internal error"), that no
Python traceback leaked, and that the message names the file(s) given. For
write/kill cases, ``start_cli`` returns a Popen you can SIGKILL at a chosen
moment, and ``snapshot``/``assert_intact`` check that a previous artifact
survived byte for byte. ``run_cli(..., fsize=N)`` simulates a full disk
(``prlimit --fsize``: writes past N bytes fail with EFBIG).

Keep cases fast: CI runs the corpus with ``pytest -n 2`` inside a 90-minute
budget. Cases that never reach torch (validate, schema, file checks) take well
under a second of CPU; group the torch-needing ones (train/export/infer) in
their own files and prefer the smallest specs (``tiny_spec()`` below).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
PRLIMIT = shutil.which("prlimit")

DEFAULT_TIMEOUT = 90.0  # seconds of wall time; a hang fails the case
DEFAULT_MEM = 3 * 1024**3  # address-space cap; torch + onnxruntime fit in it

# Exit codes graphspec documents (docs/cli.md); 1 is never acceptable.
DOCUMENTED = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 130}


@dataclass
class Result:
    """What one CLI run did."""

    args: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return (
            f"graphspec {' '.join(self.args)}\n-> exit {self.rc} in {self.seconds:.1f}s\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GRAPHSPEC_DEBUG", None)  # tracebacks would hide the exit code under test
    env["GRAPHSPEC_PROVIDER"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def command(args: Sequence[str], *, mem: int | None = DEFAULT_MEM, fsize: int | None = None) -> list[str]:
    """The argv that runs ``graphspec args`` under the resource caps."""
    cmd = [sys.executable, "-m", "graphspec", *map(str, args)]
    limits = []
    if mem:
        limits.append(f"--as={int(mem)}")
    if fsize is not None:
        limits.append(f"--fsize={int(fsize)}")
    if limits and PRLIMIT:
        cmd = [PRLIMIT, *limits, "--", *cmd]
    return cmd


def run_cli(
    *args,
    cwd: str | Path,
    timeout: float = DEFAULT_TIMEOUT,
    mem: int | None = DEFAULT_MEM,
    fsize: int | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Result:
    """Run ``graphspec *args`` in ``cwd`` under a wall timeout and memory cap.

    A run past ``timeout`` is killed and fails the test as a hang.
    """
    args = [str(a) for a in args]
    start = time.monotonic()
    proc = subprocess.Popen(
        command(args, mem=mem, fsize=fsize),
        cwd=str(cwd),
        env=_env(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"hang: graphspec {' '.join(args)} ran past {timeout}s\n{err[-2000:]}")
    return Result(args, proc.returncode, out, err, time.monotonic() - start)


def start_cli(*args, cwd: str | Path, mem: int | None = DEFAULT_MEM, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``graphspec *args`` without waiting (for kill and concurrency cases)."""
    return subprocess.Popen(
        command([str(a) for a in args], mem=mem),
        cwd=str(cwd),
        env=_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Wait for a process from :func:`start_cli` and return its :class:`Result`."""
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"hang: {proc.args} ran past {timeout}s\n{err[-2000:]}")
    return Result([str(a) for a in proc.args], proc.returncode, out, err, time.monotonic() - start)


def kill_after(proc: subprocess.Popen, seconds: float, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group after ``seconds`` (if still running), then reap it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    proc.communicate(timeout=DEFAULT_TIMEOUT)


def wait_for(path: Path, timeout: float = DEFAULT_TIMEOUT, proc: subprocess.Popen | None = None) -> bool:
    """Poll until ``path`` exists (or ``proc`` ends); True when it appeared."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if proc is not None and proc.poll() is not None:
            return path.exists()
        time.sleep(0.02)
    return False


def expect(
    r: Result,
    code: int | Iterable[int],
    *,
    names: Iterable[str] = (),
    contains: Iterable[str] = (),
) -> None:
    """Assert the documented outcome: exit ``code``, no exit 1, no traceback, named files."""
    codes = {code} if isinstance(code, int) else set(code)
    assert r.rc != 1, f"internal error (exit 1):\n{r}"
    assert r.rc in codes, f"expected exit {sorted(codes)}, got {r.rc}:\n{r}"
    assert r.rc in DOCUMENTED, f"undocumented exit code {r.rc}:\n{r}"
    assert "Traceback (most recent call last)" not in r.output, f"traceback leaked:\n{r}"
    assert "internal error" not in r.output, f"internal error reported:\n{r}"
    for name in names:
        assert str(name) in r.output, f"message does not name {name!r}:\n{r}"
    for text in contains:
        assert text in r.output, f"output lacks {text!r}:\n{r}"


def snapshot(paths: Iterable[Path]) -> dict[Path, bytes]:
    """The bytes of each existing file, to compare after a kill or a full disk."""
    return {Path(p): Path(p).read_bytes() for p in paths if Path(p).is_file()}


def assert_intact(before: dict[Path, bytes]) -> None:
    """Every file of ``before`` still holds exactly its old bytes."""
    for p, data in before.items():
        assert p.is_file(), f"{p} was lost"
        assert p.read_bytes() == data, f"{p} was changed or torn"


def leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write left behind (should be none after a clean exit)."""
    return sorted(p.name for p in Path(folder).rglob(".*.tmp"))


TINY_SPEC = """\
graphspec: 1
name: tiny
inputs:
  x: {shape: [batch, 4]}
nodes:
  fc: {op: Linear, in: x, out_features: 3}
outputs: [fc]
"""


def tiny_spec(folder: Path, name: str = "tiny.yaml", text: str = TINY_SPEC) -> Path:
    """Write a minimal valid spec (no train: section) and return its path."""
    p = Path(folder) / name
    p.write_text(text)
    return p


def tiny_onnx(folder: Path, name: str = "tiny.onnx") -> Path:
    """A one-node ONNX model (Relu over x [batch, 4]) built without torch."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    p = Path(folder) / name
    onnx.save(model, str(p))
    return p


def hostile_path(kind: str, folder: Path, suffix: str = ".yaml") -> Path:
    """A path that is not a readable regular file, of the given ``kind`` (see HOSTILE_KINDS)."""
    import socket

    folder = Path(folder)
    p = folder / f"hostile_{kind}{suffix}"
    if kind == "missing":
        pass
    elif kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)  # no writer: a plain open() for reading blocks forever
    elif kind == "dev_zero":
        p.symlink_to("/dev/zero")  # endless bytes
    elif kind == "dev_null":
        p.symlink_to("/dev/null")
    elif kind == "symlink_to_fifo":
        os.mkfifo(folder / "real_fifo")
        p.symlink_to(folder / "real_fifo")
    elif kind == "symlink_loop":
        p.symlink_to(folder / f"loop_b{suffix}")
        (folder / f"loop_b{suffix}").symlink_to(p)
    elif kind == "dangling_symlink":
        p.symlink_to(folder / "nowhere")
    elif kind == "through_a_file":
        (folder / "plainfile").write_text("x")
        p = folder / "plainfile" / f"x{suffix}"
    elif kind == "name_too_long":
        p = folder / ("n" * 300 + suffix)
    elif kind == "sparse_huge":
        with open(p, "wb") as f:  # 100 GiB claimed, nothing on disk: over every size limit
            f.truncate(100 * 1024**3)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))  # the socket file stays after close
        s.close()
    else:  # pragma: no cover
        raise ValueError(kind)
    return p


HOSTILE_KINDS = [
    "missing", "directory", "fifo", "dev_zero", "dev_null", "symlink_to_fifo", "symlink_loop",
    "dangling_symlink", "through_a_file", "name_too_long", "sparse_huge", "socket",
]
