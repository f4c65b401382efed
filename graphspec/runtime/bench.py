"""Latency of one model on several backends, measured side by side.

Backends: ``eager`` (PyTorch, eval, no_grad), ``compile`` (torch.compile; a
failure to compile is reported as unavailable, not raised), ``ort-cpu``
(onnxruntime, CPU provider), and where an NVIDIA GPU is present ``eager-cuda``
and ``ort-cuda`` (device-resident inputs and outputs, synchronised).

Measurement: every backend is warmed up, then the backends run in rounds, one
call each per round, in an order that rotates every round, so that drifts of
the machine (frequency, other processes) touch all of them alike. Before each
timed call the bench sleeps ``gap`` seconds (default 20 ms): thread pools spin
for a while after a call (PyTorch's OpenMP threads, onnxruntime's unless
told to stop), and without the gap that spinning would slow down whichever
backend runs next. (Measured on 2 cores: PyTorch eager ResNet-18 30 ms alone,
44-65 ms right after an onnxruntime session that keeps spinning; onnxruntime
17 ms alone, 20-22 ms right after PyTorch.) onnxruntime sessions here stop
spinning when a call returns (``spin="run"``). Reported per backend: the median,
p10 and p90 of the per-call times and the ratio of the median to eager's.
Both frameworks get the same thread count (``torch.set_num_threads`` and
onnxruntime's ``intra_op_num_threads``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

LABELS = {
    "eager": "PyTorch eager",
    "compile": "torch.compile",
    "ort-cpu": "onnxruntime CPU",
    "eager-cuda": "PyTorch CUDA",
    "ort-cuda": "onnxruntime CUDA",
    "ort-cpu-fp16": "onnxruntime CPU fp16",
    "ort-cpu-int8": "onnxruntime CPU int8",
}
DEFAULT_BACKENDS = ("eager", "compile", "ort-cpu", "eager-cuda", "ort-cuda")


@dataclass
class Backend:
    key: str
    fn: Callable[[], Any] | None = None
    unavailable: str | None = None
    setup_seconds: float = 0.0


@dataclass
class Timing:
    key: str
    times: list[float] = field(default_factory=list)  # seconds per call
    unavailable: str | None = None
    setup_seconds: float = 0.0

    def stats(self, eager_median: float | None = None) -> dict:
        if self.unavailable is not None:
            return {"label": LABELS.get(self.key, self.key), "unavailable": self.unavailable}
        t = np.asarray(self.times) * 1e3
        med = float(np.median(t))
        out = {
            "label": LABELS.get(self.key, self.key),
            "median_ms": round(med, 4),
            "p10_ms": round(float(np.percentile(t, 10)), 4),
            "p90_ms": round(float(np.percentile(t, 90)), 4),
            "calls": int(t.size),
            "setup_seconds": round(self.setup_seconds, 3),
        }
        if eager_median:
            out["ratio_to_eager"] = round(med / eager_median, 4)
        return out


DEFAULT_GAP_S = 0.02


def measure(
    backends: Sequence[Backend],
    *,
    repeat: int = 30,
    warmup: int = 3,
    max_seconds: float = 60.0,
    min_rounds: int = 5,
    gap: float = 0.0,
) -> dict[str, Timing]:
    """Warm up each backend, then time them in interleaved, rotating rounds (``gap`` seconds of sleep before each call)."""
    timings = {b.key: Timing(b.key, unavailable=b.unavailable, setup_seconds=b.setup_seconds) for b in backends}
    live = [b for b in backends if b.fn is not None and b.unavailable is None]
    for b in list(live):
        try:
            for _ in range(max(1, warmup)):
                b.fn()
        except Exception as exc:  # e.g. torch.compile failing on the first call
            timings[b.key].unavailable = _reason(exc)
            live.remove(b)
    start = time.perf_counter()
    for r in range(max(1, repeat)):
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for b in order:
            if gap > 0:
                time.sleep(gap)
            t0 = time.perf_counter()
            b.fn()
            timings[b.key].times.append(time.perf_counter() - t0)
        if r + 1 >= min_rounds and time.perf_counter() - start > max_seconds:
            break
    return timings


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {line[:300]}" if line else type(exc).__name__


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(int(threads))


# ---------------------------------------------------------------------------- backends


def torch_backends(module, feeds: dict[str, np.ndarray], input_names: Sequence[str], keys: Sequence[str]) -> list[Backend]:
    import torch

    from graphspec.backends.onnx_export import quiet

    out = []
    args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names]
    module.eval()
    if "eager" in keys:

        def eager():
            with torch.no_grad():
                return module(*args)

        out.append(Backend("eager", eager))
    if "compile" in keys:
        t0 = time.perf_counter()
        try:
            with quiet():
                compiled = torch.compile(module, dynamic=False)
                with torch.no_grad():
                    compiled(*args)  # compiles now, so that failures are caught here

            def run_compiled():
                with torch.no_grad():
                    return compiled(*args)

            out.append(Backend("compile", run_compiled, setup_seconds=time.perf_counter() - t0))
        except Exception as exc:
            out.append(Backend("compile", unavailable=_reason(exc)))
    if "eager-cuda" in keys:
        from graphspec.runtime.providers import gpu_present

        if not (gpu_present() and torch.cuda.is_available()):
            out.append(Backend("eager-cuda", unavailable="no CUDA GPU (or a CPU-only torch)"))
        else:
            import copy

            gpu_module = copy.deepcopy(module).cuda().eval()
            gpu_args = [a.cuda() for a in args]

            def eager_cuda():
                with torch.no_grad():
                    r = gpu_module(*gpu_args)
                torch.cuda.synchronize()
                return r

            out.append(Backend("eager-cuda", eager_cuda))
    return out


def ort_backends(model_path: str, feeds: dict[str, np.ndarray], keys: Sequence[str], threads: int | None) -> list[Backend]:
    from graphspec.errors import GraphspecError
    from graphspec.runtime.session import Session

    out = []
    if "ort-cpu" in keys:
        t0 = time.perf_counter()
        sess = Session(model_path, provider="cpu", threads=threads)
        arrays = sess.check_inputs(feeds)
        out.append(Backend("ort-cpu", lambda: sess.run_raw(arrays), setup_seconds=time.perf_counter() - t0))
    if "ort-cuda" in keys:
        t0 = time.perf_counter()
        try:
            sess_gpu = Session(model_path, provider="cuda", threads=threads)
        except GraphspecError as exc:
            out.append(Backend("ort-cuda", unavailable=exc.diagnostics[0].message))
        else:
            out.append(Backend("ort-cuda", _cuda_iobinding(sess_gpu, sess_gpu.check_inputs(feeds)), setup_seconds=time.perf_counter() - t0))
    return out


def _cuda_iobinding(sess, arrays: dict[str, np.ndarray]) -> Callable[[], Any]:
    """Inputs and outputs on the GPU (no host copies in the loop), synchronised."""
    ort = sess.ort
    import onnxruntime

    binding = ort.io_binding()
    keep = []
    for name, arr in arrays.items():
        value = onnxruntime.OrtValue.ortvalue_from_numpy(arr, "cuda", 0)
        keep.append(value)
        binding.bind_ortvalue_input(name, value)
    for o in sess.outputs:
        binding.bind_output(o.name, "cuda")

    def run():
        binding.synchronize_inputs()
        ort.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return keep

    return run


# ---------------------------------------------------------------------------- whole job


@dataclass
class BenchTarget:
    """What to benchmark: a torch module (may be None) and an ONNX file."""

    name: str
    graph: str | None
    module: Any
    graph_obj: Any  # graphspec Graph, for inputs; None for a bare ONNX file
    model_path: str
    input_names: list[str]
    export_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    tmpdir: Any = None
    dims: dict[str, int] = field(default_factory=dict)  # sizes of non-batch symbolic dims
    session_inputs: list = field(default_factory=list)  # for a bare ONNX file
    variants: dict[str, str] = field(default_factory=dict)  # precision -> ONNX file, timed as ort-cpu-<precision>


def target_from_spec(spec, graph: str | None, *, export: bool = True) -> BenchTarget:
    from graphspec.backends import onnx_export
    from graphspec.backends.example_inputs import example_sizes

    g = spec.graph(graph)
    module = spec.to_torch(graph=g.name).eval()
    tmp = tempfile.TemporaryDirectory(prefix="graphspec-bench-")
    path = str(Path(tmp.name) / f"{spec.name}.onnx")
    t = BenchTarget(spec.name, g.name, module, g, path, list(module.graphspec_inputs), tmpdir=tmp, dims=example_sizes(spec, g))
    if export:
        res = onnx_export.export(spec, path, graph=g.name, parity=False, write_report=False)
        t.export_seconds = res.export_seconds
    return t


def target_from_onnx(path: str) -> BenchTarget:
    """An ONNX file; the PyTorch side is rebuilt from the spec in its metadata (random weights)."""
    from graphspec.runtime.session import Session

    sess = Session(path, provider="cpu")
    meta = sess.metadata
    names = [i.name for i in sess.inputs]
    t = BenchTarget(meta.get("graphspec.name", Path(path).stem), meta.get("graphspec.graph"), None, None, path, names)
    if meta.get("graphspec.spec"):
        try:
            from graphspec.runtime.embedded import load_embedded

            spec, g = load_embedded(meta, Path(path).stem)
            outputs = [o.name for o in sess.outputs]
            module = spec.to_torch(graph=g.name, outputs=outputs if outputs != list(g.outputs) else None).eval()
            if list(module.graphspec_inputs) == names:
                t.module, t.graph_obj = module, g
                t.notes.append("PyTorch side rebuilt from the spec in the model's metadata, with random weights (same latency)")
        except Exception as exc:  # the embedded spec may need files that are not here
            t.notes.append(f"PyTorch backends unavailable: cannot rebuild the spec from the model's metadata ({_reason(exc)})")
    else:
        t.notes.append("PyTorch backends unavailable: the model has no graphspec.spec metadata")
    t.dims = _dims_from_meta(meta.get("graphspec.dims"))
    t.session_inputs = list(sess.inputs)
    return t


def _dims_from_meta(text: str | None) -> dict[str, int]:
    """Export sizes from the model's metadata; anything but {name: 1..2**31} is ignored (the file may be crafted)."""
    import json

    try:
        doc = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and type(v) is int and 0 < v < 2**31}


