"""graphspec.graph.write: a flat analysed graph written back as a readable spec.

The round trip (graph -> text -> load) must give the same node ids, ops, op
params, wiring, shares, inputs and outputs, for every zoo graph and for
random small graphs; the text must read like the zoo (blocks written once,
``repeat``, ``names:``, ``Sequential``)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphspec
from graphspec.graph.write import WriteError, graph_to_spec
from graphspec.graph.write.emit import scalar
from graphspec.graph.write.names import names_pattern, snake
from zoo_cases import zoo_graph_params

# Every zoo graph, unmarked: writing and re-loading takes well under a second even for the big ones.
ZOO = [pytest.param(*p.values, id=p.id) for p in zoo_graph_params()]
SMALL = [pytest.param(*p.values, id=p.id) for p in zoo_graph_params() if not p.marks]


def signature(graph) -> dict:
    """Everything the round trip must keep, per node id."""
    out = {}
    for n, a in graph.g.nodes(data=True):
        op = a["op"]
        out[n] = (a["kind"], op.op_name if op else None, op.model_dump() if op else None, [tuple(s) for s in a["inputs"]], list(a["ports"]), a["module"] if op else None)
    return out


def round_trip(graph, name: str, dims=None, classes=None):
    text = graph_to_spec(graph, name=name, dims=dims, classes=classes)
    spec = graphspec.load(f"{name}.yaml", text=text)
    return text, spec


def assert_same(g1, g2) -> None:
    s1, s2 = signature(g1), signature(g2)
    assert s1.keys() == s2.keys()
    diff = [n for n in s1 if s1[n] != s2[n]]
    assert not diff, [(n, s1[n], s2[n]) for n in diff[:3]]
    assert {k: v.type for k, v in g1.inputs.items()} == {k: v.type for k, v in g2.inputs.items()}
    assert g1.outputs == g2.outputs
    assert (g1.total_params, g1.total_macs) == (g2.total_params, g2.total_macs)


def _without_scopes(graph):
    """The graph as an importer would hand it over: no record of the blocks that built it."""
    flat = copy.copy(graph)
    flat.g = graph.g.copy()
    for n in flat.g.nodes:
        flat.g.nodes[n]["scope"] = []
    return flat


@pytest.mark.parametrize("spec_name,graph_name", ZOO)
def test_zoo_graph_round_trips(spec_name, graph_name):
    spec = graphspec.load(spec_name)
    for g in [spec.graph(graph_name)]:
        text, again = round_trip(g, spec_name, dims=spec.dims)
        assert_same(g, again.graph())
        # deterministic, and a fixed point: writing the re-loaded graph gives the same text
        assert graph_to_spec(g, name=spec_name, dims=spec.dims) == text
        assert graph_to_spec(again.graph(), name=spec_name, dims=spec.dims) == text


@pytest.mark.parametrize("spec_name,graph_name", ZOO)
def test_zoo_graph_round_trips_by_structure_alone(spec_name, graph_name):
    spec = graphspec.load(spec_name)
    g = _without_scopes(spec.graph(graph_name))
    _, again = round_trip(g, spec_name, dims=spec.dims)
    assert_same(g, again.graph())


def _classes(model, graph) -> dict[str, str]:
    """What an importer passes: the class of every container module of the model."""
    return {n: type(m).__name__ for n, m in model.named_modules() if n and n not in graph.g}


@pytest.mark.parametrize("spec_name,graph_name", ZOO)
def test_zoo_graph_round_trips_with_the_classes_of_its_compiled_model(spec_name, graph_name):
    pytest.importorskip("torch")
    spec = graphspec.load(spec_name)
    g = spec.graph(graph_name)
    classes = _classes(spec.to_torch(graph_name), g)
    _, again = round_trip(_without_scopes(g), spec_name, dims=spec.dims, classes=classes)
    assert_same(g, again.graph())


def test_recurring_chains_of_an_import_become_blocks():
    pytest.importorskip("torch")
    spec = graphspec.load("mobilenet_v3_large")
    g = spec.graph()
    text = graph_to_spec(_without_scopes(g), name="m", classes=_classes(spec.to_torch(), g))
    blocks = yaml.safe_load(text)["blocks"]
    assert {"conv_batchnorm_relu", "conv_batchnorm_hardswish", "conv_batchnorm"} <= set(blocks)
    assert blocks["conv_batchnorm_relu"]["params"]["out_channels"] is None
    assert len(text.splitlines()) < len(g.g)


@pytest.mark.parametrize("spec_name,graph_name", SMALL + [pytest.param("resnet18", None, id="resnet18-main")])
def test_zoo_graph_compiles_to_the_same_model(spec_name, graph_name):
    torch = pytest.importorskip("torch")
    from graphspec.backends.torch_fx import example_inputs

    spec = graphspec.load(spec_name)
    g = spec.graph(graph_name)
    _, again = round_trip(g, spec_name, dims=spec.dims)
    m1, m2 = spec.to_torch(graph_name), again.to_torch()
    sd = m1.state_dict()
    assert list(sd) == list(m2.state_dict())
    m2.load_state_dict(sd, strict=True)
    m1.eval(), m2.eval()
    inputs = example_inputs(g, spec.dims)
    with torch.no_grad():
        y1, y2 = m1(*inputs), m2(*inputs)
    y1, y2 = (y1,) if torch.is_tensor(y1) else y1, (y2,) if torch.is_tensor(y2) else y2
    assert len(y1) == len(y2)
    for a, b in zip(y1, y2):
        assert torch.equal(a, b)


# -- readable ------------------------------------------------------------------


def _written(name: str) -> tuple[str, dict]:
    spec = graphspec.load(name)
    text = graph_to_spec(spec.graph(), name=name, dims=spec.dims)
    return text, yaml.safe_load(text)


def test_resnet18_writes_each_residual_block_once():
    text, tree = _written("resnet18")
    assert sorted(tree["blocks"]) == ["basic", "basic_down"]
    assert tree["blocks"]["basic"]["params"] == {"out_channels": None}
    assert tree["nodes"]["layer1"] == {"op": "Sequential", "in": "maxpool", "layers": [{"op": "basic", "repeat": 2, "out_channels": 64}]}
    assert tree["nodes"]["layer2"]["layers"] == [{"op": "basic_down", "out_channels": 128}, {"op": "basic", "out_channels": 128}]
    assert "relu_out: {op: ReLU, in: add, share: relu}" in text
    assert len(text.splitlines()) < 70  # the graph has 70 nodes


def test_densenet121_dense_layers_use_repeat_with_names():
    text, tree = _written("densenet121")
    feats = tree["blocks"]["features"]["nodes"]
    assert [feats[f"denseblock{k}"]["repeat"] for k in range(1, 5)] == [6, 12, 24, 16]
    assert all(feats[f"denseblock{k}"]["names"] == "denselayer${i + 1}" for k in range(1, 5))
    assert len(text.splitlines()) < 60  # 428 nodes


def test_resnet50_is_far_shorter_than_its_graph():
    spec = graphspec.load("resnet50")
    text = graph_to_spec(spec.graph(), name="resnet50")
    assert len(text.splitlines()) * 2 < len(spec.graph().g)
    tree = yaml.safe_load(text)
    # the bottleneck's widths are one param, the expansion a multiple of it
    assert any("${out_channels * 4}" in yaml.safe_dump(b) for b in tree["blocks"].values())


def test_block_names_come_from_classes():
    spec = graphspec.load("resnet18")
    g = _without_scopes(spec.graph())
    classes = {f"layer{k}": "Sequential" for k in range(1, 5)}
    classes.update({f"layer{k}.{i}": "BasicBlock" for k in range(1, 5) for i in range(2)})
    classes.update({f"layer{k}.0.downsample": "Sequential" for k in range(2, 5)})
    text, again = round_trip(g, "resnet18", classes=classes)
    assert_same(g, again.graph())
    tree = yaml.safe_load(text)
    assert sorted(tree["blocks"]) == ["basic_block", "basic_block_downsample"]
    assert tree["nodes"]["layer2"]["op"] == "Sequential"


def test_a_custom_class_that_is_a_chain_stays_a_block():
    spec = graphspec.load("resnet18")
    g = _without_scopes(spec.graph())
    classes = {f"layer{k}": "ResStage" for k in range(1, 5)}
    text, again = round_trip(g, "resnet18", classes=classes)
    assert_same(g, again.graph())
    tree = yaml.safe_load(text)
    assert tree["nodes"]["layer1"]["op"].startswith("res_stage")


def test_inputs_symbolic_dims_and_ports():
    spec = graphspec.load("lstm_classifier")
    text, tree = _written("lstm_classifier")
    assert tree["dims"] == {"batch": 1, "seq": 28}
    shape = next(iter(tree["inputs"].values()))["shape"]
    assert shape[0] == "batch" and "seq" in shape
    assert_same(spec.graph(), graphspec.load("x.yaml", text=text).graph())


PORTS_SPEC = """
graphspec: 1
name: ports
dims: {batch: 3, seq: 5}
blocks:
  enc:
    params: {hidden: 16}
    inputs: [tokens, memory]
    nodes:
      emb: {op: Embedding, in: tokens, num_embeddings: 50, embedding_dim: 16}
      pos: {op: Parameter, shape: [1, 1, 16], init: normal, std: 0.02}
      add: {op: Add, in: [emb, pos]}
      attn: {op: MultiheadAttention, in: {query: add, value: memory}, num_heads: 2, batch_first: true}
      act: {op: ReLU, in: attn}
      act_again: {op: ReLU, in: act, share: act}
      lstm: {op: LSTM, in: act_again, hidden_size: "${hidden}", batch_first: true}
    outputs: {seq: lstm, state: lstm.h_n}
