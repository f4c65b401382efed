"""Memory budget: a static estimate of parameters and activations, checked before allocating.

The estimate comes from the analysis ``inspect`` shows (parameter counts of the
cost pass, output types of the shapes pass) at the sizes a command will run
with (export's example inputs, a bench batch size, the training batch size):

    bytes = parameters * 4 * (4 when training: weights, gradients, two Adam moments)
          + sum of every input and node output at those sizes * dtype size * (2 when training)

It is an upper bound meant to stop absurd specs (``out_features: 10**12``, an
input of ``[batch, 3, 100000, 100000]``) with a ``too-large`` error (exit 3)
naming the node or the dim, before torch allocates anything and the machine
swaps or the process is killed. Real models are far below the default.

The budget is, first found: :func:`set_limit` (the ``--budget`` option of the
commands), the ``GRAPHSPEC_BUDGET`` environment variable, :data:`DEFAULT_BUDGET`
(16 GiB). Sizes read like ``16G``, ``512MiB``, ``2e9`` (bytes; K/M/G/T are
powers of 1024).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

from graphspec.errors import GraphspecError

DEFAULT_BUDGET = 16 * 2**30
MIN_BUDGET = 2**20
MAX_BUDGET = 2**60
ENV_VAR = "GRAPHSPEC_BUDGET"
PARAM_BYTES = 4  # parameters are float32 unless a precision flag casts them later
TRAIN_PARAM_FACTOR = 4
TRAIN_ACTIVATION_FACTOR = 2
_ITEMSIZE = {"float64": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2, "uint8": 1, "bool": 1}
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kmgtp]?)(?:i?b)?\s*", re.IGNORECASE)

_limit: int | None = None


def parse_size(text: str) -> int:
    """Bytes from ``16G``, ``512MiB``, ``2e9``, ``1048576``; ValueError when not a size in range.

    >>> parse_size("16G"), parse_size("512MiB"), parse_size("2e9"), parse_size("1.5k")
    (17179869184, 536870912, 2000000000, 1536)
    """
    m = _SIZE.fullmatch(str(text))
    if not m:
        raise ValueError(f"expected a size such as 16G, 512M or 2e9 bytes, received {text!r}")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if not MIN_BUDGET // 1024 <= value <= MAX_BUDGET:
        raise ValueError(f"a size between 1K and {human_bytes(MAX_BUDGET)} is expected, received {text!r}")
    return value


def set_limit(n_bytes: int | None) -> None:
    """Set the process-wide budget (None: back to the environment variable or the default)."""
    global _limit
    _limit = None if n_bytes is None else int(n_bytes)


def limit() -> int:
    if _limit is not None:
        return _limit
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return parse_size(env)
        except ValueError as exc:
            raise GraphspecError.one("usage", f"environment variable {ENV_VAR}: {exc}") from None
    return DEFAULT_BUDGET


def human_bytes(n: float) -> str:
    """
    >>> human_bytes(17179869184), human_bytes(1536), human_bytes(12)
    ('16 GiB', '1.5 KiB', '12 B')
    """
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


@dataclass
class Estimate:
    params: int = 0
    param_bytes: int = 0
    activation_bytes: int = 0
    biggest_params: tuple[str, int] | None = None  # (node, parameter count)
    biggest_tensor: tuple[str, tuple[int, ...], str, int, tuple] | None = None  # (node or input, shape, dtype, bytes, symbolic shape)

    @property
    def total(self) -> int:
        return self.param_bytes + self.activation_bytes


def _tensor_bytes(t, sizes: Mapping[str, int]) -> tuple[tuple[int, ...], int]:
    from graphspec.ops.types import bind_dim
    from graphspec.spec.expr import ExprError

    try:
        shape = tuple(int(bind_dim(d, sizes)) for d in t.shape)
    except ExprError:  # a dim expression undefined at these sizes: the run itself will say so
        return (), 0
    n = 1
    for d in shape:
        n *= max(d, 0)
    return shape, n * _ITEMSIZE.get(t.dtype, 4)


def estimate(graph, sizes: Mapping[str, int] | None, *, training: bool = False) -> Estimate:
    """Bytes a forward (``training``: and backward) pass needs at ``sizes``, and the biggest offenders.

    ``sizes=None``: the parameters only (compiling a module allocates no activations).
    """
    est = Estimate()
    act = 0
    tensors = [(name, spec_in.type) for name, spec_in in graph.inputs.items()]
    for node_id in graph.op_nodes():
        meta = graph.node(node_id)["meta"]
        p = int(meta.get("params", 0))
        est.params += p
        if p and (est.biggest_params is None or p > est.biggest_params[1]):
            est.biggest_params = (node_id, p)
        tensors.extend((node_id, t) for t in meta.get("types", ()))
    for name, t in tensors if sizes is not None else ():
        shape, n = _tensor_bytes(t, sizes)
        act += n
        if est.biggest_tensor is None or n > est.biggest_tensor[3]:
            est.biggest_tensor = (name, shape, t.dtype, n, tuple(t.shape))
    est.param_bytes = est.params * PARAM_BYTES * (TRAIN_PARAM_FACTOR if training else 1)
    est.activation_bytes = act * (TRAIN_ACTIVATION_FACTOR if training else 1)
    return est


def check(graph, sizes: Mapping[str, int] | None, *, what: str, training: bool = False, budget: int | None = None) -> Estimate:
    """Raise ``too-large`` (exit 3) when ``graph`` at ``sizes`` needs more than the budget; else the estimate."""
    est = estimate(graph, sizes, training=training)
    cap = limit() if budget is None else int(budget)
    if est.total <= cap:
        return est
    if sizes is None:
        need = f"{human_bytes(est.total)} of parameters"
    else:
        at = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "static shapes"
        need = f"about {human_bytes(est.total)} at {at} (parameters {human_bytes(est.param_bytes)}, activations {human_bytes(est.activation_bytes)})"
    node, loc = _culprit_node(graph, est)
    raise refusal(f"{what} graph {graph.name!r} would need {need}", est.total, cap, _culprit(graph, est), node=node, location=loc)


def refusal(what: str, need: int, cap: int, culprit: str, **where) -> GraphspecError:
    """The ``too-large`` error: what needs how much, the budget, the culprit, how to raise the budget."""
    suggest = human_bytes(2 * need).replace(" ", "").replace("iB", "")
    return GraphspecError.one(
        "too-large",
        f"{what}, over the memory budget of {human_bytes(cap)}: {culprit}",
        hint=f"make it smaller, or raise the budget with --budget SIZE (e.g. --budget {suggest}) or {ENV_VAR}",
        **where,
    )


def _params_dominate(est: Estimate) -> bool:
    return est.biggest_params is not None and est.param_bytes >= est.activation_bytes


def _culprit(graph, est: Estimate) -> str:
    if _params_dominate(est):
        node, p = est.biggest_params
        return f"node {node!r} ({graph.node(node)['op'].op_name}) alone holds {p:,} parameters"
    name, shape, dtype, n, symbolic = est.biggest_tensor
    big = max(range(len(shape)), key=lambda i: shape[i]) if shape else None
    kind = "input" if name in graph.inputs else "the output of node"
    dim = ""
    if big is not None:
        label = f" ({symbolic[big]})" if isinstance(symbolic[big], str) else ""
        dim = f"; its largest dim is axis {big}{label} = {shape[big]:,}"
    return f"{kind} {name!r} is {list(shape)} {dtype} = {human_bytes(n)}{dim}"


def _culprit_node(graph, est: Estimate):
    name = est.biggest_params[0] if _params_dominate(est) else (est.biggest_tensor[0] if est.biggest_tensor else None)
    if name is None:
        return None, None
    if name in graph.inputs:
        return name, graph.inputs[name].loc
    return name, graph.node(name).get("loc")