def inputs_for(target: BenchTarget, batch: int) -> dict[str, np.ndarray]:
    """Inputs at this batch size; other symbolic dims at their export sizes (else 8)."""
    from graphspec.backends import example_inputs as ex

    if target.graph_obj is not None:
        g = target.graph_obj
        return ex.make_inputs(g, target.input_names, ex.sizes_at(g, batch, target.dims), seed=0)
    return ex.inputs_for_signature(target.session_inputs, batch, target.dims, seed=0)


def check_budget(target: BenchTarget, batch: int) -> None:
    """The memory budget at the largest batch: the graph's estimate, or a bare ONNX model's inputs."""
    from graphspec.backends import example_inputs as ex
    from graphspec.passes import budget

    if target.graph_obj is not None:
        budget.check(target.graph_obj, ex.sizes_at(target.graph_obj, batch, target.dims), what="benchmarking")
        return
    need, biggest = 0, None
    for info in target.session_inputs:
        shape = ex.signature_shape(info.shape, batch, target.dims)
        n = int(np.prod(shape, dtype=object)) * np.dtype(info.dtype or np.float32).itemsize
        need += n
        if biggest is None or n > biggest[1]:
            biggest = (info.name, n, shape)
    if biggest is not None and need > budget.limit():
        culprit = f"input {biggest[0]!r} is {biggest[2]} = {budget.human_bytes(biggest[1])}"
        raise budget.refusal(f"benchmarking {target.model_path} at batch {batch} needs {budget.human_bytes(need)} of inputs", need, budget.limit(), culprit)


