"""Data for int8 calibration and the precision check, from the spec's ``train:`` data.

:func:`from_spec` reads the spec's training data with the training stack's own
loader (:func:`graphspec.train.data.load_splits`, the same split ``graphspec
train`` uses): the train split calibrates, validation + test are the held-out
data the converted model is compared on, and the test split (with labels) gives
both models' accuracy. :func:`from_file` reads a ``--calibration FILE.npz``
instead. Both return arrays named like the graph's inputs; the quantizer
(:mod:`graphspec.backends.quantize`) never reads data itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphspec.backends.quantize import CalibrationData
from graphspec.errors import GraphspecError

# Tasks whose train: data is (inputs, targets) examples of the exported graph.
SUPERVISED = ("classify", "sequence", "regress")


def _np(ds) -> dict[str, np.ndarray]:
    return {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v) for k, v in ds.inputs.items()}


def from_spec(spec, graph) -> CalibrationData:
    """The train split (calibration), val + test (held-out check) and test labels of the spec's data."""
    from graphspec.train.data import load_splits
    from graphspec.train.engine import resolve_config, spec_dir_of

    if not spec.train:
        raise GraphspecError.one(
            "usage",
            f"spec {spec.name!r} has no train: data to calibrate int8 on",
            hint="pass --calibration FILE.npz with representative inputs (one array per model input, named like the inputs)",
        )
    cfg, _cls = resolve_config(spec)
    if cfg.task not in SUPERVISED:
        raise GraphspecError.one(
            "usage",
            f"spec {spec.name!r} trains a {cfg.task!r} task, whose data does not feed graph {graph.name!r} directly",
            hint="pass --calibration FILE.npz with representative inputs of the exported graph",
        )
    splits = load_splits(cfg, graph, spec_dir_of(spec), cfg.task)
    missing = [n for n in graph.inputs if n not in splits.train.inputs]
    if missing:
        raise GraphspecError.one("data", f"the train: data of {spec.name!r} has no input {missing[0]!r} of graph {graph.name!r}")
    held = {k: np.concatenate([a, _np(splits.test)[k]]) for k, a in _np(splits.val).items()}
    labels = None
    if cfg.task in ("classify", "sequence") and splits.test.target is not None:
        labels = np.asarray(splits.test.target)
    source = f"train split of {cfg.data.source!r} ({len(splits.train)} examples)"
    return CalibrationData(
        inputs=_np(splits.train),
        source=source,
        heldout=held,
        heldout_source=f"val + test splits ({len(splits.val) + len(splits.test)} examples)",
        test=_np(splits.test) if len(splits.test) else None,
        test_labels=labels,
        class_names=_class_names(splits.meta),
    )


def _class_names(meta: dict) -> list[str] | None:
    names = meta.get("class_names") or meta.get("classes")
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names)
    return None


def from_file(path: str | Path, graph) -> CalibrationData:
    """A ``.npz`` with one array per graph input (named like the inputs), checked against their shapes."""
    from graphspec.io import load_npz

    path = str(path)
    arrays = load_npz(path, what="calibration file", limit_bytes=2 << 30)
    inputs = {}
    for name, spec_in in graph.inputs.items():
        if name not in arrays:
            have = ", ".join(sorted(arrays)) or "no arrays"
            raise GraphspecError.one(
                "data",
                f"calibration file {path} has no array {name!r} for input {name!r} (it holds {have})",
                hint=f"save it with numpy.savez({Path(path).name!r}, {name}=examples)",
            )
        inputs[name] = check_array(path, name, arrays[name], spec_in.type)
    n = {len(a) for a in inputs.values()}
    if len(n) != 1:
        raise GraphspecError.one("data", f"calibration file {path}: the input arrays hold different numbers of examples ({sorted(n)})")
    return CalibrationData(inputs=inputs, source=f"file {path} ({n.pop()} examples)", heldout=None, heldout_source=f"the calibration file {path}")


def check_array(path: str, name: str, arr: np.ndarray, itype) -> np.ndarray:
    """``arr`` fits input ``name`` (rank, fixed dims, a numeric kind); cast to the input's dtype."""
    want = list(itype.shape)
    if arr.ndim != len(want) or len(arr) == 0:
        raise GraphspecError.one(
            "data",
            f"calibration file {path}: array {name!r} has shape {list(arr.shape)}, but input {name!r} is {want}",
            hint="the first axis is the examples (at least one)",
        )
    for axis, (got, d) in enumerate(zip(arr.shape, want)):
        if isinstance(d, int) and got != d:
            raise GraphspecError.one("data", f"calibration file {path}: array {name!r} has shape {list(arr.shape)}, but input {name!r} is {want} (axis {axis} must be {d})")
    floaty = itype.dtype.startswith("float")
    allowed = "fiub" if floaty else "iub"  # ints may feed a float input, never floats an index input
    if arr.dtype.kind not in allowed:
        raise GraphspecError.one("data", f"calibration file {path}: array {name!r} is {arr.dtype}, input {name!r} is {itype.dtype}")
    out = arr.astype(itype.dtype)
    if floaty and not np.isfinite(out).all():
        raise GraphspecError.one("data", f"calibration file {path}: array {name!r} holds NaN or Inf")
    return out
