"""``train:`` expressions: resolved with the spec's params before the section is validated.

Kept apart from :mod:`graphspec.pipeline.train` so that loading a spec without
``train:`` never imports the config models (``graphspec validate`` start-up).
"""

from __future__ import annotations

from typing import Any

from graphspec.errors import Collector
from graphspec.spec.expr import ExprError, resolve
from graphspec.spec.yamlload import LocatedTree


def resolve_train(raw: Any, params: dict[str, Any], tree: LocatedTree, out: Collector) -> Any:
    """``train:`` with its ``${...}`` expressions evaluated against the spec's params."""
    try:
        return resolve(raw, params)
    except ExprError as exc:
        out.add(exc.code, str(exc), location=tree.loc(("train",)), hint=exc.hint)
        return None
