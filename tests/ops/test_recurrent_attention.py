"""RNN/LSTM/GRU, MultiheadAttention, TransformerEncoderLayer, PositionalEncoding."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch.utils.flop_counter import FlopCounterMode

from _opcheck import export_and_run, run_op
from graphspec.backends import torch_modules as tm
from graphspec.ops.attention import MultiheadAttention, PositionalEncoding, TransformerEncoderLayer
from graphspec.ops.recurrent import GRU, LSTM, RNN
from graphspec.ops.types import ShapeError, TensorType

T = TensorType

# ---------------------------------------------------------------- recurrent

RECURRENT_CASES = [
    (RNN, dict(hidden_size=8)),
    (RNN, dict(hidden_size=8, nonlinearity="relu", bias=False, num_layers=2)),
    (GRU, dict(hidden_size=6, num_layers=3, bidirectional=True, dropout=0.2)),
    (GRU, dict(hidden_size=6, batch_first=False)),
    (LSTM, dict(hidden_size=8)),
    (LSTM, dict(hidden_size=8, num_layers=2, bidirectional=True, batch_first=False)),
    (LSTM, dict(hidden_size=8, num_layers=2, proj_size=3, bidirectional=True)),
    (LSTM, dict(hidden_size=5, bias=False, proj_size=2)),
]
TORCH_CLASS = {RNN: torch.nn.RNN, GRU: torch.nn.GRU, LSTM: torch.nn.LSTM}


def _x(op, batch=2, seq=5, features=4) -> TensorType:
    return T((batch, seq, features) if op.batch_first else (seq, batch, features))


@pytest.mark.parametrize("cls,kw", RECURRENT_CASES)
def test_recurrent_matches_torch(cls, kw):
    op = cls(**kw)
    x = _x(op)
    module, outs = run_op(op, x)
    assert len(outs) == len(cls.outputs)
    # state_dict keys are exactly torch.nn's
    reference = TORCH_CLASS[cls](input_size=4, **{k: v for k, v in kw.items() if k != "nonlinearity"})
    assert list(module.state_dict()) == list(reference.state_dict())
    # every weight element is one multiply-accumulate per step and batch row
    macs = op.count_macs(x, outputs=op.infer(x))
    weights = sum(p.numel() for name, p in module.named_parameters() if name.startswith("weight"))
    assert macs == 2 * 5 * weights


@pytest.mark.parametrize("cls,kw", RECURRENT_CASES)
def test_recurrent_initial_states(cls, kw):
    op = cls(**kw)
    x = _x(op, batch=3)
    _, *states = op.infer(x)
    run_op(op, x, *states)
    # unbatched [seq, feature] input, as torch.nn allows
    run_op(op, T((5, 4)))


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM])
def test_recurrent_symbolic_dims(cls):
    op = cls(hidden_size=16, bidirectional=True, num_layers=2)
    out, h_n, *rest = op.infer(T(("batch", "seq", 10)))
    assert out.shape == ("batch", "seq", 32)
    assert h_n.shape == (4, "batch", 16)
    assert all(c.shape == (4, "batch", 16) for c in rest)
    assert op.count_params(T(("batch", "seq", 10))) == op.count_params(T((1, 1, 10)))
    seq_first = cls(hidden_size=16, batch_first=False).infer(T(("seq", "batch", 10)))
    assert seq_first[0].shape == ("seq", "batch", 16)


def test_recurrent_errors():
    with pytest.raises(ValidationError, match="needs num_layers > 1"):
        LSTM(hidden_size=8, dropout=0.5)
    with pytest.raises(ValidationError, match="proj_size must be smaller than hidden_size"):
        LSTM(hidden_size=8, proj_size=8)
    with pytest.raises(ValidationError):
        GRU(hidden_size=8, proj_size=2)  # LSTM only
    with pytest.raises(ValidationError):
        RNN(hidden_size=8, nonlinearity="sigmoid")
    with pytest.raises(ValidationError):
        RNN(hidden_size=0)
    with pytest.raises(ShapeError, match="rank 2 or 3"):
        RNN(hidden_size=8).infer(T((2, 3, 4, 5)))
    with pytest.raises(ShapeError, match="floating-point"):
        GRU(hidden_size=8).infer(T((2, 3, 4), "int64"))
    with pytest.raises(ShapeError, match=r"h0 must have shape \[2, 2, 8\]") as exc:
        GRU(hidden_size=8, num_layers=2).infer(T((2, 3, 4)), T((1, 2, 8)))
    assert "Received: shape [1, 2, 8]" in str(exc.value)
    with pytest.raises(ShapeError, match="both initial states h0 and c0, or neither"):
        LSTM(hidden_size=8).infer(T((2, 3, 4)), T((1, 2, 8)))
    with pytest.raises(ShapeError, match=r"c0 must have shape \[1, 2, 8\]"):  # c0 is not projected
        LSTM(hidden_size=8, proj_size=3).infer(T((2, 3, 4)), T((1, 2, 3)), T((1, 2, 3)))
    with pytest.raises(ShapeError, match="fixed size"):
        LSTM(hidden_size=8).count_params(T(("batch", "seq", "features")))


# ---------------------------------------------------------------- MultiheadAttention


MHA_CASES = [
    (dict(num_heads=2), [(2, 5, 8)]),
    (dict(num_heads=4, causal=True), [(2, 5, 8)]),
    (dict(num_heads=1, bias=False), [(2, 5, 8), (2, 7, 8)]),  # key and value from one memory
    (dict(num_heads=2), [(2, 5, 8), (2, 7, 3), (2, 7, 6)]),  # kdim, vdim inferred
    (dict(num_heads=2, batch_first=False, dropout=0.1), [(5, 2, 8), (7, 2, 8), (7, 2, 8)]),
]


@pytest.mark.parametrize("kw,shapes", MHA_CASES)
def test_mha_matches_torch(kw, shapes):
    op = MultiheadAttention(**kw)
    types = [T(s) for s in shapes]
    module, _ = run_op(op, *types)
    q, k, v = (types + [types[-1]] * 2)[:3] if len(types) > 1 else types * 3
    reference = torch.nn.MultiheadAttention(8, kw["num_heads"], bias=kw.get("bias", True), kdim=k.shape[-1], vdim=v.shape[-1])
    assert list(module.state_dict()) == list(reference.state_dict())
    # MACs: the flop counter sees the projections; the CPU's fused attention kernel may go uncounted
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        module.train()(*[torch.randn(t.shape) for t in types])  # eval may take a fused fast path
    batch, q_len, k_len = (2, 5, 7 if len(types) > 1 else 5)
    attention = 2 * batch * q_len * k_len * 8
    assert op.count_macs(*types, outputs=(op.infer(*types),)) - fc.get_total_flops() // 2 in (0, attention)


def test_mha_causal_masks_the_future():
    module = MultiheadAttention(num_heads=2, causal=True).build_torch(T((1, 6, 8))).eval()
    x = torch.randn(1, 6, 8)
    changed = x.clone()
    changed[:, 4:] += 1.0
    with torch.no_grad():
        a, b = module(x), module(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_mha_symbolic_and_errors():
    op = MultiheadAttention(num_heads=4)
    assert op.infer(T(("batch", "seq", 16))) == T(("batch", "seq", 16))
    assert op.infer(T(("batch", "tgt", 16)), T(("batch", "src", 16))).shape == ("batch", "tgt", 16)
    assert op.count_params(T(("batch", "seq", 16))) == 4 * 16 * 16 + 4 * 16
    with pytest.raises(ShapeError, match="divisible by num_heads. Received: embedding size 10, num_heads=4") as exc:
        op.infer(T((2, 5, 10)))
    assert exc.value.hint
    with pytest.raises(ShapeError, match="share the batch size"):
        op.infer(T((2, 5, 16)), T((3, 5, 16)))
    with pytest.raises(ShapeError, match="key and value the sequence length"):
        op.infer(T((2, 5, 16)), T((2, 6, 16)), T((2, 7, 16)))
    with pytest.raises(ShapeError, match="rank 3"):
        op.infer(T((5, 16)))
    with pytest.raises(ValidationError):
        MultiheadAttention(num_heads=0)
    with pytest.raises(ValidationError):
        MultiheadAttention(num_heads=2, need_weights=True)


# ---------------------------------------------------------------- TransformerEncoderLayer


TEL_CASES = [
    dict(nhead=2, dim_feedforward=32),
    dict(nhead=4, dim_feedforward=16, activation="gelu", norm_first=True, causal=True),
    dict(nhead=1, dim_feedforward=8, bias=False, dropout=0.0),
    dict(nhead=2, dim_feedforward=8, batch_first=False),
]


@pytest.mark.parametrize("kw", TEL_CASES)
def test_transformer_layer_matches_torch(kw):
    op = TransformerEncoderLayer(**kw)
    x = T((2, 5, 8) if op.batch_first else (5, 2, 8))
    module, _ = run_op(op, x)
    reference = torch.nn.TransformerEncoderLayer(8, kw["nhead"], kw["dim_feedforward"], bias=kw.get("bias", True))
    assert list(module.state_dict()) == list(reference.state_dict())
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        module.train()(torch.randn(x.shape))
    assert op.count_macs(x, outputs=(x,)) - fc.get_total_flops() // 2 in (0, 2 * 2 * 5 * 5 * 8)


def test_transformer_layer_causal_and_errors():
    module = TransformerEncoderLayer(nhead=2, dim_feedforward=16, causal=True).build_torch(T((1, 6, 8))).eval()
    x = torch.randn(1, 6, 8)
    changed = x.clone()
    changed[:, 3:] -= 1.0
    with torch.no_grad():
        torch.testing.assert_close(module(x)[:, :3], module(changed)[:, :3])
    op = TransformerEncoderLayer(nhead=3)
    assert op.infer(T(("batch", "seq", 12))) == T(("batch", "seq", 12))
    with pytest.raises(ShapeError, match="divisible by nhead"):
        op.infer(T((2, 5, 8)))
    with pytest.raises(ValidationError):
        TransformerEncoderLayer(nhead=2, activation="tanh")
    with pytest.raises(ValidationError):
        TransformerEncoderLayer(nhead=2, dropout=1.0)


# ---------------------------------------------------------------- PositionalEncoding


@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_positional_encoding(d_model):
    op = PositionalEncoding(max_len=50)
    module, (out,) = run_op(op, T((2, 5, d_model)))
    assert op.count_params(T((2, 5, d_model))) == 0
    assert list(module.state_dict()) == []  # a non-persistent buffer
    pe = module.pe
    assert pe.shape == (50, d_model)
    pos, i = 3, 2  # pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(...)
    angle = pos / 10000 ** (2 * i / d_model)
    assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), rel_tol=1e-5)
    assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), rel_tol=1e-5)
    x = torch.zeros(1, 4, d_model)
    torch.testing.assert_close(module(x)[0], pe[:4])


def test_learned_positional_encoding_and_errors():
    op = PositionalEncoding(kind="learned", max_len=20)
    module, _ = run_op(op, T((2, 5, 8)))
    assert list(module.state_dict()) == ["pe"] and op.count_params(T((2, 5, 8))) == 160
    assert op.infer(T(("batch", "seq", 8))) == T(("batch", "seq", 8))
    with pytest.raises(ShapeError, match="must not exceed max_len. Received: seq 21, max_len=20"):
        op.infer(T((2, 21, 8)))
    with pytest.raises(ShapeError, match=r"\[\.\.\., seq, d_model\]"):
        op.infer(T((8,)))
    with pytest.raises(ValidationError):
        PositionalEncoding(kind="rotary")


# ---------------------------------------------------------------- torch.fx and ONNX


class _LeafTracer(torch.fx.Tracer):
    """Trace as the torch backend builds graphs: these modules are call_module nodes."""

    def is_leaf_module(self, m, qualname):
        return type(m).__module__ == tm.__name__ or super().is_leaf_module(m, qualname)


class _Wrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: tm.RNN(4, 8, batch_first=True), (2, 5, 4)),
        (lambda: tm.GRU(4, 8, batch_first=True), (2, 5, 4)),
        (lambda: tm.LSTM(4, 8, batch_first=True), (2, 5, 4)),
        (lambda: tm.MultiheadAttention(8, 2, batch_first=True, causal=True), (2, 5, 8)),
        (lambda: tm.TransformerEncoderLayer(8, 2, 16, batch_first=True, causal=True), (2, 5, 8)),
        (lambda: tm.PositionalEncoding(8, 10, "learned"), (2, 5, 8)),
    ],
    ids=["RNN", "GRU", "LSTM", "MultiheadAttention", "TransformerEncoderLayer", "PositionalEncoding"],
)
def test_torch_module_fx(make, shape):
    wrapper = _Wrap(make()).eval()
    graph_module = torch.fx.GraphModule(wrapper, _LeafTracer().trace(wrapper))
    x = torch.randn(shape)
    with torch.no_grad():
        expected, got = wrapper(x), graph_module(x)
    for e, g in zip(expected if isinstance(expected, tuple) else (expected,), got if isinstance(got, tuple) else (got,)):
        torch.testing.assert_close(g, e)
    if isinstance(wrapper.m, tm.PositionalEncoding):  # parameter-free code path traces through
        torch.testing.assert_close(torch.fx.symbolic_trace(wrapper)(x), expected)


@pytest.mark.slow  # over 5 s on a 2-core CPU
def test_lstm_exports_with_dynamic_batch_and_seq(tmp_path):
    pytest.importorskip("onnxruntime")
    op = LSTM(hidden_size=8, num_layers=2, bidirectional=True)
    module = op.build_torch(T(("batch", "seq", 4)))
    export_and_run(module, [torch.randn(2, 5, 4)], [{0: "batch", 1: "seq"}], [torch.randn(3, 7, 4)], tmp_path)


@pytest.mark.slow  # over 5 s on a 2-core CPU
def test_transformer_layer_exports_with_dynamic_batch_and_seq(tmp_path):
    pytest.importorskip("onnxruntime")
    op = TransformerEncoderLayer(nhead=2, dim_feedforward=32, causal=True)
    module = op.build_torch(T(("batch", "seq", 16)))
    export_and_run(module, [torch.randn(2, 5, 16)], [{0: "batch", 1: "seq"}], [torch.randn(3, 9, 16)], tmp_path)


def test_positional_encoding_exports_with_dynamic_seq(tmp_path):
    pytest.importorskip("onnxruntime")
    module = PositionalEncoding(max_len=64).build_torch(T(("batch", "seq", 8)))
    export_and_run(module, [torch.randn(2, 5, 8)], [{0: "batch", 1: "seq"}], [torch.randn(3, 11, 8)], tmp_path)