inputs:
  tokens: {shape: [batch, seq], dtype: int64}
  memory: {shape: [batch, seq, 16]}
nodes:
  "block1-0": {op: enc, in: [tokens, memory], hidden: 16}
  "block1-1": {op: enc, in: [tokens, memory], hidden: 8}
  pair: {op: Concat, in: ["block1-0.state", "block1-1.state"], dim: 2}
  stages: {op: Sequential, in: "block1-1", layers: [{op: Linear, out_features: 4}, {op: Tanh, repeat: 2}]}
  copies: {op: Linear, in: stages, out_features: 4, repeat: 3, names: [first, second, third]}
outputs: {state: pair, last: copies, seq: "block1-0"}
"""


def test_ports_by_name_multi_output_blocks_shares_and_odd_names():
    spec = graphspec.load("ports.yaml", text=PORTS_SPEC)
    g = spec.graph()
    _, again = round_trip(_without_scopes(g), "ports", dims=spec.dims)
    assert_same(g, again.graph())
    text, again = round_trip(g, "ports", dims=spec.dims)
    assert_same(g, again.graph())
    tree = yaml.safe_load(text)
    assert tree["dims"] == {"batch": 3, "seq": 5}
    assert tree["inputs"]["tokens"] == {"shape": ["batch", "seq"], "dtype": "int64"}
    assert '"block1-0": {op: enc, in: [tokens, memory], hidden_size: 16}' in text
    assert 'in: ["block1-0.lstm_h_n", "block1-1.lstm_h_n"]' in text
    assert tree["nodes"]["copies"]["names"] == ["first", "second", "third"]
    assert tree["nodes"]["stages"]["layers"][1] == {"op": "Tanh", "repeat": 2}
    enc = tree["blocks"]["enc"]
    assert enc["inputs"] == ["x", "x1"] and enc["outputs"] == {"lstm": "lstm", "lstm_h_n": "lstm.h_n"}
    assert enc["nodes"]["act_again"] == {"op": "ReLU", "in": "act", "share": "act"}
    assert enc["nodes"]["attn"]["in"] == {"query": "add", "value": "x1"}
    assert enc["params"] == {"hidden_size": None}


def test_unused_containers_and_outputs_that_are_inputs():
    text = """
