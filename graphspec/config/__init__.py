"""The pydantic models of a spec's ``train:`` section, torch-free.

:mod:`graphspec.config.train` holds the sections every task shares
(optimizer, schedule, loss, data ...); :mod:`graphspec.config.tasks` holds each
task's own config and checks. ``graphspec.load()`` validates ``train:`` with
them, so ``graphspec validate`` reports ``train:`` mistakes without importing
the training stack.
"""

from graphspec.config.tasks import TaskSchema, register_schema, task_names, task_schema
from graphspec.config.train import TrainConfig

__all__ = ["TaskSchema", "TrainConfig", "register_schema", "task_names", "task_schema"]
