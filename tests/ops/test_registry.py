"""The registry as a whole: every op has every rule, and the zoo uses every op.

The design asks that adding an op means adding all of it at once: a one-line
summary, a strict pydantic model whose every field is documented, a shape
rule, the counting rules and a torch builder, with well-formed ports. These
tests walk the registry, so a new op is checked the moment it is registered.
They also require every op to appear in some model of the zoo (specs/ and
specs/blocks/), so each op is exercised end to end by the zoo tests; and, for
one real use of each op taken from the zoo, they build the torch module and
check the shape rule and parameter count against it.
"""

from __future__ import annotations

import inspect
import keyword
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import torch

import graphspec
from graphspec.ops import registry
from graphspec.ops.registry import RESERVED_KEYS, Op, TorchCall
from graphspec.ops.types import TensorType, bind
from graphspec.spec import yamlload

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SPEC_FILES = sorted(SPECS.glob("*.yaml"))
ZOO_FILES = sorted(SPECS.rglob("*.yaml"))  # the models and the blocks files they import

OPS = list(registry.all_ops())
OP_IDS = [c.op_name for c in OPS]
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _overrides(cls: type[Op], method: str) -> bool:
    """True when some class between cls and Op defines ``method`` itself."""
    for klass in cls.__mro__:
        if klass is Op:
            return False
        if method in vars(klass):
            return True
    return False


# -- the registry ------------------------------------------------------------------


def test_registry_has_the_builtin_ops():
    names = registry.names()
    assert names == sorted(set(names))
    assert len(names) >= 50
    for name in ("Conv2d", "Linear", "LSTM", "MultiheadAttention", "Reshape", "Concat", "Softmax"):
        assert name in names


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_name_and_lookup(cls):
    assert IDENT.fullmatch(cls.op_name) and cls.op_name[0].isupper(), cls.op_name
    assert registry.get(cls.op_name) is cls
    assert issubclass(cls, Op)
    assert cls.op_name not in ("Sequential",), "Sequential is a graph construct, not an op"
    assert isinstance(cls.category, str) and cls.category and cls.category != "misc"


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_docstring_summary(cls):
    doc = vars(cls).get("__doc__") or ""  # its own docstring, not a base class's
    assert doc.strip(), f"{cls.op_name} has no docstring"
    summary = cls.summary()
    assert summary == doc.strip().splitlines()[0]
    assert summary.endswith("."), f"{cls.op_name}: summary {summary!r} is not a sentence"
    assert summary.rstrip(".").strip() != cls.op_name, f"{cls.op_name}: the summary only repeats the name"


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_params_model_is_strict_and_documented(cls):
    assert cls.model_config.get("extra") == "forbid"
    assert cls.model_json_schema().get("additionalProperties") is False
    for name, field in cls.model_fields.items():
        assert field.description and field.description.strip(), f"{cls.op_name}.{name} has no description"
        assert name not in RESERVED_KEYS, f"{cls.op_name}.{name} would clash with the node key {name!r}"
        assert not keyword.iskeyword(name) and not name.startswith("_")


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_unknown_parameter_is_refused(cls):
    # Whatever the required fields, an unknown key is reported as extra_forbidden.
    with pytest.raises(Exception) as info:
        cls.model_validate({"no_such_parameter": 1})
    assert any(e["type"] == "extra_forbidden" for e in info.value.errors())


def test_parameter_outside_a_graph_is_its_init():
    from graphspec.ops.registry import get

    torch.manual_seed(3)
    module = get("Parameter")(shape=[2, 3], init="trunc_normal", std=0.1).build_torch()
    torch.manual_seed(3)
    assert torch.equal(module(), get("Parameter")(shape=[2, 3], init="trunc_normal", std=0.1).build_parameter())
    assert module.value.abs().max() <= 0.2


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_every_rule_is_defined(cls):
    assert _overrides(cls, "infer"), f"{cls.op_name} has no shape rule (infer)"
    # the module is described by torch_call (build_torch instantiates it); only an op whose
    # module is not one constructor call of literals overrides build_torch instead
    assert _overrides(cls, "torch_call") or _overrides(cls, "build_torch"), f"{cls.op_name} has no torch builder (torch_call)"
    # count_params / count_macs may keep the base's 0 (no weights, no MACs), but must be callable
    # with the documented signatures: (*inputs) and (*inputs, outputs=...).
    for method in ("infer", "count_params", "count_macs", "torch_call", "build_torch"):
        assert callable(getattr(cls, method))
    macs = inspect.signature(cls.count_macs).parameters
    assert "outputs" in macs and macs["outputs"].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@pytest.mark.parametrize("cls", OPS, ids=OP_IDS)