graphspec: 1
blocks:
  res:
    nodes:
      fc: {op: Linear, in: x, out_features: 4}
      act: {op: ReLU, in: fc}
      side: {op: Tanh, in: fc}
    outputs: act
inputs: {x: {shape: [batch, 4]}}
nodes:
  dead: {op: res, in: x}
  live: {op: Sequential, in: x, layers: [{op: res}, {op: res}]}
outputs: {a: live, b: x}
"""
    g = graphspec.load("d.yaml", text=text).graph()
    for graph in (g, _without_scopes(g)):
        written, again = round_trip(graph, "d")
        assert_same(g, again.graph())
    assert "outputs: {a: live, b: x}" in written


@pytest.mark.parametrize("name,snaked", [("BasicBlock", "basic_block"), ("_DenseLayer", "dense_layer"), ("MLPBlock", "mlp_block"), ("Conv2dNormActivation", "conv2d_norm_activation"), ("cna", "cna")])
def test_block_names_are_snake_case(name, snaked):
    assert snake(name) == snaked


@pytest.mark.parametrize("names,pattern", [
    (["denselayer1", "denselayer2", "denselayer3"], "denselayer${i + 1}"),
    (["encoder_layer_0", "encoder_layer_1"], "encoder_layer_${i}"),
    (["block1-0", "block1-1"], "block1-${i}"),
    (["a1", "a3"], None), (["a01", "a02"], None), (["x", "y"], None), (["1", "2"], None),
])
def test_names_of_copies(names, pattern):
    assert names_pattern(names) == pattern


def test_share_across_blocks_is_refused():
    text = """