def run_bench(
    target: BenchTarget,
    batches: Sequence[int],
    *,
    threads: int | None = None,
    repeat: int = 30,
    warmup: int = 3,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    max_seconds: float = 60.0,
    gap: float = DEFAULT_GAP_S,
) -> dict:
    from graphspec.runtime.providers import gpu_present, physical_cores

    threads = threads or physical_cores()
    set_threads(threads)
    results = []
    keys = list(backends)
    if not gpu_present():
        keys = [k for k in keys if not k.endswith("-cuda")]
    check_budget(target, max(batches))  # before any input is allocated
    for batch in batches:
        feeds = inputs_for(target, batch)
        bes: list[Backend] = []
        if target.module is not None:
            bes += torch_backends(target.module, feeds, target.input_names, keys)
        else:
            bes += [Backend(k, unavailable=target.notes[-1] if target.notes else "no PyTorch module") for k in keys if k in ("eager", "compile", "eager-cuda")]
        bes += ort_backends(target.model_path, feeds, keys, threads)
        for precision, path in target.variants.items():  # same rounds, same threads as fp32
            bes += [Backend(f"ort-cpu-{precision}", b.fn, setup_seconds=b.setup_seconds) for b in ort_backends(path, feeds, ["ort-cpu"], threads)]
        order = {k: i for i, k in enumerate(DEFAULT_BACKENDS)}
        bes.sort(key=lambda b: order.get(b.key, 99))
        timings = measure(bes, repeat=repeat, warmup=warmup, max_seconds=max_seconds, gap=gap)
        eager = timings.get("eager")
        eager_med = float(np.median(eager.times)) * 1e3 if eager and eager.times and eager.unavailable is None else None
        results.append({"batch": batch, "backends": {k: t.stats(eager_med) for k, t in timings.items()}})
    return {
        "model": target.name,
        "graph": target.graph,
        "onnx": target.model_path if target.tmpdir is None else None,
        "threads": threads,
        "repeat": repeat,
        "warmup": warmup,
        "interleaved": True,
        "gap_ms": round(gap * 1e3, 3),
        "gpu": gpu_present(),
        "export_seconds": round(target.export_seconds, 3) if target.export_seconds is not None else None,
        "notes": target.notes,
        "results": results,
        "cpu_count": os.cpu_count(),
    }
