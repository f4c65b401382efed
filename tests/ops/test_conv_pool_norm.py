"""Conv, pooling, normalisation and dropout ops against PyTorch itself.

The property tests use torch as the oracle: for random parameters and input
sizes, an op must refuse (ValidationError or ShapeError) exactly when torch
refuses, and otherwise infer torch's output shape, its parameter count and
(for convolutions) half of torch's own FLOP count as MACs. Symbolic dims must
bind to the same sizes as the concrete rule.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

torch = pytest.importorskip("torch")
nn = torch.nn
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from graphspec.ops import conv, norm, pool  # noqa: E402
from graphspec.ops.conv import Conv1d, Conv2d, ConvTranspose2d  # noqa: E402
from graphspec.ops.norm import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d, GroupNorm, LayerNorm  # noqa: E402
from graphspec.ops.pool import (  # noqa: E402
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    Upsample,
)
from graphspec.ops.registry import Op  # noqa: E402
from graphspec.ops.shapes import pool_out  # noqa: E402
from graphspec.ops.types import ShapeError, TensorType, bind  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = TensorType


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def run(op: Op, shape: tuple[int, ...], train: bool = False):
    """(module, output tensor) of the op's torch module on a random input."""
    module = op.build_torch(T(shape))
    module.train(train)
    with torch.no_grad():
        return module, module(torch.randn(shape))


def check(op: Op, shape: tuple[int, ...]) -> TensorType:
    """infer, count_params and the state_dict agree with the torch module."""
    out = op.infer(T(shape))
    module, y = run(op, shape)
    assert out.shape == tuple(y.shape)
    assert op.count_params(T(shape)) == n_params(module)
    return out


def torch_macs(module, shape) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(shape))
    return counter.get_total_flops() // 2


def torch_refuses(make, shape) -> bool:
    """torch raises, or (as ConvTranspose2d does) silently returns an empty tensor."""
    try:
        module = make()
        with torch.no_grad():
            y = module(torch.randn(shape))
    except (RuntimeError, ValueError):
        return True
    return 0 in y.shape


def symbolic(shape: tuple[int, ...], spatial: int) -> tuple:
    """shape with batch and spatial dims renamed: (2, 3, 7, 9) -> ('n', 3, 's0', 's1'), (3, 7, 9) -> (3, 's0', 's1')."""
    lead = shape[: len(shape) - spatial]
    named = tuple(f"s{i}" for i in range(spatial))
    return (("n",) + lead[1:] if len(lead) > 1 else lead) + named


def sizes_of(shape: tuple[int, ...], spatial: int) -> dict[str, int]:
    d = {f"s{i}": s for i, s in enumerate(shape[len(shape) - spatial :])}
    d["n"] = shape[0]
    return d


def assert_oracle(make_op, make_torch, shape, spatial: int, macs: bool = False) -> None:
    """The op refuses exactly when torch does; otherwise shapes, params (and MACs) agree."""
    try:
        op = make_op()
        out = op.infer(T(shape))
    except (ValidationError, ShapeError):
        assert torch_refuses(make_torch, shape), "graphspec refused what torch accepts"
        return
    assert not torch_refuses(make_torch, shape), f"torch refused {op!r} on {list(shape)}, graphspec inferred {out}"
    module, y = run(op, shape)
    assert out.shape == tuple(y.shape)
    assert op.count_params(T(shape)) == n_params(module)
    assert set(module.state_dict()) == set(make_torch().state_dict())
    if macs:
        assert op.count_macs(T(shape), outputs=(out,)) == torch_macs(module, shape)
    # the same rule on symbolic batch and spatial dims binds to the same sizes
    sym = symbolic(shape, spatial)
    assert bind(op.infer(T(sym)), sizes_of(shape, spatial)).shape == out.shape


# --------------------------------------------------------------------------- conv

axis = st.integers(1, 4)
pair = st.tuples(axis, axis)


