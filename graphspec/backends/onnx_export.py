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

The pieces live beside this module, one concern each: ``example_inputs``
(symbolic dims -> sizes -> feeds), ``weights`` (trained weights),
``onnx_cleanup`` (names, dims, metadata), ``export_kernels`` (kernels swapped
in while exporting) and ``parity``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from graphspec.backends.example_inputs import example_sizes, make_inputs, symbols_of
from graphspec.backends.onnx_cleanup import (
    interface,
    rename_dims,
    rename_nodes,
    set_metadata,
    strip_exporter_metadata,
)
from graphspec.backends.weights import load_weights
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

# Opsets the exporter writes exactly: torchlib's implementations start at 18
# (lower requests are converted, or silently kept at 18), torch.onnx stops at 23.
MIN_OPSET = 18
MAX_OPSET = 23

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

    from graphspec.backends.export_kernels import capture_patches, translation_table

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


Progress = Callable[[str], None]


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
    progress: Progress | None = None,
) -> ExportResult:
    """Export one graph of a loaded spec to ``path``; raises GraphspecError on any failure.

    The model and its ``.parity.json`` report are written even when parity
    fails; check ``result.parity.passed``, or pass ``strict=True`` to get a
    ``parity`` error (exit 6) naming the worst output. ``progress`` is called
    with a short line as each stage starts (the CLI prints them on long exports).
    The memory budget (:mod:`graphspec.passes.budget`) is checked at the
    export's and the parity check's sizes before anything is allocated.
    """
    from graphspec.backends import parity as _parity

    say = progress or (lambda _msg: None)
    path = check_output_path(path)
    check_opset(opset)
    g = spec.graph(graph)
    if outputs:
        from graphspec.passes.subgraph import extract

        g = extract(g, list(outputs))
    sizes = example_sizes(spec, g)
    check_budget(g, [sizes, *_parity.points(g, sizes)])
    say(f"compiling graph {g.name!r}")
    module, input_names, output_names, weights_file, ignored = prepare_module(spec, g, outputs, weights, graph_name=g.name)
    say("exporting with torch.onnx (dynamo)")
    t0 = time.perf_counter()
    model, info = export_model(spec, g, module, input_names, output_names, sizes, opset=opset, overrides=overrides)
    info["metadata_keys"] = list(info["metadata_keys"]) + run_data_metadata(model, weights_file)
    export_seconds = time.perf_counter() - t0
    say("checking the model (onnx.checker) and writing it")
    t1 = time.perf_counter()
    save_model(model, path, info["external"])
    check_seconds = time.perf_counter() - t1
    result = ExportResult(
        model_path=str(path),
        spec=spec.name,
        spec_file=spec.path,
        graph=g.name,
        export_seconds=export_seconds,
        check_seconds=check_seconds,
        size_bytes=path.stat().st_size + (Path(str(path) + ".data").stat().st_size if info["external"] else 0),
        weights=weights_file,
        ignored_weight_keys=ignored,
        nodes=len(model.graph.node),
        module=module,
        **{k: v for k, v in info.items() if k not in ("sizes", "external")},
    )
    del model
    if parity:
        say("checking parity on onnxruntime")
        check_parity(result, g, input_names, output_names, sizes, provider=provider, atol=atol, rtol=rtol, write_report=write_report)
        if strict and not result.parity.passed:
            raise result.parity.error()
    return result


def check_parity(result: ExportResult, g, input_names, output_names, sizes, *, provider, atol, rtol, write_report: bool) -> None:
    """Parity of the written model with ``result.module``; the report goes next to the model (atomically)."""
    from graphspec.backends import parity as _parity

    report = _parity.check(
        result.module, result.model_path, g, input_names, output_names,
        points=_parity.points(g, sizes, static=result.static_dims), provider=provider, atol=atol, rtol=rtol,
    )
    result.parity = report
    if write_report:
        from graphspec.io import atomic_write, json_dumps

        result.parity_path = str(parity_report_path(result.model_path))
        atomic_write(result.parity_path, json_dumps(report.to_json(), indent=2) + "\n", mode="w")


def check_output_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".onnx":
        raise GraphspecError.one("usage", f"the output file must end in .onnx, received {str(path)!r}")
    if path.parent and not path.parent.is_dir():
        raise GraphspecError.one("file-not-found", f"output folder {path.parent} does not exist")
    return path


def check_opset(opset: int | None) -> None:
    """Only opsets the exporter writes exactly; anything else is refused, naming the ones that work."""
    if opset is not None and not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise GraphspecError.one("usage", f"opset {opset} is not supported: this exporter writes opsets {MIN_OPSET} to {MAX_OPSET} exactly")


def check_budget(graph, points: Sequence[dict[str, int]]) -> None:
    """The memory budget at the largest sizes the export and its parity check use."""
    from graphspec.passes import budget

    largest: dict[str, int] = {}
    for sizes in points:
        for k, v in sizes.items():
            largest[k] = max(largest.get(k, 0), int(v))
    budget.check(graph, largest, what="exporting")


