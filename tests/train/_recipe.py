"""Helpers shared by the task tests: a zoo recipe shrunk to a tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train.engine import RunOptions, resolve_config, train

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


def messages(spec) -> list[str]:
    """The messages of the config errors a spec's train: section raises."""
    with pytest.raises(GraphspecError) as exc:
        resolve_config(spec)
    return [d.message for d in exc.value.diagnostics]
