"""onnxruntime sessions tuned for latency, with inputs checked before running.

:class:`Session` wraps ``onnxruntime.InferenceSession``:

- session options for speed: every graph optimisation (``ORT_ENABLE_ALL``),
  sequential execution, ``intra_op_num_threads`` = the physical cores (or
  ``threads``), one inter-op thread;
- providers chosen by :mod:`graphspec.runtime.providers` (no CUDA loader noise
  on CPU machines; onnxruntime's own logging at error level);
- :meth:`Session.check_inputs` compares the feeds with the model's declared
  inputs -- names, dtypes, ranks, fixed dims, and the sizes that one symbolic
  dim (``batch``) takes across inputs -- and raises a ``data`` error (exit 5)
  naming the expected and the received shape.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from graphspec.errors import Diagnostic, GraphspecError, did_you_mean
from graphspec.runtime import providers as _providers

# onnxruntime's type strings -> numpy dtypes
ORT_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}

MAX_MODEL_BYTES = 8 * 1024**3  # protobuf caps a model at 2 GiB; external data comes on top


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple  # ints for fixed dims, strings for symbolic ones, None when unnamed
    dtype: Any  # numpy dtype, or None for a type numpy lacks
    type_name: str  # onnxruntime's, e.g. "tensor(float)"

    @property
    def dtype_name(self) -> str:
        return np.dtype(self.dtype).name if self.dtype is not None else self.type_name

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype_name}


def _info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, (int, str)) or d is None else None for d in (arg.shape or ()))
    return TensorInfo(arg.name, shape, ORT_DTYPES.get(arg.type), arg.type)


def session_options(threads: int | None = None, *, optimize: bool = True, spin: str = "run"):
    """Options for low latency.

    ``spin``: what onnxruntime's intra-op threads do while they wait for work.
    ``"run"`` (the default): spin while a call runs and stop when it ends
    (``session.force_spinning_stop``); ``"always"``: onnxruntime's default,
    the threads keep spinning after a call, which takes CPU from whatever runs
    next (on a 2-core machine PyTorch ran ResNet-18 in 44 ms instead of 30 ms
    right after such a session); ``"never"``: no spinning at all
    (``session.intra_op.allow_spinning=0``). "run" and "always" ran ResNet-18
    equally fast (17 ms, 2 threads) back to back.
    """
    ort = _providers.quiet_onnxruntime()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = int(threads) if threads else _providers.physical_cores()
    so.inter_op_num_threads = 1
    so.log_severity_level = _providers.QUIET_SEVERITY
    if spin == "never":
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    elif spin == "run":
        so.add_session_config_entry("session.force_spinning_stop", "1")
    elif spin != "always":
        raise ValueError(f"spin must be 'always', 'run' or 'never', not {spin!r}")
    return so


def _shape_list(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


class Session:
    """An onnxruntime session over an ONNX file (or its bytes) with checked inputs."""

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        provider: str | None = "auto",
        threads: int | None = None,
        *,
        tf32: bool = True,
        optimize: bool = True,
        spin: str = "run",
    ):
        ort = _providers.quiet_onnxruntime()
        if not isinstance(model, (bytes, bytearray)):
            from graphspec.io import check_input_file

            # a FIFO, device or folder is refused before onnxruntime opens it
            path = check_input_file(model, what="model file", limit_bytes=MAX_MODEL_BYTES)
            model = str(path)
        self.requested_providers = _providers.resolve(provider)
        explicit = (provider or "auto").lower()
        if explicit == "auto":
            explicit = os.environ.get("GRAPHSPEC_PROVIDER", "auto").strip().lower() or "auto"
        self.forced = explicit not in ("auto", "cpu")
        options = session_options(threads, optimize=optimize, spin=spin)
        self.threads = options.intra_op_num_threads
        try:
            self.ort = ort.InferenceSession(
                model,
                sess_options=options,
                providers=self.requested_providers,
                provider_options=_providers.provider_options(self.requested_providers, tf32=tf32),
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            name = model if isinstance(model, str) else "<in-memory model>"
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if any(w in text.lower() for w in ("protobuf", "invalid", "load model", "external data", "deserialize tensor")):  # the file, not the provider
                raise GraphspecError.one("file-unreadable", f"{name} is not a valid ONNX model: {text}") from None
            raise GraphspecError.one("provider", f"onnxruntime could not create a session for {name}: {text}") from None
        self.providers = list(self.ort.get_providers())
        wanted = self.requested_providers[0]
        if self.forced and wanted not in self.providers:
            raise GraphspecError.one(
                "provider",
                f"onnxruntime could not start {wanted} (the session fell back to {', '.join(self.providers)})",
                hint="check the CUDA/cuDNN (and TensorRT) libraries, or use --provider cpu",
            )
        self.inputs = [_info(a) for a in self.ort.get_inputs()]
        self.outputs = [_info(a) for a in self.ort.get_outputs()]

    # ------------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.ort.get_modelmeta().custom_metadata_map)

    def spec_interface(self, key: str) -> list[dict] | None:
        """graphspec.inputs / graphspec.outputs metadata, parsed; None if absent."""
        text = self.metadata.get(key)
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None

    @property
    def provider(self) -> str:
        return _providers.SHORT_NAMES.get(self.providers[0], self.providers[0])

    # ------------------------------------------------------------------ checking
    def check_inputs(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Validate ``feeds`` against the model's inputs; returns them as numpy arrays.

        Raises one ``data`` error listing every problem: missing or unknown
        names, wrong dtypes, wrong ranks, fixed dims that differ, and one
        symbolic dim taking two sizes.
        """
        problems: list[Diagnostic] = []
        expected = {i.name: i for i in self.inputs}
        arrays: dict[str, np.ndarray] = {}
        for name, value in feeds.items():
            if name not in expected:
                hint = did_you_mean(name, expected) or "the model's inputs: " + ", ".join(expected)
                problems.append(Diagnostic("data", f"the model has no input named {name!r}", hint=hint))
                continue
            arrays[name] = np.asarray(value)
        for name in expected:
            if name not in feeds:
                info = expected[name]
                problems.append(
                    Diagnostic(
                        "data",
                        f"input {name!r} is missing: expected shape {info.shape_text()} ({info.dtype_name})",
                        hint="received inputs: " + (", ".join(feeds) or "none"),
                    )
                )
        symbols: dict[str, tuple[int, str]] = {}
        for name, arr in arrays.items():
            info = expected[name]
            if info.dtype is not None and arr.dtype != np.dtype(info.dtype):
                problems.append(
                    Diagnostic(
                        "data",
                        f"input {name!r}: expected dtype {info.dtype_name}, received {arr.dtype.name} "
                        f"(shape {_shape_list(arr.shape)})",
                        hint=f"convert it, e.g. x.astype(np.{info.dtype_name})",
                    )
                )
            if len(arr.shape) != len(info.shape):
                problems.append(
                    Diagnostic(
                        "data",
                        f"input {name!r}: expected shape {info.shape_text()} (rank {len(info.shape)}), "
                        f"received shape {_shape_list(arr.shape)} (rank {arr.ndim})",
                    )
                )
                continue
            bad = [
                f"dim {axis} must be {want}, received {got}"
                for axis, (want, got) in enumerate(zip(info.shape, arr.shape))
                if isinstance(want, int) and want != got
            ]
            if bad:
                problems.append(
                    Diagnostic(
                        "data",
                        f"input {name!r}: expected shape {info.shape_text()}, received shape {_shape_list(arr.shape)}: "
                        + "; ".join(bad),
                    )
                )
                continue
            for want, got in zip(info.shape, arr.shape):
                if isinstance(want, str) and want:
                    if want in symbols and symbols[want][0] != got:
                        size, other = symbols[want]
                        problems.append(
                            Diagnostic(
                                "data",
                                f"dim {want!r} is {size} in input {other!r} but {got} in input {name!r} "
                                f"(shape {_shape_list(arr.shape)}, expected {info.shape_text()})",
                                hint=f"inputs sharing the dim {want!r} must agree on its size",
                            )
                        )
                    symbols.setdefault(want, (int(got), name))
        if problems:
            raise GraphspecError(problems)
        return arrays

    # ------------------------------------------------------------------ running
    def run(self, feeds: Mapping[str, Any], outputs: Sequence[str] | None = None, *, check: bool = True) -> dict[str, np.ndarray]:
        """Run the model; returns {output name: array} in the model's output order."""
        arrays = self.check_inputs(feeds) if check else {k: np.asarray(v) for k, v in feeds.items()}
        names = list(outputs) if outputs else [o.name for o in self.outputs]
        try:
            results = self.ort.run(names, arrays)
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GraphspecError.one("data", f"onnxruntime failed to run the model: {text}") from None
        return dict(zip(names, results))

    def run_raw(self, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """No checks, no copies: for timing loops."""
        return self.ort.run(None, arrays)