def test_ports_are_well_formed(cls):
    # only a learned tensor (Parameter) is a source without inputs
    assert isinstance(cls.inputs, tuple) and (cls.inputs or getattr(cls, "is_parameter", False)), f"{cls.op_name} takes no input"
    assert isinstance(cls.outputs, tuple) and cls.outputs, f"{cls.op_name} has no output"
    kinds = []
    names = []
    for raw, (name, kind) in zip(cls.inputs, cls.port_spec()):
        assert IDENT.fullmatch(name), f"{cls.op_name}: bad input port {raw!r}"
        assert not (raw.startswith("*") and raw.endswith("?")), f"{cls.op_name}: port {raw!r} is both variadic and optional"
        names.append(name)
        kinds.append(kind)
    assert len(set(names)) == len(names), f"{cls.op_name}: duplicate input ports {cls.inputs}"
    if "variadic" in kinds:
        assert kinds == ["variadic"], f"{cls.op_name}: a variadic port must be the only input port"
    # optional ports come after the required ones, so positional inputs stay unambiguous
    assert kinds == sorted(kinds, key=["required", "optional", "variadic"].index), f"{cls.op_name}: {cls.inputs}"
    assert all(IDENT.fullmatch(o) for o in cls.outputs), f"{cls.op_name}: bad output port in {cls.outputs}"
    assert len(set(cls.outputs)) == len(cls.outputs)


# -- the zoo uses every op -----------------------------------------------------------


def _node_bodies(tree) -> list[dict]:
    """Every node body of a spec or blocks file: graph, graphs.* and blocks.* nodes, and Sequential layers."""
    tables = []
    if isinstance(tree, dict):
        tables.append(tree.get("nodes"))
        for section in ("graphs", "blocks"):
            for decl in (tree.get(section) or {}).values():
                if isinstance(decl, dict):
                    tables.append(decl.get("nodes"))
    out: list[dict] = []

    def visit(body):
        if not isinstance(body, dict):
            return
        out.append(body)
        if body.get("op") == "Sequential":
            for layer in body.get("layers") or []:
                visit(layer)

    for table in tables:
        for body in (table or {}).values():
            visit(body)
    return out


@lru_cache(maxsize=1)
def zoo_op_uses() -> dict[str, list[str]]:
    """op name -> the zoo files that use it (block calls and Sequential are skipped).

    A block argument naming an op (``gate: Hardsigmoid`` for a block node
    ``op: "${gate}"``) counts as a use too.
    """
    known = set(registry.names())
    uses: dict[str, list[str]] = {}
    for path in ZOO_FILES:
        tree = yamlload.load_file(path).data
        for body in _node_bodies(tree):
            named = [body.get("op")] + [v for k, v in body.items() if k != "op" and isinstance(v, str)]
            for op in named:
                if isinstance(op, str) and op in known:
                    rel = path.relative_to(SPECS).as_posix()
                    if rel not in uses.setdefault(op, []):
                        uses[op].append(rel)
    return uses


def test_node_walker_finds_nested_layers():
    tree = yamlload.parse(
        "graphspec: 1\n"
        "blocks:\n"
        "  b: {nodes: {s: {op: Sequential, in: x, layers: [{op: Sequential, layers: [{op: GELU}]}]}}, outputs: s}\n"
        "graphs:\n"
        "  g: {inputs: {x: {shape: [1]}}, nodes: {n: {op: Tanh, in: x}}, outputs: n}\n"
        "nodes: {m: {op: b, in: x}}\n"
    ).data
    assert sorted(b["op"] for b in _node_bodies(tree)) == ["GELU", "Sequential", "Sequential", "Tanh", "b"]


def test_zoo_scan_sees_the_zoo():
    uses = zoo_op_uses()
    assert SPEC_FILES, "no zoo specs found"
    assert "blocks/resnet.yaml" in uses["BatchNorm2d"]  # a blocks file
    assert "lenet5.yaml" in uses["Conv2d"]  # a model


