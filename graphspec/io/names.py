"""User strings that become file names stay file names.

A spec's ``name:``, ``--name`` of a run, graph and output names end up in paths
(``runs/NAME``, ``NAME.GRAPH.onnx``). They must be one plain path component:
letters, digits, ``_``, ``-``, ``.`` and ``+``, not starting with ``.`` or ``-``
(no hidden files, no option look-alikes), at most :data:`MAX_NAME` characters.
Anything else -- ``/``, ``..``, NUL, newlines, quotes -- is refused, so nothing
is ever written outside the folder the user chose.
"""

from __future__ import annotations

import re
from pathlib import Path

from graphspec.errors import GraphspecError, Location

MAX_NAME = 128
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]*")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a file name, or None when it can.

    >>> name_problem("resnet18-v2.1") is None, name_problem("../x")
    (True, "'../x' starts with '.'")
    """
    if not isinstance(name, str) or not name:
        return "a name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"the name is {len(name)} characters long; the limit is {MAX_NAME}"
    if name[0] in ".-":
        return f"{name!r} starts with {name[0]!r}"
    if not _SAFE.fullmatch(name):
        return f"{name!r} has characters other than letters, digits, '_', '-', '.', '+'"
    return None


def check_name(name: object, *, what: str, code: str = "bad-name", location: Location | None = None) -> str:
    """``name`` if it is a safe file name; else ``code`` (exit 3 ``bad-name``, or ``usage`` for options)."""
    problem = name_problem(name)
    if problem:
        raise GraphspecError.one(
            code,
            f"{what}: {problem}; it becomes a file name",
            location=location,
            hint="use letters, digits, '_', '-', '.' and '+' (e.g. my_model-v2)",
        )
    return name  # type: ignore[return-value]


def sanitize(name: str, default: str = "model") -> str:
    """A safe file name made from ``name`` (unsafe characters become '_'), for defaults only."""
    clean = re.sub(r"[^A-Za-z0-9_.+\-]", "_", name or "")[:MAX_NAME].lstrip(".-")
    return clean or default


def safe_join(folder: str | Path, name: str, *, what: str, code: str = "bad-name") -> Path:
    """``folder / name`` after checking ``name`` is one safe component (never a path out)."""
    return Path(folder) / check_name(name, what=what, code=code)
