"""Export a graph to ONNX, check it, and prove parity with PyTorch on onnxruntime.

:func:`export` runs the whole job:

1. ``spec.to_torch(graph, outputs)`` in eval mode, optionally with trained
   weights (a ``.safetensors`` file or a run folder, loaded with ``strict=True``);
2. ``torch.onnx.export(..., dynamo=True)`` with one ``torch.export.Dim`` per
   symbolic dim name of the graph's inputs, shared across inputs, so that
   ``batch`` and ``seq`` stay dynamic; the exporter's chatter (progress lines,
   warnings, torch logging) is captured, not printed;
3. clean-up of the ONNX graph: the spec's dim names on inputs and outputs
   (``dim_param: batch``), node names that follow spec node paths
   (``layer1.0.conv1/Conv``, taken from the exporter's name-scope metadata),
   graphspec metadata (spec text, sha256, version, interface);
4. ``onnx.checker.check_model(full_check=True)``, one file (no external data)
   below 2 GB;
5. parity on onnxruntime against PyTorch at two or more batch sizes (and
   sequence lengths), see :mod:`graphspec.backends.parity`.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from graphspec.errors import GraphspecError

# Loggers whose warnings the exporter emits while it works (torchvision ops not
# registered, symbolic shape notes, onnxscript optimizer details).
_NOISY_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch._dynamo",
    "torch.fx",
    "torch._subclasses",
    "torch.utils._sympy",
    "onnxscript",
    "onnx_ir",
)

# A model this large cannot be one protobuf (the limit is 2 GiB): weights go to
# a side file instead.
SINGLE_FILE_LIMIT = 1_900_000_000

METADATA_KEYS = ("graphspec.spec", "graphspec.sha256", "graphspec.version", "graphspec.inputs", "graphspec.outputs")


@dataclass
class ExportResult:
    model_path: str
    spec: str
    spec_file: str | None
    graph: str
    inputs: list[dict]
    outputs: list[dict]
    opset: int
    export_seconds: float
    check_seconds: float
    size_bytes: int
    dynamic_dims: list[str]
    static_dims: dict[str, int] = field(default_factory=dict)
    weights: str | None = None
    ignored_weight_keys: int = 0
    nodes: int = 0
    renamed_nodes: int = 0
    external_data: bool = False
    metadata_keys: list[str] = field(default_factory=list)
    parity: Any = None  # ParityReport or None
    parity_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    module: Any = field(default=None, repr=False)  # the PyTorch module that was exported (eval mode)

    def to_json(self) -> dict:
        return {
            "model": self.model_path,
            "spec": self.spec,
            "spec_file": self.spec_file,
            "graph": self.graph,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "opset": self.opset,
            "size_bytes": self.size_bytes,
            "external_data": self.external_data,
            "nodes": self.nodes,
            "renamed_nodes": self.renamed_nodes,
            "dynamic_dims": self.dynamic_dims,
            "static_dims": self.static_dims,
            "weights": self.weights,
            "ignored_weight_keys": self.ignored_weight_keys,
            "metadata": self.metadata_keys,
            "timing": {
                "export_seconds": round(self.export_seconds, 3),
                "check_seconds": round(self.check_seconds, 3),
                "parity_seconds": round(self.parity.seconds, 3) if self.parity is not None else None,
            },
            "parity": self.parity.to_json() if self.parity is not None else None,
            "parity_report": self.parity_path,
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------- quiet


@contextlib.contextmanager
def quiet(capture: io.StringIO | None = None):
    """Silence the exporter: warnings, torch/onnxscript logging, and stdout/stderr prints."""
    capture = capture if capture is not None else io.StringIO()
    saved = {}
    for name in _NOISY_LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = lg.level
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
                yield capture
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


# ---------------------------------------------------------------------------- dims and inputs


def symbols_of(graph) -> dict[str, bool]:
    """Symbolic dim names of the graph's inputs -> True when batch-like (axis 0 somewhere).

    Only plain names count (``batch``, ``seq``); an input dim written as an
    expression (``seq*2``) is exported at its example size.
    """
    out: dict[str, bool] = {}
    for spec_in in graph.inputs.values():
        for axis, d in enumerate(spec_in.type.shape):
            if isinstance(d, str) and d.isidentifier():
                out[d] = out.get(d, False) or axis == 0
    return out


def example_sizes(spec, graph) -> dict[str, int]:
    """Sizes of the symbolic dims for the export's example inputs.

    Batch-like dims (axis 0) take 2, so the exporter does not specialise them
    (torch.export treats sizes 0 and 1 as constants); other dims take the spec's
    ``dims:`` value (at least 2), else 8.
    """
    sizes: dict[str, int] = {}
    for name, batch_like in symbols_of(graph).items():
        if batch_like:
            sizes[name] = 2
        else:
            sizes[name] = max(2, int(spec.dims.get(name, 8)))
    return sizes


def bind_shape(shape, sizes) -> tuple[int, ...]:
    from graphspec.ops.types import bind_dim

    return tuple(int(bind_dim(d, sizes)) for d in shape)


def integer_ranges(graph) -> dict[str, int]:
    """Exclusive upper bound of valid values for each integer input (Embedding vocab size)."""
    bounds: dict[str, int] = {}
    for name, spec_in in graph.inputs.items():
        if spec_in.type.dtype not in ("int64", "int32", "uint8"):
            continue
        limit = 256 if spec_in.type.dtype == "uint8" else 2
        found = []
        for _, consumer in graph.g.out_edges(name):
            op = graph.node(consumer).get("op")
            n = getattr(op, "num_embeddings", None)
            if isinstance(n, int):
                found.append(n)
        bounds[name] = min(found) if found else limit
    return bounds


def make_inputs(graph, names: Sequence[str], sizes: dict[str, int], seed: int = 0) -> dict[str, Any]:
    """Random numpy inputs for the graph at the given dim sizes (valid indices for integer inputs)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bounds = integer_ranges(graph)
    out = {}
    for name in names:
        t = graph.inputs[name].type
        shape = bind_shape(t.shape, sizes)
        if t.dtype in ("int64", "int32", "uint8"):
            out[name] = rng.integers(0, bounds.get(name, 2), size=shape).astype(t.dtype)
        elif t.dtype == "bool":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        elif t.dtype == "bfloat16":
            raise GraphspecError.one("export", f"input {name!r} is bfloat16, which numpy and the parity check do not support")
        else:
            out[name] = rng.standard_normal(size=shape).astype(t.dtype)
    return out


