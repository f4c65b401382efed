"""Training data: built-in sets (digits, sine, text) and user files (.npz, .csv).

Users' own data live in the submodules :func:`load_splits` dispatches to:
``images`` (``images:DIR`` folders, transforms), ``classic`` (``mnist:``,
``fashion_mnist:``, ``cifar10:``, ``cifar100:`` folders of the published
files), ``tables`` (CSV with text labels and categories), ``arrays`` (``.npy``
and uncompressed ``.npz`` read from disk per batch) and ``lazy`` (the
arrays that make examples per batch, and DataLoader workers); ``mappings``
saves what a model needs at inference (class names ...) as ``data.json``.

:func:`load_splits` turns a ``train.data`` config into train/val/test
:class:`Dataset` objects whose ``inputs`` are named like the graph's inputs,
checked against their declared shapes and dtypes (a "data" error, exit 5,
naming both when they disagree).

Splits are fixed by ``train.split_seed`` (not the training seed): a seeded
permutation, then ``int(n * (1 - val - test))`` train and ``int(n * val)``
validation examples, the rest test. For digits (1797 images) that is
1257 / 269 / 271.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphspec.errors import GraphspecError


@dataclass
class Dataset:
    """Examples: one tensor per graph input, and a target (None for unsupervised data)."""

    inputs: dict[str, Any]  # name -> torch.Tensor [N, ...]
    target: Any = None  # torch.Tensor [N, ...] or None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def arrays(self) -> tuple:
        """Inputs in insertion (graph) order, then the target if any: for Task.batches()."""
        return tuple(self.inputs.values()) + ((self.target,) if self.target is not None else ())


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. classes, vocab, source


def data_error(message: str, hint: str | None = None) -> GraphspecError:
    return GraphspecError.one("data", message, hint=hint)


# ----------------------------------------------------------------- sources
def digits(rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled 8x8 digits: images [N,1,8,8] (or rows [N,8,8]) in 0..1, labels int64.

    >>> x, y = digits()
    >>> x.shape, x.dtype, float(x.max()), y.shape, int(y.max())
    ((1797, 1, 8, 8), dtype('float32'), 1.0, (1797,), 9)
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    x = x if rows else x[:, None, :, :]
    return x, d.target.astype(np.int64)


def sine(samples: int = 2000, seq_len: int = 32, horizon: int = 1, noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sine waves with random frequency, phase and amplitude: x [N, seq_len, 1], y [N, horizon] (next values, noise-free).

    >>> x, y = sine(10, 16, 2)
    >>> x.shape, y.shape, x.dtype
    ((10, 16, 1), (10, 2), dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.5, size=(samples, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(samples, 1))
    amp = rng.uniform(0.5, 1.5, size=(samples, 1))
    t = np.arange(seq_len + horizon)[None, :]
    clean = amp * np.sin(freq * t + phase)
    x = clean[:, :seq_len] + noise * rng.standard_normal((samples, seq_len))
    y = clean[:, seq_len:]
    return x[:, :, None].astype(np.float32), y.astype(np.float32)


MAX_TEXT_BYTES = 1024**3  # text corpora are read whole: 1 GiB at most
MAX_CSV_BYTES = 1024**3


def read_text_bytes(path: Path, need: int) -> np.ndarray:
    from graphspec.io import read_bytes  # regular file, size checked before reading

    raw = np.frombuffer(read_bytes(path, what="text file", limit_bytes=MAX_TEXT_BYTES), dtype=np.uint8).astype(np.int64)
    if len(raw) < need:
        raise data_error(f"text file {str(path)!r} has {len(raw)} bytes; it needs at least {need}")
    return raw


def windows(raw: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Next-byte windows: x = raw[s:s+T], y = raw[s+1:s+T+1] for s = 0, stride, ...

    >>> x, y = windows(np.arange(10), 4, 2)
    >>> x.tolist(), y[0].tolist()
    ([[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]], [1, 2, 3, 4])
    """
    starts = np.arange(0, len(raw) - seq_len, stride)
    idx = starts[:, None] + np.arange(seq_len)[None, :]
    return raw[idx], raw[idx + 1]


