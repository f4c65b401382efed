"""compile_graph: spec -> torch.fx.GraphModule (module tree, fx code, contracts)."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import graphspec
from graphspec.backends.torch_fx import (
    Block,
    CompiledGraph,
    _call_args,
    class_name_for,
    example_inputs,
    module_tree,
)
from graphspec.errors import GraphspecError

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "tests" / "spec" / "fixtures" / "features.yaml"


def load(text: str, **kw):
    return graphspec.load("inline.yaml", text=text, **kw)


@pytest.fixture(scope="module")
def features():
    spec = graphspec.load(str(FEATURES))
    return spec, spec.to_torch()


# ---------------------------------------------------------------- the module tree


def test_returns_graph_module_named_after_the_spec(features):
    spec, model = features
    assert isinstance(model, torch.fx.GraphModule)
    assert isinstance(model, CompiledGraph)
    assert type(model).__name__ == "Mlp"
    assert model.graphspec_inputs == ["x"]
    assert model.graphspec_outputs == ["logits"]


def test_module_paths_are_node_ids(features):
    _, model = features
    assert list(model.state_dict()) == [
        "stem.fc.weight", "stem.fc.bias",
        "body.0.a.fc.weight", "body.0.a.fc.bias",
        "body.1.a.fc.weight", "body.1.a.fc.bias",
        "head.0.weight", "head.0.bias",
        "head.2.weight", "head.2.bias",
        "head2.weight", "head2.bias",
    ]  # fmt: skip
    # numbered children live in nn.Sequential, like torchvision's features.0
    assert isinstance(model.body, nn.Sequential) and isinstance(model.head, nn.Sequential)
    assert type(model.stem) is Block and type(model.body[0]) is Block
    assert isinstance(model.head[0], nn.Linear) and model.head[2].out_features == 10
    assert model.get_submodule("body.1.a.fc").in_features == 64


def test_parameter_count_matches_analysis_including_unused_nodes(features):
    spec, model = features
    # 'tied'/'head2' feed no output: their module still exists (the analysis counts it) ...
    assert sum(p.numel() for p in model.parameters()) == spec.graph().total_params == 15000
    # ... but forward does not compute them
    assert "head2" not in model.code and "tied" not in model.code


def test_fx_code_reads_like_pytorch(features):
    _, model = features
    code = model.code
    assert "def forward(self, x : torch.Tensor):" in code
    assert 'body_0_a_fc = getattr(self.body, "0").a.fc(stem_act)' in code
    assert 'body_0_add = getattr(self.body, "0").add(body_0_a_act, stem_act)' in code
    assert "return head_2" in code
    call_modules = [n for n in model.graph.nodes if n.op == "call_module"]
    assert [n.target for n in call_modules][:3] == ["stem.fc", "stem.act", "body.0.a.fc"]
    assert call_modules[0].meta["graphspec_node"] == "stem.fc"
    assert "features.yaml" in call_modules[0].meta["graphspec_loc"]


def test_forward_matches_manual_computation(features):
    _, model = features
    x = torch.randn(3, 64)
    h = torch.relu(model.stem.fc(x))
    for i in range(2):
        h = torch.relu(model.body[i].a.fc(h)) + h
    expected = model.head[2](torch.relu(model.head[0](h)))
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)


def test_shared_weights_call_one_module_twice():
    spec = load(
        """
graphspec: 1
name: tied
inputs: {x: {shape: [batch, 8]}}
nodes:
  fc: {op: Linear, in: x, out_features: 8}
  again: {op: Linear, in: fc, out_features: 8, share: fc}
outputs: {y: again}
"""
    )
    model = spec.to_torch()
    assert list(model.state_dict()) == ["fc.weight", "fc.bias"]
    targets = [(n.name, n.target) for n in model.graph.nodes if n.op == "call_module"]
    assert targets == [("fc", "fc"), ("again", "fc")]
    x = torch.randn(2, 8)
    torch.testing.assert_close(model(x), model.fc(model.fc(x)), rtol=0, atol=0)
    assert sum(p.numel() for p in model.parameters()) == spec.graph().total_params == 72


MULTI = """
graphspec: 1
name: multi_out
inputs: {x: {shape: [batch, 12]}}
nodes:
  split: {op: Split, in: x, split_size_or_sections: [2, 4, 6], dim: 1}
  cat: {op: Concat, in: [split.out2, split.out0], dim: 1}
  fc: {op: Linear, in: split.out1, out_features: 3}