# ---------------------------------------------------------------------------- weights


def resolve_weights(path: str | Path) -> Path:
    """A .safetensors file, or a run folder's best.safetensors (else last.safetensors)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise GraphspecError.one(
            "checkpoint",
            f"run folder {p} has no best.safetensors or last.safetensors",
            hint="pass a .safetensors file, or the folder of a finished 'graphspec train' run",
        )
    if not p.exists():
        raise GraphspecError.one("file-not-found", f"no such weights file or run folder: {p}")
    return p


def load_weights(module, path: str | Path, *, allow_extra: bool = False) -> tuple[str, int]:
    """Load a safetensors state_dict into ``module`` strictly; returns (file, ignored key count).

    ``allow_extra``: the checkpoint may hold more tensors than the module (the
    weights of a whole spec loaded into one of its graphs or a subgraph); those
    are ignored, but every tensor the module needs must be there with its shape.
    """
    file = resolve_weights(path)
    try:
        from safetensors.torch import load_file

        state = load_file(str(file))
    except Exception as exc:
        raise GraphspecError.one(
            "checkpoint", f"cannot read weights {file}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint="the file is corrupt or not a safetensors file",
        ) from None
    own = module.state_dict()
    extra = [k for k in state if k not in own]
    ignored = 0
    if extra and allow_extra:
        state = {k: v for k, v in state.items() if k in own}
        ignored = len(extra)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k}: checkpoint {list(state[k].shape)}, model {list(own[k].shape)}" for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else ""))
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): " + "; ".join(mismatched[:5]))
        raise GraphspecError.one(
            "checkpoint",
            f"weights {file} do not fit the model: " + " | ".join(parts),
            hint="were they trained from this spec with the same params (and --set overrides)?",
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GraphspecError.one("checkpoint", f"weights {file} do not fit the model: {exc}") from None
    return str(file), ignored


# ---------------------------------------------------------------------------- ONNX clean-up


def _scope_candidates(node) -> list[str]:
    """Module scopes of an exported node from the exporter's metadata, innermost first."""
    props = {p.key: p.value for p in node.metadata_props}
    scopes = props.get("pkg.torch.onnx.name_scopes")
    if scopes:
        try:
            items = ast.literal_eval(scopes)
        except (ValueError, SyntaxError):
            items = None
        if isinstance(items, list) and len(items) >= 2:
            return [s for s in reversed(items[:-1]) if isinstance(s, str) and s]
    ns = props.get("namespace")
    if ns:
        parts = [p.split(":")[0].strip() for p in ns.split("/")[:-1]]
        return [p for p in reversed(parts) if p]
    return []


