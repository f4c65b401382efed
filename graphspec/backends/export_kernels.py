"""Export-time kernels: torch ops swapped while exporting so symbolic dims stay symbolic."""

from __future__ import annotations

import contextlib

# torch's own decompositions of a few ops loop or compute sizes in Python, so
# torch.export fixes a symbolic dim to its example size ("seq = 128"). While
# exporting, graphspec swaps in kernels that keep the dim symbolic:
#
# - nn.RNN (aten.rnn_tanh / rnn_relu): captured with a while_loop (as torch
#   already does for LSTM and GRU), and translated to the ONNX RNN op;
# - MaxPool1d (aten.max_pool1d): captured as one op (torchlib translates it)
#   instead of its C++ decomposition, which specialises the length.


def _rnn_layer(nonlinearity):
    import torch

    def layer(inp, hidden, params, has_biases, reverse=False):
        from torch._higher_order_ops.while_loop import while_loop

        ih_weight, hh_weight = params[0], params[1]
        ih_bias = params[2] if has_biases else None
        hh_bias = params[3] if has_biases else None
        pre = torch.nn.functional.linear(inp, ih_weight, ih_bias)
        pre = pre.flip(0) if reverse else pre
        try:
            from torch.export._patches import _clone_tensors_that_alias

            hh_weight, hh_bias = _clone_tensors_that_alias((hh_weight, hh_bias))
        except ImportError:  # pragma: no cover
            pass
        cur = hidden.unsqueeze(0)
        out0 = torch.empty(pre.size(0), *tuple(cur.shape[1:]), dtype=cur.dtype, device=cur.device)

        def cond_fn(i, out, cur):
            return i < pre.size(0)

        def body_fn(idx, out, cur):
            i = idx.item()
            torch._check(i >= 0)
            torch._check(i < pre.size(0))
            cur = nonlinearity(pre[i] + torch.nn.functional.linear(cur, hh_weight, hh_bias))
            out = out.clone()
            out[i] = cur.squeeze(0)
            return idx + 1, out, cur

        _, out, final = while_loop(cond_fn, body_fn, [torch.tensor(0, dtype=torch.int64), out0, cur])
        if reverse:
            out = out.flip(0)
        return out, final.squeeze(0)

    return layer


def _rnn_while_loop(nonlinearity):
    import torch

    def impl(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        from torch._decomp.decompositions import _rnn_helper, gather_params

        params = gather_params(params, has_biases, False)
        out, final = _rnn_helper(input, hx.unbind(0), params, has_biases, num_layers, dropout, train, bidirectional, batch_first, _rnn_layer(nonlinearity))
        return out, torch.stack(final, 0)

    return impl


def _max_pool1d_kernel(input, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    import torch

    stride = list(stride) or list(kernel_size)
    x = input.unsqueeze(-2)
    y = torch.ops.aten.max_pool2d.default(x, [1, kernel_size[0]], [1, stride[0]], [0, padding[0]], [1, dilation[0]], ceil_mode)
    return y.squeeze(-2)


@contextlib.contextmanager
def capture_patches():
    """The export-time kernels above, restored on exit; each is skipped where this torch lacks its hooks."""
    import torch
    from torch._C import DispatchKey

    with contextlib.ExitStack() as stack:
        try:
            from torch._decomp.decompositions import _rnn_helper, gather_params  # noqa: F401 (needed by the kernels)
            from torch.export._patches import _register_rnn_while_loop_decomposition

            stack.enter_context(_register_rnn_while_loop_decomposition(torch.ops.aten.rnn_tanh.input, _rnn_while_loop(torch.tanh)))
            stack.enter_context(_register_rnn_while_loop_decomposition(torch.ops.aten.rnn_relu.input, _rnn_while_loop(torch.relu)))
        except (ImportError, AttributeError):  # pragma: no cover - another torch version
            pass
        pool = torch.ops.aten.max_pool1d.default
        key = DispatchKey.CompositeImplicitAutograd
        old = pool.py_kernels.get(key)
        pool.py_kernels[key] = _max_pool1d_kernel

        def restore():
            if old is None:
                pool.py_kernels.pop(key, None)
            else:
                pool.py_kernels[key] = old

        stack.callback(restore)
        yield


def _onnx_rnn(activation, input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    """aten.rnn_{tanh,relu}.input as ONNX RNN ops, one per layer (ONNX has no stacked RNN)."""
    from onnxscript import opset18 as op

    dirs = 2 if bidirectional else 1
    if batch_first:
        input = op.Transpose(input, perm=[1, 0, 2])
    per_dir = 4 if has_biases else 2
    x = input
    finals = []
    for layer in range(num_layers):
        h0 = op.Slice(hx, [layer * dirs], [(layer + 1) * dirs], axes=[0])
        ws, rs, bs = [], [], []
        for d in range(dirs):
            base = (layer * dirs + d) * per_dir
            ws.append(op.Unsqueeze(params[base], [0]))
            rs.append(op.Unsqueeze(params[base + 1], [0]))
            if has_biases:
                bs.append(op.Unsqueeze(op.Concat(params[base + 2], params[base + 3], axis=0), [0]))
        w = ws[0] if dirs == 1 else op.Concat(*ws, axis=0)
        r = rs[0] if dirs == 1 else op.Concat(*rs, axis=0)
        b = (bs[0] if dirs == 1 else op.Concat(*bs, axis=0)) if has_biases else None
        y, y_h = op.RNN(
            x, w, r, b, None, h0,
            direction="bidirectional" if bidirectional else "forward",
            hidden_size=hx.shape[2],
            activations=[activation] * dirs,
        )
        # y: [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden]
        x = op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), op.Constant(value_ints=[0, 0, -1]))
        finals.append(y_h)
    h_n = finals[0] if len(finals) == 1 else op.Concat(*finals, axis=0)
    if batch_first:
        x = op.Transpose(x, perm=[1, 0, 2])
    return x, h_n


def _onnx_rnn_tanh(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool):
    return _onnx_rnn("Tanh", input, hx, params, has_biases, num_layers, bidirectional, batch_first)


def _onnx_rnn_relu(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool):
    return _onnx_rnn("Relu", input, hx, params, has_biases, num_layers, bidirectional, batch_first)


def translation_table() -> dict:
    import torch

    return {torch.ops.aten.rnn_tanh.input: _onnx_rnn_tanh, torch.ops.aten.rnn_relu.input: _onnx_rnn_relu}