graphspec: 1
name: t
blocks:
  b:
    nodes:
      fc: {op: Linear, in: x, out_features: 4}
    outputs: fc
inputs: {x: {shape: [batch, 4]}}
nodes:
  a: {op: b, in: x}
  fc: {op: Linear, in: a, out_features: 4}
outputs: fc
"""
    g = graphspec.load("t.yaml", text=text).graph()
    g.g.nodes["fc"]["module"] = "a.fc"  # as an importer would record a module called from two places
    with pytest.raises(WriteError, match="'fc' shares the weights of 'a.fc'"):
        graph_to_spec(g, name="t")


def test_a_string_with_an_expression_is_refused():
    g = graphspec.load("t.yaml", text="graphspec: 1\ninputs: {x: {shape: [2, 4, 8, 8]}}\nnodes:\n  u: {op: Upsample, in: x, scale_factor: 2}\noutputs: u\n").graph()
    g.g.nodes["u"]["op"] = g.g.nodes["u"]["op"].model_copy(update={"mode": "${oops}"})
    with pytest.raises(WriteError, match="expression"):
        graph_to_spec(g, name="t")


@pytest.mark.parametrize("value", [1e-05, 0.1, 1e20, -2.5e-7, 3.0, "yes", "null", "0", "block1-0", "a b", "lstm.h_n", "é", True, None, 7])
def test_scalars_read_back_with_their_type(value):
    assert yaml.safe_load(f"k: {scalar(value)}")["k"] == value
    assert type(yaml.safe_load(f"k: {scalar(value)}")["k"]) is type(value)


# -- random small graphs -------------------------------------------------------------

W = 8
BLOCKS = {
    "res": {"nodes": {"fc": {"op": "Linear", "in": "x", "out_features": W}, "act": {"op": "ReLU", "in": "fc"}, "add": {"op": "Add", "in": ["act", "x"]}}, "outputs": "add"},
    "mlp": {
        "params": {"hidden": None},
        "nodes": {"fc1": {"op": "Linear", "in": "x", "out_features": "${hidden}"}, "act": {"op": "GELU", "in": "fc1"}, "fc2": {"op": "Linear", "in": "act", "out_features": W}},
        "outputs": "fc2",
    },
    "mix": {"inputs": ["x", "y"], "nodes": {"add": {"op": "Add", "in": ["x", "y"]}, "fc": {"op": "Linear", "in": "add", "out_features": W}}, "outputs": {"out": "fc", "sum": "add"}},
}
LEAVES = [{"op": "Linear", "out_features": W}, {"op": "ReLU"}, {"op": "Tanh"}, {"op": "Dropout", "p": 0.25}, {"op": "LayerNorm"}]
NAMES = st.sampled_from(["n", "layer", "block1-", "stage_", "0"])


@st.composite
def layer(draw, depth=0):
    kind = draw(st.sampled_from(["leaf", "res", "mlp"] + (["seq"] if depth < 2 else [])))
    if kind == "leaf":
        body = dict(draw(st.sampled_from(LEAVES)))
    elif kind == "res":
        body = {"op": "res"}
    elif kind == "mlp":
        body = {"op": "mlp", "hidden": draw(st.sampled_from([W, 2 * W, 4 * W]))}
    else:
        body = {"op": "Sequential", "layers": draw(st.lists(layer(depth + 1), min_size=1, max_size=3))}
    if kind != "seq" and draw(st.booleans()):
        body["repeat"] = draw(st.integers(1, 3))
    return body


@st.composite
def spec_text(draw):
    nodes: dict = {}
    prev = "x"
    for k in range(draw(st.integers(1, 6))):
        stem = draw(NAMES)
        name = f"{stem}{k}" if stem != "0" else str(k)
        kind = draw(st.sampled_from(["layer", "layer", "named", "skip", "mix"]))
        if kind == "named":
            count = draw(st.integers(2, 4))
            start = draw(st.integers(0, 2))
            names = draw(st.sampled_from([f"unit${{i + {start}}}", [f"u{j}-{k}" for j in range(count)]]))
            body = {"op": draw(st.sampled_from(["res", "mlp"])), "repeat": count, "names": names}
            if body["op"] == "mlp":
                body["hidden"] = 2 * W
        elif kind == "skip" and prev != "x":
            body = {"op": "Add", "in": [prev, "x"]}
        elif kind == "mix":
            body = {"op": "mix", "in": [prev, "x"]}
        else:
            body = draw(layer())
        body = {"op": body.pop("op"), "in": body.pop("in", prev), **body}
        nodes[name] = body
        prev = name if kind != "mix" or draw(st.booleans()) else f"{name}.sum"
    outputs = {"y": prev}
    return yaml.safe_dump({"graphspec": 1, "name": "rand", "dims": {"batch": 2}, "blocks": BLOCKS, "inputs": {"x": {"shape": ["batch", W]}}, "nodes": nodes, "outputs": outputs}, sort_keys=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_text(), st.sampled_from(["scopes", "structure", "classes"]))
def test_random_graphs_round_trip(text, hints):
    g = graphspec.load("rand.yaml", text=text).graph()
    classes = None
    if hints == "classes":  # what an importer would pass for the torch model of this graph
        scopes = {p: b for n in g.g.nodes for p, b in g.g.nodes[n]["scope"]}
        classes = {p: {"Sequential": "Sequential", "repeat": "ModuleList"}.get(b, b.title()) for p, b in scopes.items()}
    if hints != "scopes":
        g = _without_scopes(g)
    written, again = round_trip(g, "rand", dims={"batch": 2}, classes=classes)
    assert_same(g, again.graph())
    assert re.search(r"^dims: \{batch: 2\}$", written, re.M)
