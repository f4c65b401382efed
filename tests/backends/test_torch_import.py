"""graphspec.backends.torch_import: torch modules -> analysed Graph -> checked spec text."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import graphspec  # noqa: E402
from graphspec.backends.torch_import import import_module, parse_input  # noqa: E402
from graphspec.backends.torch_import_check import check_spec_text  # noqa: E402
from graphspec.errors import ExitCode, GraphspecError  # noqa: E402
from graphspec.graph.write import graph_to_spec  # noqa: E402
from zoo_cases import zoo_graph_params  # noqa: E402


def roundtrip(model: nn.Module, *inputs: str) -> tuple[str, object]:
    ins = dict(parse_input(t) for t in inputs)
    result = import_module(model, ins, name="m")
    text = graph_to_spec(result.graph, name="m", classes=result.classes)
    report = check_spec_text(model, text, ins, result.sizes)
    return text, report


class Residual(nn.Module):
    def __init__(self, c: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.bn1(self.conv1(x)))) + x)


class Net(nn.Module):
    """Residual blocks in a Sequential, a parameter, functional ops, a size-based reshape."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.layer = nn.Sequential(Residual(), Residual())
        self.gamma = nn.Parameter(torch.full((1, 4, 1, 1), 0.5))
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        y = self.layer(self.stem(x)) * self.gamma
        y = F.max_pool2d(F.relu(y), 2)
        y = torch.cat([y, 1 - y], 1)
        a, b = torch.chunk(y, 2, dim=1)
        y = torch.cat([a + b, a * b], 1).transpose(2, 3).permute(0, 1, 3, 2)
        y = F.adaptive_avg_pool2d(y, 2)
        return self.fc(y.view(x.size(0), -1))


def test_residual_parameter_functional_ops_round_trip():
    text, report = roundtrip(Net(), "x=batch,3,8,8")
    assert report.passed and report.varies
    spec = graphspec.load(None, text=text)
    keys = set(spec.to_torch().state_dict())
    assert keys == set(Net().state_dict())
    assert "gamma" in keys and "layer.1.conv2.weight" in keys
    ops = {spec.graph().node(n)["op"].op_name for n in spec.graph().op_nodes()}
    assert {"Parameter", "Mul", "Arith", "Concat", "Chunk", "Add", "Transpose", "Permute", "Reshape", "MaxPool2d"} <= ops
    # the reshape keeps the batch dynamic: a 0 copies it
    reshape = [spec.graph().node(n)["op"] for n in spec.graph().op_nodes() if spec.graph().node(n)["op"].op_name == "Reshape"]
    assert reshape[0].shape == (0, -1)


def test_shared_module_keeps_one_set_of_weights():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):
            return self.fc(torch.tanh(self.fc(x)))

    text, report = roundtrip(Shared(), "x=batch,6")
    assert report.passed and report.params_spec == 42
    assert "share: fc" in text


def test_lstm_tuple_outputs_and_select():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
            self.head = nn.Linear(12, 3)

        def forward(self, tokens):
            out, (h, c) = self.lstm(self.emb(tokens))
            return self.head(out[:, -1])

    text, report = roundtrip(Tagger(), "tokens=batch,seq:int64")
    assert report.passed


def test_unmappable_places_are_listed_with_paths_and_lines():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.shuffle = nn.PixelShuffle(2)
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = torch.erf(self.shuffle(self.conv(x)))
            return y + torch.cumsum(y, 1)

    with pytest.raises(GraphspecError) as info:
        import_module(Bad(), dict([parse_input("x=batch,4,4,4")]))
    err = info.value
    assert err.exit_code == ExitCode.UNSUPPORTED
    messages = [d.message for d in err.diagnostics]
    assert any("'shuffle'" in m and "PixelShuffle" in m for m in messages)
    assert any("torch.erf" in m for m in messages) and any("torch.cumsum" in m for m in messages)
    assert all(d.location and d.location.file == __file__ and d.location.line for d in err.diagnostics)


def test_setting_the_op_cannot_express_is_reported():
    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=False)
            self.emb = nn.Embedding(10, 4, max_norm=1.0)

        def forward(self, tokens):
            return self.emb(tokens)

    with pytest.raises(GraphspecError) as info:
        import_module(Up(), dict([parse_input("tokens=batch,3:int64")]))
    assert "max_norm=1.0" in str(info.value) and "'emb'" in str(info.value)


def test_data_dependent_control_flow_is_a_clean_error():
    class Dyn(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            if x.sum() > 0:  # fx cannot trace this
                return self.fc(x)
            return x

    with pytest.raises(GraphspecError) as info:
        import_module(Dyn(), dict([parse_input("x=batch,3")]))
    (diag,) = info.value.diagnostics
    assert diag.code == "import-unsupported" and "control flow" in diag.message
    assert diag.location.file == __file__ and diag.location.line > 0


def test_parse_input_rejects_bad_shapes():
    with pytest.raises(GraphspecError) as info:
        parse_input("x=3,-1")
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("name,graph", zoo_graph_params(single=None))
def test_zoo_round_trip(name, graph):
    """spec -> to_torch() -> import -> spec' : same state_dict keys and shapes, equal outputs."""
    spec = graphspec.load(name)
    g = spec.graph(graph)
    module = spec.to_torch(graph)
    ins = {n: i.type for n, i in g.inputs.items()}
    result = import_module(module, ins, name=name)
    text = graph_to_spec(result.graph, name=name, classes=result.classes)
    report = check_spec_text(module, text, ins, result.sizes)  # strict load, params, outputs
    assert report.passed
    again = graphspec.load(None, text=text).to_torch()
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in module.state_dict().items()}


def test_sizes_unpacked_from_shape_keep_the_batch_dynamic():
    """ShuffleNet's channel shuffle and ViT's class token: sizes read from x.shape."""

    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.token = nn.Parameter(torch.zeros(1, 1, 4))

        def forward(self, x):
            x = self.conv(x)
            n, c, h, w = x.size()
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
            seq = x.flatten(2).transpose(1, 2)  # [n, h*w, c]
            tokens = torch.cat([self.token.expand(seq.shape[0], -1, -1), seq], dim=1)
            return tokens[:, 0]

    text, report = roundtrip(Shuffle(), "x=batch,4,3,3")
    assert report.passed
    graph = graphspec.load(None, text=text).graph()
    ops = {graph.node(n)["op"].op_name: graph.node(n)["op"] for n in graph.op_nodes()}
    assert ops["ExpandAs"].dims == [0] and ops["Select"].index == 0
    shapes = [graph.node(n)["op"].shape for n in graph.op_nodes() if graph.node(n)["op"].op_name == "Reshape"]
    assert shapes == [(0, 2, 2, 3, 3), (0, 4, 3, 3)]


class WindowPartition(nn.Module):
    """maxvit's partition: sizes computed from the input's (H // P) are values, not copies of H."""

    def forward(self, x):
        b, c, h, w = x.shape
        p = 2
        y = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return y.reshape(b, (h // p) * (w // p), p * p, x.size(dim=1))


def test_sizes_computed_from_input_sizes_are_not_copies_of_them():
    text, report = roundtrip(WindowPartition(), "x=batch,3,8,6")
    assert "shape: [0, 0, 4, 2, 3, 2]" in text, text  # batch and C copied (0); H // 2 = 4 is a value, not a copy of H
    assert report.passed and report.varies
