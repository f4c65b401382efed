"""An ONNX graph as a flat analysed :class:`Graph` plus the weights its spec loads.

Each ONNX node becomes the registry op whose ``from_onnx`` accepts it (the
ONNX -> op mapping lives with the ops, ``onnx_types``/``from_onnx`` in
``graphspec/ops/*.py``); its constant inputs that the op reads as weights are
stored under the node's path (``layer1.0.conv1.weight``). ``Constant`` nodes
are constants, ``Identity`` and ``Dropout`` are dropped, and a ``MatMul`` by a
constant followed by the ``Add`` of a constant is one ``Linear``.

Node paths: the path of the exporter's node name (``layer1.0.conv1/Conv``, as
torch's exporter and ``graphspec export`` write them), else the module path of
a torch-style weight name (``layer1.0.conv1.weight``), else the ONNX node name
made a valid module name; always unique, never a prefix clash.

Every node that cannot be mapped is collected and reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from graphspec.errors import Collector, GraphspecError
from graphspec.graph.model import Graph, InputSpec
from graphspec.ops import registry
from graphspec.ops.types import TensorType
from graphspec.spec.schema import node_name_problem

__all__ = ["OnnxGraph", "build_graph", "CODE"]

CODE = "import-unsupported"  # the same code (and exit 10) as the torch import's unmappable places
_DROPPED = frozenset({"Identity", "Dropout"})
_WEIGHT_NAME = re.compile(r"^(?P<path>[^/\s]+)\.(weight|bias)$")
# ONNX TensorProto elem_type -> graphspec dtype
_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 6: "int32", 7: "int64", 9: "bool", 3: "int8", 2: "uint8"}


@dataclass
class OnnxGraph:
    graph: Graph
    weights: dict[str, np.ndarray]  # state_dict key -> value (parameters and buffers)
    onnx_params: int  # elements of the constants that became parameters (not running statistics)
    input_names: dict[str, str]  # spec input name -> ONNX input name
    output_names: dict[str, str]  # spec output name -> ONNX output name
    sizes: dict[str, int] = field(default_factory=dict)


def _ident(text: str, fallback: str) -> str:
    """``text`` as a spec name (input, output, dim): an identifier, not a keyword, no leading '__'."""
    import keyword

    name = re.sub(r"\W", "_", text).strip("_") or fallback
    name = f"{fallback}_{name}" if name[0].isdigit() else name
    return f"{name}_" if keyword.iskeyword(name) else name


def _input_types(model: Any, consts: dict, overrides: dict[str, TensorType], out: Collector) -> dict[str, tuple[str, TensorType]]:
    """ONNX input name -> (spec name, type): the file's shapes, symbolic dims as names, --input over them."""
    found: dict[str, tuple[str, TensorType]] = {}
    for value in model.graph.input:
        if value.name in consts:  # an initializer listed as an input (IR < 4)
            continue
        name = _ident(value.name, "x")
        given = overrides.get(name, overrides.get(value.name))
        if given is not None:
            found[value.name] = (name, given)
            continue
        t = value.type.tensor_type
        dtype = _DTYPES.get(t.elem_type)
        dims: list[Any] = []
        for i, d in enumerate(t.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(_ident(d.dim_param, f"d{i}"))
            else:
                dims.append(None)
        if dtype is None or None in dims or not t.HasField("shape"):
            out.add("usage", f"ONNX input {value.name!r} has " + ("an unsupported element type" if dtype is None else "a dim with neither a size nor a name"),
                    hint=f"give its shape: --input {name}=batch,3,224,224")
            continue
        found[value.name] = (name, TensorType(tuple(dims), dtype))
    unknown = [n for n in overrides if n not in {s for s, _ in found.values()} and n not in found]
    if unknown:
        names = ", ".join(s for s, _ in found.values())
        out.add("usage", f"--input names {', '.join(unknown)}, which the ONNX model has no input of (inputs: {names})")
    return found


class _Walker:
    def __init__(self, model: Any, consts: dict[str, np.ndarray], inputs: dict[str, tuple[str, TensorType]]):
        from graphspec.backends.onnx_import.read import attributes

        self.model = model
        self.attributes = attributes
        self.consts = consts
        self.g = nx.DiGraph()
        self.order: list[str] = []
        self.env: dict[str, tuple[str, int]] = {}  # ONNX value name -> (node id, port)
        self.out = Collector()
        self.used: set[str] = set()
        self.containers: set[str] = set()
        self.weights: dict[str, np.ndarray] = {}
        self.params = 0
        self.consumers: dict[str, list] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.graph_outputs = {o.name for o in model.graph.output}
        for onnx_name, (name, t) in inputs.items():
            self.claim(name)
            self.g.add_node(name, kind="input", op=None, inputs=[], ports=[], module=name, loc=None, scope=[], meta={"types": (t,)})
            self.order.append(name)
            self.env[onnx_name] = (name, 0)
        self.fused: dict[str, Any] = {}  # MatMul output -> the Add folded into it

    # -- names
    def problem(self, node: Any, message: str, hint: str | None = None) -> None:
        self.out.add(CODE, f"ONNX node {node.name or '(unnamed)'!r} ({node.op_type}): {message}", node=node.name or None, hint=hint)

    def free(self, path: str) -> bool:
        parts = path.split(".")
        if any(node_name_problem(p) for p in parts) or path in self.used or path in self.containers:
            return False
        return not any(".".join(parts[:i]) in self.used for i in range(1, len(parts)))

    def claim(self, path: str) -> str:
        self.used.add(path)
        parts = path.split(".")
        self.containers.update(".".join(parts[:i]) for i in range(1, len(parts)))
        return path

    def hinted(self, node: Any) -> list[str]:
        """Paths a node's name or weights suggest (most trusted first)."""
        wanted = []
        head = node.name.rsplit("/", 1)[0] if "/" in node.name else ""
        if head and not head.startswith("/"):
            wanted.append(head)  # graphspec export / torch dynamo: "layer1.0.conv1/Conv"
        for name in node.input:
            m = _WEIGHT_NAME.match(name) if name in self.consts else None
            if m:
                wanted.append(m.group("path"))
                break
        return wanted

    def scope_of(self, node: Any, inputs: list[tuple[str, int]]) -> str:
        """Where a node without a path goes (an exporter's ``node_Split_7``, torchvision's ``out += identity``):
        the deepest container of its consumers (inputs from outside a container are fine; an output
        feeding back into the container it came from would be a cycle), else of its producers."""
        paths = [h[0] for user in self.users(node) if (h := self.hinted(user))]
        paths = paths or [src for src, _ in inputs if self.g.nodes[src]["kind"] == "op"]
        containers = [p.split(".")[:-1] for p in paths]
        common: list[str] = []
        for parts in zip(*containers) if containers else []:
            if len(set(parts)) != 1:
                break
            common.append(parts[0])
        return ".".join(common)

    def users(self, node: Any) -> list:
        return [u for o in node.output for u in self.consumers.get(o, [])]

    def node_id(self, node: Any, inputs: list[tuple[str, int]]) -> str:
        wanted = self.hinted(node)
        auto = not node.name or re.fullmatch(r"(node_)?[A-Za-z]+(_\d+)?", node.name)
        flat = node.op_type.lower() if auto else _ident(node.name.replace(".", "_"), node.op_type.lower())
        scope = "" if wanted else self.scope_of(node, inputs)
        wanted.append(f"{scope}.{flat}" if scope else flat)
        # a path with a counter ("layer1.0.relu_1": a module applied twice) before a flat name
        for w in wanted:
            for candidate in [w] + [f"{w}_{k}" for k in range(1, 100)]:
                if self.free(candidate):
                    return self.claim(candidate)
        return self.claim(f"{wanted[-1]}_{len(self.used)}")

    # -- the walk
    def run(self) -> None:
        from graphspec.backends.onnx_import.read import constant_value

        live = _live_nodes(self.model)
        for index, node in enumerate(self.model.graph.node):
            if index not in live:
                continue  # computes nothing an output needs (an exporter's leftover Shape)
            if node.op_type == "Constant" and not node.domain:
                value = constant_value(node)
                if value is None:
                    self.problem(node, "a constant of a form graphspec does not read (sparse or string)")
                else:
                    self.consts[node.output[0]] = value
            elif node.op_type in _DROPPED and not node.domain:
                self.drop(node)
            elif node.output[0] in self.fused.values():
                continue  # an Add folded into the MatMul before it
            else:
                self.map(node)

    def drop(self, node: Any) -> None:
        src = node.input[0]
        if any(self.consumers.get(o) or o in self.graph_outputs for o in node.output[1:]):
            self.problem(node, "its mask output is used; dropout is dropped on import (eval mode)")
        if src in self.consts:
            self.consts[node.output[0]] = self.consts[src]
        elif src in self.env:
            self.env[node.output[0]] = self.env[src]

    def fold_bias(self, node: Any, consts: list) -> list:
        """MatMul(x, W) + b with constant W and b, the MatMul used once: Linear with a bias."""
        users = self.consumers.get(node.output[0], [])
        if node.op_type != "MatMul" or len(consts) != 2 or consts[1] is None or len(users) != 1 or node.output[0] in self.graph_outputs:
            return consts
        add = users[0]
        other = [i for i in add.input if i != node.output[0]]
        if add.op_type != "Add" or len(add.input) != 2 or len(other) != 1 or other[0] not in self.consts:
            return consts
        self.fused[node.output[0]] = add.output[0]
        return consts + [self.consts[other[0]]]

    def map(self, node: Any) -> None:
        names = list(node.input)
        while names and not names[-1]:
            names.pop()  # trailing optional inputs left out
        if node.domain not in ("", "ai.onnx"):
            return self.problem(node, f"op domain {node.domain!r} is not the standard ONNX domain", hint="export without custom ops")
        missing = [n for n in names if n and n not in self.consts and n not in self.env]
        if missing:  # an input failed upstream (reported there); still say when the op type has no op
            if not any(node.op_type in cls.onnx_types for cls in registry.all_ops()):
                self.problem(node, f"no op stands for ONNX {node.op_type}")
            return
        if "" in names:
            return self.problem(node, "an optional input left out in the middle is not supported")
        consts = [self.consts.get(n) if n not in self.env else None for n in names]
        types = [self.tensor_type(self.env[n]) if n in self.env else None for n in names]
        consts = self.fold_bias(node, consts)
        attrs = self.attributes(node)
        candidates = [cls for cls in registry.all_ops() if node.op_type in cls.onnx_types]
        found = next(((cls, m) for cls in candidates if (m := cls.from_onnx(node.op_type, attrs, consts, types)) is not None), None)
        if found is None:
            return self.unmapped(node, candidates, attrs, consts, names)
        cls, mapping = found
        try:
            op = cls(**mapping.params)
        except Exception as exc:  # a value the op's fields reject
            errors = exc.errors() if hasattr(exc, "errors") else []
            text = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in errors) or str(exc)
            return self.problem(node, f"{cls.op_name} cannot express its settings: {text}")
        extra = [o for o in node.output[len(op.outputs):] if o and (self.consumers.get(o) or o in self.graph_outputs)]
        if extra:
            return self.problem(node, f"its output {extra[0]!r} is used; {cls.op_name} has {len(op.outputs)} output(s)")
        self.add(node, op, mapping, [self.env[names[i]] for i in mapping.inputs])

    def unmapped(self, node: Any, candidates: list, attrs: dict, consts: list, names: list) -> None:
        if not candidates:
            return self.problem(node, f"no op stands for ONNX {node.op_type}", hint="graphspec ops lists the ops; `graphspec import` maps the ONNX ops listed in docs/import.md")
        if node.op_type == "Reshape" and len(consts) > 1 and consts[1] is None:
            return self.problem(node, f"its target shape {names[1]!r} is computed at run time (a dynamic shape); only a constant shape maps to Reshape",
                                hint="export with a constant shape (x.flatten(1), or view(-1, n)), or give fixed input sizes")
        shown = ", ".join(f"{k}={_short(v)}" for k, v in attrs.items()) or "no attributes"
        kinds = ", ".join("constant" if c is not None else "tensor" for c in consts)
        self.problem(node, f"{'/'.join(c.op_name for c in candidates)} cannot express it ({shown}; inputs: {kinds})")

    def add(self, node: Any, op: registry.Op, mapping: Any, inputs: list[tuple[str, int]]) -> None:
        from graphspec.passes import shapes

        node_id = self.node_id(node, inputs)
        ports = op.port_names(len(inputs))
        self.g.add_node(node_id, kind="op", op=op, inputs=inputs, ports=ports, module=node_id, loc=None, scope=[], meta={})
        for src, _ in inputs:
            self.g.add_edge(src, node_id)
        self.order.append(node_id)
        in_types = [self.tensor_type(r) for r in inputs]
        if all(t is not None for t in in_types):
            shapes._infer(self.g.nodes[node_id], node_id, in_types, self.out)
        for key, value in mapping.weights.items():
            self.weights[f"{node_id}.{key}"] = value
            self.params += int(value.size)
        for key, value in mapping.buffers.items():
            self.weights[f"{node_id}.{key}"] = value
        for port, name in enumerate(node.output[: len(op.outputs)]):
            if name:
                self.env[name] = (node_id, port)
        if node.output[0] in self.fused:
            self.env[self.fused[node.output[0]]] = (node_id, 0)

    def tensor_type(self, ref: tuple[str, int]) -> TensorType | None:
        types = self.g.nodes[ref[0]]["meta"].get("types")
        return types[ref[1]] if types and ref[1] < len(types) else None