def prepare_module(spec, g, outputs, weights, *, graph_name: str):
    """The eval-mode module to export, its input/output names, and the weights loaded (file, ignored keys)."""
    module = spec.to_torch(graph=graph_name, outputs=list(outputs) if outputs else None)
    module.eval()
    input_names = list(getattr(module, "graphspec_inputs", list(g.inputs)))
    output_names = list(getattr(module, "graphspec_outputs", list(outputs or g.outputs)))
    weights_file, ignored = None, 0
    if weights is not None:
        subgraph = bool(outputs) or len(spec.graphs) > 1
        weights_file, ignored = load_weights(module, weights, allow_extra=subgraph)
    else:
        _calibrate(module, spec, g, input_names)
    return module, input_names, output_names, weights_file, ignored


def _calibrate(module, spec, g, input_names) -> None:
    """Random weights: seeded norm statistics, so outputs depend on the input (see parity.calibrate_norms)."""
    from graphspec.backends.example_inputs import sizes_at
    from graphspec.backends.parity import PARITY_BATCH_SIZES, calibrate_norms

    feeds = make_inputs(g, input_names, sizes_at(g, max(PARITY_BATCH_SIZES), spec.dims, floor=2), seed=12345)
    try:
        with quiet():
            calibrate_norms(module, feeds, input_names, seed=0)
    except Exception:  # a model that cannot run in train mode keeps its default statistics
        module.eval()


def export_model(spec, g, module, input_names, output_names, sizes, *, opset=None, overrides=None) -> tuple[Any, dict]:
    """The cleaned ONNX ModelProto of ``module`` (fp32, in memory) and facts for :class:`ExportResult`.

    What :mod:`graphspec.backends.quantize` and other passes over the exported
    model start from: node and dim names follow the spec, the exporter's
    node metadata is gone, graphspec metadata is set.
    """
    import torch

    n_bytes = sum(p.numel() * p.element_size() for p in module.state_dict().values())
    external = n_bytes > SINGLE_FILE_LIMIT
    out_types = [g.output_type(n) for n in output_names]
    with torch.no_grad():
        model, notes = export_module(module, g, input_names, output_names, sizes, opset=opset, external=external)
    opset_used = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset is not None and opset_used != int(opset):
        raise GraphspecError.one("usage", f"the exporter wrote opset {opset_used}, not the requested {opset}; opsets {MIN_OPSET} to {MAX_OPSET} work")
    static, dynamic = rename_dims(model, g, input_names, output_names, out_types)
    renamed = rename_nodes(model, g)
    strip_exporter_metadata(model)
    ins = interface(g, input_names, "inputs")
    outs = interface(g, output_names, "outputs")
    keys = set_metadata(model, spec, g, ins, outs, overrides, sizes)
    warn = list(notes)
    for name, size in static.items():
        warn.append(f"dim {name!r} was fixed to {size} by the exporter (the model constrains it); the ONNX model accepts only that size")
    info = dict(
        inputs=ins, outputs=outs, opset=int(opset_used), dynamic_dims=dynamic, static_dims=static,
        renamed_nodes=renamed, external_data=external, metadata_keys=keys, warnings=warn, external=external, sizes=sizes,
    )
    return model, info


def save_model(model, path: Path, external: bool) -> None:
    """onnx.checker (full_check), then an atomic write (the model and its external data file, if any)."""
    import onnx

    from graphspec.io import atomic_write

    try:
        if external:
            _save_external(model, path)
        else:
            onnx.checker.check_model(model, full_check=True)
            atomic_write(path, model.SerializeToString())
    except onnx.checker.ValidationError as exc:
        raise GraphspecError.one("export", f"the exported model fails the ONNX checker: {_first_line(exc)}") from None
    except OSError as exc:
        from graphspec.io import write_error

        raise write_error(path, exc) from None


def _save_external(model, path: Path) -> None:
    """Weights in ``NAME.onnx.data``: both written in a temporary folder beside ``path``, checked, then moved."""
    import shutil
    import tempfile

    import onnx

    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staged = tmp / path.name
        onnx.save_model(model, str(staged), save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + ".data")
        onnx.checker.check_model(str(staged), full_check=True)
        os.replace(tmp / (path.name + ".data"), str(path) + ".data")
        os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parity_report_path(path: str | Path) -> Path:
    """model.onnx -> model.parity.json"""
    p = Path(path)
    return p.with_name(p.stem + ".parity.json")


def run_data_metadata(model, weights_file: str | None) -> list[str]:
    """The training run's ``data.json`` (class names, encodings; written by graphspec.train.data.mappings)
    next to the weights, as metadata ``graphspec.data``, so ``graphspec infer`` can print class names."""
    if weights_file is None:
        return []
    from graphspec.io import read_text

    try:  # checked read: a FIFO or device named data.json cannot hang the export
        doc = json.loads(read_text(Path(weights_file).parent / "data.json", what="data mappings file", limit_bytes=64 * 1024**2))
    except (GraphspecError, ValueError):
        return []
    entry = model.metadata_props.add()
    entry.key, entry.value = "graphspec.data", json.dumps(doc)
    return ["graphspec.data"]