outputs: {y: cat, z: fc, mid: split.out1}
"""


def test_multi_output_ops_use_getitem_and_outputs_are_a_tuple_in_order():
    spec = load(MULTI)
    model = spec.to_torch()
    assert model.graphspec_outputs == ["y", "z", "mid"]
    assert "split_out2 = split[2]" in model.code and "split_out0 = split[0]" in model.code
    x = torch.randn(5, 12)
    y, z, mid = model(x)
    a, b, c = torch.split(x, [2, 4, 6], dim=1)
    torch.testing.assert_close(y, torch.cat([c, a], dim=1), rtol=0, atol=0)
    torch.testing.assert_close(mid, b, rtol=0, atol=0)
    torch.testing.assert_close(z, model.fc(b), rtol=0, atol=0)


def test_recurrent_ports_and_two_inputs():
    spec = load(
        """
graphspec: 1
name: rnn
inputs: {x: {shape: [batch, seq, 8]}, h: {shape: [1, batch, 16]}}
nodes:
  rnn: {op: GRU, in: {x: x, h0: h}, hidden_size: 16}
outputs: {out: rnn.output, h: rnn.h_n}
"""
    )
    model = spec.to_torch()
    assert "def forward(self, x : torch.Tensor, h : torch.Tensor):" in model.code
    x, h = torch.randn(2, 7, 8), torch.randn(1, 2, 16)
    out, h_n = model(x, h)
    ref_out, ref_h = nn.GRU.forward(model.rnn, x, h)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=0)


class _FakeOp:
    inputs = ("query", "key?", "value?")

    @classmethod
    def port_spec(cls):
        from graphspec.ops.registry import Op

        return Op.port_spec.__func__(cls)


def test_skipped_optional_port_is_passed_as_none():
    attrs = {"inputs": [("q", 0), ("v", 0)], "ports": ["query", "value"]}
    assert _call_args(_FakeOp, attrs, lambda ref: ref[0]) == ["q", None, "v"]
    attrs = {"inputs": [("q", 0)], "ports": ["query"]}
    assert _call_args(_FakeOp, attrs, lambda ref: ref[0]) == ["q"]  # trailing absent ports are not passed


def test_input_named_like_a_builtin_and_output_that_is_an_input():
    spec = load(
        """
graphspec: 1
name: passthrough
inputs: {input: {shape: [batch, 4]}}
nodes:
  fc: {op: Linear, in: input, out_features: 2}
outputs: {y: fc, same: input}
"""
    )
    model = spec.to_torch()
    x = torch.randn(3, 4)
    y, same = model(x)
    assert same is x and y.shape == (3, 2)
    assert model.graphspec_inputs == ["input"]


# ---------------------------------------------------------------- outputs=


def test_outputs_selects_and_prunes():
    spec = load(MULTI)
    model = spec.to_torch(outputs=["mid"])
    assert model.graphspec_outputs == ["mid"]
    assert list(model.state_dict()) == []  # fc is not needed for 'mid'
    assert not hasattr(model, "fc") and not hasattr(model, "cat")
    x = torch.randn(2, 12)
    torch.testing.assert_close(model(x), x[:, 2:6], rtol=0, atol=0)
    # node references work too (passes.subgraph.extract)
    model = spec.to_torch(outputs=["fc"])
    assert model(x).shape == (2, 3)
    with pytest.raises(GraphspecError) as err:
        spec.to_torch(outputs=["nope"])
    assert err.value.diagnostics[0].code == "unknown-output"


# ---------------------------------------------------------------- contracts with torch


def test_state_dict_round_trip_and_train_eval(features):
    spec, model = features
    other = spec.to_torch()
    assert not torch.equal(other.stem.fc.weight, model.stem.fc.weight)
    other.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(4, 64)
    torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)
    other.train()
    assert all(m.training for m in other.modules())
    other.eval()
    assert not any(m.training for m in other.modules())


def test_to_dtype_and_device(features):
    spec, _ = features
    model = spec.to_torch().to(torch.float64)
    assert model(torch.randn(2, 64, dtype=torch.float64)).dtype == torch.float64
    meta = spec.to_torch().to("meta")
    assert meta.stem.fc.weight.device.type == "meta"
    assert meta(torch.randn(2, 64, device="meta")).shape == (2, 10)


def test_deepcopy_and_pickle_keep_everything(features):
    _, model = features
    x = torch.randn(2, 64)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert type(clone).__name__ == "Mlp" and isinstance(clone, CompiledGraph)
        assert list(clone.state_dict()) == list(model.state_dict())  # incl. the unused head2
        assert isinstance(clone.body, nn.Sequential)
        assert clone.graphspec_outputs == ["logits"]
        assert clone.stem.fc.weight is not model.stem.fc.weight
        torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)
    twice = copy.deepcopy(copy.deepcopy(model))
    assert list(twice.state_dict()) == list(model.state_dict())


def test_torch_export_with_dynamic_batch(features):
    from torch.export import Dim, export

    _, model = features
    model = copy.deepcopy(model).eval()
    batch = Dim("batch", min=1, max=4096)
    exported = export(model, (torch.randn(2, 64),), dynamic_shapes=({0: batch},))
    for n in (1, 7):
        x = torch.randn(n, 64)
        torch.testing.assert_close(exported.module()(x), model(x))
    # module paths survive into the export (ONNX and unflatten name things from them)
    stacks = [list(n.meta["nn_module_stack"].values())[-1][0] for n in exported.graph.nodes if n.op == "call_function"]
    assert stacks[:3] == ["stem.fc", "stem.act", "body.0.a.fc"]


def test_torch_compile_full_graph(features):
    _, model = features
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    for n in (2, 5):
        x = torch.randn(n, 64)
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.slow  # ~35 s with a cold inductor cache (C++ kernels), ~6 s warm
def test_torch_compile_inductor_multi_output():
    pytest.importorskip("torch._inductor")
    import shutil

    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("inductor needs a C compiler on CPU")
    model = load(MULTI).to_torch()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(3, 12)
    for a, b in zip(compiled(x), model(x)):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- names and errors


def test_class_names():
    assert class_name_for("resnet18") == "Resnet18"
    assert class_name_for("mobilenet_v2") == "MobilenetV2"
    assert class_name_for("vae", "decoder") == "VaeDecoder"
    assert class_name_for("vae", "vae") == "Vae"


def test_multi_graph_spec_names_the_graph():
    spec = load(
        """
