"""Training tasks by name: classify, regress, sequence (supervised.py), vae, gan, dqn.

See :mod:`graphspec.train.tasks.base` for the interface and the registry.
"""

from graphspec.train.tasks.base import Task, TrainContext, get_task, register_task, task_names

__all__ = ["Task", "TrainContext", "get_task", "register_task", "task_names"]