@st.composite
def conv_case(draw, nd: int):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2)) if draw(st.booleans()) else draw(st.integers(1, 4))
    kw = dict(
        out_channels=groups * draw(st.integers(1, 3)),
        kernel_size=draw(axis if nd == 1 or draw(st.booleans()) else pair),
        stride=draw(st.integers(1, 3) if nd == 1 or draw(st.booleans()) else st.tuples(st.integers(1, 3), st.integers(1, 3))),
        padding=draw(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"]))),
        dilation=draw(st.integers(1, 3)),
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    )
    batch = (draw(st.integers(1, 2)),) if draw(st.booleans()) else ()
    shape = batch + (c_in,) + tuple(draw(st.integers(1, 12)) for _ in range(nd))
    return kw, shape


@PROPERTY
@given(conv_case(2))
def test_conv2d_matches_torch(case):
    kw, shape = case
    assert_oracle(lambda: Conv2d(**kw), lambda: nn.Conv2d(shape[-3], **kw), shape, 2, macs=True)


@PROPERTY
@given(conv_case(1))
def test_conv1d_matches_torch(case):
    kw, shape = case
    assert_oracle(lambda: Conv1d(**kw), lambda: nn.Conv1d(shape[-2], **kw), shape, 1, macs=True)


@PROPERTY
@given(
    st.sampled_from([1, 2]),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(1, 2),
    st.integers(1, 6),
    st.booleans(),
)
def test_conv_transpose2d_matches_torch(groups, k, s, p, op_, d, size, batched):
    kw = dict(out_channels=2 * groups, kernel_size=k, stride=s, padding=p, output_padding=op_, groups=groups, dilation=d)
    shape = ((2,) if batched else ()) + (2 * groups, size, size + 1)
    assert_oracle(lambda: ConvTranspose2d(**kw), lambda: nn.ConvTranspose2d(2 * groups, **kw), shape, 2, macs=True)


def test_conv_known_mac_counts():
    # AlexNet conv1 and ResNet stem at 224x224 (torchvision's published numbers)
    alex = Conv2d(out_channels=64, kernel_size=11, stride=4, padding=2)
    x = T((1, 3, 224, 224))
    out = alex.infer(x)
    assert out.shape == (1, 64, 55, 55)
    assert alex.count_macs(x, outputs=(out,)) == 64 * 55 * 55 * 3 * 11 * 11 == 70_276_800
    assert alex.count_params(x) == 23_296
    stem = Conv2d(out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)
    out = stem.infer(x)
    assert out.shape == (1, 64, 112, 112)
    assert stem.count_macs(x, outputs=(out,)) == 118_013_952
    # depthwise 3x3 on 32 channels: one 3x3 window per output element
    dw = Conv2d(out_channels=32, kernel_size=3, padding=1, groups=32)
    x = T((1, 32, 112, 112))
    assert dw.count_macs(x, outputs=(dw.infer(x),)) == 32 * 112 * 112 * 9
    # DCGAN generator input: 100-d noise to a 4x4x512 map
    gen = ConvTranspose2d(out_channels=512, kernel_size=4, bias=False)
    z = T((1, 100, 1, 1))
    assert gen.infer(z).shape == (1, 512, 4, 4)
    assert gen.count_macs(z, outputs=(gen.infer(z),)) == 100 * 512 * 16
    assert gen.count_params(z) == 100 * 512 * 16


def test_conv_settings_agree_with_torch():
    check(Conv2d(out_channels=8, kernel_size=[3, 5], stride=[1, 2], padding=[1, 2]), (2, 3, 16, 16))
    check(Conv2d(out_channels=8, kernel_size=4, padding="same", dilation=2), (2, 3, 9, 10))
    check(Conv2d(out_channels=6, kernel_size=3, groups=3, bias=False), (3, 6, 6))
    check(Conv1d(out_channels=4, kernel_size=[5], padding="valid", stride=2), (2, 3, 20))
    check(ConvTranspose2d(out_channels=3, kernel_size=[4, 3], stride=[2, 1], padding=[1, 1], output_padding=[1, 0]), (2, 8, 5, 5))


def test_conv_state_dict_keys_are_torch_keys():
    assert set(Conv2d(out_channels=4, kernel_size=3).build_torch(T((1, 3, 8, 8))).state_dict()) == {"weight", "bias"}
    assert set(Conv1d(out_channels=4, kernel_size=3, bias=False).build_torch(T((1, 3, 8))).state_dict()) == {"weight"}


def test_conv_symbolic_dims_pass_through():
    x = T(("batch", 3, "h", "w"))
    assert Conv2d(out_channels=8, kernel_size=3, padding=1).infer(x).shape == ("batch", 8, "h", "w")
    assert Conv2d(out_channels=8, kernel_size=3, padding="same").infer(x).shape == ("batch", 8, "h", "w")
    out = Conv2d(out_channels=8, kernel_size=3, stride=2).infer(x)
    assert bind(out, {"batch": 4, "h": 32, "w": 17}).shape == (4, 8, 15, 8)
    assert Conv1d(out_channels=2, kernel_size=3).infer(T(("batch", 1, "seq"))).shape == ("batch", 2, "seq-2")
    assert ConvTranspose2d(out_channels=3, kernel_size=4, stride=2, padding=1).infer(x).shape == ("batch", 3, "h*2", "w*2")
    assert Conv2d(out_channels=8, kernel_size=3, stride=2, padding=1).infer(x).shape == ("batch", 8, "(h+1)//2", "(w+1)//2")


def test_conv_errors():
    with pytest.raises(ShapeError, match=r"^Conv2d: output size would be zero or negative\. Received: input \[1, 3, 2, 2\], kernel_size=5$"):
        Conv2d(out_channels=8, kernel_size=5).infer(T((1, 3, 2, 2)))
    with pytest.raises(ShapeError, match=r"rank 3 or 4 .*Received: shape \[28, 28\] \(rank 2\)"):
        Conv2d(out_channels=8, kernel_size=3).infer(T((28, 28)))
    with pytest.raises(ShapeError, match="in_channels must be divisible by groups"):
        Conv2d(out_channels=4, kernel_size=3, groups=2).infer(T((1, 3, 8, 8)))
    with pytest.raises(ShapeError, match="fixed size"):
        Conv2d(out_channels=4, kernel_size=3).infer(T(("batch", "c", 8, 8)))
    with pytest.raises(ShapeError, match="floating-point"):
        Conv2d(out_channels=4, kernel_size=3).infer(T((1, 3, 8, 8), "int64"))
    with pytest.raises(ShapeError, match="reflect"):
        Conv1d(out_channels=4, kernel_size=3, padding=4, padding_mode="reflect").infer(T((1, 3, 4)))


def param_error(cls, **kw) -> tuple[tuple, str]:
    """(loc, msg) of the one validation error that cls(**kw) raises."""
    with pytest.raises(ValidationError) as e:
        cls(**kw)
    errors = e.value.errors()
    assert len(errors) == 1, errors  # one mistake, one error (no error per union branch)
    return errors[0]["loc"], errors[0]["msg"]


@pytest.mark.parametrize(
    "kw, loc, message",
    [
        ({"out_channels": 0, "kernel_size": 3}, "out_channels", "greater than 0"),
        ({"out_channels": 4, "kernel_size": 0}, "kernel_size", "Input should be a positive int or a list of them"),
        ({"out_channels": 4, "kernel_size": [3, 3, 3]}, "kernel_size", "Input should have one value per spatial dim (2)"),
        ({"out_channels": 4, "kernel_size": []}, "kernel_size", "Input should not be an empty list"),
        ({"out_channels": 4, "kernel_size": True}, "kernel_size", "positive int"),
        ({"out_channels": 4, "kernel_size": 2.5}, "kernel_size", "positive int"),
        ({"out_channels": 4, "kernel_size": 3, "padding": "full"}, "padding", "'same' or 'valid'"),
        ({"out_channels": 4, "kernel_size": 3, "padding": [1, -1]}, "padding", "Input should be an int >= 0"),
        ({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}, "padding", "'same' needs stride 1 (stride is 2)"),
        ({"out_channels": 4, "kernel_size": 3, "stride": [1, 2], "padding": "same"}, "padding", "(stride is [1, 2])"),
        ({"out_channels": 3, "kernel_size": 3, "groups": 2}, "groups", "Input should divide out_channels (3)"),
        ({"out_channels": 4, "kernel_size": 3, "padding_mode": "mirror"}, "padding_mode", "'zeros'"),
        ({"out_channels": 4, "kernel_size": 3, "kernel": 3}, "kernel", "Extra inputs"),
    ],
)
def test_conv2d_bad_params(kw, loc, message):
    got_loc, msg = param_error(Conv2d, **kw)
    assert got_loc == (loc,) and message in msg


def test_conv_transpose_bad_params():
    assert param_error(ConvTranspose2d, out_channels=4, kernel_size=3, stride=2, output_padding=2) == (
        ("output_padding",),
        "Input should be smaller than stride or dilation (stride=2, dilation=1)",
    )
    ConvTranspose2d(out_channels=4, kernel_size=3, dilation=3, output_padding=2)  # < dilation is enough
    assert param_error(ConvTranspose2d, out_channels=4, kernel_size=[3])[0] == ("kernel_size",)
    assert param_error(ConvTranspose2d, out_channels=4, kernel_size=3, groups=3)[0] == ("groups",)
    with pytest.raises(ShapeError, match="zero or negative"):
        ConvTranspose2d(out_channels=4, kernel_size=1, padding=2).infer(T((1, 2, 3, 3)))


def test_conv_yaml_lists_become_tuples():
    op = Conv2d.model_validate({"out_channels": 4, "kernel_size": [3, 3], "stride": [2, 1], "padding": 1.0})
    assert op.kernel_size == (3, 3) and op.stride == (2, 1) and op.padding == 1
    hash(op)  # frozen ops stay hashable


# --------------------------------------------------------------------------- pooling


@st.composite
def pool_case(draw, nd: int, avg: bool):
    k = draw(st.integers(1, 4) if nd == 1 or draw(st.booleans()) else st.tuples(st.integers(1, 4), st.integers(1, 4)))
    kw = dict(
        kernel_size=k,
        stride=draw(st.one_of(st.none(), st.integers(1, 3))),
        padding=draw(st.integers(0, 2)),
        ceil_mode=draw(st.booleans()),
    )
    if avg:
        kw["count_include_pad"] = draw(st.booleans())
    else:
        kw["dilation"] = draw(st.integers(1, 2))
    batch = (draw(st.integers(1, 2)),) if draw(st.booleans()) else ()
    shape = batch + (2,) + tuple(draw(st.integers(1, 11)) for _ in range(nd))
    return kw, shape


@pytest.mark.parametrize("ours, theirs, nd, avg", [
    (MaxPool1d, nn.MaxPool1d, 1, False),
    (MaxPool2d, nn.MaxPool2d, 2, False),
    (AvgPool1d, nn.AvgPool1d, 1, True),
    (AvgPool2d, nn.AvgPool2d, 2, True),
])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pool_matches_torch(ours, theirs, nd, avg, data):
    kw, shape = data.draw(pool_case(nd, avg))
    assert_oracle(lambda: ours(**kw), lambda: theirs(**kw), shape, nd)


@PROPERTY
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2), st.integers(1, 3))
def test_symbolic_ceil_mode_binds_like_concrete(size, kernel, stride, padding, dilation):
    if padding > (dilation * (kernel - 1) + 1) // 2:
        return  # the pooling ops refuse such padding
    concrete = pool_out(size, kernel, stride, padding, dilation, ceil_mode=True)
    sym = pool_out("h", kernel, stride, padding, dilation, ceil_mode=True)
    assert bind(T((sym,)), {"h": size}).shape == (concrete,)


