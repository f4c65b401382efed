"""The file-level schema of a spec (pydantic), and name rules.

Node bodies are validated in two steps: here only that each node is a mapping
with an ``op``; after expressions are resolved, the op's own pydantic model
(from the registry) validates the parameters with ``extra="forbid"``. That is
the discriminated-union dispatch by ``op``, done per node so a bad node
reports only its own op's errors. :func:`graphspec.pipeline.jsonschema.build`
generates the same union as a JSON Schema for editors.
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

# tensor dtypes a graph input may declare (graphspec.ops.types reads them from here)
DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool")

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FORMAT_VERSION = 1
MAX_NODES_PER_SCOPE = 200_000
MAX_DIM = 2**31 - 1  # largest tensor dim accepted (input shapes, example sizes)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a node/input/block/graph, or None if it can.

    >>> name_problem("conv1") is None, name_problem("1conv"), name_problem("class")
    (True, "'1conv' is not a valid identifier", "'class' is a Python keyword")
    """
    if not IDENT.fullmatch(name):
        return f"{name!r} is not a valid identifier"
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword"
    if name.startswith("__"):
        return f"{name!r} starts with '__', which is reserved"
    return None


# Characters a node name may not hold: '.' separates module path segments and
# 'node.port'; quotes, backslashes and control characters would break the code
# torch.fx writes (getattr(self, "block1-0")) and the file:line messages.
_NODE_NAME_BAD = re.compile(r'[.\'"\\\x00-\x1f\x7f]')


def node_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a node (a module), or None if it can.

    Node names follow torch's module names (non-empty, no '.'), so
    torchvision's ``block1-0`` is writable; identifiers stay the recommended
    style. Python keywords are refused because torch.fx writes a path segment
    that is an identifier as an attribute (``self.class`` would not compile).

    >>> node_name_problem("block1-0") is None, node_name_problem("0") is None
    (True, True)
    >>> node_name_problem("a.b"), node_name_problem(""), node_name_problem("class")
    ("'a.b' contains '.', which separates module paths", "'' is empty", "'class' is a Python keyword")
    """
    if not name:
        return "'' is empty"
    bad = _NODE_NAME_BAD.search(name)
    if bad:
        what = "'.', which separates module paths" if bad.group() == "." else f"{bad.group()!r}, which a module name cannot hold"
        return f"{name!r} contains {what}"
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword"
    if name.startswith("__"):
        return f"{name!r} starts with '__', which is reserved"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Scalar = Union[bool, int, float, str, None]
DimT = Union[int, str]
OutputsT = Union[str, list[str], dict[str, str]]


class InputDecl(_Strict):
    shape: list[DimT] = Field(description="dims: numbers, symbolic names (batch, seq) or ${expressions}")
    dtype: Literal[DTYPES] = "float32"  # type: ignore[valid-type]
    doc: str | None = None


class BlockDecl(_Strict):
    doc: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="name: default (null = required), or {type, default, doc}")
    inputs: list[str] = Field(default_factory=lambda: ["x"], description="input names, bound by the caller's 'in'")
    nodes: dict[str, dict[str, Any]]
    outputs: OutputsT


class GraphDecl(_Strict):
    doc: str | None = None
    inputs: dict[str, InputDecl]
    nodes: dict[str, dict[str, Any]]
    outputs: OutputsT


class SpecFile(_Strict):
    graphspec: Literal[1] = Field(description="format version")
    name: str | None = None
    doc: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    dims: dict[str, Annotated[int, Field(gt=0, le=MAX_DIM)]] = Field(default_factory=dict, description="example sizes of symbolic dims (MACs, parity, benchmarks)")
    imports: dict[str, str] = Field(default_factory=dict, description="alias: relative path of a blocks file")
    blocks: dict[str, BlockDecl] = Field(default_factory=dict)
    # single-graph form
    inputs: dict[str, InputDecl] | None = None
    nodes: dict[str, dict[str, Any]] | None = None
    outputs: OutputsT | None = None
    # multi-graph form
    graphs: dict[str, GraphDecl] | None = None
    train: dict[str, Any] | None = Field(None, description="training recipe (see docs/training.md)")
    sweep: dict[str, Any] | None = Field(None, description="hyperparameter search space for graphspec sweep (see docs/training.md)")

    @field_validator("dims")
    @classmethod
    def _dims_positive(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            if n <= 0:
                raise ValueError(f"dim {k!r} must be positive, got {n}")
            if n > MAX_DIM:
                raise ValueError(f"dim {k!r} is {n:,}; the largest size is {MAX_DIM:,} (2**31 - 1)")
        return v


def normalise_outputs(outputs: OutputsT) -> dict[str, str]:
    """``fc`` / ``[a, b]`` / ``{logits: fc}`` -> ``{name: ref}``.

    >>> normalise_outputs("fc"), normalise_outputs({"logits": "fc"})
    ({'fc': 'fc'}, {'logits': 'fc'})
    >>> normalise_outputs(["lstm.h_n"])
    {'lstm_h_n': 'lstm.h_n'}
    """
    if isinstance(outputs, str):
        outputs = [outputs]
    if isinstance(outputs, list):
        return {o.replace(".", "_"): o for o in outputs}
    return dict(outputs)
