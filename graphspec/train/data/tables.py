"""CSV tables with categories: text labels, categorical features, standardised numbers.

- The target column (``data.target``, default the last) may hold text: its
  distinct values, sorted, are the classes (``class_names`` in the run's
  ``data.json``), taken from the whole file.
- A feature column is categorical when ``data.categorical`` names it or when
  most of its cells are not numbers (a few text cells among numbers are an
  error naming the first: more likely a typo). Its categories are the sorted values seen
  in the *training split*; a value only the validation/test rows hold is an
  error naming row, column and value (``data.unknown: error``), or encodes as
  all zeros / code 0 (``unknown: zero``).
- ``data.encoding: onehot`` (default) expands each categorical column into one
  float column per category; ``codes`` gives integer codes (int64, for an
  ``Embedding`` input; with ``unknown: zero`` the codes start at 1 and 0 means
  unknown). An input fed codes must take only categorical columns
  (``data.inputs: {cats: [color, shape], nums: [x, y]}`` gives each input its
  columns).
- ``data.standardize: true`` (or a list of columns) standardises numeric
  columns with the training split's mean and std.

Parquet is not read: no Parquet reader is a dependency of graphspec.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np

MAX_CSV = 2 * 2**30  # bytes of text a table may have


def _error(message: str, hint: str | None = None):
    from graphspec.errors import GraphspecError

    return GraphspecError.one("data", message, hint=hint)


def _number(c: str) -> bool:
    try:
        float(c)
        return True
    except ValueError:
        return False


def read_rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of text cells (stripped); blank lines dropped; a ragged row is an error naming its line."""
    from graphspec.io import read_text

    text = read_text(path, what="data file", limit_bytes=MAX_CSV, errors="strict")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if r and any(rows[i - 1])]
    if len(numbered) < 2:
        raise _error(f"{str(path)!r} needs a header row and at least one data row")
    header = numbered[0][1]
    for line, r in numbered[1:]:
        if len(r) != len(header):
            raise _error(f"{path}:{line}: row has {len(r)} cells, the header has {len(header)}")
    return header, [r for _, r in numbered[1:]]


def has_text_cells(path: Path, delimiter: str) -> bool:
    """Whether any cell of the table is not a number (then the table reader is needed)."""
    _, rows = read_rows(path, delimiter)
    return any(not _number(c) for r in rows for c in r)


def categorical_columns(path: Path, header: list[str], rows: list[list[str]], declared) -> set[str]:
    """Declared categorical columns, plus those whose cells are mostly not numbers.

    A column of mostly numbers with a few text cells is more likely a typo
    than categories: that is an error naming the first such cell.
    """
    unknown = [c for c in declared if c not in header]
    if unknown:
        raise _error(f"train.data.categorical: {str(path)!r} has no column(s) {', '.join(map(repr, unknown))}; columns: {', '.join(header)}")
    out = set(declared)
    for j, h in enumerate(header):
        if h in out:
            continue
        text = [i for i, r in enumerate(rows) if not _number(r[j])]
        if not text:
            continue
        if 2 * len(text) > len(rows):
            out.add(h)
            continue
        i = text[0]
        raise _error(
            f"{path}:{i + 2}: column {h!r} holds {rows[i][j]!r}, not a number ({len(text)} of {len(rows)} cells are text)",
            hint="fix the cell, or list the column in train.data.categorical if it holds categories",
        )
    return out


def _column(rows: list[list[str]], j: int) -> np.ndarray:
    return np.array([r[j] for r in rows], dtype=object)