def test_pool_settings():
    assert check(MaxPool2d(kernel_size=3, stride=2), (1, 64, 55, 55)).shape == (1, 64, 27, 27)
    assert check(MaxPool2d(kernel_size=2), (4, 3, 7, 7)).shape == (4, 3, 3, 3)
    assert check(MaxPool2d(kernel_size=2, ceil_mode=True), (4, 3, 7, 7)).shape == (4, 3, 4, 4)
    assert check(AvgPool2d(kernel_size=[2, 3], stride=[2, 1], padding=[1, 1]), (2, 3, 8, 8)).shape == (2, 3, 5, 8)
    assert check(AvgPool2d(kernel_size=2, divisor_override=3), (1, 1, 4, 4)).shape == (1, 1, 2, 2)
    assert check(AvgPool1d(kernel_size=3, stride=1, padding=1, count_include_pad=False), (2, 4, 10)).shape == (2, 4, 10)
    x = T(("batch", 16, "h", "w"))
    assert MaxPool2d(kernel_size=2).infer(x).shape == ("batch", 16, "h//2", "w//2")
    assert MaxPool2d(kernel_size=2).count_params(x) == 0
    y = MaxPool2d(kernel_size=2).infer(T((1, 16, 8, 8)))
    assert MaxPool2d(kernel_size=2).count_macs(T((1, 16, 8, 8)), outputs=(y,)) == 0


