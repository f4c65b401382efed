"""Language pieces of issue 10: torch-style node names, Parameter, named copies,
``when:`` and ``op:`` from a block param."""

from __future__ import annotations

import copy
import pickle
import textwrap

import pytest
import torch

from graphspec.errors import GraphspecError
from graphspec.pipeline import load


def spec(text: str, **kw):
    return load("t.yaml", text=textwrap.dedent(text), **kw)


def errors(text: str, **kw) -> list:
    with pytest.raises(GraphspecError) as info:
        spec(text, **kw)
    return [d for d in info.value.diagnostics if d.severity == "error"]


# -- names ------------------------------------------------------------------------

NAMES = """
graphspec: 1
inputs: {x: {shape: [batch, 4]}}
nodes:
  trunk:
    op: Sequential
    in: x
    layers:
      - {op: Linear, out_features: 4}
  "block1-0": {op: Linear, in: trunk, out_features: 3}
  "0x": {op: ReLU, in: "block1-0"}
outputs: {y: "0x"}
"""


def test_torch_style_names_are_writable_and_referable():
    s = spec(NAMES)
    model = s.to_torch()
    assert "block1-0.weight" in model.state_dict()
    assert 'getattr(self, "block1-0")' in model.code
    x = torch.randn(2, 4)
    expected = torch.relu(getattr(model, "block1-0")(model.trunk(x)))
    assert torch.equal(model(x), expected)


@pytest.mark.parametrize("name, words", [("a.b", "contains '.'"), ("class", "Python keyword"), ("__x", "reserved"), ('a"b', "cannot hold")])
def test_bad_node_names_are_located(name, words):
    errs = errors(f"graphspec: 1\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  '{name}': {{op: ReLU, in: x}}\n  y: {{op: ReLU, in: x}}\noutputs: y\n")
    assert [(d.code, d.location.line) for d in errs] == [("bad-name", 4)]
    assert words in errs[0].message


def test_inputs_and_outputs_stay_identifiers():
    errs = errors("graphspec: 1\ninputs: {'in-1': {shape: [4]}}\nnodes: {}\noutputs: {'out-1': 'in-1'}\n")
    assert [d.code for d in errs] == ["bad-name", "bad-name"]


# -- Parameter --------------------------------------------------------------------

VIT_LIKE = """
graphspec: 1
params: {hidden: 8}
inputs: {tokens: {shape: [batch, 4, "${hidden}"]}}
nodes:
  class_token: {op: Parameter, shape: [1, 1, "${hidden}"]}
  encoder:
    op: vit_encoder
    in: tokens
blocks:
  vit_encoder:
    nodes:
      pos_embedding: {op: Parameter, shape: [1, 4, 8], init: normal, std: 0.02}
      add: {op: Add, in: [x, pos_embedding]}
      ln: {op: LayerNorm, in: add}
    outputs: ln
outputs: {y: encoder, t: class_token}
"""


def test_parameter_state_dict_key_is_the_node_path():
    s = spec(VIT_LIKE)
    g = s.graph()
    assert g.node("class_token")["meta"]["params"] == 8
    assert g.total_params == 8 + 32 + 16
    model = s.to_torch()
    sd = model.state_dict()
    assert list(sd) == ["class_token", "encoder.pos_embedding", "encoder.ln.weight", "encoder.ln.bias"]
    assert torch.count_nonzero(sd["class_token"]) == 0
    assert 0.005 < sd["encoder.pos_embedding"].std() < 0.05
    x = torch.randn(2, 4, 8)
    y, t = model(x)
    expected = torch.nn.functional.layer_norm(x + sd["encoder.pos_embedding"], (8,), sd["encoder.ln.weight"], sd["encoder.ln.bias"])
    assert torch.allclose(y, expected) and torch.equal(t, sd["class_token"])
    # gradients reach it, and copies keep it
    y.sum().backward()
    assert model.encoder.pos_embedding.grad is not None
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert list(other.state_dict()) == list(sd)
        assert torch.allclose(other(x)[0], y)


def test_parameter_not_read_by_outputs_still_counts():
    s = spec("graphspec: 1\ninputs: {x: {shape: [2]}}\nnodes:\n  p: {op: Parameter, shape: [3], init: ones}\n  y: {op: ReLU, in: x}\noutputs: y\n")
    assert list(s.to_torch().state_dict()) == ["p"] and s.graph().total_params == 3


@pytest.mark.parametrize(
    "params, words",
    [
        ("init: normal", "needs 'std'"),
        ("init: zeros, std: 1.0", "takes no 'std'"),
        ("init: uniform, a: 1, b: 0", "a < b"),
        ("init: bogus", "Input should be"),
        ("", "needs parameter 'shape'"),
    ],
)
def test_parameter_bad_init(params, words):
    shape = "" if not params else "shape: [2], "
    errs = errors(f"graphspec: 1\ninputs: {{x: {{shape: [2]}}}}\nnodes:\n  p: {{op: Parameter, {shape}{params}}}\n  y: {{op: Add, in: [x, p]}}\noutputs: y\n")
    assert len(errs) == 1 and words in errs[0].message and errs[0].location.line == 4


# -- named copies -----------------------------------------------------------------

COPIES = """
graphspec: 1
inputs: {x: {shape: [batch, 4]}}
nodes:
  dense:
    op: Linear
    in: x
    out_features: 4
    repeat: 3
    names: "denselayer${i + 1}"
  listed: {op: ReLU, in: dense, names: [first, second]}
outputs: {y: listed}
"""


