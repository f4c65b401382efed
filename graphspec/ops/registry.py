"""The op registry: every op is one class holding everything about it.

An op class is a pydantic model whose fields are the op's parameters
(``extra="forbid"``, with ranges and descriptions). Beside the fields it
defines, under the same names for every op:

``infer(*inputs)``            shape and dtype rule -> TensorType or tuple (pure Python)
``count_params(*inputs)``     learnable parameter count (0 by default)
``count_macs(*inputs, outputs)``  multiply-accumulates at concrete sizes (0 by default)
``torch_call(*inputs)``       the torch.nn.Module that computes it, as data: a
                              :class:`TorchCall` (class import path and literal
                              arguments); ``build_torch(*inputs)`` instantiates it
                              and ``graphspec codegen`` writes it as source text

Class variables declare the ports: ``inputs`` names (``"name?"`` optional,
``"*name"`` variadic) and ``outputs`` names (the first is the default that a
bare reference ``node`` means; ``node.port`` picks another).

Third-party ops register through the ``graphspec.ops`` entry-point group:
each entry point names a module (or a callable) that defines ``Op`` subclasses
decorated with :func:`register`. A spec can never name a Python path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Mapping

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


def _is_literal(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    return type(value) in (tuple, list) and all(_is_literal(v) for v in value)


@dataclass(frozen=True)
class TorchCall:
    """The torch module an op builds, as data: ``target(*args, **kwargs)``.

    ``target`` is the class's import path (``"torch.nn.Conv2d"``,
    ``"graphspec.backends.torch_modules.Concat"``), so an op names its class
    without importing torch or the backends. Arguments are plain Python literals
    (None, bool, int, float, str, and tuples or lists of them): the same call builds
    the compiled module (:meth:`build`) and is written by ``graphspec codegen`` as
    source text, so the two cannot disagree.

    >>> TorchCall("torch.nn.Linear", (64, 10), {"bias": False})
    TorchCall(target='torch.nn.Linear', args=(64, 10), kwargs={'bias': False})
    """

    target: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "." not in self.target:
            raise ValueError(f"TorchCall target {self.target!r} is not an import path (module.Class)")
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        for where, value in [*enumerate(self.args), *self.kwargs.items()]:
            if not _is_literal(value):
                raise TypeError(f"{self.target} argument {where!r}: {type(value).__name__} {value!r} is not a plain literal")

    def resolve(self) -> type:
        """The class named by ``target`` (imports its module, e.g. torch)."""
        module, _, name = self.target.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def build(self) -> Any:
        return self.resolve()(*self.args, **self.kwargs)


class Op(BaseModel):
    """Base class of all ops. Subclass, add fields, decorate with @register."""

    # defer_build: an op's validator is built when a spec first uses the op, not for all of them at import (validate start-up)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)

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

    def torch_call(self, *inputs: TensorType) -> TorchCall:
        """The constructor call of the torch module (what ``build_torch`` builds)."""
        raise NotImplementedError(f"{self.op_name} has no torch builder")

    def build_torch(self, *inputs: TensorType) -> Any:
        # Override only for a module that is not one constructor call of literals
        # (``graphspec codegen`` cannot write such an op).
        return self.torch_call(*inputs).build()

    # import from torch (graphspec import) ------------------------------
    # Module classes this op stands for, by import path ("torch.nn.Conv2d"); a
    # class of a package the user's model has not imported is never matched.
    torch_classes: ClassVar[tuple[str, ...]] = ()
    # Names of torch functions and Tensor methods this op stands for ("relu":
    # torch.relu, F.relu, x.relu(); "add": operator.add, torch.add, x.add()).
    torch_functions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_torch(cls, module: Any) -> dict[str, Any] | None:
        """Op params for a torch ``module`` of one of :attr:`torch_classes` (exact
        class), None when it is not this op's.

        The default reads each field from the module attribute of the same name;
        a bool field whose attribute is a tensor or None (``bias``) reads as
        whether the tensor is there. The importer rebuilds the module from the
        params and compares its configuration, so a setting the op cannot
        express is reported, not lost.
        """
        if not is_torch_class(module, cls.torch_classes):
            return None
        axes = getattr(cls, "axis_fields", ())  # per-axis fields of spatial ops: (3, 3) reads as 3
        params = {}
        for name, info in cls.model_fields.items():
            if not hasattr(module, name):
                continue
            value = getattr(module, name)
            if info.annotation is bool and (value is None or hasattr(value, "shape")):
                params[name] = value is not None
            else:
                params[name] = plain(value, name in axes)
        return params

    @classmethod
    def from_torch_call(cls, fn: str, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Op params for a call of torch function or Tensor method ``fn``, None when not this op's.

        Tensor arguments arrive as their :class:`TensorType` (they become the op's
        inputs, in order); other arguments as Python values. The default accepts
        a one-tensor call of a name in :attr:`torch_functions` with no settings
        other than ``inplace``.
        """
        extra = {k: v for k, v in kwargs.items() if k != "inplace"}
        if fn not in cls.torch_functions or extra or len(args) != 1 or not isinstance(args[0], TensorType):
            return None
        return {}

    # import from ONNX (graphspec import model.onnx) ---------------------
    # ONNX op types this op can stand for ("Conv", "Gemm"); from_onnx decides.
    onnx_types: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_onnx(cls, op_type: str, attrs: dict[str, Any], consts: list[Any], types: list[Any]) -> "OnnxMapping | None":
        """How one ONNX node becomes this op, None when it is not this op's.

        ``attrs`` are the node's attributes as Python values; for each ONNX
        input, ``consts`` holds its numpy array when it is a constant
        (initializer or Constant node), else None, and ``types`` its
        TensorType when it is a runtime tensor. The default accepts one tensor
        input and no attributes.
        """
        if op_type not in cls.onnx_types or attrs or len(consts) != 1 or consts[0] is not None:
            return None
        return OnnxMapping({})

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
    def port_names(cls, n: int) -> list[str]:
        """The port names of ``n`` given inputs, in order (a variadic port repeats).

        >>> from graphspec.ops.registry import get
        >>> get("Concat").port_names(3), get("MultiheadAttention").port_names(2)
        (['xs', 'xs', 'xs'], ['query', 'key'])
        """
        names: list[str] = []
        for name, kind in cls.port_spec():
            if kind == "variadic":
                names.extend([name] * (n - len(names)))
            else:
                names.append(name)
        return names[:n]

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclass
class OnnxMapping:
    """An ONNX node as an op: its params, which ONNX inputs are the op's tensor
    inputs (in port order), and the constants that become its weights, by
    state_dict suffix (``weight``; ``buffers`` for running statistics)."""

    params: dict[str, Any]
    inputs: tuple[int, ...] = (0,)
    weights: dict[str, Any] = field(default_factory=dict)
    buffers: dict[str, Any] = field(default_factory=dict)


