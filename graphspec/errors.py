"""One error type for the whole pipeline: a stable code, a message, a place.

Every problem graphspec reports -- in a spec, a file, an argument, a checkpoint --
is a :class:`Diagnostic`. Code that finds problems collects diagnostics and raises
one :class:`GraphspecError` carrying all of them, so a user sees every problem of
a pass at once. The CLI turns the error into ``file:line:col: code: message``
lines and an exit code chosen by the kind of failure (see :class:`ExitCode`).

This module imports nothing from graphspec, so every layer can use it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, Sequence


class ExitCode(IntEnum):
    """Process exit codes, one per kind of failure (documented in docs/cli.md)."""

    OK = 0
    INTERNAL = 1  # a bug in graphspec: please report it
    USAGE = 2  # bad command line
    SPEC = 3  # the spec is invalid (syntax, schema, references, shapes ...)
    FILE = 4  # a file is missing, unreadable or not what it claims to be
    DATA = 5  # input data do not match the model (shapes, dtypes, names)
    PARITY = 6  # exported model disagrees with PyTorch beyond tolerance
    DIVERGED = 7  # training produced a NaN/Inf loss
    CHECKPOINT = 8  # a checkpoint or run folder is corrupt or incompatible
    DEPENDENCY = 9  # an optional dependency or a requested provider is absent
    UNSUPPORTED = 10  # graphspec import: the model uses something no op expresses
    INTERRUPTED = 130  # Ctrl-C


# Stable error codes and the exit code each maps to. The code is what users
# grep for and what the bad-spec corpus asserts; never renumber or rename.
ERROR_CODES: dict[str, ExitCode] = {
    # loading
    "file-not-found": ExitCode.FILE,
    "file-unreadable": ExitCode.FILE,
    "file-exists": ExitCode.FILE,
    "file-too-large": ExitCode.FILE,
    "file-write": ExitCode.FILE,  # disk full, permission, not a folder: names the path
    "encoding": ExitCode.SPEC,
    "yaml-syntax": ExitCode.SPEC,
    "yaml-tab": ExitCode.SPEC,
    "yaml-tag": ExitCode.SPEC,
    "yaml-duplicate-key": ExitCode.SPEC,
    "yaml-key-type": ExitCode.SPEC,
    "yaml-too-deep": ExitCode.SPEC,
    "yaml-too-large": ExitCode.SPEC,
    "yaml-alias-cycle": ExitCode.SPEC,
    "yaml-multi-document": ExitCode.SPEC,
    # schema
    "schema": ExitCode.SPEC,
    "unknown-field": ExitCode.SPEC,
    "missing-field": ExitCode.SPEC,
    "bad-type": ExitCode.SPEC,
    "bad-value": ExitCode.SPEC,
    "bad-name": ExitCode.SPEC,
    "version": ExitCode.SPEC,
    # expressions and parameters
    "expr-syntax": ExitCode.SPEC,
    "expr-forbidden": ExitCode.SPEC,
    "expr-name": ExitCode.SPEC,
    "expr-value": ExitCode.SPEC,
    "expr-zero-division": ExitCode.SPEC,
    "param-missing": ExitCode.SPEC,
    "param-unknown": ExitCode.SPEC,
    "param-type": ExitCode.SPEC,
    "override": ExitCode.USAGE,
    # structure
    "unknown-op": ExitCode.SPEC,
    "unknown-ref": ExitCode.SPEC,
    "unknown-port": ExitCode.SPEC,
    "unknown-graph": ExitCode.USAGE,
    "unknown-output": ExitCode.USAGE,
    "arity": ExitCode.SPEC,
    "cycle": ExitCode.SPEC,
    "import-cycle": ExitCode.SPEC,
    "import": ExitCode.SPEC,
    "block": ExitCode.SPEC,
    "share": ExitCode.SPEC,
    "too-large": ExitCode.SPEC,
    # analysis
    "shape": ExitCode.SPEC,
    "shape-nonpositive": ExitCode.SPEC,
    "dtype": ExitCode.SPEC,
    # warnings (never change the exit code)
    "unused-node": ExitCode.OK,
    "unused-input": ExitCode.OK,
    # outside the spec
    "usage": ExitCode.USAGE,
    "data": ExitCode.DATA,
    "parity": ExitCode.PARITY,
    "diverged": ExitCode.DIVERGED,
    "checkpoint": ExitCode.CHECKPOINT,
    "dependency": ExitCode.DEPENDENCY,
    "provider": ExitCode.DEPENDENCY,
    "export": ExitCode.SPEC,
    "import-unsupported": ExitCode.UNSUPPORTED,  # graphspec import: a module, call or trace no op maps
    "import-callable": ExitCode.USAGE,  # graphspec import: PACKAGE.MODULE:CALLABLE missing, failing or not a model
    "internal": ExitCode.INTERNAL,
}


@dataclass(frozen=True)
class Location:
    """A place in a text file; line and column are 1-based."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    override: str | None = None  # the --set KEY=VALUE that put the value here

    def __str__(self) -> str:
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


@dataclass
class Diagnostic:
    """One problem: what rule, where, what was received, and how to fix it."""

    code: str
    message: str
    location: Location | None = None
    node: str | None = None  # node path, e.g. "layer1.0.conv1"
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unregistered error code {self.code!r}")

    @property
    def exit_code(self) -> ExitCode:
        return ERROR_CODES[self.code]

    def format(self) -> str:
        where = str(self.location) if self.location else "graphspec"
        kind = "warning" if self.severity == "warning" else "error"
        via = f"{self.location.override}: " if self.location and self.location.override else ""
        text = f"{where}: {kind}: {self.code}: {via}{self.message}"
        if self.node:
            text += f"\n  node: {self.node}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict:
        loc = self.location or Location()
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": loc.file,
            "line": loc.line,
            "col": loc.col,
            "override": loc.override,
            "node": self.node,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class GraphspecError(Exception):
    """Raised with every problem found in one pass, never just the first."""

    def __init__(self, diagnostics: Diagnostic | Sequence[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    @classmethod
    def one(cls, code: str, message: str, **kw) -> "GraphspecError":
        return cls(Diagnostic(code, message, **kw))

    @property
    def exit_code(self) -> ExitCode:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if not errors:
            return ExitCode.OK
        # The first error decides: it is usually the root cause.
        return errors[0].exit_code


@dataclass
class Collector:
    """Accumulates diagnostics during a pass; raise once at the end."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, code: str, message: str, **kw) -> None:
        self.diagnostics.append(Diagnostic(code, message, **kw))

    def extend(self, items: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise GraphspecError(self.diagnostics)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choices, or None.

    >>> did_you_mean("Conv2D", ["Conv2d", "Conv1d", "Linear"])
    "did you mean 'Conv2d'?"
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f"did you mean {lowered[name.lower()]!r}?"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        return None
    if len(close) == 1:
        return f"did you mean {close[0]!r}?"
    return "did you mean one of " + ", ".join(repr(c) for c in close) + "?"
