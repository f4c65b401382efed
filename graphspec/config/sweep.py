"""The ``sweep:`` section of a spec and the search-space grammar ``graphspec sweep`` shares with it.

One grammar serves the command line (``--param``) and a spec's ``sweep:``
section. This module imports neither torch nor optuna, so ``load()`` (and
``graphspec validate``) checks a ``sweep:`` section like any other.

    int(LOW, HIGH[, log][, step=N])      integers in [LOW, HIGH]
    float(LOW, HIGH[, log][, step=X])    floats in [LOW, HIGH]
    choice(A, B, ...)                    one of the values (YAML scalars or [lists])

>>> parse_param("params.width=int(16,128,log)")
Param(path='params.width', kind='int', low=16, high=128, log=True, step=None, choices=())
>>> parse_param("params.act=choice(ReLU, GELU)").choices
('ReLU', 'GELU')
>>> parse_param("train.optimizer.lr=float(1e-4,1e-2,log)").high
0.01
>>> parse_param("params.width=int(128,16)")
Traceback (most recent call last):
...
graphspec.errors.GraphspecError: graphspec: error: usage: --param params.width=int(128,16): low (128) must be below high (16)
  hint: e.g. --param params.width=int(16,128,log)

>>> cfg = SweepConfig.model_validate({"params": {"params.width": "int(16, 128, log)", "params.act": ["ReLU", "GELU"]}, "trials": 12})
>>> [p.describe() for p in cfg.space()]
['params.width=int(16, 128, log)', 'params.act=choice(ReLU, GELU)']
>>> try:
...     SweepConfig.model_validate({"params": {"params.width": "int(128, 16)"}})
... except ValidationError as exc:
...     print(exc.errors()[0]["loc"], exc.errors()[0]["msg"])
('params', 'params.width') Value error, low (128) must be below high (16)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from graphspec.errors import Collector, GraphspecError

KINDS = ("int", "float", "choice")
EXAMPLE = "e.g. --param params.width=int(16,128,log)"
_PATH = re.compile(r"\+?[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*")  # "+" adds a key, as in --set
_CALL = re.compile(r"\s*([A-Za-z_]+)\s*\((.*)\)\s*", re.S)
MAX_CHOICES = 1000
MAX_TEXT = 2000


@dataclass(frozen=True)
class Param:
    """One searched value: the dotted spec path it sets and its range or choices."""

    path: str
    kind: str  # int | float | choice
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        """The parameter in the grammar it was written in (round-trips through parse_param)."""
        if self.kind == "choice":
            return f"{self.path}=choice({', '.join(_fmt(c) for c in self.choices)})"
        extra = (", log" if self.log else "") + (f", step={self.step}" if self.step is not None else "")
        return f"{self.path}={self.kind}({self.low}, {self.high}{extra})"

    def default_point(self) -> Any:
        """A value inside the space (checks that a spec accepts the path before any trial)."""
        if self.kind == "choice":
            return self.choices[0]
        return self.low


def _fmt(value: Any) -> str:
    """A choice as written in the grammar: bare when it reads back as the same string, else JSON."""
    import json

    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", value):
        try:
            if _yaml_value(value) == value:
                return value
        except SpaceError:
            pass
    return json.dumps(value)


class SpaceError(ValueError):
    """A problem in one parameter's text; ``where`` says which, for the caller to locate."""


def split_args(text: str) -> list[str]:
    """Split on top-level commas (commas inside [...] or quotes stay).

    >>> split_args("[3, 3], 'a,b', c")
    ['[3, 3]', "'a,b'", 'c']
    """
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                raise SpaceError("unbalanced ']'")
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if quote or depth:
        raise SpaceError("unclosed " + (f"quote {quote}" if quote else "'['"))
    parts.append("".join(cur).strip())
    return parts


