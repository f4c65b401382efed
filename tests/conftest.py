import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# Tests never need a GPU and must not spam CUDA loader errors on CPU machines.
os.environ.setdefault("GRAPHSPEC_PROVIDER", "cpu")


@pytest.fixture
def specs_dir() -> Path:
    return SPECS


def zoo_files():
    return sorted(p for p in SPECS.glob("*.yaml"))