def _module_paths(graph) -> set[str] | None:
    if graph is None:
        return None
    return {graph.node(n).get("module") or n for n in graph.op_nodes()}


def _is_spec_scope(scope: str, modules: set[str] | None) -> bool:
    """A spec module path, a container of one (``layer1``), or a torch submodule inside one (``encoder.0.self_attn``)."""
    if modules is None:
        return not scope.startswith("_")
    if scope in modules:
        return True
    return any(scope.startswith(m + ".") or m.startswith(scope + ".") for m in modules)


def _node_scope(node, modules: set[str] | None = None) -> str | None:
    """The innermost spec module path of an exported node, or None."""
    for scope in _scope_candidates(node):
        if _is_spec_scope(scope, modules):
            return scope
    return None


def _fused_source(node, scope: str, graph) -> str:
    """A BatchNorm folded into the Conv before it carries the BatchNorm's scope: name the Conv instead."""
    if graph is None:
        return scope
    rule = next((p.value for p in node.metadata_props if p.key == "pkg.onnxscript.rewriter.rule_name"), "")
    if "BatchNorm" not in rule or scope not in graph.g:
        return scope
    attrs = graph.node(scope)
    op = attrs.get("op")
    if op is None or not type(op).__name__.startswith("BatchNorm") or not attrs.get("inputs"):
        return scope
    src = attrs["inputs"][0][0]
    src_attrs = graph.node(src)
    return src_attrs.get("module", src) if src_attrs.get("kind") == "op" else scope


def rename_nodes(model, graph=None) -> int:
    """Rename nodes to ``<spec node path>/<OpType>`` (``_1``, ``_2`` ... when repeated).

    The path is the innermost module scope the exporter recorded (module paths
    are spec node paths); a Conv with a BatchNorm folded in is named after the
    Conv node. Returns the number of nodes renamed; nodes without scope
    metadata keep the exporter's name. Names stay unique in the graph.
    """
    nodes = list(model.graph.node)
    modules = _module_paths(graph)
    wanted: list[str | None] = []
    for n in nodes:
        scope = _node_scope(n, modules)
        if scope:
            scope = _fused_source(n, scope, graph)
        wanted.append(f"{scope}/{n.op_type}" if scope else None)
    taken = {n.name for n, w in zip(nodes, wanted) if w is None and n.name}
    counts: Counter = Counter()
    renamed = 0
    for n, w in zip(nodes, wanted):
        if w is None:
            continue
        name = w if counts[w] == 0 else f"{w}_{counts[w]}"
        counts[w] += 1
        while name in taken:
            name = f"{w}_{counts[w]}"
            counts[w] += 1
        taken.add(name)
        if n.name != name:
            n.name = name
            renamed += 1
    return renamed


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def rename_dims(model, graph, input_names: Sequence[str], output_names: Sequence[str], out_types) -> tuple[dict[str, int], list[str]]:
    """Give inputs' and outputs' symbolic dims the spec's names.

    Returns (static dims: spec name -> size the exporter fixed, dynamic dim names).
    """
    mapping: dict[str, str] = {}
    static: dict[str, int] = {}
    dynamic: list[str] = []
    by_name = {vi.name: vi for vi in model.graph.input}
    for name in input_names:
        vi = by_name.get(name)
        if vi is None:
            continue
        dims = vi.type.tensor_type.shape.dim
        for d, want in zip(dims, graph.inputs[name].type.shape):
            if not isinstance(want, str):
                continue
            if d.HasField("dim_value"):
                if want.isidentifier():
                    static.setdefault(want, int(d.dim_value))
                continue
            if d.dim_param and d.dim_param != want:
                mapping.setdefault(d.dim_param, want)
            d.dim_param = want
            if want not in dynamic:
                dynamic.append(want)
    for s in static:
        if s in dynamic:
            dynamic.remove(s)

    def fix(value_info, spec_shape=None):
        dims = value_info.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not d.dim_param:
                continue
            if spec_shape is not None and i < len(spec_shape) and isinstance(spec_shape[i], str):
                d.dim_param = spec_shape[i]
            elif mapping:
                d.dim_param = _TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), d.dim_param)

    out_by_name = {vi.name: vi for vi in model.graph.output}
    for name, t in zip(output_names, out_types):
        vi = out_by_name.get(name)
        if vi is not None:
            fix(vi, list(t.shape) if t is not None else None)
    for vi in model.graph.value_info:
        fix(vi)
    return static, dynamic


