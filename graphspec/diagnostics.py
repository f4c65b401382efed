"""The one translator from pydantic's ``ValidationError`` to located diagnostics.

Every pydantic model graphspec validates user input with -- the spec file
structure, block declarations, op parameters, the ``train:`` section -- reports
through :func:`translate`, so a mistake reads the same wherever it is made:
``unknown-field`` with a did-you-mean, ``missing-field``, ``bad-type`` or
``bad-value`` with ``Received: ...``, each at the ``file:line:col`` of the value.

This module imports only pydantic and :mod:`graphspec.errors`, so every layer can use it.

>>> from pydantic import BaseModel, ConfigDict
>>> class Opt(BaseModel):
...     model_config = ConfigDict(extra="forbid")
...     lr: float = 0.1
>>> from graphspec.errors import Collector, Location
>>> out = Collector()
>>> try:
...     Opt.model_validate({"lrr": 1})
... except Exception as exc:
...     translate(exc, Opt, {"lrr": 1}, lambda path, key=False: Location("s.yaml", 3, 5), out, prefix=("train", "optimizer"))
>>> d = out.diagnostics[0]
>>> d.code, d.message, d.hint
('unknown-field', "unknown field 'lrr' in train.optimizer", "did you mean 'lr'?")
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, get_args, get_origin

from pydantic import ValidationError

from graphspec.errors import Collector, Location, did_you_mean

# (path inside the validated mapping, key?) -> where that value (or its key) is written
Locate = Callable[..., Location]


class FieldError(ValueError):
    """A cross-field problem raised in a model validator, pinned to one field.

    ``raise FieldError("val_split", "val_split + test_split must be below 1")``
    is reported at the location of ``val_split``, not of the whole mapping.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def translate(
    exc: ValidationError,
    model: Any,
    data: Any,
    locate: Locate,
    out: Collector,
    *,
    prefix: tuple = (),
    subject: str | None = None,
    node: str | None = None,
) -> None:
    """Add one diagnostic per problem in ``exc`` (raised validating ``data`` with ``model``).

    ``prefix`` is where ``data`` sits in the spec (``("train",)``) and is used
    in messages only; ``locate`` maps paths inside ``data`` to locations.
    ``subject`` (an op name) words the messages as parameters of that op.
    """
    errors = _group_union_errors(exc.errors(), data)
    meant = _meant_fields(errors, model)
    for err in errors:
        loc = tuple(err["loc"])
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, FieldError):
            loc = loc + (ctx_err.field,)
            out.add("bad-value", f"{_dotted(prefix + loc)}: {ctx_err}", location=locate(loc), node=node)
        elif err["type"] == "extra_forbidden":
            _unknown(loc, model, locate, out, prefix, subject, node)
        elif err["type"] == "missing":
            if loc and loc[-1] in meant:
                continue  # the misspelt field was reported as unknown: one mistake, one message
            _missing(loc, model, locate, out, prefix, subject, node)
        else:
            _bad_value(err, loc, locate, out, prefix, subject, node)


def _dotted(path: tuple) -> str:
    return ".".join(map(str, path))


def _unknown(loc, model, locate, out, prefix, subject, node) -> None:
    fields = fields_at(model, loc[:-1])
    name = str(loc[-1])
    if subject:
        msg = f"{subject} has no parameter {name!r}"
        fallback = ("parameters: " + ", ".join(fields)) if fields else f"{subject} takes no parameters"
    else:
        parent = _dotted(prefix + loc[:-1])
        msg = f"unknown field {name!r}" + (f" in {parent}" if parent else " at the top level")
        fallback = ("fields: " + ", ".join(fields)) if fields else None
    out.add("unknown-field", msg, location=locate(loc, key=True), node=node, hint=did_you_mean(name, fields) or fallback)


def _missing(loc, model, locate, out, prefix, subject, node) -> None:
    if subject:
        field = getattr(model, "model_fields", {}).get(loc[-1])
        out.add("missing-field", f"{subject} needs parameter {loc[-1]!r}", location=locate(("op",)), node=node, hint=field.description if field else None)
    else:
        out.add("missing-field", f"missing field {_dotted(prefix + loc)!r}", location=locate(loc[:-1]), node=node)


def _bad_value(err, loc, locate, out, prefix, subject, node) -> None:
    received = err.get("input")
    shown = _shown(received)
    msg = err["msg"].removeprefix("Value error, ")
    wrong_type = ("type" in err["type"] or err["type"].endswith("_parsing")) and err["type"] != "literal_error"
    hint = None
    if err["type"] == "literal_error" and isinstance(received, str):
        choices = [c.strip().strip("'") for c in msg.split("Input should be ", 1)[-1].replace(" or ", ",").split(",")]
        hint = did_you_mean(received, [c for c in choices if c])
    head = f"{subject} parameter {_dotted(loc)!r}" if subject else (_dotted(prefix + loc) or "spec")
    out.add("bad-type" if wrong_type else "bad-value", f"{head}: {msg}. Received: {shown!r}", location=locate(loc), node=node, hint=hint)


def _shown(value: Any) -> Any:
    """The received value as it goes in a message: itself when short, else its type."""
    if isinstance(value, (dict, list, tuple, str)) and len(repr(value)) > 60:
        return type(value).__name__
    return value


def _meant_fields(errors: list[dict], model: Any) -> set:
    """Fields a misspelt (extra) key probably meant: their 'missing' errors are echoes."""
    meant = set()
    for err in errors:
        if err["type"] == "extra_forbidden" and err["loc"]:
            loc = tuple(err["loc"])
            fields = fields_at(model, loc[:-1])
            typo = str(loc[-1])
            meant.update(f for f in fields if f.lower() == typo.lower())
            meant.update(difflib.get_close_matches(typo, fields, n=1, cutoff=0.6))
    return meant


def _strip_union_tags(loc: tuple, data: Any, keep_last: bool) -> tuple:
    """Drop the parts of a pydantic error location that name union branches
    (``outputs.str``, ``shape.0.int``, ``function-before[...]``): keep only the
    parts that exist in the data, so the location is a path in the YAML tree."""
    out = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(cur):
            cur = cur[part]
        elif not (keep_last and i == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _group_union_errors(errors: list[dict], data: Any) -> list[dict]:
    """One error per place: the failures of every branch of a union become one."""
    grouped: dict[tuple, dict] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] in ("missing", "extra_forbidden"):
            stripped = _strip_union_tags(loc, data, keep_last=True)
            grouped[(stripped, err["type"])] = dict(err, loc=stripped)
            continue
        stripped = _strip_union_tags(loc, data, keep_last=False)
        key = (stripped, "value")
        if key not in grouped:
            grouped[key] = dict(err, loc=stripped)
        else:
            first = grouped[key]
            msg = err["msg"].removeprefix("Input should be ")
            if msg not in first["msg"]:
                first["msg"] = f"{first['msg']}, or {msg}"
            first["type"] = "union_type"
    return list(grouped.values())


def fields_at(model: Any, loc: tuple) -> list[str]:
    """Field names of the pydantic model found at ``loc`` inside ``model`` (best effort)."""
    current = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if hasattr(current, "model_fields") and part in current.model_fields:
            ann = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            ann = get_args(current)[1]
        else:
            return []
        candidates = [ann] + list(get_args(ann))
        current = next((c for c in candidates if hasattr(c, "model_fields") or get_origin(c) is dict), None)
    return list(current.model_fields) if current is not None and hasattr(current, "model_fields") else []
