"""graphspec codegen: a standalone PyTorch file equal to the compiled module."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import graphspec
from graphspec.backends import torch_modules as tm
from graphspec.backends.codegen import CodegenError, generate, lit, module_expr, same_module
from graphspec.backends.torch_fx import example_inputs
from graphspec.cli.main import main

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
    assert "self.head = nn.Sequential(\n            nn.Linear(in_features=64, out_features=32, bias=True)," in text
    assert "class Block(nn.Module):" in text and "class AddN(nn.Module):" in text
    assert "        body_0_a_fc = getattr(self.body, \"0\").a.fc(stem_act)" in text
    # the unused but weighted head2 is built (same state_dict as the compiled module)
    assert "self.head2 = nn.Linear(in_features=10, out_features=10, bias=True)" in text
    compile(text, "generated", "exec")


def test_outputs_selection_prunes_the_file():
    spec = graphspec.load(str(SPECS / "vae.yaml"))
    text = generate(spec, "vae", outputs=["fc21"])
    assert "fc21" in text and "decoder" not in text.split("class ")[-1]


# ---------------------------------------------------------------- constructor expressions

CUSTOM = [tm.AddN, tm.MulN, tm.Sub, tm.MatMul, tm.Concat, tm.Reshape, tm.Permute, tm.Transpose, tm.Squeeze,
          tm.Unsqueeze, tm.Select, tm.Split, tm.Chunk, tm.Mean, tm.Sum, tm.Reparameterize, tm.PositionalEncoding,
          tm.MultiheadAttention, tm.TransformerEncoderLayer, tm.RNN, tm.GRU, tm.LSTM]  # fmt: skip


@pytest.mark.parametrize(
    "module",
    [
        nn.Conv2d(3, 8, 3, padding="same", padding_mode="reflect", bias=False),
        nn.Conv1d(4, 8, 5, stride=2, dilation=2, groups=4),
        nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, output_padding=1),
        nn.LayerNorm(16, eps=1e-6, bias=False),
        nn.LayerNorm([4, 16], elementwise_affine=False),
        nn.GroupNorm(4, 16, affine=False),
        nn.BatchNorm1d(8, momentum=None, track_running_stats=False),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=2),
        nn.AvgPool1d(2),
        nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
        nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
        nn.Upsample(size=(7, 9), mode="nearest"),
        nn.Embedding(100, 8, padding_idx=0),
        nn.AdaptiveAvgPool2d((1, None)),
        nn.GELU(approximate="tanh"),
        nn.LeakyReLU(0.2),
        nn.Softmax(dim=1),
        nn.Dropout2d(0.3),
        nn.Flatten(2, -1),
        tm.Concat(1),
        tm.Reshape((0, -1, 4)),
        tm.Split([2, 3], 1),
        tm.Mean((1, 2), keepdim=True),
        tm.Reparameterize(sample_in_eval=True),
        tm.PositionalEncoding(16, 64, "learned"),
        tm.PositionalEncoding(17, 32),
        tm.MultiheadAttention(16, 4, dropout=0.1, kdim=8, vdim=12, batch_first=True, causal=True),
        tm.MultiheadAttention(16, 2, bias=False, add_bias_kv=True),
        tm.TransformerEncoderLayer(16, 2, dim_feedforward=32, activation="gelu", norm_first=True, batch_first=True, causal=True, bias=False),
        tm.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4, batch_first=True),
        tm.RNN(8, 16, nonlinearity="relu", bias=False),
        tm.GRU(8, 16, dropout=0.2, num_layers=3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_module_expressions_rebuild_the_module(module):
    expr = module_expr(module, CUSTOM)
    ns = {"nn": nn, "torch": torch, **{c.__name__: c for c in CUSTOM}}
    rebuilt = eval(expr, ns)  # noqa: S307
    assert same_module(module, rebuilt) is None, expr
    rebuilt.load_state_dict(module.state_dict(), strict=True)


def test_same_module_reports_differences():
    assert "align_corners" in same_module(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.Upsample(scale_factor=2, mode="bilinear"))
    assert "parameters" in same_module(nn.LayerNorm(4), nn.LayerNorm(4, bias=False))


def test_unwritable_module_is_an_error():
    class Opaque(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self._hidden = scale  # nothing maps the argument back

    with pytest.raises(CodegenError, match="Opaque"):
        module_expr(Opaque(3), [Opaque])


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