def _live_nodes(model: Any) -> set[int]:
    """Indices of the nodes some graph output depends on."""
    nodes = list(model.graph.node)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output}
    live: set[int] = set()
    todo = [o.name for o in model.graph.output]
    while todo:
        k = producer.get(todo.pop())
        if k is not None and k not in live:
            live.add(k)
            todo.extend(i for i in nodes[k].input if i)
    return live


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def build_graph(model: Any, *, name: str, overrides: dict[str, TensorType] | None = None) -> OnnxGraph:
    """Map ``model`` (an ``onnx.ModelProto``) to an analysed Graph; raises one GraphspecError listing every unmappable node."""
    from graphspec.backends.onnx_import.read import constants
    from graphspec.passes import cost

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise GraphspecError.one(CODE, f"the model uses ONNX opset {opset}; graphspec import reads opset 13 and later",
                                 hint="export again with opset_version=13 or later (graphspec export writes 18+)")
    consts = constants(model)
    out = Collector()
    inputs = _input_types(model, consts, overrides or {}, out)
    out.raise_if_errors()
    w = _Walker(model, consts, inputs)
    w.run()
    outputs: dict[str, tuple[str, int]] = {}
    output_names: dict[str, str] = {}
    for o in model.graph.output:
        if o.name in w.env:
            spec_name = _ident(o.name, "out")
            outputs[spec_name] = w.env[o.name]
            output_names[spec_name] = o.name
        elif o.name in w.consts and not w.out.errors:
            w.out.add(CODE, f"ONNX output {o.name!r} is a constant; a spec output is computed from the inputs")
    w.out.raise_if_errors()
    graph = Graph(name=name, g=w.g, inputs={n: InputSpec(n, t) for n, t in inputs.values()}, outputs=outputs, order=w.order)
    symbols = {d for _, t in inputs.values() for d in t.shape if isinstance(d, str)}
    sizes = {s: 2 for s in symbols}
    cost.run(None, graph, w.out, sizes=sizes)
    w.out.raise_if_errors()
    return OnnxGraph(graph, w.weights, w.params, {n: o for o, (n, _) in inputs.items()}, output_names, sizes)
