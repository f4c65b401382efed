"""The JSON Schema (draft 2020-12) of the spec language, and op descriptions.

:func:`build` generates the schema that editors (yaml-language-server) use for
completion and checking. The file structure comes from the pydantic models in
:mod:`graphspec.spec.schema`; a node is one of

- an op node: one model per registered op, ``op: <const name>`` plus the op's
  parameters (from its pydantic model), discriminated by ``op``;
- a ``Sequential`` node (``layers``: a list of nodes without ``in``);
- a block call: ``op`` is any other name, the remaining keys are block params.

Every op parameter also accepts a ``${...}`` expression string (in lists too),
because expressions are resolved before the op's model validates the node.

:func:`op_info` describes one op (ports, parameters with type, default, range
and description) for ``graphspec ops`` and ``docs/ops.md``.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any, Iterable, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPR_PATTERN = r"\$\{[^{}]*\}"

# Keys of an op node that are not op parameters (see registry.RESERVED_KEYS).
_NODE_KEYS_DOC = {
    "in": "inputs: a node name, 'node.port', a list of them (port order), or a mapping port: node",
    "repeat": "stack this node N times (children name.0 .. name.N-1, each fed by the previous; ${i} is the index)",
    "share": "reuse the weights of an earlier node of this scope (same op and parameters)",
    "names": "names of the repeat's copies: an expression over i ('layer${i + 1}') or a list of names",
    "when": "the node exists only when this is true (an expression over the scope's params)",
    "doc": "free text, ignored by graphspec",
}


# -- op descriptions -----------------------------------------------------------


def _resolve_ref(s: dict, defs: dict) -> dict:
    seen = 0
    while isinstance(s, dict) and "$ref" in s and seen < 20:
        name = s["$ref"].rsplit("/", 1)[-1]
        s = defs.get(name, {})
        seen += 1
    return s


def type_text(s: dict, defs: dict | None = None) -> str:
    """A short human type from a JSON schema: ``int``, ``'same' | 'valid'``, ``[int, ...]``.

    >>> type_text({"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]})
    'int | [int, ...]'
    >>> type_text({"enum": ["zeros", "reflect"]}), type_text({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "number"}]})
    ("'zeros' | 'reflect'", '[int, float]')
    """
    defs = defs or {}
    s = _resolve_ref(s, defs)
    if not s:
        return "any"
    for key in ("anyOf", "oneOf"):
        if key in s:
            parts: list[str] = []
            for m in s[key]:
                t = type_text(m, defs)
                if t not in parts:
                    parts.append(t)
            if "null" in parts and len(parts) > 1:  # Optional[X] reads "X | null"
                parts.remove("null")
                parts.append("null")
            return " | ".join(parts)
    if "const" in s:
        return json.dumps(s["const"]).replace('"', "'")
    if "enum" in s:
        return " | ".join(json.dumps(v).replace('"', "'") for v in s["enum"])
    t = s.get("type")
    if isinstance(t, list):
        return " | ".join(type_text({**s, "type": x}, defs) for x in t)
    if t == "array":
        if "prefixItems" in s:
            inner = ", ".join(type_text(m, defs) for m in s["prefixItems"])
            return f"[{inner}]"
        return f"[{type_text(s.get('items', {}), defs)}, ...]"
    if t == "object":
        return "mapping"
    return {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "null": "null"}.get(t, "any")


def _num(v: Any) -> str:
    return f"{v:,}".replace(",", "_") if isinstance(v, int) and abs(v) >= 100_000 else str(v)


def range_text(s: dict, defs: dict | None = None) -> str:
    """Numeric bounds and list lengths found in a JSON schema, e.g. ``> 0, <= 1_000_000``.

    >>> range_text({"type": "integer", "exclusiveMinimum": 0, "maximum": 64})
    '> 0, <= 64'
    >>> range_text({"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0}}]})
    '> 0'
    """
    defs = defs or {}
    found: list[str] = []

    def walk(s: dict) -> None:
        s = _resolve_ref(s, defs)
        if not isinstance(s, dict):
            return
        parts = []
        for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if key in s:
                parts.append(f"{sym} {_num(s[key])}")
        lo, hi = s.get("minItems"), s.get("maxItems")
        if lo is not None or hi is not None:
            if lo is not None and hi is not None:
                parts.append(f"{lo} item(s)" if lo == hi else f"{lo} to {hi} items")
            elif lo is not None:
                parts.append(f"at least {lo} item(s)")
            else:
                parts.append(f"at most {hi} items")
        if parts:
            text = ", ".join(parts)
            if text not in found:
                found.append(text)
        for key in ("anyOf", "oneOf", "prefixItems"):
            for m in s.get(key, []):
                walk(m)
        if isinstance(s.get("items"), dict):
            walk(s["items"])

    walk(s)
    return "; ".join(found)


def _doc_parts(op_cls) -> tuple[str, str]:
    """(summary line, rest of the docstring as one paragraph-preserving text)."""
    doc = inspect.cleandoc(op_cls.__doc__ or "")
    if not doc:
        return "", ""
    lines = doc.splitlines()
    return lines[0].strip(), "\n".join(lines[1:]).strip()


def shape_rule(op_cls) -> str:
    """The op's shape rule in prose: the docstring's first line plus any prose paragraphs."""
    summary, body = _doc_parts(op_cls)
    paras = []
    for para in body.split("\n\n"):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        if lines and not any(line.startswith(">>>") for line in lines):
            paras.append(" ".join(lines).replace("``", "`"))
    return " ".join([summary] + paras).strip()


def shape_example(op_cls) -> str:
    """The first doctest of the op's docstring as ``params: [in] -> [out]``, or ''.

    Reads doctests of the form ``Op(k=v).infer(TensorType((...)))`` followed by
    ``TensorType(shape=(...), ...)``; anything else is skipped.
    """
    import ast

    lines = [line.strip() for line in inspect.cleandoc(op_cls.__doc__ or "").splitlines()]
    for i, line in enumerate(lines[:-1]):
        if not line.startswith(">>> "):
            continue
        try:
            call = ast.parse(line[4:], mode="eval").body
            result = ast.parse(lines[i + 1], mode="eval").body
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "infer"):
                continue
            ctor = call.func.value
            if not isinstance(ctor, ast.Call):
                continue
            params = ", ".join(f"{k.arg}={_yaml_scalar(ast.literal_eval(k.value))}" for k in ctor.keywords)
            ins = [_shape_of(a) for a in call.args]
            outs = [_shape_of(result)] if not isinstance(result, ast.Tuple) else [_shape_of(e) for e in result.elts]
        except (SyntaxError, ValueError, TypeError, AttributeError, IndexError):
            continue
        text = ", ".join(ins) + " -> " + ", ".join(outs)
        return f"{params}: {text}" if params else text
    return ""


def _shape_of(node) -> str:
    """``TensorType(("batch", 3))`` or ``TensorType(shape=(...), dtype=...)`` -> ``[batch, 3]``."""
    import ast

    if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "TensorType"):
        raise ValueError("not a TensorType")
    shape_node = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "shape")
    shape = ast.literal_eval(shape_node)
    return "[" + ", ".join(str(d) for d in shape) + "]"


def param_info(op_cls) -> list[dict]:
    """One dict per parameter: name, type, required, default, range, description."""
    schema = op_cls.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = []
    for name, field in op_cls.model_fields.items():
        key = field.alias or name
        s = props.get(key, {})
        out.append(
            {
                "name": key,
                "type": type_text(s, defs),
                "required": key in required,
                "default": None if key in required else s.get("default", _jsonable(field.get_default(call_default_factory=True))),
                "range": range_text(s, defs),
                "description": field.description or s.get("description") or "",
            }
        )
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return str(v)


def port_info(op_cls) -> dict:
    return {
        "inputs": [{"name": n, "kind": k} for n, k in op_cls.port_spec()],
        "outputs": list(op_cls.outputs),
    }


def port_text(op_cls) -> str:
    """``(x, h0?) -> (output, h_n)``; variadic inputs read ``*xs``."""
    ins = []
    for n, k in op_cls.port_spec():
        ins.append({"required": n, "optional": n + "?", "variadic": "*" + n}[k])
    outs = list(op_cls.outputs)
    if len(outs) > 6:  # Split/Chunk: out0 .. out63
        outs = outs[:2] + ["...", outs[-1]]
    return f"({', '.join(ins)}) -> ({', '.join(outs)})"


def op_info(op_cls) -> dict:
    """Everything ``graphspec ops`` shows about one op, JSON-ready."""
    summary, body = _doc_parts(op_cls)
    return {
        "name": op_cls.op_name,
        "category": op_cls.category,
        "summary": summary,
        "doc": body,
        "shape_rule": shape_rule(op_cls),
        "example": shape_example(op_cls),
        **port_info(op_cls),
        "stateful_training": bool(op_cls.stateful_training),
        "params": param_info(op_cls),
        "module": op_cls.__module__,
    }


def default_text(p: dict) -> str:
    """A parameter's default as YAML would spell it (``required`` when it has none)."""
    if p["required"]:
        return "required"
    return _yaml_scalar(p["default"])


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    if isinstance(v, str):
        return repr(v)
    return str(v)


# -- the JSON Schema -------------------------------------------------------------

RefT = Union[str, list[str], dict[str, str]]


class _NodeKeys(BaseModel):
    """Keys every op node accepts beside its parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    in_: Optional[RefT] = Field(None, alias="in", description=_NODE_KEYS_DOC["in"])
    repeat: Optional[int] = Field(None, ge=1, le=10_000, description=_NODE_KEYS_DOC["repeat"])
    share: Optional[str] = Field(None, description=_NODE_KEYS_DOC["share"])
    names: Optional[Union[str, list[str]]] = Field(None, description=_NODE_KEYS_DOC["names"])
    when: Optional[Union[bool, str]] = Field(None, description=_NODE_KEYS_DOC["when"])
    doc: Optional[str] = Field(None, description=_NODE_KEYS_DOC["doc"])


def _node_model(op_cls) -> type[BaseModel]:
    """``op: Literal[name]`` + the node keys + the op's parameter fields."""
    fields: dict[str, Any] = {
        "op": (Literal[op_cls.op_name], Field(description=_doc_parts(op_cls)[0] or op_cls.op_name)),
    }
    for name, f in op_cls.model_fields.items():
        fields[name] = (f.annotation, copy.copy(f))
    model = create_model(  # type: ignore[call-overload]
        f"{op_cls.op_name}",
        __base__=_NodeKeys,
        __doc__=_doc_parts(op_cls)[0] or None,
        **fields,
    )
    return model


_EXPR_REF = {"$ref": "#/$defs/Expr"}


def _with_expr(s: dict) -> dict:
    """``s`` or a ``${...}`` expression string, also for the items of lists inside ``s``."""
    if not isinstance(s, dict):
        return s
    s = _expr_items(s)
    meta = {k: s.pop(k) for k in ("description", "default", "title", "examples") if k in s}
    if s == {} or s.get("type") == "string" and not ({"enum", "const", "pattern", "format"} & set(s)):
        return {**s, **meta}  # already accepts any string
    if "anyOf" in s and len(s) == 1:
        members = s["anyOf"] if _EXPR_REF in s["anyOf"] else s["anyOf"] + [_EXPR_REF]
        return {"anyOf": members, **meta}
    return {"anyOf": [s, _EXPR_REF], **meta}


def _expr_items(s: dict) -> dict:
    """A copy of ``s`` whose list items (at any depth) also accept expressions."""
    s = dict(s)
    if isinstance(s.get("items"), dict):
        s["items"] = _with_expr(s["items"])
    if "prefixItems" in s:
        s["prefixItems"] = [_with_expr(m) for m in s["prefixItems"]]
    for key in ("anyOf", "oneOf"):
        if key in s:
            s[key] = [_expr_items(m) if isinstance(m, dict) else m for m in s[key]]
    return s


def _strip_titles(s: Any, keep: bool = False) -> Any:
    """Drop pydantic's auto-generated 'title' keywords (not properties named title)."""
    if isinstance(s, list):
        return [_strip_titles(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "title" and isinstance(v, str) and not keep:
            continue
        if k in ("properties", "$defs", "patternProperties", "dependentSchemas"):
            out[k] = {name: _strip_titles(sub) for name, sub in v.items()}
        elif k in ("default", "const", "enum", "examples", "discriminator"):
            out[k] = v
        else:
            out[k] = _strip_titles(v)
    return out


def _merge_defs(into: dict, new: dict) -> None:
    for k, v in new.items():
        if k in into and into[k] != v:
            raise ValueError(f"JSON Schema definition {k!r} is generated twice with different content")
        into[k] = v


# train: models that also take a bare string (``data: digits``, ``loss: MSELoss``, ``env: CartPole-v1``)
_SHORTHAND_MODELS = ("DataConfig", "LossConfig", "EnvConfig")


def _train_defs(defs: dict) -> dict:
    """``train:`` as one definition per task (the task's config model), dispatched on ``task``.

    Values may be ``${...}`` expressions, as in the file (they are resolved with the params).
    """
    from graphspec.config.tasks import task_names, task_schema

    names = [n for n in task_names() if task_schema(n).__module__.startswith("graphspec.")]
    for name in names:
        s = task_schema(name).Config.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        sub = s.pop("$defs", {})
        _merge_defs(defs, {k: _exprify_model(v) for k, v in sub.items()})
        defs[f"Train_{name}"] = _exprify_model(s)
    for model in _SHORTHAND_MODELS:
        if model in defs:
            defs[model] = {"anyOf": [{k: v for k, v in defs[model].items() if k != "description"}, {"type": "string"}], "description": defs[model].get("description", "")}
    return {
        "description": "training recipe (see docs/training.md); 'task' picks the fields",
        "type": "object",
        "required": ["task"],
        "properties": {"task": {"enum": names}},
        "allOf": [{"if": {"properties": {"task": {"const": n}}, "required": ["task"]}, "then": {"$ref": f"#/$defs/Train_{n}"}} for n in names],
    }


def _sweep_def(defs: dict) -> dict:
    """``sweep:`` from its pydantic model (graphspec sweep's search space)."""
    from graphspec.config.sweep import SweepConfig

    s = SweepConfig.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    _merge_defs(defs, s.pop("$defs", {}))
    s["description"] = "search space and study settings of 'graphspec sweep' (see docs/training.md)"
    return s


def _exprify_model(s: dict) -> dict:
    """A model's JSON schema whose property values may also be ``${...}`` expressions."""
    s = dict(s)
    if "properties" in s:
        s["properties"] = {k: _with_expr(v) for k, v in s["properties"].items()}
    return s


def builtin_ops() -> list:
    """The ops that ship with graphspec (not those of installed plugins)."""
    from graphspec.ops import registry

    return [c for c in registry.all_ops() if c.__module__.startswith("graphspec.")]


def build(ops: Iterable | None = None) -> dict:
    """The JSON Schema of a spec file (and of a blocks file, its subset).

    ``ops`` defaults to every registered op, plugins included;
    ``tools/gen_docs.py`` passes :func:`builtin_ops` for the committed file.
    """
    from graphspec.ops import registry
    from graphspec.spec.schema import BlockDecl, GraphDecl, InputDecl, SpecFile

    ops = sorted(ops if ops is not None else registry.all_ops(), key=lambda c: c.op_name)
    names = [c.op_name for c in ops]
    defs: dict[str, Any] = {}

    # file structure, from the pydantic models of graphspec.spec.schema
    root = SpecFile.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    _merge_defs(defs, root.pop("$defs", {}))
    for model in (InputDecl, BlockDecl, GraphDecl):
        defs.setdefault(model.__name__, model.model_json_schema(mode="validation", ref_template="#/$defs/{model}"))

    # op nodes: a discriminated union generated from the registry
    node_models = [_node_model(c) for c in ops]
    if node_models:
        union = _discriminated_union(node_models)
        op_nodes = TypeAdapter(union).json_schema(mode="validation", ref_template="#/$defs/{model}")
        node_defs = op_nodes.pop("$defs", {op_nodes.get("title", ops[0].op_name): op_nodes})
        for c in ops:
            d = node_defs[c.op_name]
            d["title"] = c.op_name
            reserved = {"op", "in", "share", "doc", "names", "when"}
            for pname, ps in list(d.get("properties", {}).items()):
                if pname == "repeat":
                    d["properties"][pname] = {"anyOf": [{"$ref": "#/$defs/Repeat"}, {"$ref": "#/$defs/Expr"}], "description": _NODE_KEYS_DOC["repeat"]}
                elif pname not in reserved:
                    d["properties"][pname] = _with_expr(ps)
            props = d["properties"]
            props["in"] = {"$ref": "#/$defs/Ref", "description": _NODE_KEYS_DOC["in"]}
            props["share"] = {"type": "string", "description": _NODE_KEYS_DOC["share"]}
            props["names"] = {"$ref": "#/$defs/CopyNames"}
            props["when"] = {"$ref": "#/$defs/When"}
            props["doc"] = {"type": "string", "description": _NODE_KEYS_DOC["doc"]}
            # op first, then its parameters, then the graph keys
            graph_keys = ("in", "repeat", "names", "when", "share", "doc")
            d["properties"] = {"op": props["op"], **{k: v for k, v in props.items() if k != "op" and k not in graph_keys}, **{k: props[k] for k in graph_keys}}
            summary = _doc_parts(c)[0]
            if summary:
                d["description"] = summary
                d["markdownDescription"] = f"**{c.op_name}** ({c.category}) {port_text(c)}\n\n{summary}"
        _merge_defs(defs, {k: v for k, v in node_defs.items()})
    # The pydantic union above is discriminated by 'op' (oneOf + discriminator). JSON Schema
    # validators ignore 'discriminator' and report a failed oneOf as "not valid under any of
    # the given schemas", so the committed schema dispatches with one if/then per op instead:
    # same meaning, and the error names the node's real problem ('kernel' was unexpected).
    defs["OpNode"] = {
        "description": "an op node; 'op' picks the parameter model",
        "type": "object",
        "required": ["op"],
        "properties": {"op": {"enum": names}},
        "allOf": [
            {"if": {"properties": {"op": {"const": n}}, "required": ["op"]}, "then": {"$ref": f"#/$defs/{n}"}}
            for n in names
        ],
    }

    defs["Expr"] = {
        "type": "string",
        "pattern": EXPR_PATTERN,
        "description": "an expression over params, e.g. ${width * 2} (resolved before validation)",
    }
    defs["Ref"] = {
        "description": _NODE_KEYS_DOC["in"],
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ],
    }
    defs["Repeat"] = {"type": "integer", "minimum": 1, "maximum": 10_000}
    defs["CopyNames"] = {"description": _NODE_KEYS_DOC["names"], "anyOf": [{"$ref": "#/$defs/Expr"}, {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/NodeName"}}]}
    defs["When"] = {"description": _NODE_KEYS_DOC["when"], "anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/Expr"}]}
    defs["SequentialNode"] = {
        "type": "object",
        "title": "Sequential",
        "description": "a chain of layers; each layer feeds the next (children name.0, name.1, ...)",
        "properties": {
            "op": {"const": "Sequential"},
            "in": {"$ref": "#/$defs/Ref"},
            "layers": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/Node"},
                "description": "nodes without 'in' or 'share'; a layer may 'repeat'",
            },
            "repeat": {"anyOf": [{"$ref": "#/$defs/Repeat"}, {"$ref": "#/$defs/Expr"}], "description": _NODE_KEYS_DOC["repeat"]},
            "names": {"$ref": "#/$defs/CopyNames"},
            "when": {"$ref": "#/$defs/When"},
            "doc": {"type": "string"},
        },
        "required": ["op", "layers"],
        "additionalProperties": False,
    }
    defs["BlockCallNode"] = {
        "type": "object",
        "title": "block call",
        "description": "a call of a block defined under 'blocks:' (or imported as alias.block); other keys are the block's params",
        "properties": {
            "op": {
                "anyOf": [
                    {
                        "type": "string",
                        "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$",
                        # not an op name, in any letter case: 'Conv2D' is a typo, not a block
                        "not": {"pattern": _any_case(names + ["Sequential"])},
                    },
                    {"$ref": "#/$defs/Expr"},  # op: "${act}", checked once resolved
                ],
                "description": "a block name, alias.block for an imported one, or an expression naming an op or block",
            },
            "in": {"$ref": "#/$defs/Ref"},
            "repeat": {"anyOf": [{"$ref": "#/$defs/Repeat"}, {"$ref": "#/$defs/Expr"}], "description": _NODE_KEYS_DOC["repeat"]},
            "names": {"$ref": "#/$defs/CopyNames"},
            "when": {"$ref": "#/$defs/When"},
            "doc": {"type": "string"},
        },
        "required": ["op"],
        "additionalProperties": True,
    }
    # dispatch on 'op' with if/then, so an editor reports the problems of the node's own kind
    # (an unknown parameter of Conv2d) rather than "matches none of 60 alternatives"
    defs["Node"] = {
        "description": "a node: an op with its parameters, a Sequential, or a block call",
        "type": "object",
        "required": ["op"],
        "properties": {"op": {"type": "string", "description": "an op (graphspec ops), Sequential, or a block name"}},
        "if": {"properties": {"op": {"enum": names}}, "required": ["op"]},
        "then": {"$ref": "#/$defs/OpNode"},
        "else": {
            "if": {"properties": {"op": {"const": "Sequential"}}, "required": ["op"]},
            "then": {"$ref": "#/$defs/SequentialNode"},
            "else": {"$ref": "#/$defs/BlockCallNode"},
        },
    }
    defs["Nodes"] = {
        "type": "object",
        "description": "node name -> node; names become module paths (identifiers recommended; no '.')",
        "propertyNames": {"$ref": "#/$defs/NodeName"},
        "additionalProperties": {"$ref": "#/$defs/Node"},
    }
    defs["Name"] = {"type": "string", "pattern": r"^(?!__)[A-Za-z_][A-Za-z0-9_]*$"}
    # torch module names (graphspec.spec.schema.node_name_problem; keywords are refused there too)
    defs["NodeName"] = {"type": "string", "pattern": r"^(?!__)[^.'\"\\\x00-\x1f\x7f]+$"}
    # a mapping with 'type' is the long form {type, default, doc}; anything else is a default
    # value (null: required), or the long form without 'type' (the type follows the default)
    defs["BlockParam"] = {
        "description": "a default value (its type is the param's type), null for a required param, or {type, default, doc}",
        "if": {"type": "object", "required": ["type"]},
        "then": {
            "type": "object",
            "properties": {
                "type": {"enum": ["int", "float", "bool", "str", "list", "any"]},
                "default": {"description": "null or absent: the caller must pass the param"},
                "doc": {"type": "string"},
            },
            "additionalProperties": False,
        },
    }

    # wire the node types into the file structure
    for holder in (root, defs["GraphDecl"], defs["BlockDecl"]):
        holder["properties"]["nodes"] = {"$ref": "#/$defs/Nodes"}
    defs["Train"] = _train_defs(defs)
    root["properties"]["train"] = {"$ref": "#/$defs/Train"}
    defs["Sweep"] = _sweep_def(defs)
    root["properties"]["sweep"] = {"$ref": "#/$defs/Sweep"}
    # optional at the top level means "may be absent": an explicit null is an error for the loader too
    for name in ("inputs", "outputs", "graphs", "train"):
        prop = root["properties"][name]
        members = [m for m in prop.get("anyOf", []) if m != {"type": "null"}]
        if len(members) == 1:
            rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            root["properties"][name] = {**members[0], **rest}
        elif members:
            root["properties"][name] = {**{k: v for k, v in prop.items() if k != "default"}, "anyOf": members}
    defs["BlockDecl"]["properties"]["params"] = {
        "type": "object",
        "description": "name: default (null = required), or {type, default, doc}",
        "propertyNames": {"$ref": "#/$defs/Name"},
        "additionalProperties": {"$ref": "#/$defs/BlockParam"},
    }
    for name in ("blocks", "imports", "params", "dims"):
        root["properties"][name]["propertyNames"] = {"$ref": "#/$defs/Name"}
    root["properties"]["graphspec"]["markdownDescription"] = "format version: always `1`"

    schema = {
        "$schema": SCHEMA_DIALECT,
        "title": "graphspec spec file",
        "description": "A neural network as a YAML computation graph (graphspec format version 1). "
        "Generated by 'graphspec schema' from the pydantic models and the op registry.",
        **{k: v for k, v in root.items() if k not in ("title", "description")},
        "$defs": {k: defs[k] for k in sorted(defs)},
    }
    schema = _strip_titles(schema, keep=False)
    # keep readable titles where editors show them
    schema["title"] = "graphspec spec file"
    for c in ops:
        schema["$defs"][c.op_name]["title"] = c.op_name
    schema["$defs"]["SequentialNode"]["title"] = "Sequential"
    schema["$defs"]["BlockCallNode"]["title"] = "block call"
    return schema


def _any_case(names: list[str]) -> str:
    """A regex matching any of ``names`` whatever the letter case (JSON Schema regexes have no flags).

    >>> _any_case(["ReLU", "Add"])
    '^(?:[Rr][Ee][Ll][Uu]|[Aa][Dd][Dd])$'
    """
    import re

    def one(name: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() and c.upper() != c.lower() else re.escape(c) for c in name)

    return "^(?:" + "|".join(one(n) for n in names) + ")$"


def _discriminated_union(models: list) -> Any:
    from typing import Annotated

    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="op")]


def dumps(schema: dict) -> str:
    """The schema as committed: 2-space JSON with a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