def test_pool_errors():
    with pytest.raises(ShapeError, match=r"^MaxPool2d: output size would be zero or negative\. Received: input \[1, 3, 2, 2\], kernel_size=3$"):
        MaxPool2d(kernel_size=3).infer(T((1, 3, 2, 2)))
    with pytest.raises(ShapeError, match=r"rank 2 or 3 \(\[C, L\] or \[N, C, L\]\)"):
        MaxPool1d(kernel_size=2).infer(T((1, 2, 8, 8)))
    assert param_error(AvgPool2d, kernel_size=[2, 4], padding=[1, 3]) == (
        ("padding",),
        "Input should be at most half of kernel_size ([2, 4])",
    )
    # torch ignores dilation in this check
    assert param_error(MaxPool2d, kernel_size=3, padding=2, dilation=2)[0] == ("padding",)
    assert param_error(MaxPool2d, kernel_size=2, stride=0)[0] == ("stride",)
    with pytest.raises(ValidationError):
        AvgPool1d(kernel_size=2, divisor_override=2)  # torch's AvgPool1d has no divisor_override


@PROPERTY
@given(
    st.one_of(st.integers(1, 6), st.tuples(st.one_of(st.none(), st.integers(1, 6)), st.one_of(st.none(), st.integers(1, 6)))),
    st.integers(1, 9),
    st.integers(1, 9),
    st.booleans(),
)
def test_adaptive_avg_pool2d_matches_torch(output_size, h, w, batched):
    shape = ((2,) if batched else ()) + (3, h, w)
    kw = {"output_size": output_size}
    assert_oracle(lambda: AdaptiveAvgPool2d(**kw), lambda: nn.AdaptiveAvgPool2d(**kw), shape, 2)


