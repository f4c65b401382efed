"""Shared helpers for the training tests (fixtures only; no behaviour changes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def run_cli(*argv: str) -> int:
    """graphspec in this process; returns the exit code."""
    from graphspec.cli.main import main

    return main([str(a) for a in argv])


def run_subprocess(*argv: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "graphspec", *map(str, argv)], capture_output=True, text=True, timeout=timeout, env=env, **kw)


def last_json(text: str) -> dict:
    """The JSON object a --json command printed (the last top-level object in the text)."""
    start = text.rfind("\n{")
    start = 0 if start < 0 and text.startswith("{") else start + 1
    return json.loads(text[start:])


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def tiny_mlp_args():
    """A fast digits run: the zoo MLP, 2 epochs."""
    return [str(SPECS / "digits_mlp.yaml"), "--set", "train.epochs=2", "--quiet"]
