"""graphspec codegen: a standalone PyTorch file equal to the compiled module."""

from __future__ import annotations

import ast
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import nn

import graphspec
from graphspec.backends import codegen
from graphspec.backends.codegen import CodegenError, call_expr, custom_classes, generate, leaf_expr, lit, same_module
from graphspec.backends.torch_fx import example_inputs
from graphspec.cli.main import main
from graphspec.ops import registry
from graphspec.ops.dense import Linear
from graphspec.ops.registry import Op, TorchCall
from graphspec.ops.types import TensorType, bind

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
FEATURES = ROOT / "tests" / "spec" / "fixtures" / "features.yaml"
from zoo_cases import zoo_graph_params  # noqa: E402

ALLOWED_IMPORTS = {"math", "operator", "typing", "torch", "collections"}
def zoo_cases():
    return zoo_graph_params(as_path=True)


def import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def imported_modules(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def outputs_tuple(y):
    return y if isinstance(y, tuple) else (y,)


@pytest.mark.parametrize("path,graph", zoo_cases())
def test_generated_file_equals_compiled_module(path, graph, tmp_path):
    spec = graphspec.load(str(path))
    text = generate(spec, graph)
    assert imported_modules(text) <= ALLOWED_IMPORTS, imported_modules(text)
    assert "graphspec" not in "\n".join(l for l in text.splitlines() if l.startswith(("import", "from")))
    out = tmp_path / f"gen_{path.stem}.py"
    out.write_text(text, encoding="utf-8")
    mod = import_file(out, f"gen_{path.stem}_{graph}")
    torch.manual_seed(0)
    compiled = spec.to_torch(graph=graph).eval()
    generated = getattr(mod, type(compiled).__name__)().eval()
    assert list(generated.state_dict()) == list(compiled.state_dict())
    generated.load_state_dict(compiled.state_dict(), strict=True)
    g = spec.graph(graph)
    inputs = example_inputs(g, {**spec.dims, "batch": 1})
    with torch.no_grad():
        expected, got = outputs_tuple(compiled(*inputs)), outputs_tuple(generated(*inputs))
    assert len(expected) == len(got) == len(g.outputs)
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    assert generated.graphspec_outputs == compiled.graphspec_outputs


def test_generated_file_reads_like_pytorch(tmp_path):
    text = generate(graphspec.load(str(FEATURES)))
    assert "class Mlp(nn.Module):" in text
    assert "self.head = nn.Sequential(\n            nn.Linear(64, 32)," in text
    assert "class Block(nn.Module):" in text and "class AddN(nn.Module):" in text
    assert "        body_0_a_fc = getattr(self.body, \"0\").a.fc(stem_act)" in text
    # the unused but weighted head2 is built (same state_dict as the compiled module)
    assert "self.head2 = nn.Linear(10, 10)" in text
    compile(text, "generated", "exec")


def test_outputs_selection_prunes_the_file():
    spec = graphspec.load(str(SPECS / "vae.yaml"))
    text = generate(spec, "vae", outputs=["fc21"])
    assert "fc21" in text and "decoder" not in text.split("class ")[-1]


# ---------------------------------------------------------------- constructor expressions

# Ops whose module is not one constructor call of literals: they override build_torch, and
# codegen writes them another way (a Parameter node is an nn.Parameter with the op's init).
# written otherwise than from torch_call: a learned tensor is registered on its holder
NOT_A_CALL = {"Parameter": "a learned tensor, written as nn.Parameter(<init_source>)"}


@lru_cache(maxsize=1)
def zoo_uses() -> dict[str, tuple[Op, tuple[TensorType, ...]]]:
    """op name -> (op, input types at batch 2) of its first use in the zoo."""
    out: dict[str, tuple] = {}
    for path in sorted(SPECS.glob("*.yaml")):
        spec = graphspec.load(str(path))
        sizes = {**spec.dims, "batch": 2}
        for graph in spec.graphs.values():
            for node_id in graph.op_nodes():
                attrs = graph.node(node_id)
                if attrs["op"].op_name not in out:
                    types = [graph.node(src)["meta"]["types"][port] for src, port in attrs["inputs"]]
                    out[attrs["op"].op_name] = (attrs["op"], tuple(bind(t, sizes) for t in types))
    return out


def _namespace_for(module) -> dict:
    return {"nn": nn, "torch": torch, **{c.__name__: c for c in custom_classes([module])}}


def _round_trip(op: Op, types) -> str:
    """The op's written constructor rebuilds the module its build_torch makes."""
    module = op.build_torch(*types)
    assert type(module) is op.torch_call(*types).resolve(), f"{op.op_name}: build_torch is not torch_call"
    ns = _namespace_for(module)
    expr = leaf_expr(op, list(types), module, ns)
    rebuilt = eval(expr, ns)  # noqa: S307 - text we generated
    assert same_module(module, rebuilt) is None, expr
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    return expr


@pytest.mark.parametrize("name", [n for n in registry.names() if n not in NOT_A_CALL])
def test_every_op_is_written_from_its_torch_call(name):
    uses = zoo_uses()
    assert name in uses, f"{name} is used by no zoo spec"
    _round_trip(*uses[name])


def test_no_op_builds_its_module_outside_torch_call():
    """Every built-in module is one constructor call of literals, so the ops layer
    imports no backend (Parameter's module is a LearnedTensor of its init_call)."""
    overriding = {cls.op_name for cls in registry.all_ops() if any("build_torch" in vars(k) for k in cls.__mro__ if k is not Op and issubclass(k, Op))}
    assert overriding == set()


T = TensorType


@pytest.mark.parametrize(
    "name,params,types,expected",
    [
        ("Conv2d", dict(out_channels=8, kernel_size=3, padding="same", padding_mode="reflect", bias=False), [T((1, 3, 8, 8))],
         "nn.Conv2d(3, 8, kernel_size=3, padding='same', bias=False, padding_mode='reflect')"),
        ("Conv1d", dict(out_channels=8, kernel_size=5, stride=2, dilation=2, groups=4), [T((1, 4, 32))], None),
        ("ConvTranspose2d", dict(out_channels=3, kernel_size=4, stride=2, padding=1, output_padding=1), [T((1, 8, 5, 5))], None),
        ("LayerNorm", dict(eps=1e-6, bias=False), [T((2, 16))], "nn.LayerNorm((16,), eps=1e-06, bias=False)"),
        ("LayerNorm", dict(normalized_dims=2, elementwise_affine=False), [T((2, 4, 16))], None),
        ("GroupNorm", dict(num_groups=4, affine=False), [T((2, 16, 4, 4))], "nn.GroupNorm(4, 16, affine=False)"),
        ("BatchNorm1d", dict(momentum=None, track_running_stats=False), [T((2, 8))], None),
        ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=2), [T((1, 2, 9, 9))], None),
        ("AvgPool1d", dict(kernel_size=2), [T((1, 2, 8))], "nn.AvgPool1d(2)"),
        ("MaxPool2d", dict(kernel_size=3, stride=1, padding=1, ceil_mode=True), [T((1, 2, 9, 9))], None),
        ("Upsample", dict(scale_factor=2.0, mode="bilinear", align_corners=True), [T((1, 2, 4, 4))], None),
        ("Upsample", dict(size=[7, 9]), [T((1, 2, 4, 4))], None),
        ("Embedding", dict(num_embeddings=100, embedding_dim=8, padding_idx=0), [T((2, 5), "int64")], "nn.Embedding(100, 8, padding_idx=0)"),
        ("AdaptiveAvgPool2d", dict(output_size=[1, None]), [T((1, 2, 4, 4))], None),
        ("GELU", dict(approximate="tanh"), [T((2, 4))], "nn.GELU(approximate='tanh')"),
        ("LeakyReLU", dict(negative_slope=0.2), [T((2, 4))], "nn.LeakyReLU(negative_slope=0.2)"),
        ("Dropout", {}, [T((2, 4))], "nn.Dropout()"),
        ("Flatten", dict(start_dim=2), [T((2, 3, 4, 5))], "nn.Flatten(start_dim=2)"),
        ("Split", dict(split_size_or_sections=[2, 3], dim=1), [T((2, 5))], "Split((2, 3), 1)"),
        ("Mean", dict(dim=[1, 2], keepdim=True), [T((2, 3, 4))], None),
        ("Reparameterize", dict(sample_in_eval=True), [T((2, 4)), T((2, 4))], "Reparameterize(sample_in_eval=True)"),
        ("PositionalEncoding", dict(max_len=64, kind="learned"), [T((2, 10, 16))], None),
        ("MultiheadAttention", dict(num_heads=4, dropout=0.1, batch_first=True, causal=True), [T((2, 5, 16)), T((2, 7, 8)), T((2, 7, 12))],
         "MultiheadAttention(16, 4, dropout=0.1, kdim=8, vdim=12, batch_first=True, causal=True)"),
        ("MultiheadAttention", dict(num_heads=2, bias=False), [T((5, 2, 16))], "MultiheadAttention(16, 2, bias=False, batch_first=True)"),
        ("TransformerEncoderLayer", dict(nhead=2, dim_feedforward=32, activation="gelu", norm_first=True, batch_first=True, causal=True, bias=False),
         [T((2, 5, 16))], None),
        ("LSTM", dict(hidden_size=16, num_layers=2, bidirectional=True, proj_size=4, batch_first=True), [T((2, 5, 8))], None),
        ("RNN", dict(hidden_size=16, nonlinearity="relu", bias=False), [T((5, 2, 8))], None),
        ("GRU", dict(hidden_size=16, dropout=0.2, num_layers=3), [T((5, 2, 8))], "GRU(8, 16, num_layers=3, batch_first=True, dropout=0.2)"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isidentifier() else None,
)
def test_op_expressions_rebuild_the_module(name, params, types, expected):
    expr = _round_trip(registry.get(name).model_validate(params), types)
    if expected is not None:
        assert expr == expected  # keyword arguments at the class's defaults are left out


def test_same_module_reports_differences():
    assert "align_corners" in same_module(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.Upsample(scale_factor=2, mode="bilinear"))
    assert "parameters" in same_module(nn.LayerNorm(4), nn.LayerNorm(4, bias=False))


def test_defaults_are_left_out_only_when_equal_in_type():
    assert call_expr(TorchCall("torch.nn.Dropout", kwargs={"p": 0.5})) == "nn.Dropout()"
    assert call_expr(TorchCall("torch.nn.Linear", (4, 2), {"bias": 1})) == "nn.Linear(4, 2, bias=1)"  # 1 is not True


def test_an_op_without_torch_call_is_an_error():
    class Opaque(Op):  # a third-party op that builds its module itself
        op_name = "Opaque"

        def build_torch(self, x):
            return nn.Identity()

    with pytest.raises(CodegenError, match="Opaque builds its torch module without a torch_call"):
        leaf_expr(Opaque(), [T((2, 4))], nn.Identity(), _namespace_for(nn.Identity()))


def test_a_plugin_op_without_torch_call_fails_cleanly(tmp_path, monkeypatch, capsys):
    class Opaque(Op):  # registered like a plugin, builds its module itself
        op_name = "Opaque"

        def infer(self, x):
            return x

        def build_torch(self, x):
            return nn.Identity()

    monkeypatch.setitem(registry._REGISTRY, "Opaque", Opaque)
    path = tmp_path / "plugin.yaml"
    path.write_text("graphspec: 1\nname: plugin\ninputs: {x: {shape: [batch, 4]}}\nnodes:\n  mystery: {op: Opaque, in: x}\noutputs: {y: mystery}\n")
    assert main(["codegen", str(path)]) == 3
    err = capsys.readouterr().err
    assert "mystery" in err and "torch_call" in err and "Traceback" not in err


def test_a_module_other_than_torch_call_describes_is_never_written():
    class Lying(Linear):  # builds without bias, describes a bias
        def build_torch(self, x):
            return nn.Linear(x.shape[-1], self.out_features, bias=False)

    op = Lying(out_features=3)
    with pytest.raises(CodegenError, match="another module"):
        leaf_expr(op, [T((2, 4))], op.build_torch(T((2, 4))), _namespace_for(nn.Linear(1, 1)))


def test_codegen_has_no_table_of_torch_classes():
    """What to write comes from the op registry: no dispatch on torch classes here."""
    tree = ast.parse(Path(codegen.__file__).read_text(encoding="utf-8"))
    nn_names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "nn"}
    assert nn_names <= {"Module", "Parameter", "Sequential"}, nn_names  # containers and tensors only
    assert "torch_modules" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def test_literals():
    assert lit((3,)) == "(3,)"
    assert lit([1, (2, 3)]) == "[1, (2, 3)]"
    assert lit(float("-inf")) == "float('-inf')"
    with pytest.raises(CodegenError):
        lit(object())


