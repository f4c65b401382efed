"""The op registry: every op is one class holding everything about it.

An op class is a pydantic model whose fields are the op's parameters
(``extra="forbid"``, with ranges and descriptions). Beside the fields it
defines, under the same names for every op:

``infer(*inputs)``            shape and dtype rule -> TensorType or tuple (pure Python)
``count_params(*inputs)``     learnable parameter count (0 by default)
``count_macs(*inputs, outputs)``  multiply-accumulates at concrete sizes (0 by default)
``build_torch(*inputs)``      the torch.nn.Module that computes it (torch imported lazily)

Class variables declare the ports: ``inputs`` names (``"name?"`` optional,
``"*name"`` variadic) and ``outputs`` names (the first is the default that a
bare reference ``node`` means; ``node.port`` picks another).

Third-party ops register through the ``graphspec.ops`` entry-point group:
each entry point names a module (or a callable) that defines ``Op`` subclasses
decorated with :func:`register`. A spec can never name a Python path.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Iterator

from pydantic import BaseModel, ConfigDict

from graphspec.ops.types import TensorType

_REGISTRY: dict[str, type["Op"]] = {}
_LOADED = False

# Modules of built-in ops, imported on first registry access.
BUILTIN_MODULES = (
    "graphspec.ops.dense",
    "graphspec.ops.conv",
    "graphspec.ops.pool",
    "graphspec.ops.norm",
    "graphspec.ops.activation",
    "graphspec.ops.tensor",
    "graphspec.ops.recurrent",
    "graphspec.ops.attention",
    "graphspec.ops.generative",
    "graphspec.ops.parameter",
    "graphspec.ops.vision",
)

ENTRY_POINT_GROUP = "graphspec.ops"

# Node keys that belong to the graph, not to an op's parameters.
RESERVED_KEYS = frozenset({"op", "in", "repeat", "names", "when", "share", "doc"})


class Op(BaseModel):
    """Base class of all ops. Subclass, add fields, decorate with @register."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    op_name: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    category: ClassVar[str] = "misc"
    # True when the op computes differently in training (Dropout, BatchNorm)
    stateful_training: ClassVar[bool] = False

    def infer(self, *inputs: TensorType) -> TensorType | tuple[TensorType, ...]:
        raise NotImplementedError

    def count_params(self, *inputs: TensorType) -> int:
        return 0

    def count_macs(self, *inputs: TensorType, outputs: tuple[TensorType, ...]) -> int:
        return 0

    def build_torch(self, *inputs: TensorType) -> Any:
        raise NotImplementedError(f"{self.op_name} has no torch builder")

    # helpers -----------------------------------------------------------
    @classmethod
    def port_spec(cls) -> list[tuple[str, str]]:
        """[(name, kind)] with kind 'required' | 'optional' | 'variadic'."""
        out = []
        for p in cls.inputs:
            if p.startswith("*"):
                out.append((p[1:], "variadic"))
            elif p.endswith("?"):
                out.append((p[:-1], "optional"))
            else:
                out.append((p, "required"))
        return out

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def register(cls: type[Op]) -> type[Op]:
    """Class decorator adding an op to the registry under its class name."""
    name = cls.op_name or cls.__name__
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"op {name!r} is registered twice ({_REGISTRY[name].__module__} and {cls.__module__})")
    cls.op_name = name
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for mod in BUILTIN_MODULES:
        importlib.import_module(mod)
    _load_entry_points()


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if callable(loaded) and not isinstance(loaded, type):
            loaded()


def get(name: str) -> type[Op] | None:
    _load()
    return _REGISTRY.get(name)


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def all_ops() -> Iterator[type[Op]]:
    _load()
    for name in sorted(_REGISTRY):
        yield _REGISTRY[name]