def test_adaptive_avg_pool():
    assert check(AdaptiveAvgPool1d(output_size=4), (2, 3, 10)).shape == (2, 3, 4)
    assert check(AdaptiveAvgPool2d(output_size=1), (2, 512, 7, 7)).shape == (2, 512, 1, 1)
    assert check(AdaptiveAvgPool2d(output_size=[6, 6]), (1, 256, 13, 13)).shape == (1, 256, 6, 6)
    assert AdaptiveAvgPool2d(output_size=1).infer(T(("batch", 512, "h", "w"))).shape == ("batch", 512, 1, 1)
    assert param_error(AdaptiveAvgPool1d, output_size=[2, 2])[1] == "Input should have one value per spatial dim (1)"
    assert param_error(AdaptiveAvgPool2d, output_size=0)[0] == ("output_size",)
    assert param_error(AdaptiveAvgPool2d, output_size=None)[0] == ("output_size",)
    with pytest.raises(ShapeError, match="rank 3 or 4"):
        AdaptiveAvgPool2d(output_size=1).infer(T((2, 512)))


# --------------------------------------------------------------------------- Upsample


@PROPERTY
@given(
    st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic"]),
    st.one_of(
        st.sampled_from([0.1, 0.3, 0.5, 1.1, 1.5, 2, 2.0, 2.5, 3, 1 / 3]).map(lambda f: {"scale_factor": f}),
        st.integers(1, 9).map(lambda s: {"size": s}),
    ),
    st.integers(3, 4),
    st.integers(1, 13),
    st.sampled_from([None, True, False]),
)
def test_upsample_matches_torch(mode, how, rank, size, align):
    shape = (2, 3) + (size,) * (rank - 2)
    kw = dict(how, mode=mode, align_corners=align)
    assert_oracle(lambda: Upsample(**kw), lambda: nn.Upsample(**kw), shape, rank - 2)


