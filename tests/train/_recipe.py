"""Helpers shared by the task tests: a zoo recipe shrunk to a tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train.engine import RunOptions, train

SPECS = Path(__file__).resolve().parents[2] / "specs"


class Recipe:
    """``specs/<name>.yaml`` with ``tiny`` overrides applied to every load."""

    def __init__(self, name: str, tiny: dict):
        self.spec = SPECS / f"{name}.yaml"
        self.tiny = tiny

    def load(self, **sets):
        return graphspec.load(str(self.spec), set={**self.tiny, **sets})

    def run(self, tmp_path, name="r", resume=False, **sets):
        return train(self.load(**sets), RunOptions(name=name, runs_dir=str(tmp_path), quiet=True, resume=resume))


def messages(load, **sets) -> list[str]:
    """The messages of the config errors loading the spec with ``sets`` raises (load() checks train:)."""
    with pytest.raises(GraphspecError) as exc:
        load(**sets)
    return [d.message for d in exc.value.diagnostics]