def test_named_copies_from_an_expression_and_a_list():
    g = spec(COPIES).graph()
    ops = [n for n in g.order if g.node(n)["kind"] == "op"]
    assert ops == ["dense.denselayer1", "dense.denselayer2", "dense.denselayer3", "listed.first", "listed.second"]
    assert g.node("dense.denselayer2")["inputs"] == [("dense.denselayer1", 0)]
    assert g.outputs["y"] == ("listed.second", 0)


@pytest.mark.parametrize(
    "names, code, words",
    [
        ('["a", "a"]', "bad-name", "names two copies"),
        ('["a"]', "bad-value", "lists 1 name(s) for 2 copies"),
        ('"same"', "bad-type", "expression over i"),
        ('"n.${i}"', "bad-name", "contains '.'"),
        ('[forward, x]', "bad-name", "attribute of torch modules"),
    ],
)
def test_bad_copy_names(names, code, words):
    errs = errors(f"graphspec: 1\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  r: {{op: ReLU, in: x, repeat: 2, names: {names}}}\noutputs: r\n")
    assert [d.code for d in errs] == [code] and words in errs[0].message and errs[0].location.line == 4


# -- when and op params -----------------------------------------------------------

BLOCK = """
graphspec: 1
params: {down: false}
blocks:
  unit:
    params: {act: ReLU, down: false}
    nodes:
      conv: {op: Conv2d, in: x, out_channels: 4, kernel_size: 3, padding: 1}
      act: {op: "${act}", in: conv}
      proj: {op: Conv2d, in: x, out_channels: 4, kernel_size: 1, when: "${down}"}
      add: {op: Add, in: ["act", "${'proj' if down else 'x'}"]}
    outputs: add
inputs: {x: {shape: [batch, 4, 8, 8]}}
nodes:
  a: {op: unit, in: x, act: Hardsigmoid}
  b: {op: unit, in: a, down: true}
  s:
    op: Sequential
    in: b
    layers:
      - {op: Conv2d, out_channels: 4, kernel_size: 1, when: "${down}"}
      - {op: ReLU}
outputs: s
"""


def test_when_and_op_from_a_block_param():
    g = spec(BLOCK).graph()
    assert "a.proj" not in g.g and "b.proj" in g.g
    assert type(g.node("a.act")["op"]).__name__ == "Hardsigmoid" and type(g.node("b.act")["op"]).__name__ == "ReLU"
    assert g.node("a.add")["inputs"] == [("a.act", 0), ("x", 0)]
    assert g.node("b.add")["inputs"] == [("b.act", 0), ("b.proj", 0)]
    assert "s.0" in g.g and type(g.node("s.0")["op"]).__name__ == "ReLU"  # an absent layer takes no number
    g2 = spec(BLOCK, set={"params.down": True}).graph()
    assert type(g2.node("s.0")["op"]).__name__ == "Conv2d" and "s.1" in g2.g


def test_dangling_reference_to_an_absent_node_is_located():
    text = BLOCK.replace("""in: ["act", "${'proj' if down else 'x'}"]""", "in: [act, proj]")
    errs = errors(text)
    assert [(d.code, d.node, d.location.line) for d in errs] == [("unknown-ref", "a.add", 11)]
    assert "its 'when' is false" in errs[0].message and ":10:" in errs[0].message


def test_output_referring_to_an_absent_node():
    errs = errors("graphspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  r: {op: ReLU, in: x, when: false}\n  k: {op: ReLU, in: x}\noutputs: {y: r, k: k}\n")
    assert [(d.code, d.location.line) for d in errs] == [("unknown-ref", 6)]


def test_when_must_be_boolean_and_op_param_is_checked():
    errs = errors("graphspec: 1\nparams: {act: Relu}\ninputs: {x: {shape: [4]}}\nnodes:\n  r: {op: ReLU, in: x, when: 3}\n  k: {op: '${act}', in: x}\noutputs: [r, k]\n")
    assert [(d.code, d.location.line) for d in errs] == [("bad-type", 5), ("unknown-op", 6)]
    assert errs[1].hint == "did you mean 'ReLU'?"


def test_codegen_writes_torch_names_and_parameters(tmp_path):
    """The standalone file keeps non-identifier module names and Parameter tensors (keys and init)."""
    import importlib.util

    from graphspec.backends.codegen import generate

    for i, text in enumerate((NAMES, VIT_LIKE)):
        s = spec(text)
        source = generate(s)
        path = tmp_path / f"gen{i}.py"
        path.write_text(source, encoding="utf-8")
        mod_spec = importlib.util.spec_from_file_location(f"gen{i}", path)
        mod = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(mod)
        compiled = s.to_torch().eval()
        generated = getattr(mod, type(compiled).__name__)().eval()
        assert list(generated.state_dict()) == list(compiled.state_dict())
        generated.load_state_dict(compiled.state_dict(), strict=True)
        x = torch.randn(2, 4) if i == 0 else torch.randn(2, 4, 8)
        assert all(torch.equal(a, b) for a, b in zip(torch.atleast_1d(compiled(x)) if i == 0 else compiled(x), torch.atleast_1d(generated(x)) if i == 0 else generated(x)))
    assert "nn.init.normal_(torch.empty(1, 4, 8), std=0.02)" in source