def test_upsample():
    assert check(Upsample(scale_factor=2), (1, 16, 7, 7)).shape == (1, 16, 14, 14)
    assert check(Upsample(scale_factor=[2, 1.5], mode="bilinear", align_corners=False), (1, 3, 4, 4)).shape == (1, 3, 8, 6)
    assert check(Upsample(size=[5, 9], mode="bicubic"), (1, 3, 4, 4)).shape == (1, 3, 5, 9)
    assert check(Upsample(size=5, mode="linear"), (1, 3, 4)).shape == (1, 3, 5)
    x = T(("batch", 3, "h", "w"))
    assert Upsample(scale_factor=2).infer(x).shape == ("batch", 3, "h*2", "w*2")
    out = Upsample(scale_factor=1.5).infer(x)
    assert bind(out, {"batch": 1, "h": 7, "w": 3}).shape == (1, 3, 10, 4)


def test_upsample_errors():
    assert param_error(Upsample) == (("scale_factor",), "Give size or scale_factor")
    assert param_error(Upsample, size=4, scale_factor=2) == (("scale_factor",), "Give size or scale_factor, not both")
    assert param_error(Upsample, size=0)[0] == ("size",)  # one error: no "give size" on top
    assert param_error(Upsample, scale_factor=2, align_corners=True) == (
        ("align_corners",),
        "align_corners only applies to interpolating modes, not mode 'nearest'",
    )
    assert param_error(Upsample, scale_factor=-2) == (("scale_factor",), "Input should be a positive number or a list of them")
    assert param_error(Upsample, scale_factor=2, mode="area")[0] == ("mode",)
    with pytest.raises(ShapeError, match=r"mode='bilinear' needs an input of rank 4"):
        Upsample(scale_factor=2, mode="bilinear").infer(T((1, 3, 8)))
    with pytest.raises(ShapeError, match=r"size needs one value per spatial dim \(2\)"):
        Upsample(size=[4, 4, 4]).infer(T((1, 3, 8, 8)))
    with pytest.raises(ShapeError, match="zero or negative"):
        Upsample(scale_factor=0.1).infer(T((1, 3, 8, 8)))


# --------------------------------------------------------------------------- normalisation


def test_batchnorm():
    check(BatchNorm1d(), (4, 10))
    check(BatchNorm1d(affine=False), (4, 10, 7))
    check(BatchNorm2d(momentum=None, eps=1e-3), (2, 8, 5, 5))
    module = BatchNorm2d().build_torch(T((2, 8, 5, 5)))
    assert set(module.state_dict()) == set(nn.BatchNorm2d(8).state_dict())
    assert BatchNorm2d().count_params(T((2, 8, 5, 5))) == 16
    assert BatchNorm2d.stateful_training and BatchNorm1d.stateful_training
    assert BatchNorm2d().infer(T(("batch", 8, "h", "w"))).shape == ("batch", 8, "h", "w")
    x = T((1, 8, 4, 4))
    assert BatchNorm2d().count_macs(x, outputs=(x,)) == 0
    with pytest.raises(ShapeError, match=r"BatchNorm1d: input must have rank 2 or 3"):
        BatchNorm1d().infer(T((2, 8, 4, 4)))
    with pytest.raises(ShapeError, match=r"BatchNorm2d: input must have rank 4"):
        BatchNorm2d().infer(T((8, 4, 4)))
    with pytest.raises(ShapeError, match="fixed size"):
        BatchNorm1d().infer(T(("batch", "features")))
    with pytest.raises(ValidationError):
        BatchNorm2d(momentum=1.5)
    with pytest.raises(ValidationError):
        BatchNorm2d(eps=0)


def test_batchnorm_trains_like_torch():
    module, y = run(BatchNorm1d(), (16, 5), train=True)
    assert torch.allclose(y.mean(0), torch.zeros(5), atol=1e-5)


@pytest.mark.parametrize("dims, shape, params", [
    (1, (2, 7, 32), 64),
    (2, (2, 7, 32), 2 * 7 * 32),
    (3, (2, 8, 4, 4), 2 * 128),
])
def test_layernorm(dims, shape, params):
    op = LayerNorm(normalized_dims=dims)
    check(op, shape)
    assert op.count_params(T(shape)) == params
    assert LayerNorm(normalized_dims=dims, bias=False).count_params(T(shape)) == params // 2
    assert LayerNorm(normalized_dims=dims, elementwise_affine=False).count_params(T(shape)) == 0
    check(LayerNorm(normalized_dims=dims, bias=False, eps=1e-6), shape)


