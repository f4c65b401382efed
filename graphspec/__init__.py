"""graphspec: neural networks as YAML computation graphs.

>>> import graphspec
>>> spec = graphspec.load("specs/lenet5.yaml", set={"params.classes": 10})  # doctest: +SKIP
>>> model = spec.to_torch()  # doctest: +SKIP
>>> run = graphspec.train("digits_mlp", epochs=2)  # doctest: +SKIP
>>> run.evaluate()["test_accuracy"]  # doctest: +SKIP

The API (docs/api.md): :func:`load`, :func:`train` -> :class:`Run`,
:func:`export`, ``Run.open(path)``, ``spec.inspect()``. Importing graphspec
imports no torch; the functions import it when called.
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
    from graphspec.pipeline import load as _load
    from graphspec.zoo import resolve_spec_path

    if text is None:
        path = resolve_spec_path(path)
    return _load(path, set, text=text)


# The API proper lives in graphspec.api; ``graphspec.train`` is the training
# package made callable (see graphspec/train/__init__.py), because importing
# any graphspec.train.* module rebinds that name to the package.
from graphspec import train  # noqa: E402
from graphspec.api import Run, export  # noqa: E402

__all__ = ["load", "train", "export", "Run", "__version__"]