def test_every_op_is_used_in_the_zoo():
    uses = zoo_op_uses()
    unused = [name for name in registry.names() if name not in uses]
    assert not unused, (
        f"ops that no zoo spec uses: {', '.join(unused)}; "
        "every op must appear in a model in specs/ (or a blocks file it imports), so the zoo tests exercise it"
    )


# -- one real use of each op, against torch ---------------------------------------------


@lru_cache(maxsize=1)
def zoo_examples() -> dict[str, tuple]:
    """op name -> (op, input types, output types, params, macs, where) of its smallest use in the zoo.

    Types are bound to concrete sizes: the spec's dims, with batch 2.
    """
    best: dict[str, tuple] = {}
    for path in SPEC_FILES:
        spec = graphspec.load(str(path))
        sizes = {**spec.dims, "batch": 2}
        for gname, graph in spec.graphs.items():
            for node_id in graph.op_nodes():
                attrs = graph.node(node_id)
                op = attrs["op"]
                types = [graph.node(src)["meta"]["types"][port] for src, port in attrs["inputs"]]
                ins = tuple(bind(t, sizes) for t in types)
                outs = tuple(bind(t, sizes) for t in attrs["meta"]["types"])
                size = sum(int(torch.Size(t.shape).numel()) for t in ins)
                key = (attrs["meta"].get("params", 0), size)
                where = f"{path.name}:{gname}:{node_id}"
                if op.op_name not in best or key < best[op.op_name][0]:
                    best[op.op_name] = (key, (op, ins, outs, attrs["meta"].get("params", 0), attrs["meta"].get("macs", 0), where))
    return {name: value for name, (_, value) in best.items()}


def _example_tensor(t: TensorType) -> torch.Tensor:
    dtype = getattr(torch, t.dtype)
    if dtype.is_floating_point:
        return torch.randn(t.shape, dtype=dtype)
    return torch.zeros(t.shape, dtype=dtype)  # index 0 is valid for any Embedding


@pytest.mark.parametrize("name", registry.names())
def test_zoo_use_matches_torch(name):
    examples = zoo_examples()
    if name not in examples:
        pytest.fail(f"{name} is not used by any zoo model (see test_every_op_is_used_in_the_zoo)")
    op, ins, outs, params, macs, where = examples[name]
    # the counting rules at concrete sizes agree with the graph's analysis
    assert op.count_params(*ins) == params, where
    counted = op.count_macs(*ins, outputs=outs)
    assert isinstance(counted, int) and counted >= 0, where
    # the torch module computes what the shape rule says, with that many parameters
    module = op.build_torch(*ins)
    assert isinstance(module, torch.nn.Module), where
    module.eval()
    with torch.no_grad():
        result = module(*[_example_tensor(t) for t in ins])
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    assert [tuple(r.shape) for r in result] == [tuple(t.shape) for t in outs], where
    assert [str(r.dtype).removeprefix("torch.") for r in result] == [t.dtype for t in outs], where
    assert sum(p.numel() for p in module.parameters()) == params, where


# -- the torch module as data (TorchCall) -----------------------------------------------


def test_torch_call_holds_plain_literals_only():
    call = TorchCall("torch.nn.Linear", [4, 2], {"bias": False})
    assert call.args == (4, 2) and call.kwargs == {"bias": False}
    assert type(call.build()) is torch.nn.Linear is call.resolve()
    with pytest.raises(TypeError, match="not a plain literal"):
        TorchCall("torch.nn.Linear", (4, torch.Size([2])))
    with pytest.raises(ValueError, match="import path"):
        TorchCall("Linear")


def test_every_torch_call_needs_no_torch():
    """Ops describe their modules without importing torch: the ops layer stays torch-free."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import graphspec\n"
        "names = set()\n"
        f"for path in {[str(p) for p in SPEC_FILES]!r}:\n"
        "    for g in graphspec.load(path).graphs.values():\n"
        "        for n in g.op_nodes():\n"
        "            op = g.node(n)['op']\n"
        "            op.torch_call(*[g.node(s)['meta']['types'][p] for s, p in g.node(n)['inputs']])\n"
        "            names.add(op.op_name)\n"
        "print(len(names))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) == len(OPS)