# ---------------------------------------------------------------- the command


def test_cli_writes_an_importable_file(tmp_path, capsys):
    out = tmp_path / "sub" / "lenet.py"
    assert main(["codegen", "lenet5", "--set", "params.classes=7", "-o", str(out)]) == 0
    assert "class Lenet5" in capsys.readouterr().err
    mod = import_file(out, "gen_lenet_cli")
    model = mod.Lenet5().eval()
    assert model.fc3.out_features == 7
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    reference = graphspec.load("lenet5", set={"params.classes": 7}).to_torch().eval()
    reference.load_state_dict(model.state_dict(), strict=True)


def test_cli_stdout_graph_and_errors(capsys):
    assert main(["codegen", str(SPECS / "vae.yaml"), "--graph", "decoder"]) == 0
    assert "class VaeDecoder(nn.Module):" in capsys.readouterr().out
    assert main(["codegen", str(SPECS / "vae.yaml")]) == 2  # several graphs, none chosen
    assert "unknown-graph" in capsys.readouterr().err
    assert main(["codegen", str(SPECS / "vae.yaml"), "-g", "vae", "--outputs", "nope"]) == 2
    assert main(["codegen", "no_such_spec.yaml"]) == 4


def test_generated_file_runs_in_a_fresh_interpreter(tmp_path):
    """Only torch is needed: run it with graphspec made unimportable."""
    import subprocess

    out = tmp_path / "mlp_gen.py"
    out.write_text(generate(graphspec.load(str(FEATURES))), encoding="utf-8")
    script = (
        "import sys; sys.modules['graphspec'] = None\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import torch, mlp_gen\n"
        "print(tuple(mlp_gen.Mlp()(torch.randn(2, 64)).shape))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(2, 10)"


def test_class_name_that_clashes_with_a_helper_class_is_renamed():
    spec = graphspec.load(
        "block.yaml",
        text="""
graphspec: 1
name: block
inputs: {x: {shape: [batch, 4]}}
nodes:
  a: {op: Linear, in: x, out_features: 4}
  add: {op: Add, in: [a, x]}
outputs: {y: add}
""",
    )
    ns: dict = {}
    exec(compile(generate(spec), "generated", "exec"), ns)  # noqa: S102
    model = ns["BlockModel"]()
    model.load_state_dict(spec.to_torch().state_dict(), strict=True)