def interface(graph, names: Sequence[str], kind: str) -> list[dict]:
    out = []
    for name in names:
        if kind == "inputs":
            t = graph.inputs[name].type
        else:
            t = graph.output_type(name)
        out.append({"name": name, "shape": list(t.shape) if t is not None else None, "dtype": t.dtype if t is not None else None})
    return out


def set_metadata(model, spec, graph, inputs: list[dict], outputs: list[dict], overrides: dict | None = None, dims: dict | None = None) -> list[str]:
    from graphspec import __version__

    props = {
        "graphspec.spec": spec.text,
        "graphspec.sha256": spec.sha256,
        "graphspec.version": __version__,
        "graphspec.name": spec.name,
        "graphspec.graph": graph.name,
        "graphspec.inputs": json.dumps(inputs),
        "graphspec.outputs": json.dumps(outputs),
        "graphspec.dims": json.dumps(dims or {}),
    }
    if overrides:
        props["graphspec.overrides"] = json.dumps(overrides, default=str)
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.doc_string = f"graphspec {spec.name} / {graph.name}: exported by graphspec {__version__}"
    return list(props)


# ---------------------------------------------------------------------------- export-time kernels
#
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
            from torch.export._patches import _register_rnn_while_loop_decomposition

            from torch._decomp.decompositions import _rnn_helper, gather_params  # noqa: F401 (needed by the kernels)

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


# ---------------------------------------------------------------------------- export


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # the exporter wraps the cause; its last "Error:" line is usually the most telling
    for ln in lines:
        if ln.startswith(("torch._dynamo.exc", "torch.fx.experimental", "RuntimeError", "ValueError", "TypeError", "Unsupported")):
            return ln[:500]
    return lines[0][:500]


def _run_exporter(module, args, input_names, output_names, dynamic_shapes, opset, external):
    import torch

    kwargs: dict[str, Any] = dict(
        dynamo=True,
        external_data=external,
        verbose=False,
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_shapes=dynamic_shapes,
        report=False,
        optimize=False,  # optimised below, without the slow ONNX shape inference
        custom_translation_table=translation_table(),
    )
    if opset is not None:
        kwargs["opset_version"] = int(opset)
    with capture_patches():
        program = torch.onnx.export(module, args, **kwargs)
    optimize(program)
    return program


def optimize(program) -> None:
    """The exporter's optimiser (constant folding, BatchNorm folded into Conv,
    dead code removal) minus ONNX shape inference, which costs seconds on big
    models (it serialises every weight) and changes nothing here."""
    try:
        import onnxscript.optimizer
        from onnxscript.ir.passes.common import RemoveUnusedNodesPass

        onnxscript.optimizer.optimize_ir(program.model, onnx_shape_inference=False)
        RemoveUnusedNodesPass()(program.model)
    except (ImportError, TypeError, AttributeError):  # another onnxscript version
        program.optimize()


def export_module(module, graph, input_names, output_names, sizes, *, opset=None, external=False, log=None):
    """torch.onnx.export with dynamic dims; returns (onnx ModelProto, notes).

    Named dims first (``Dim("batch")`` shared by every input that has it); if
    torch.export rejects them (a dim the model constrains), again with
    ``Dim.DYNAMIC`` so that the exporter infers the constraints itself.
    """
    import numpy as np
    import torch

    feeds = make_inputs(graph, input_names, sizes, seed=0)
    args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names)
    symbols = symbols_of(graph)
    named = {s: torch.export.Dim(s) for s in symbols}

    def shapes(kind):
        spec = []
        for n in input_names:
            axes = {}
            for axis, d in enumerate(graph.inputs[n].type.shape):
                if isinstance(d, str) and d in symbols:
                    axes[axis] = named[d] if kind == "named" else torch.export.Dim.DYNAMIC
            spec.append(axes or None)
        return tuple(spec)

    notes: list[str] = []
    capture = io.StringIO()
    attempts = ["named", "auto"] if symbols else ["static"]
    last_exc: BaseException | None = None
    for kind in attempts:
        try:
            with quiet(capture):
                program = _run_exporter(module, args, input_names, output_names, shapes(kind) if symbols else None, opset, external)
            if kind == "auto":
                notes.append(f"named dynamic dims were rejected ({_first_line(last_exc)}); exported with inferred dims")
            return program.model_proto, notes
        except Exception as exc:  # the exporter raises many types
            last_exc = exc
            if log:
                log(f"export attempt with {kind} dims failed: {_first_line(exc)}")
    assert last_exc is not None
    if os.environ.get("GRAPHSPEC_DEBUG"):
        raise last_exc
    raise GraphspecError.one(
        "export",
        f"torch.onnx.export failed for graph {graph.name!r}: {_first_line(last_exc)}",
        hint="rerun with GRAPHSPEC_DEBUG=1 for the exporter's full message",
    ) from last_exc


