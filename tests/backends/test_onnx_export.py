"""ONNX export: dynamic dims, names, metadata, weights, and the parity check."""

import hashlib
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

import graphspec
from graphspec.backends import example_inputs as ex
from graphspec.backends import onnx_cleanup, parity, weights
from graphspec.backends import onnx_export as oe
from graphspec.errors import ExitCode, GraphspecError
from graphspec.runtime.session import Session

TWO_IN = """\
graphspec: 1
name: two_in
params: {vocab: 50}
dims: {batch: 1, seq: 6}
inputs:
  tokens: {shape: [batch, seq], dtype: int64}
  feats: {shape: [batch, seq, 4]}
nodes:
  emb: {op: Embedding, in: tokens, num_embeddings: "${vocab}", embedding_dim: 4}
  add: {op: Add, in: [emb, feats]}
  block: {op: Sequential, in: add, layers: [{op: Linear, out_features: 8}, {op: ReLU}]}
  pool: {op: Mean, in: block, dim: 1}
  fc: {op: Linear, in: pool, out_features: 3}
outputs: {logits: fc, hidden: block}
"""

TINY = """\
graphspec: 1
name: tiny
params: {width: 3}
inputs:
  x: {shape: [batch, 4]}
nodes:
  fc: {op: Linear, in: x, out_features: "${width}"}
  act: {op: ReLU, in: fc}
  out: {op: Linear, in: act, out_features: 2}
outputs: {y: out}
"""


def load(text, name, **overrides):
    return graphspec.load(f"{name}.yaml", set=overrides or None, text=text)


@pytest.fixture(scope="module")
def two_in(tmp_path_factory):
    spec = load(TWO_IN, "two_in")
    path = tmp_path_factory.mktemp("onnx") / "two_in.onnx"
    result = oe.export(spec, path)
    return spec, result


# ---------------------------------------------------------------- the exported model


def test_export_keeps_symbolic_dims_by_name(two_in):
    spec, result = two_in
    model = onnx.load(result.model_path)
    dims = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in list(model.graph.input) + list(model.graph.output)}
    assert dims == {"tokens": ["batch", "seq"], "feats": ["batch", "seq", 4], "logits": ["batch", 3], "hidden": ["batch", "seq", 8]}
    assert result.dynamic_dims == ["batch", "seq"] and result.static_dims == {}
    onnx.checker.check_model(model, full_check=True)


def test_metadata(two_in):
    spec, result = two_in
    model = onnx.load(result.model_path)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["graphspec.spec"] == TWO_IN
    assert meta["graphspec.sha256"] == hashlib.sha256(TWO_IN.encode()).hexdigest() == spec.sha256
    assert meta["graphspec.version"] == graphspec.__version__
    assert json.loads(meta["graphspec.inputs"]) == [
        {"name": "tokens", "shape": ["batch", "seq"], "dtype": "int64"},
        {"name": "feats", "shape": ["batch", "seq", 4], "dtype": "float32"},
    ]
    assert [o["name"] for o in json.loads(meta["graphspec.outputs"])] == ["logits", "hidden"]
    assert json.loads(meta["graphspec.dims"]) == {"batch": 2, "seq": 6}
    assert set(oe.METADATA_KEYS) <= set(meta)


def test_node_names_follow_spec_paths(two_in):
    _, result = two_in
    names = [n.name for n in onnx.load(result.model_path).graph.node]
    assert "emb/Gather" in names and "fc/Gemm" in names and "pool/ReduceMean" in names
    assert any(n.startswith("block.0/") for n in names) and "block.1/Relu" in names
    assert len(names) == len(set(names))


def test_parity_report(two_in):
    _, result = two_in
    rep = result.parity
    assert rep.passed and rep.provider == "cpu" and (rep.atol, rep.rtol) == (1e-4, 1e-3)
    assert [p.sizes for p in rep.points] == [{"batch": 1, "seq": 6}, {"batch": 3, "seq": 5}]
    doc = json.loads(open(result.parity_path).read())
    assert result.parity_path.endswith("two_in.parity.json")
    assert doc["passed"] is True and set(doc["outputs"]) == {"logits", "hidden"}
    assert doc["max_abs"] <= 1e-4 and doc["criterion"].startswith("|onnx - torch|")


