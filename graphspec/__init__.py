"""graphspec: neural networks as YAML computation graphs.

>>> import graphspec
>>> spec = graphspec.load("specs/lenet5.yaml", set={"params.classes": 10})  # doctest: +SKIP
>>> model = spec.to_torch()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

__version__ = "0.1.0"

if TYPE_CHECKING:
    from graphspec.graph.model import Spec


def load(path: str, set: Mapping[str, Any] | None = None, *, text: str | None = None) -> "Spec":  # noqa: A002
    """Load, validate and analyse a spec; raises GraphspecError listing every problem.

    ``path`` is a spec file or the name of a zoo model (``"lenet5"``).
    """
    from graphspec.spec.loader import load as _load
    from graphspec.zoo import resolve_spec_path

    if text is None:
        path = resolve_spec_path(path)
    return _load(path, set, text=text)