def export(
    spec,
    path: str | Path,
    *,
    graph: str | None = None,
    outputs: Sequence[str] | None = None,
    weights: str | Path | None = None,
    opset: int | None = None,
    parity: bool = True,
    provider: str = "cpu",
    atol: float | None = None,
    rtol: float | None = None,
    overrides: dict | None = None,
    write_report: bool = True,
    strict: bool = False,
) -> ExportResult:
    """Export one graph of a loaded spec to ``path``; raises GraphspecError on any failure.

    The model and its ``.parity.json`` report are written even when parity
    fails; check ``result.parity.passed``, or pass ``strict=True`` to get a
    ``parity`` error (exit 6) naming the worst output.
    """
    import onnx
    import torch

    from graphspec.backends import parity as _parity

    g = spec.graph(graph)
    if outputs:
        from graphspec.passes.subgraph import extract

        g = extract(g, list(outputs))
    path = Path(path)
    if path.suffix != ".onnx":
        raise GraphspecError.one("usage", f"the output file must end in .onnx, received {str(path)!r}")
    if path.parent and not path.parent.exists():
        raise GraphspecError.one("file-not-found", f"output folder {path.parent} does not exist")

    module = spec.to_torch(graph=g.name, outputs=list(outputs) if outputs else None)
    module.eval()
    input_names = list(getattr(module, "graphspec_inputs", list(g.inputs)))
    output_names = list(getattr(module, "graphspec_outputs", list(outputs or g.outputs)))
    out_types = [g.output_type(n) for n in output_names]

    weights_file, ignored = None, 0
    if weights is not None:
        subgraph = bool(outputs) or len(spec.graphs) > 1
        weights_file, ignored = load_weights(module, weights, allow_extra=subgraph)

    n_bytes = sum(p.numel() * p.element_size() for p in module.state_dict().values())
    external = n_bytes > SINGLE_FILE_LIMIT
    sizes = example_sizes(spec, g)

    t0 = time.perf_counter()
    with torch.no_grad():
        model, notes = export_module(module, g, input_names, output_names, sizes, opset=opset, external=external)
    static, dynamic = rename_dims(model, g, input_names, output_names, out_types)
    renamed = rename_nodes(model, g)
    ins = interface(g, input_names, "inputs")
    outs = interface(g, output_names, "outputs")
    keys = set_metadata(model, spec, g, ins, outs, overrides, sizes)
    export_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    try:
        if external:
            onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + ".data")
            onnx.checker.check_model(str(path), full_check=True)
        else:
            onnx.checker.check_model(model, full_check=True)
            onnx.save_model(model, str(path))
    except onnx.checker.ValidationError as exc:
        raise GraphspecError.one("export", f"the exported model fails the ONNX checker: {_first_line(exc)}") from None
    except OSError as exc:
        raise GraphspecError.one("file-unreadable", f"cannot write {path}: {exc}") from None
    check_seconds = time.perf_counter() - t1

    warn = list(notes)
    for name, size in static.items():
        warn.append(f"dim {name!r} was fixed to {size} by the exporter (the model constrains it); the ONNX model accepts only that size")
    opset_used = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    result = ExportResult(
        model_path=str(path),
        spec=spec.name,
        spec_file=spec.path,
        graph=g.name,
        inputs=ins,
        outputs=outs,
        opset=int(opset_used),
        export_seconds=export_seconds,
        check_seconds=check_seconds,
        size_bytes=path.stat().st_size + (Path(str(path) + ".data").stat().st_size if external else 0),
        dynamic_dims=dynamic,
        static_dims=static,
        weights=weights_file,
        ignored_weight_keys=ignored,
        nodes=len(model.graph.node),
        renamed_nodes=renamed,
        external_data=external,
        metadata_keys=keys,
        warnings=warn,
        module=module,
    )
    del model
    if parity:
        report = _parity.check(
            module,
            str(path),
            g,
            input_names,
            output_names,
            points=_parity.points(g, sizes, static=static),
            provider=provider,
            atol=atol,
            rtol=rtol,
        )
        result.parity = report
        if write_report:
            result.parity_path = str(parity_report_path(path))
            Path(result.parity_path).write_text(json.dumps(report.to_json(), indent=2) + "\n")
        if strict and not report.passed:
            raise report.error()
    return result


def parity_report_path(path: str | Path) -> Path:
    """model.onnx -> model.parity.json"""
    p = Path(path)
    return p.with_name(p.stem + ".parity.json")