graphspec: 1
name: two
graphs:
  enc:
    inputs: {x: {shape: [batch, 4]}}
    nodes: {fc: {op: Linear, in: x, out_features: 2}}
    outputs: {y: fc}
  dec:
    inputs: {z: {shape: [batch, 2]}}
    nodes: {out: {op: Linear, in: z, out_features: 4}}
    outputs: {x: out}
"""
    )
    assert type(spec.to_torch(graph="dec")).__name__ == "TwoDec"
    with pytest.raises(GraphspecError):
        spec.to_torch()  # several graphs: choose one


@pytest.mark.parametrize("name", ["forward", "training", "graph", "code", "state_dict", "graphspec_inputs"])
def test_node_named_like_a_module_attribute_is_a_clear_error(name):
    # reported by the loader already (validate, no torch), at the node's line
    with pytest.raises(GraphspecError) as err:
        load(
            f"""
graphspec: 1
name: clash
inputs: {{x: {{shape: [batch, 4]}}}}
nodes:
  {name}: {{op: Linear, in: x, out_features: 2}}
outputs: {{y: {name}}}
"""
        )
    diag = err.value.diagnostics[0]
    assert diag.code == "bad-name" and name in diag.message
    assert diag.location is not None and diag.location.line == 6


def test_module_tree_sorts_numbered_children():
    tree = module_tree(["a.10", "a.2", "b.x", "b.y.0"])
    assert list(tree["a"]) == ["2", "10"]
    assert list(tree["b"]) == ["x", "y"]
    with pytest.raises(ValueError):
        module_tree(["a", "a.b"])


def test_example_inputs_bind_dims_and_respect_embeddings():
    spec = load(
        """
graphspec: 1
name: emb
inputs: {tokens: {shape: [batch, seq], dtype: int64}}
nodes:
  embed: {op: Embedding, in: tokens, num_embeddings: 3, embedding_dim: 4}
outputs: {y: embed}
"""
    )
    (tokens,) = example_inputs(spec.graph(), {"batch": 5, "seq": 40})
    assert tokens.shape == (5, 40) and tokens.dtype == torch.int64
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 3
    assert spec.to_torch()(tokens).shape == (5, 40, 4)


def test_static_module_attribute_names_cover_torch():
    """validate rejects these names without importing torch; the list must stay complete."""
    from graphspec.backends.torch_fx import _RESERVED
    from graphspec.graph.build import MODULE_ATTRIBUTES

    public = {n for n in _RESERVED if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)
