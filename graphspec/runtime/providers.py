"""Which onnxruntime execution providers to ask for.

onnxruntime-gpu lists ``TensorrtExecutionProvider`` and ``CUDAExecutionProvider``
as *available* on every machine, GPU or not; asking for them where no GPU (or
no CUDA/TensorRT library) exists makes it print loader errors on stderr and
fall back to the CPU. So graphspec asks for a GPU provider only when a GPU is
really present:

- ``auto`` (the default): CUDA then CPU when an NVIDIA GPU is present (device
  files or ``torch.cuda``) and the CUDA provider is built in; otherwise CPU.
  TensorRT is never picked automatically (building its engines takes minutes);
- ``cpu``, ``cuda``, ``tensorrt``: exactly that one (GPU ones fall back to CPU
  for nodes they lack); if it cannot run here, a ``provider`` error (exit 9)
  is raised *before* onnxruntime tries to load it, so nothing is printed.

The environment variable ``GRAPHSPEC_PROVIDER`` sets what ``auto`` means (the
test suite sets it to ``cpu``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from functools import lru_cache

from graphspec.errors import GraphspecError

CHOICES = ("auto", "cpu", "cuda", "tensorrt")

_ORT_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
SHORT_NAMES = {v: k for k, v in _ORT_NAMES.items()}

# onnxruntime's logger: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
QUIET_SEVERITY = 3


def quiet_onnxruntime():
    """Import onnxruntime with its default logger at error level; return the module."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise GraphspecError.one(
            "dependency",
            f"onnxruntime is not installed ({exc})",
            hint="pip install onnxruntime-gpu (Linux x86-64) or onnxruntime",
        ) from None
    if not getattr(quiet_onnxruntime, "_done", False):
        try:
            ort.set_default_logger_severity(QUIET_SEVERITY)
        except Exception:  # pragma: no cover
            pass
        quiet_onnxruntime._done = True  # type: ignore[attr-defined]
    return ort


def gpu_present() -> bool:
    """True when an NVIDIA GPU is visible to this process.

    Checks the driver's device files (no import needed) and, when torch is
    already imported, ``torch.cuda.is_available()``. CUDA_VISIBLE_DEVICES set
    to an empty string or -1 hides the GPUs, as CUDA itself does.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    if glob.glob("/dev/nvidia[0-9]*") and (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")):
        return True
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return bool(torch.cuda.is_available())
        except Exception:
            return False
    return False


@lru_cache(maxsize=None)
def _library_loadable(*names: str) -> bool:
    for name in names:
        for candidate in (name, ctypes.util.find_library(name.split(".so")[0].removeprefix("lib"))):
            if not candidate:
                continue
            try:
                ctypes.CDLL(candidate)
                return True
            except OSError:
                continue
    return False


def _preload_cuda_libraries(ort) -> None:
    """Load CUDA/cuDNN from the nvidia-* pip wheels where they are installed (onnxruntime >= 1.21)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        import importlib.util

        if importlib.util.find_spec("nvidia") is None:
            return  # CUDA comes from the system, not from pip
    except (ImportError, ValueError):
        return
    try:
        preload()
    except Exception:  # pragma: no cover - best effort; session creation reports real problems
        pass


def available() -> list[str]:
    """Short names of the providers usable on this machine, best first."""
    ort = quiet_onnxruntime()
    built_in = set(ort.get_available_providers())
    out = []
    if gpu_present():
        if _ORT_NAMES["tensorrt"] in built_in and _library_loadable("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
            out.append("tensorrt")
        if _ORT_NAMES["cuda"] in built_in:
            out.append("cuda")
    out.append("cpu")
    return out


def resolve(requested: str | None = "auto") -> list[str]:
    """The onnxruntime provider names to pass to an InferenceSession, best first.

    >>> resolve("cpu")
    ['CPUExecutionProvider']
    """
    requested = (requested or "auto").lower()
    if requested == "auto":
        requested = os.environ.get("GRAPHSPEC_PROVIDER", "auto").strip().lower() or "auto"
    if requested not in CHOICES:
        raise GraphspecError.one("usage", f"unknown provider {requested!r}", hint="choose one of: " + ", ".join(CHOICES))
    ort = quiet_onnxruntime()
    built_in = set(ort.get_available_providers())
    if requested == "cpu":
        return [_ORT_NAMES["cpu"]]
    if requested == "auto":
        if gpu_present() and _ORT_NAMES["cuda"] in built_in:
            _preload_cuda_libraries(ort)
            return [_ORT_NAMES["cuda"], _ORT_NAMES["cpu"]]
        return [_ORT_NAMES["cpu"]]
    # a forced GPU provider
    name = _ORT_NAMES[requested]
    if name not in built_in:
        raise GraphspecError.one(
            "provider",
            f"the {requested} execution provider is not built into this onnxruntime (it has: {', '.join(sorted(built_in))})",
            hint="install onnxruntime-gpu, or use --provider cpu",
        )
    if not gpu_present():
        raise GraphspecError.one(
            "provider",
            f"the {requested} execution provider needs an NVIDIA GPU, and none is present on this machine",
            hint="use --provider cpu (or auto, which picks the CPU here)",
        )
    _preload_cuda_libraries(ort)
    if requested == "tensorrt":
        if not _library_loadable("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
            raise GraphspecError.one(
                "provider",
                "the tensorrt execution provider needs the TensorRT library (libnvinfer), which is not installed",
                hint="pip install tensorrt, or use --provider cuda",
            )
        return [name, _ORT_NAMES["cuda"], _ORT_NAMES["cpu"]]
    return [name, _ORT_NAMES["cpu"]]


def provider_options(providers: list[str], *, tf32: bool = True) -> list[dict]:
    """Per-provider options, in the order of ``providers``."""
    opts = []
    for p in providers:
        if p == _ORT_NAMES["cuda"]:
            opts.append({"use_tf32": "1" if tf32 else "0", "cudnn_conv_algo_search": "EXHAUSTIVE"})
        elif p == _ORT_NAMES["tensorrt"]:
            opts.append({"trt_engine_cache_enable": "True", "trt_engine_cache_path": os.path.join(os.path.expanduser("~"), ".cache", "graphspec", "trt")})
        else:
            opts.append({})
    return opts


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            with open(path) as f:
                cores.add(f.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))