@pytest.mark.parametrize("batch,seq", [(5, 11), (1, 1), (8, 2)])
def test_dynamic_sizes_never_used_in_export(two_in, batch, seq):
    spec, result = two_in
    g = spec.graph()
    feeds = ex.make_inputs(g, ["tokens", "feats"], {"batch": batch, "seq": seq}, seed=7)
    got = Session(result.model_path, provider="cpu").run(feeds)
    ref = parity.run_torch(result.module, feeds, ["tokens", "feats"])
    assert got["hidden"].shape == (batch, seq, 8)
    np.testing.assert_allclose(got["logits"], ref[0], atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(got["hidden"], ref[1], atol=1e-4, rtol=1e-3)


def test_token_inputs_stay_in_the_vocabulary(two_in):
    spec, _ = two_in
    feeds = ex.make_inputs(spec.graph(), ["tokens", "feats"], {"batch": 64, "seq": 64})
    assert feeds["tokens"].dtype == np.int64 and 0 <= feeds["tokens"].min() and feeds["tokens"].max() < 50
    assert ex.integer_ranges(spec.graph()) == {"tokens": 50}


# ---------------------------------------------------------------- parity failures


def test_parity_failure_names_the_worst_output(two_in, monkeypatch):
    spec, result = two_in
    real = parity.run_onnx

    def perturbed(session, feeds):
        out = real(session, feeds)
        out["hidden"] = out["hidden"] + 0.01
        return out

    monkeypatch.setattr(parity, "run_onnx", perturbed)
    g = spec.graph()
    rep = parity.check(result.module, result.model_path, g, ["tokens", "feats"], ["logits", "hidden"], parity.points(g, {"batch": 2, "seq": 6}))
    assert not rep.passed
    assert rep.worst()[1].name == "hidden"
    assert rep.per_output()["logits"]["passed"] is True
    err = rep.error()
    assert err.exit_code == ExitCode.PARITY == 6
    assert "'hidden'" in err.diagnostics[0].message and "failing outputs: hidden" in err.diagnostics[0].message
    assert rep.to_json()["worst_output"] == "hidden"


def test_strict_export_raises_on_parity_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(parity, "run_onnx", lambda s, f: {k: v * 1.1 + 1 for k, v in s.run(f).items()})
    with pytest.raises(GraphspecError) as info:
        oe.export(load(TINY, "tiny"), tmp_path / "t.onnx", strict=True)
    assert info.value.exit_code == 6 and info.value.diagnostics[0].node == "y"
    assert (tmp_path / "t.parity.json").exists() and (tmp_path / "t.onnx").exists()


def test_compare_rules():
    ref = np.array([1.0, 100.0, 0.0], np.float32)
    ok = parity.compare("a", ref, ref + np.array([5e-5, 0.09, 0], np.float32))
    assert ok.passed and ok.ratio <= 1
    bad = parity.compare("a", ref, ref + np.array([0, 0.2, 0], np.float32))
    assert not bad.passed and bad.max_abs == pytest.approx(0.2, rel=1e-3) and bad.ratio > 1
    # NaN/Inf never count as agreement, even NaN against NaN
    both = parity.compare("n", np.array([np.nan, 1]), np.array([np.nan, 1]))
    assert not both.passed and "NaN or Inf in the PyTorch output" in both.note
    assert not parity.compare("n", np.array([np.inf, 1]), np.array([np.inf, 1])).passed
    nan = parity.compare("n", np.array([1.0, 1]), np.array([np.nan, 1]))
    assert not nan.passed and "NaN" in nan.note and "onnxruntime" in nan.note
    shape = parity.compare("s", np.zeros((2, 3)), np.zeros((3, 2)))
    assert not shape.passed and "shape differs" in shape.note
    assert parity.compare("i", np.array([1, 2]), np.array([1, 2])).passed
    assert not parity.compare("i", np.array([1, 2]), np.array([1, 3])).passed
    assert parity.tolerance("float16") == (1e-2, 1e-2)


def test_parity_points():
    spec = load(TWO_IN, "two_in")
    g = spec.graph()
    assert parity.points(g, {"batch": 2, "seq": 28}) == [{"batch": 1, "seq": 28}, {"batch": 3, "seq": 21}]
    assert parity.points(g, {"batch": 2, "seq": 6}, static={"seq": 6}) == [{"batch": 1, "seq": 6}, {"batch": 3, "seq": 6}]
    assert ex.example_sizes(spec, g) == {"batch": 2, "seq": 6}
    assert ex.symbols_of(g) == {"batch": True, "seq": False}


# ---------------------------------------------------------------- quiet, fallbacks, subgraphs


def test_export_prints_nothing(tmp_path, capfd):
    oe.export(load(TINY, "tiny"), tmp_path / "t.onnx")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_named_dims_rejected_falls_back_to_inferred_dims(tmp_path, monkeypatch):
    real = oe._run_exporter
    seen = []

    def picky(module, args, input_names, output_names, dynamic_shapes, opset, external):
        seen.append(dynamic_shapes)
        if len(seen) == 1:
            raise RuntimeError("Constraints violated (batch)!")
        return real(module, args, input_names, output_names, dynamic_shapes, opset, external)

    monkeypatch.setattr(oe, "_run_exporter", picky)
    result = oe.export(load(TINY, "tiny"), tmp_path / "t.onnx")
    assert len(seen) == 2
    assert any("inferred dims" in w for w in result.warnings)
    model = onnx.load(result.model_path)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert result.parity.passed


def test_export_failure_is_an_export_error(tmp_path, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("unsupported op aten::frobnicate")

    monkeypatch.setattr(oe, "_run_exporter", broken)
    with pytest.raises(GraphspecError) as info:
        oe.export(load(TINY, "tiny"), tmp_path / "t.onnx")
    d = info.value.diagnostics[0]
    assert d.code == "export" and "frobnicate" in d.message


def test_output_path_must_be_onnx(tmp_path):
    with pytest.raises(GraphspecError) as info:
        oe.export(load(TINY, "tiny"), tmp_path / "t.pt")
    assert info.value.exit_code == ExitCode.USAGE


def test_subgraph_outputs(tmp_path):
    spec = load(TWO_IN, "two_in")
    result = oe.export(spec, tmp_path / "sub.onnx", outputs=["emb"])
    assert [o["name"] for o in result.outputs] == ["emb"] and [i["name"] for i in result.inputs] == ["tokens"]
    assert result.parity.passed
    model = onnx.load(result.model_path)
    assert [i.name for i in model.graph.input] == ["tokens"]
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == ["batch", "seq", 4]


# ---------------------------------------------------------------- node renaming (unit)


def _node(op, name, scopes=None, rule=None):
    n = helper.make_node(op, ["a"], ["b"], name=name)
    if scopes is not None:
        n.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=repr(scopes))
    if rule:
        n.metadata_props.add(key="pkg.onnxscript.rewriter.rule_name", value=rule)
    return n


def test_rename_nodes_unit():
    spec = graphspec.load("stem.yaml", text="""\
graphspec: 1
name: stem
inputs:
  x: {shape: [batch, 3, 8, 8]}
nodes:
  conv1: {op: Conv2d, in: x, out_channels: 4, kernel_size: 3, bias: false}
  bn1: {op: BatchNorm2d, in: conv1}
  relu: {op: ReLU, in: bn1}
outputs: {y: relu}
""")
    g = spec.graph()
    graph = helper.make_graph(
        [
            _node("Shape", "node_Shape_0", ["_empty_nn_module_stack_from_metadata_hook", "sym_size"]),
            _node("Conv", "node_Conv_3", ["bn1", "_native_batch_norm"], rule="FuseBatchNormIntoConv"),
            _node("Relu", "node_relu", ["relu", "relu"]),
            _node("Relu", "node_relu_1", ["relu", "relu_1"]),
            _node("Add", "relu/Relu_1", None),  # no metadata: keeps its name, which is taken
        ],
        "g", [], [],
    )
    model = helper.make_model(graph)
    assert onnx_cleanup.rename_nodes(model, g) == 3
    names = [n.name for n in model.graph.node]
    assert names[0] == "node_Shape_0"
    assert names[1] == "conv1/Conv"
    assert names[2] == "relu/Relu" and names[3] not in ("relu/Relu", "relu/Relu_1") and names[3].startswith("relu/Relu_")
    assert len(set(names)) == len(names)


# ---------------------------------------------------------------- weights


def test_weights_file_and_run_folder(tmp_path):
    from safetensors.torch import save_file

    spec = load(TINY, "tiny")
    module = spec.to_torch()
    state = {k: torch.zeros_like(v) for k, v in module.state_dict().items()}
    state["out.bias"] = torch.tensor([1.0, 2.0])
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    save_file(state, str(run / "last.safetensors"))
    result = oe.export(spec, tmp_path / "w.onnx", weights=run)
    assert result.weights.endswith("last.safetensors") and result.parity.passed
    out = Session(result.model_path, provider="cpu").run({"x": np.random.randn(4, 4).astype(np.float32)})
    np.testing.assert_allclose(out["y"], np.tile([1.0, 2.0], (4, 1)))
    # best.safetensors wins over last.safetensors
    save_file(state, str(run / "best.safetensors"))
    assert weights.resolve_weights(run).name == "best.safetensors"


def test_weights_errors(tmp_path):
    from safetensors.torch import save_file

    spec = load(TINY, "tiny")
    module = spec.to_torch()
    with pytest.raises(GraphspecError) as info:
        weights.load_weights(module, tmp_path / "missing.safetensors")
    assert info.value.exit_code == ExitCode.FILE
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraphspecError) as info:
        weights.load_weights(module, tmp_path / "empty")
    assert info.value.diagnostics[0].code == "checkpoint"
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(GraphspecError) as info:
        weights.load_weights(module, tmp_path / "junk.safetensors")
    assert info.value.exit_code == ExitCode.CHECKPOINT
    wider = load(TINY, "tiny", **{"params.width": 5}).to_torch()
    save_file(dict(wider.state_dict()), str(tmp_path / "wider.safetensors"))
    with pytest.raises(GraphspecError) as info:
        weights.load_weights(module, tmp_path / "wider.safetensors")
    msg = info.value.diagnostics[0].message
    assert info.value.exit_code == ExitCode.CHECKPOINT and "fc.weight: checkpoint [5, 4], model [3, 4]" in msg
    state = dict(module.state_dict())
    state.pop("out.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "keys.safetensors"))
    with pytest.raises(GraphspecError) as info:
        weights.load_weights(module, tmp_path / "keys.safetensors")
    msg = info.value.diagnostics[0].message
    assert "missing key(s): out.bias" in msg and "unexpected key(s): extra.weight" in msg


def test_weights_of_a_bigger_graph_load_into_a_subgraph(tmp_path):
    from safetensors.torch import save_file

    spec = load(TWO_IN, "two_in")
    save_file(dict(spec.to_torch().state_dict()), str(tmp_path / "full.safetensors"))
    result = oe.export(spec, tmp_path / "emb.onnx", outputs=["emb"], weights=tmp_path / "full.safetensors", parity=False)
    assert result.ignored_weight_keys == 4 and result.parity is None


# ---------------------------------------------------------------- parity that can fail (issue 7 §7)


def test_tolerance_scales_with_the_output_magnitude():
    big = np.array([5000.0, 0.0, -3000.0])
    # float32 rounding of a 5000-valued output on its near-zero element: 4e-4 > atol,
    # but within atol * max|torch| = 0.5
    assert parity.compare("logits", big, big + np.array([0, 4e-4, 0])).passed
    assert not parity.compare("logits", big, big + np.array([0, 0.6, 0])).passed
    small = np.array([0.5, 0.0])
    assert not parity.compare("p", small, small + np.array([0, 4e-4])).passed  # within [-1, 1]: atol as is
    assert parity.compare("logits", big, big).scale == 5000.0


def test_varies_detects_constant_outputs():
    assert parity.varies([np.ones((3, 4)), np.ones((1, 4))]) is False
    assert parity.varies([np.random.default_rng(0).standard_normal((3, 4))]) is True
    assert parity.varies([np.ones((1, 4))]) is None  # one example, one point: undecidable
    assert parity.varies([np.ones(4), np.zeros(4)], batch_axis=False) is True


def test_parity_reports_outputs_that_do_not_depend_on_the_input(tmp_path):
    """Zero weights before the head: every input gives the head's bias, so parity compares constants."""
    from safetensors.torch import save_file

    spec = load(TINY, "tiny")
    state = {k: torch.zeros_like(v) for k, v in spec.to_torch().state_dict().items()}
    state["out.bias"] = torch.tensor([1.0, -2.0])
    save_file(state, str(tmp_path / "zero.safetensors"))
    result = oe.export(spec, tmp_path / "c.onnx", weights=tmp_path / "zero.safetensors")
    rep = result.parity
    assert rep.passed and rep.constant_outputs == ["y"]
    assert "constant outputs y" in rep.summary() and rep.to_json()["constant_outputs"] == ["y"]
    assert rep.to_json()["points"][1]["outputs"]["y"]["varies"] is False
    lively = oe.export(spec, tmp_path / "l.onnx").parity
    assert lively.constant_outputs == [] and "constant" not in lively.summary()


def test_calibrated_norms_make_deep_batchnorm_nets_input_dependent(tmp_path):
    """Default BatchNorm statistics are an identity; stacked, activations fade until every
    input gives the same output. The export calibrates them (random weights only)."""
    import torch

    layers = ", ".join(["{op: Linear, out_features: 16}, {op: BatchNorm1d}, {op: ReLU}"] * 12)
    text = f"""graphspec: 1
name: deep
inputs:
  x: {{shape: [batch, 16]}}
nodes:
  body: {{op: Sequential, in: x, layers: [{layers}]}}
  head: {{op: Linear, in: body, out_features: 4}}
outputs: {{y: head}}
"""
    spec = load(text, "deep")
    plain = spec.to_torch().eval()
    x = torch.randn(3, 16)
    with torch.no_grad():
        spread = float((plain(x) - plain(x[:1])).abs().max())
    result = oe.export(spec, tmp_path / "deep.onnx")
    assert result.parity.passed and result.parity.constant_outputs == []
    with torch.no_grad():
        calibrated = float((result.module(x) - result.module(x[:1])).abs().max())
    assert calibrated > 100 * max(spread, 1e-9)
    bn = result.module.body.get_submodule("1")
    assert not torch.equal(bn.running_var, torch.ones_like(bn.running_var))


def test_trained_weights_are_not_recalibrated(tmp_path):
    from safetensors.torch import save_file

    spec = load(TINY, "tiny")
    state = dict(spec.to_torch().state_dict())
    save_file(state, str(tmp_path / "w.safetensors"))
    result = oe.export(spec, tmp_path / "w.onnx", weights=tmp_path / "w.safetensors", parity=False)
    for k, v in result.module.state_dict().items():
        assert torch.equal(v, state[k])


# ---------------------------------------------------------------- clean artifacts (issue 7 §8)


def test_no_exporter_metadata_paths_or_traces_in_the_model(two_in):
    _, result = two_in
    model = onnx.load(result.model_path)
    assert all(len(n.metadata_props) == 0 and not n.doc_string for n in model.graph.node)
    assert {p.key for p in model.metadata_props} <= {
        "graphspec.spec", "graphspec.sha256", "graphspec.version", "graphspec.name", "graphspec.graph",
        "graphspec.inputs", "graphspec.outputs", "graphspec.dims", "graphspec.overrides", "graphspec.data",
    }
    raw = open(result.model_path, "rb").read()
    for leak in (b"site-packages", b".venv", b"Traceback", b'File "/', b"/work/", b"/home/", b"/root/"):
        assert leak not in raw, leak


def test_strip_exporter_metadata_unit():
    n = _node("Relu", "r", ["relu", "relu"])
    n.metadata_props.add(key="pkg.torch.onnx.stack_trace", value='File "/home/u/.venv/lib/x.py", line 1')
    n.doc_string = "trace"
    inner = helper.make_graph([_node("Relu", "inner", ["a", "b"])], "body", [], [])
    loop = helper.make_node("If", ["c"], ["d"], name="if", then_branch=inner, else_branch=inner)
    model = helper.make_model(helper.make_graph([n, loop], "g", [], []))
    assert onnx_cleanup.strip_exporter_metadata(model) >= 3
    assert not model.graph.node[0].metadata_props and not model.graph.node[0].doc_string
    assert not model.graph.node[1].attribute[0].g.node[0].metadata_props


def test_multiple_outputs_flags_keep_all(tmp_path, capsys):
    from graphspec.cli.main import main

    spec_path = tmp_path / "two_in.yaml"
    spec_path.write_text(TWO_IN)
    code = main(["export", str(spec_path), "-o", str(tmp_path / "m.onnx"), "--outputs", "logits", "--outputs", "hidden", "--json", "--no-parity"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and [o["name"] for o in doc["outputs"]] == ["logits", "hidden"]


def test_progress_lines_only_for_long_stages(capsys):
    import time

    from graphspec.cli.export import Progress

    with Progress(after=0.05) as p:
        p.stage("quick")  # replaced before it is announced
        p.stage("slow stage")
        time.sleep(0.3)
    with Progress(enabled=False, after=0.0) as p:
        p.stage("never")
        time.sleep(0.1)
    err = capsys.readouterr().err
    assert "slow stage" in err and "quick" not in err and "never" not in err


def test_opset_is_honoured_exactly_or_refused(tmp_path):
    from torch.onnx import _constants
    from torch.onnx._internal.exporter import _constants as exporter_constants

    assert (oe.MIN_OPSET, oe.MAX_OPSET) == (exporter_constants.TORCHLIB_OPSET, _constants.ONNX_MAX_OPSET)
    result = oe.export(load(TINY, "tiny"), tmp_path / "o.onnx", opset=oe.MAX_OPSET, parity=False)
    assert result.opset == oe.MAX_OPSET
    for bad in (oe.MIN_OPSET - 1, oe.MAX_OPSET + 1):
        with pytest.raises(GraphspecError) as info:
            oe.export(load(TINY, "tiny"), tmp_path / "o.onnx", opset=bad)
        assert info.value.exit_code == ExitCode.USAGE and f"{oe.MIN_OPSET} to {oe.MAX_OPSET}" in info.value.diagnostics[0].message


def test_export_budget_is_checked_before_compiling(tmp_path, monkeypatch):
    from graphspec.passes import budget

    spec = load(TWO_IN, "two_in")
    monkeypatch.setattr(type(spec), "to_torch", lambda *a, **k: pytest.fail("compiled despite the budget"))
    budget.set_limit(1000)  # bytes
    try:
        with pytest.raises(GraphspecError) as info:
            oe.export(spec, tmp_path / "b.onnx")
    finally:
        budget.set_limit(None)
    d = info.value.diagnostics[0]
    assert d.code == "too-large" and info.value.exit_code == ExitCode.SPEC
    assert "exporting graph 'main'" in d.message and "batch=3" in d.message and "--budget" in d.hint
    assert not (tmp_path / "b.onnx").exists()