def _encode_categorical(col: np.ndarray, name: str, train: np.ndarray, dcfg, rows_of: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(codes [N] int64, categories) with categories from the training rows; unknowns per data.unknown (-1 kept for 'zero')."""
    cats = sorted(set(col[train].tolist()))
    lookup = {c: i for i, c in enumerate(cats)}
    codes = np.array([lookup.get(v, -1) for v in col], dtype=np.int64)
    bad = np.flatnonzero(codes < 0)
    if len(bad) and dcfg.unknown == "error":
        i = int(bad[0])
        raise _error(
            f"{dcfg.source}: row {int(rows_of[i]) + 2}, column {name!r} holds {col[i]!r}, a category the training split lacks ({len(bad)} such row(s)); known: {', '.join(map(repr, cats[:10]))}{' ...' if len(cats) > 10 else ''}",
            hint="set train.data.unknown: zero to encode unseen categories as zeros (code 0), or choose another train.split_seed",
        )
    return codes, cats


def _input_columns(dcfg, header: list[str], target: str, names: list[str]) -> dict[str, list[str]]:
    if dcfg.inputs:
        unknown_inputs = [k for k in dcfg.inputs if k not in names]
        if unknown_inputs:
            raise _error(f"train.data.inputs names {', '.join(map(repr, unknown_inputs))}, not inputs of the graph ({', '.join(names)})")
        missing = [n for n in names if n not in dcfg.inputs]
        if missing:
            raise _error(f"train.data.inputs gives no columns to graph input(s) {', '.join(map(repr, missing))}")
        mapping = dict(dcfg.inputs)
    else:
        name = dcfg.input or (names[0] if len(names) == 1 else None)
        if name is None or name not in names:
            raise _error(f"the graph has inputs {', '.join(names)}; say which columns feed which", hint="set train.data.inputs: {input: [columns]}")
        mapping = {name: dcfg.columns or [h for h in header if h != target]}
    for cols in mapping.values():
        unknown = [c for c in cols if c not in header]
        if unknown:
            raise _error(f"{dcfg.source!r} has no column(s) {', '.join(map(repr, unknown))}; columns: {', '.join(header)}")
    return mapping


def _feature_block(rows, header, cols, dcfg, train, rows_of, codes_wanted: bool, text_cols: set) -> tuple[np.ndarray, list[dict]]:
    """One graph input's array [N, width] and its column descriptions."""
    std_cols = set(header) if dcfg.standardize is True else set(dcfg.standardize or ())
    blocks, desc = [], []
    for c in cols:
        col = _column(rows, header.index(c))
        if c in text_cols:
            codes, cats = _encode_categorical(col, c, train, dcfg, rows_of)
            if codes_wanted:
                blocks.append((codes + 1 if dcfg.unknown == "zero" else codes)[:, None])
                desc.append({"column": c, "kind": "categorical", "encoding": "codes", "categories": cats, "unknown_code": 0 if dcfg.unknown == "zero" else None})
            else:
                onehot = np.zeros((len(col), len(cats)), dtype=np.float32)
                ok = codes >= 0
                onehot[np.flatnonzero(ok), codes[ok]] = 1.0
                blocks.append(onehot)
                desc.append({"column": c, "kind": "categorical", "encoding": "onehot", "categories": cats})
            continue
        if codes_wanted:
            raise _error(f"data.encoding: codes needs inputs of categorical columns only; {c!r} is numeric", hint="give numeric columns their own input with train.data.inputs")
        x = col.astype(np.float64)
        d: dict[str, Any] = {"column": c, "kind": "numeric"}
        if c in std_cols:
            mean, std = float(x[train].mean()), float(x[train].std())
            x = (x - mean) / (std if std > 0 else 1.0)
            d.update(mean=mean, std=std if std > 0 else 1.0)
        blocks.append(x.astype(np.float32)[:, None])
        desc.append(d)
    arr = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(rows), 0), np.float32)
    return arr, desc


def table_splits(cfg, graph, spec_dir, task: str):
    """Splits of a CSV with categories (see the module doc)."""
    import torch

    from graphspec.train.data import (
        Dataset,
        Splits,
        check_against,
        resolve_path,
        split_indices,
    )

    dcfg = cfg.data
    path = resolve_path(dcfg.source, spec_dir)
    header, rows = read_rows(path, dcfg.delimiter)
    target = dcfg.target or header[-1]
    if target not in header:
        raise _error(f"{str(path)!r} has no column {target!r}; columns: {', '.join(header)}")
    text_cols = categorical_columns(path, header, rows, dcfg.categorical or ())
    n = len(rows)
    if n < 3:
        raise _error(f"data {dcfg.source!r} has {n} examples; it needs at least 3 (train, val, test)")
    tr, va, te = split_indices(n, cfg.val_split, cfg.test_split, cfg.split_seed)
    names = list(graph.inputs)
    mapping = _input_columns(dcfg, header, target, names)
    order = np.concatenate([tr, va, te])  # rows in split order: train rows first
    reordered = [rows[i] for i in order]
    train = np.arange(len(tr))
    inputs, features = {}, {}
    for name, cols in mapping.items():
        want_codes = dcfg.encoding == "codes" and all(c in text_cols for c in cols)
        arr, desc = _feature_block(reordered, header, cols, dcfg, train, order, want_codes, text_cols)
        inputs[name] = check_against(name, arr, graph.inputs[name].type, dcfg.source)
        features[name] = desc
    y_col = _column(reordered, header.index(target))
    meta: dict[str, Any] = {"source": dcfg.source, "path": str(path), "n": n, "features": features}
    if task in ("classify", "sequence") and (target in text_cols or dcfg.target_dtype != "float32"):
        if target in text_cols:
            classes = sorted(set(y_col.tolist()))
            lookup = {c: i for i, c in enumerate(classes)}
            y = np.array([lookup[v] for v in y_col], dtype=np.int64)
            meta["class_names"] = classes
            meta["classes"] = len(classes)
        else:
            yf = y_col.astype(np.float64)
            if not np.all(yf == np.round(yf)):
                raise _error(f"column {target!r} of {str(path)!r} must hold whole class numbers or class names for task {task!r}")
            y = yf.astype(np.int64)
        meta["target"] = {"column": target, "class_names": meta.get("class_names")}
    else:
        if target in text_cols:
            raise _error(f"column {target!r} of {str(path)!r} holds text; task {task!r} needs numbers", hint="use task: classify for a column of class names")
        y = y_col.astype(np.float32)[:, None]
    bounds = np.cumsum([0, len(tr), len(va), len(te)])
    parts = []
    for a, b in itertools.pairwise(bounds):
        ins = {k: torch.from_numpy(np.ascontiguousarray(v[a:b])) for k, v in inputs.items()}
        parts.append(Dataset(ins, torch.from_numpy(np.ascontiguousarray(y[a:b]))))
    return Splits(*parts, meta=meta)
