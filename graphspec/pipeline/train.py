"""The ``train:`` stage of ``load()``: resolve expressions, validate with the task's model, check against the graphs.

Runs on every load, torch-free, so ``graphspec validate`` reports a misspelt
task or field with the same located errors ``graphspec train`` would.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from graphspec.config.tasks import task_names, task_schema
from graphspec.config.train import TrainConfig
from graphspec.diagnostics import translate
from graphspec.pipeline.expressions import resolve_train  # noqa: F401 - part of this stage's API
from graphspec.errors import Collector, did_you_mean
from graphspec.graph.model import Spec
from graphspec.spec.yamlload import LocatedTree

PREFIX = ("train",)


def validate_train(train: Any, tree: LocatedTree | None, out: Collector) -> TrainConfig | None:
    """The task's config model for a resolved ``train:`` mapping; problems go to ``out``."""

    def where(loc: tuple = (), key: bool = False):
        return tree.loc(PREFIX + tuple(loc), key=key) if tree is not None else None

    if not isinstance(train, dict):
        out.add("bad-type", f"'train' must be a mapping. Received: {type(train).__name__}", location=where())
        return None
    task = train.get("task")
    if task is None:
        out.add("missing-field", "missing field 'train.task'", location=where(), hint="tasks: " + ", ".join(task_names()))
        return None
    schema = task_schema(task) if isinstance(task, str) else None
    if schema is None:
        hint = did_you_mean(task, task_names()) if isinstance(task, str) else None
        out.add("bad-value", f"train.task: unknown task {task!r}", location=where(("task",)), hint=hint or "tasks: " + ", ".join(task_names()))
        return None
    try:
        return schema.Config.model_validate(train)
    except ValidationError as exc:
        translate(exc, schema.Config, train, where, out, prefix=PREFIX)
        return None


def check_against_spec(cfg: TrainConfig, spec: Spec, tree: LocatedTree | None, out: Collector) -> None:
    """The task's checks between its config and the spec's graphs (graph names, outputs ...)."""
    schema = task_schema(cfg.task)
    for loc, msg in schema.check_config(cfg, spec) if schema else ():
        where = tree.loc(PREFIX + tuple(loc)) if tree is not None else None
        out.add("bad-value", f"{'.'.join(PREFIX + tuple(map(str, loc)))}: {msg}", location=where)