def onnx_pads(attrs: dict[str, Any], nd: int) -> int | tuple | None:
    """An ONNX ``pads`` attribute (begin..., end...) as torch's symmetric padding
    (collapsed like :func:`plain`); None when begin and end differ or ``auto_pad`` is set.

    >>> onnx_pads({"pads": [1, 1, 1, 1]}, 2), onnx_pads({"pads": [0, 1, 0, 1]}, 2), onnx_pads({}, 2)
    (1, (0, 1), 0)
    >>> onnx_pads({"pads": [0, 0, 1, 1]}, 2) is None
    True
    """
    auto = attrs.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):  # SAME_UPPER/SAME_LOWER: asymmetric in general
        return None
    pads = [0] * 2 * nd if auto == "VALID" else list(attrs.get("pads") or [0] * 2 * nd)
    if len(pads) != 2 * nd or pads[:nd] != pads[nd:]:
        return None
    return plain(tuple(int(p) for p in pads[:nd]), True)


def onnx_attrs_ok(attrs: dict[str, Any], known: tuple[str, ...]) -> bool:
    """True when every attribute of an ONNX node is one an op's from_onnx reads."""
    return all(name in known for name in attrs)


def plain(value: Any, collapse: bool = False) -> Any:
    """A torch attribute as a spec value (lists as tuples); with ``collapse``, one
    value per axis that is the same for every axis becomes that value.

    >>> plain((3, 3), True), plain((1, 2), True), plain([2, 2])
    (3, (1, 2), (2, 2))
    """
    if collapse and isinstance(value, (tuple, list)) and value and all(v == value[0] and type(v) is type(value[0]) for v in value):
        return value[0]
    return tuple(value) if isinstance(value, list) else value


def bind_call(args: tuple, kwargs: dict[str, Any], names: tuple[str, ...], defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """A torch call's arguments by parameter name (``names`` in signature order),
    defaults filled in; None when the call does not fit the signature.

    >>> bind_call(("x", 1), {"keepdim": True}, ("input", "dim", "keepdim"), {"keepdim": False})
    {'keepdim': True, 'input': 'x', 'dim': 1}
    """
    if len(args) > len(names) or any(k not in names for k in kwargs):
        return None
    bound = dict(defaults or {})
    bound.update(kwargs)
    for name, value in zip(names, args):
        if name in kwargs:
            return None
        bound[name] = value
    return bound if all(n in bound for n in names) else None


def is_torch_class(obj: Any, paths: tuple[str, ...]) -> bool:
    """True when ``type(obj)`` is exactly one of the classes named by ``paths``.

    A path whose top package is not imported yet cannot be the class of ``obj``,
    so it is skipped without importing it (torchvision stays unimported).
    """
    import sys

    for path in paths:
        module, _, name = path.rpartition(".")
        if module.split(".")[0] not in sys.modules:
            continue
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if cls is not None and type(obj) is cls:
            return True
    return False


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