def text_splits(path: Path, seq_len: int, val: float, test: float) -> tuple[tuple, tuple, tuple]:
    """Byte-level next-character data over a text file, split by position (no window
    crosses splits): the first part trains (windows every seq_len/8 bytes), the
    next validates and the last tests (windows every seq_len/2 bytes).

    The vocabulary is the 256 byte values (ASCII text: one byte per character),
    so the model's last dim must be 256.
    """
    raw = read_text_bytes(path, seq_len + 2)
    n = len(raw)
    a = int(n * (1 - val - test))
    b = a + int(n * val)
    parts = (raw[:a], raw[a:b], raw[b:])
    out = []
    for i, part in enumerate(parts):
        if len(part) <= seq_len:
            out.append((np.zeros((0, seq_len), np.int64), np.zeros((0, seq_len), np.int64)))
        else:
            out.append(windows(part, seq_len, max(1, seq_len // 8) if i == 0 else max(1, seq_len // 2)))
    return tuple(out)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    from graphspec.io import load_npz  # members checked (dtype, size, ratio) before inflating

    return load_npz(path, what="data file")


def read_csv(path: Path, delimiter: str = ",") -> tuple[list[str], np.ndarray]:
    """Header row and a float64 table; a cell that is not a number is a "data" error with its row and column."""
    import csv

    from graphspec.io import check_input_file

    check_input_file(path, what="data file", limit_bytes=MAX_CSV_BYTES)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except FileNotFoundError:
        raise GraphspecError.one("file-not-found", f"data file {str(path)!r} not found")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphspecError.one("file-unreadable", f"cannot read {str(path)!r}: {exc}")
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise data_error(f"{str(path)!r} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    table = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise data_error(f"{path}:{i}: row has {len(r)} cells, the header has {len(header)}")
        for j, c in enumerate(r):
            try:
                table[i - 2, j] = float(c)
            except ValueError:
                raise data_error(f"{path}:{i}: column {header[j]!r} holds {c!r}, not a number")
    return header, table


# ----------------------------------------------------------------- checks
_KIND = {"f": "float", "i": "integer", "u": "integer", "b": "bool"}


def check_against(name: str, arr: np.ndarray, itype, source: str) -> np.ndarray:
    """Check one array (all examples) against a graph input's type; cast within its kind.

    >>> from graphspec.ops.types import TensorType
    >>> check_against("image", np.zeros((5, 1, 8, 8)), TensorType(("batch", 1, 8, 8)), "digits").dtype
    dtype('float32')
    >>> check_against("image", np.zeros((5, 8, 8)), TensorType(("batch", 1, 8, 8)), "digits")
    Traceback (most recent call last):
    ...
    graphspec.errors.GraphspecError: graphspec: error: data: data 'digits' gives 'image' examples of shape [8, 8] (rank 3 with the batch), but graph input 'image' is [batch, 1, 8, 8]
      hint: use a data source shaped like the input (e.g. digits for images, digits_rows for sequences), or change the spec's input shape
    """
    want = tuple(itype.shape)
    got = arr.shape
    hint = "use a data source shaped like the input (e.g. digits for images, digits_rows for sequences), or change the spec's input shape"
    if len(got) != len(want) or any(isinstance(w, int) and w != g for w, g in zip(want[1:], got[1:])):
        raise data_error(
            f"data {source!r} gives {name!r} examples of shape {list(got[1:])} (rank {len(got)} with the batch), "
            f"but graph input {name!r} is [{', '.join(str(d) for d in want)}]",
            hint=hint,
        )
    if isinstance(want[0], int) and want[0] != 1:
        pass  # a fixed batch dim: batches are cut to train.batch_size anyway
    dt = itype.dtype
    want_kind = "float" if dt in ("float32", "float16", "bfloat16", "float64") else ("bool" if dt == "bool" else "integer")
    got_kind = _KIND.get(arr.dtype.kind, arr.dtype.kind)
    if want_kind != got_kind and not (want_kind == "float" and got_kind in ("integer", "bool")):
        raise data_error(
            f"data {source!r} gives {name!r} as {arr.dtype} ({got_kind}), but graph input {name!r} has dtype {dt}",
            hint="store the array with the input's dtype",
        )
    if want_kind == "float" and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        raise data_error(
            f"data {source!r} gives {name!r} with NaN/Inf values in {int(bad.sum())} example(s), the first at index {int(bad.argmax())}",
            hint="clean or drop those examples; training on them would diverge",
        )
    np_dtype = {"bfloat16": "float32", "float16": "float32"}.get(dt, dt)
    return arr.astype(np_dtype, copy=False)


# ----------------------------------------------------------------- assembly
def split_indices(n: int, val: float, test: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test index arrays.

    >>> [len(s) for s in split_indices(1797, 0.15, 0.15, 0)]
    [1257, 269, 271]
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(n * (1 - val - test))
    n_val = int(n * val)
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def resolve_path(p: str, spec_dir: Path | None) -> Path:
    path = Path(p).expanduser()
    if not path.is_absolute():
        if spec_dir is not None and (Path(spec_dir) / path).exists():
            return Path(spec_dir) / path
        if not path.exists():
            from graphspec.zoo import zoo_dir

            root = Path(__file__).resolve().parents[3]
            for base in (root, zoo_dir()):
                if base is not None and (Path(base) / path).exists():
                    return Path(base) / path
    return path


def load_arrays(cfg, graph, spec_dir: Path | None, task: str) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict]:
    """({graph input name: array [N, ...]}, target array or None, meta) for any data source, unchecked."""
    kind = cfg.kind
    names = list(graph.inputs)
    meta: dict[str, Any] = {"source": cfg.source}

    def single(what: str) -> str:
        if len(names) != 1:
            raise data_error(
                f"data {what!r} feeds one input, but graph {graph.name!r} has {len(names)}: {', '.join(names)}",
                hint="use an .npz file with one array per input",
            )
        return names[0]

    if kind in ("digits", "digits_rows"):
        x, y = digits(rows=kind == "digits_rows")
        meta["classes"] = 10
        return {single(kind): x}, y, meta
    if kind == "sine":
        x, y = sine(cfg.samples or 2000, cfg.seq_len or 32, cfg.horizon, cfg.noise, seed=0)
        return {single(kind): x}, y, meta
    if kind == "text":
        raise AssertionError("text data are split by position: use load_splits")  # pragma: no cover
    path = resolve_path(cfg.source, spec_dir)
    meta["path"] = str(path)
    if kind == "npz":
        arrays = read_npz(path)
        target_name = cfg.target or "target"
        missing = [n for n in names if n not in arrays]
        if missing:
            raise data_error(
                f"{str(path)!r} has no array for graph input(s) {', '.join(repr(m) for m in missing)}; it holds {', '.join(repr(k) for k in arrays) or 'nothing'}",
                hint=f"save one array per graph input ({', '.join(names)}) plus {target_name!r}, e.g. np.savez(path, {names[0]}=x, {target_name}=y)",
            )
        target = arrays.get(target_name)
        if target is None and task in ("classify", "regress", "sequence"):
            raise data_error(f"{str(path)!r} has no target array {target_name!r}; it holds {', '.join(repr(k) for k in arrays)}", hint="name the target array 'target' or set train.data.target")
        inputs = {n: arrays[n] for n in names}
        lengths = {n: len(a) for n, a in inputs.items()} | ({target_name: len(target)} if target is not None else {})
        if len(set(lengths.values())) > 1:
            raise data_error(f"arrays in {str(path)!r} differ in length: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))
        return inputs, target, meta
    # csv
    header, table = read_csv(path, cfg.delimiter)
    target_col = cfg.target or header[-1]
    if target_col not in header:
        raise data_error(f"{str(path)!r} has no column {target_col!r}; columns: {', '.join(header)}")
    cols = cfg.columns or [h for h in header if h != target_col]
    unknown = [c for c in cols if c not in header]
    if unknown:
        raise data_error(f"{str(path)!r} has no column(s) {', '.join(repr(c) for c in unknown)}; columns: {', '.join(header)}")
    inp = cfg.input or single(cfg.source)
    if inp not in names:
        raise data_error(f"train.data.input {inp!r} is not an input of graph {graph.name!r}; inputs: {', '.join(names)}")
    x = table[:, [header.index(c) for c in cols]].astype(np.float32)
    y = table[:, header.index(target_col)]
    tdt = cfg.target_dtype or ("int64" if task in ("classify", "sequence") else "float32")
    if tdt == "int64":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise data_error(f"column {target_col!r} of {str(path)!r} must hold whole class numbers for task {task!r}")
        y = y.astype(np.int64)
    else:
        y = y.astype(np.float32)[:, None]
    return {inp: x}, y, meta


def load_splits(cfg, graph, spec_dir: Path | None, task: str) -> Splits:
    """Read, check against ``graph.inputs`` and split ``cfg.data`` (a TrainConfig)."""
    import torch

    dcfg = cfg.data
    if dcfg.kind == "text":
        return _text_splits(cfg, graph, spec_dir)
    if dcfg.kind == "images":
        from graphspec.train.data.images import folder_splits

        return folder_splits(cfg, graph, spec_dir)
    if dcfg.kind in ("mnist", "fashion_mnist", "cifar10", "cifar100"):
        from graphspec.train.data.classic import classic_splits

        return classic_splits(cfg, graph, spec_dir)
    if dcfg.kind == "npy" or (dcfg.kind == "npz" and getattr(dcfg, "mmap", None)):
        if task not in ("classify", "regress", "sequence"):
            raise data_error(f"task {task!r} reads its data into memory; train.data.mmap (and .npy sources) work with classify, regress and sequence")
        return _disk_splits(cfg, graph, spec_dir, task)
    if dcfg.kind == "csv" and _has_categories(dcfg, spec_dir):
        from graphspec.train.data.tables import table_splits

        return table_splits(cfg, graph, spec_dir, task)
    inputs, target, meta = load_arrays(dcfg, graph, spec_dir, task)
    checked = {n: check_against(n, a, graph.inputs[n].type, dcfg.source) for n, a in inputs.items()}
    n = len(next(iter(checked.values())))
    if n < 3:
        raise data_error(f"data {dcfg.source!r} has {n} examples; it needs at least 3 (train, val, test)")
    tr, va, te = split_indices(n, cfg.val_split, cfg.test_split, cfg.split_seed)

    def part(idx: np.ndarray) -> Dataset:
        ins = {k: torch.from_numpy(np.ascontiguousarray(a[idx])) for k, a in checked.items()}
        tgt = torch.from_numpy(np.ascontiguousarray(target[idx])) if target is not None else None
        return Dataset(ins, tgt)

    meta["n"] = n
    return Splits(part(tr), part(va), part(te), meta)


def _text_splits(cfg, graph, spec_dir: Path | None) -> Splits:
    import torch

    dcfg = cfg.data
    names = list(graph.inputs)
    if len(names) != 1:
        raise data_error(f"text data feed one input, but graph {graph.name!r} has {len(names)}: {', '.join(names)}")
    name = names[0]
    path = resolve_path(dcfg.source[len("text:") :], spec_dir)
    seq_len = dcfg.seq_len or 64
    parts = text_splits(path, seq_len, cfg.val_split, cfg.test_split)
    datasets = []
    for x, y in parts:
        x = check_against(name, x, graph.inputs[name].type, dcfg.source)
        datasets.append(Dataset({name: torch.from_numpy(np.ascontiguousarray(x))}, torch.from_numpy(np.ascontiguousarray(y))))
    meta = {"source": dcfg.source, "path": str(path), "classes": 256, "n": sum(len(d) for d in datasets)}
    return Splits(*datasets, meta=meta)


def _disk_splits(cfg, graph, spec_dir: Path | None, task: str) -> Splits:
    """Splits of arrays read from disk per batch (``.npy``, ``.npz`` with ``mmap: true``)."""
    import torch

    from graphspec.train.data.arrays import disk_arrays, streamed

    dcfg = cfg.data
    path = resolve_path(dcfg.source, spec_dir)
    inputs, target = disk_arrays(dcfg, list(graph.inputs), path, spec_dir)
    if target is None and task in ("classify", "regress", "sequence"):
        raise data_error(f"data {dcfg.source!r} has no target", hint="set train.data.target: the .npy of the targets (or the .npz member)")
    # check shapes/dtypes on an empty slice: nothing is read, and nothing is cast in memory
    dtypes = {n: check_against(n, np.empty((0,) + a.shape[1:], a.dtype), graph.inputs[n].type, dcfg.source).dtype for n, a in inputs.items()}
    n = len(next(iter(inputs.values())))
    if n < 3:
        raise data_error(f"data {dcfg.source!r} has {n} examples; it needs at least 3 (train, val, test)")
    parts = split_indices(n, cfg.val_split, cfg.test_split, cfg.split_seed)
    out = [Dataset({k: streamed(a, idx, dtypes[k]) for k, a in inputs.items()}, torch.from_numpy(np.ascontiguousarray(target[idx]))) for idx in parts]
    return Splits(*out, meta={"source": dcfg.source, "path": str(path), "n": n, "streamed": True})


def _has_categories(dcfg, spec_dir: Path | None) -> bool:
    """Whether a .csv source needs the table reader (categories, standardising, several inputs)."""
    if dcfg.categorical or dcfg.standardize or dcfg.inputs or getattr(dcfg, "encoding", "onehot") != "onehot":
        return True
    from graphspec.train.data.tables import has_text_cells

    return has_text_cells(resolve_path(dcfg.source, spec_dir), dcfg.delimiter)