def test_layernorm_symbolic_and_errors():
    assert LayerNorm().infer(T(("batch", "seq", 512))).shape == ("batch", "seq", 512)
    assert set(LayerNorm().build_torch(T((2, 8))).state_dict()) == {"weight", "bias"}
    with pytest.raises(ShapeError, match="fixed size"):
        LayerNorm(normalized_dims=2).infer(T(("batch", "seq", 512)))
    with pytest.raises(ShapeError, match="normalized_dims cannot exceed the input rank"):
        LayerNorm(normalized_dims=3).infer(T((2, 8)))
    with pytest.raises(ValidationError):
        LayerNorm(normalized_dims=0)
    with pytest.raises(ValidationError):
        LayerNorm(normalized_shape=[8])


def test_groupnorm():
    check(GroupNorm(num_groups=4), (2, 8, 5, 5))
    check(GroupNorm(num_groups=1, affine=False), (2, 6, 3))
    check(GroupNorm(num_groups=3), (2, 6))
    assert GroupNorm(num_groups=32).count_params(T((1, 256, 7, 7))) == 512
    assert GroupNorm(num_groups=2).infer(T(("batch", 4, "h", "w"))).shape == ("batch", 4, "h", "w")
    with pytest.raises(ShapeError, match=r"num_groups must divide the number of channels\. Received: input \[1, 6, 4, 4\] with 6 channels, num_groups=4") as e:
        GroupNorm(num_groups=4).infer(T((1, 6, 4, 4)))
    assert "divisors" in e.value.hint
    with pytest.raises(ShapeError, match="rank 2 or more"):
        GroupNorm(num_groups=1).infer(T((6,)))
    with pytest.raises(ValidationError):
        GroupNorm(num_groups=0)
    with pytest.raises(ValidationError):
        GroupNorm()


def test_dropout():
    for p in (0.0, 0.3, 1.0):
        check(Dropout(p=p), (4, 10))
    check(Dropout2d(p=0.2), (2, 3, 4, 4))
    assert Dropout.stateful_training and Dropout2d.stateful_training
    assert Dropout().infer(T(("batch", "seq", 64))).shape == ("batch", "seq", 64)
    _, y = run(Dropout(p=1.0), (4, 10), train=True)
    assert (y == 0).all()
    _, y = run(Dropout2d(p=0.5), (8, 16, 3, 3), train=True)
    per_channel = y.flatten(2)
    assert ((per_channel == 0).all(-1) | (per_channel != 0).all(-1)).all()  # whole channels dropped
    with pytest.raises(ValidationError):
        Dropout(p=1.5)
    with pytest.raises(ValidationError):
        Dropout(p=-0.1)
    with pytest.raises(ShapeError, match=r"Dropout2d: input must have rank 4"):
        Dropout2d().infer(T((2, 3, 4)))
    with pytest.raises(ShapeError, match="floating-point"):
        Dropout().infer(T((2, 3), "int64"))


# --------------------------------------------------------------------------- contract


def _ops(module) -> list[type[Op]]:
    return [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, Op) and c.__module__ == module.__name__ and c.op_name]


OPS = _ops(conv) + _ops(pool) + _ops(norm)


def test_every_op_is_documented_and_complete():
    names = {c.op_name for c in OPS}
    assert names == {
        "Conv1d", "Conv2d", "ConvTranspose2d",
        "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Upsample",
        "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "Dropout2d",
    }
    for cls in OPS:
        assert cls.summary(), cls
        assert cls.torch_call is not Op.torch_call and cls.infer is not Op.infer, cls
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.op_name}.{name} has no description"
        cls.model_json_schema()  # the spec schema is generated from these


def test_modules_never_import_torch():
    code = (
        "import sys\n"
        "from graphspec.ops import conv, pool, norm, activation\n"
        "from graphspec.ops.types import TensorType as T\n"
        "conv.Conv2d(out_channels=8, kernel_size=3).infer(T(('b', 3, 32, 32)))\n"
        "pool.Upsample(scale_factor=2).infer(T(('b', 3, 32, 32)))\n"
        "norm.LayerNorm().infer(T(('b', 8)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
