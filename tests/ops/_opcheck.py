"""Shared checks for op tests: infer and count_params against the built torch module."""

from __future__ import annotations

import torch

from graphspec.ops.types import TensorType

TORCH_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def random_tensor(t: TensorType, high: int = 5) -> torch.Tensor:
    dtype = TORCH_DTYPES[t.dtype]
    if dtype.is_floating_point:
        return torch.randn(t.shape, dtype=dtype)
    if dtype == torch.bool:
        return torch.rand(*t.shape) > 0.5
    return torch.randint(0, high, t.shape, dtype=dtype)


def as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def type_of(t: torch.Tensor) -> TensorType:
    name = str(t.dtype).removeprefix("torch.")
    return TensorType(tuple(t.shape), name)


def run_op(op, *types: TensorType, train: bool = False):
    """Build the op's module, run it on random tensors, check infer and count_params.

    Returns (module, outputs) for further checks.
    """
    module = op.build_torch(*types)
    module.train(train)
    with torch.no_grad():
        outs = as_tuple(module(*[random_tensor(t) for t in types]))
    inferred = as_tuple(op.infer(*types))
    assert tuple(type_of(o) for o in outs) == inferred, f"{op!r}: torch {[type_of(o) for o in outs]} != infer {inferred}"
    assert op.count_params(*types) == sum(p.numel() for p in module.parameters())
    return module, outs


def export_and_run(module: torch.nn.Module, examples, dynamic, others, tmp_path, atol: float = 1e-4):
    """Export with torch.onnx.export(dynamo=True) and dynamic dims, then run on onnxruntime.

    ``examples``: tensors to export with; ``dynamic``: per input, {dim index: name};
    ``others``: inputs of other sizes, compared against eager PyTorch.
    """
    import onnxruntime as ort

    module.eval()
    dims: dict[str, torch.export.Dim] = {}
    shapes = tuple({i: dims.setdefault(n, torch.export.Dim(n)) for i, n in d.items()} for d in dynamic)
    path = tmp_path / "model.onnx"
    torch.onnx.export(module, tuple(examples), str(path), dynamo=True, external_data=False, verbose=False, dynamic_shapes=shapes)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the LSTM's output shape annotation keeps the example seq: a warning only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert len(session.get_inputs()) == len(others)
    feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), others)}
    got = session.run(None, feeds)
    with torch.no_grad():
        expected = as_tuple(module(*others))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        torch.testing.assert_close(torch.from_numpy(g), e, atol=atol, rtol=1e-4)