def _number(text: str, kind: str, what: str) -> int | float:
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise SpaceError(f"{what} must be {'an integer' if kind == 'int' else 'a number'}, received {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SpaceError(f"{what} must be finite, received {text!r}")
    if abs(value) > 2**62:
        raise SpaceError(f"{what} is too large: {text!r}")
    return value


def _yaml_value(text: str) -> Any:
    from graphspec.spec.yamlload import parse

    if not text:
        raise SpaceError("empty choice")
    try:
        return parse(text, "choice").data
    except GraphspecError as exc:
        raise SpaceError(f"cannot read the choice {text!r}: {exc.diagnostics[0].message}") from None


def parse_range(path: str, text: str) -> Param:
    """``int(16,128,log)`` / ``float(...)`` / ``choice(...)`` for ``path``; raises SpaceError."""
    if len(text) > MAX_TEXT:
        raise SpaceError(f"the range is longer than {MAX_TEXT} characters")
    m = _CALL.fullmatch(text)
    if not m:
        raise SpaceError(f"expected int(LOW,HIGH), float(LOW,HIGH) or choice(A,B,...), received {text.strip()!r}")
    kind, body = m.group(1), m.group(2)
    if kind not in KINDS:
        raise SpaceError(f"unknown kind {kind!r}; kinds: int, float, choice")
    args = split_args(body)
    if kind == "choice":
        if args == [""]:
            raise SpaceError("choice() needs at least one value")
        if len(args) > MAX_CHOICES:
            raise SpaceError(f"choice() takes at most {MAX_CHOICES} values")
        values = tuple(_yaml_value(a) for a in args)
        if len({repr(v) for v in values}) != len(values):
            raise SpaceError("choice() lists a value twice")
        return Param(path, "choice", choices=values)
    return _numeric(path, kind, args)


def _numeric(path: str, kind: str, args: list[str]) -> Param:
    if len(args) < 2 or not all(args[:2]):
        raise SpaceError(f"{kind}() needs LOW and HIGH, e.g. {kind}(16, 128)" if kind == "int" else f"{kind}() needs LOW and HIGH, e.g. float(1e-4, 1e-2, log)")
    low, high = _number(args[0], kind, "low"), _number(args[1], kind, "high")
    log, step = False, None
    for opt in args[2:]:
        if opt == "log" and not log:
            log = True
        elif opt.startswith("step=") and step is None:
            step = _number(opt[5:].strip(), kind, "step")
            if step <= 0:
                raise SpaceError(f"step must be positive, received {step}")
        else:
            raise SpaceError(f"unknown or repeated option {opt!r}; options: log, step=N")
    if not low < high:
        raise SpaceError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise SpaceError(f"a log range needs low > 0, received {low}")
    if log and step is not None:
        raise SpaceError("log and step cannot be combined (optuna samples one or the other)")
    return Param(path, kind, low=low, high=high, log=log, step=step)


def _choice_list(path: str, values: list) -> Param:
    if not values:
        raise SpaceError("an empty list of choices")
    if len(values) > MAX_CHOICES:
        raise SpaceError(f"at most {MAX_CHOICES} choices")
    if len({repr(v) for v in values}) != len(values):
        raise SpaceError("a choice is listed twice")
    return Param(path, "choice", choices=tuple(values))


def check_path(path: str) -> None:
    if not _PATH.fullmatch(path):
        raise SpaceError(f"bad path {path!r}: a dotted key like params.width or train.optimizer.lr (+params.new adds a key)")


def parse_param(text: str) -> Param:
    """One ``--param PATH=RANGE`` argument; a mistake is a usage error naming the argument."""
    path, sep, rng = text.partition("=")
    try:
        if not sep:
            raise SpaceError("expected PATH=RANGE")
        check_path(path.strip())
        return parse_range(path.strip(), rng)
    except SpaceError as exc:
        raise GraphspecError.one("usage", f"--param {text}: {exc}", hint=EXAMPLE) from None


def check_unique(params: list[Param]) -> None:
    seen: set[str] = set()
    for p in params:
        if p.path in seen:
            raise GraphspecError.one("usage", f"--param {p.path}: searched twice", hint="give each path one range")
        seen.add(p.path)


# ----------------------------------------------------------------- the sweep: section
def _check_range(value: Any) -> Any:
    try:
        if isinstance(value, list):
            _choice_list("x", value)
        else:
            parse_range("x", value)
    except SpaceError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_paths(value: dict) -> dict:
    for path in value:
        try:
            check_path(path)
        except SpaceError as exc:
            raise ValueError(str(exc)) from None
    return value


Range = Annotated[Union[str, list[Any]], AfterValidator(_check_range)]


class SweepConfig(BaseModel):
    """Search space and study settings; ``graphspec sweep`` options override each field."""

    model_config = ConfigDict(extra="forbid")

    params: Annotated[dict[str, Range], AfterValidator(_check_paths)] = Field(
        default_factory=dict,
        description="dotted spec path -> int(LO,HI[,log][,step=N]), float(LO,HI[,log][,step=X]), choice(A,B,...) or a list of choices",
    )
    trials: Optional[int] = Field(None, ge=1, le=1_000_000, description="trials in the whole study (default 20)")
    timeout: Optional[float] = Field(None, gt=0, description="seconds after which no new trial starts")
    metric: Optional[str] = Field(None, description="per-epoch metric to optimise, e.g. val_accuracy (default: train's monitor)")
    direction: Optional[Literal["maximize", "minimize"]] = None
    sampler: Optional[Literal["tpe", "random"]] = None
    pruner: Optional[Literal["median", "hyperband", "none"]] = None
    seed: Optional[int] = Field(None, ge=0, le=2**32 - 1, description="sampler seed")

    def space(self) -> list[Param]:
        out = []
        for path, rng in self.params.items():
            out.append(_choice_list(path, rng) if isinstance(rng, list) else parse_range(path, rng))
        return out


def validate_section(data: Any, tree, out: Collector) -> SweepConfig | None:
    """The validated ``sweep:`` mapping; each problem goes to ``out`` at its place in ``tree``."""
    from graphspec.diagnostics import translate

    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        translate(exc, SweepConfig, data, lambda loc=(), key=False: tree.loc(("sweep",) + tuple(loc), key=key), out, prefix=("sweep",))
        return None
