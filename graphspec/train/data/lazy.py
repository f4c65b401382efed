"""Examples that are produced on demand instead of held as one tensor.

A :class:`LazyArray` stands in for a ``[N, ...]`` tensor in a
:class:`~graphspec.train.data.Dataset`: ``len()``, ``.shape`` and indexing with
an index tensor or a slice (returning a real tensor) are all the training loop
uses. Two kinds exist: :class:`RowView` (rows of a memory-mapped array, so a
data set larger than RAM streams from disk) and the image arrays of
:mod:`graphspec.train.data.images` (decoded and augmented per batch).

:func:`iter_batches` fetches the batches of lazy arrays in DataLoader worker
processes (``data.workers``); plain tensors need no workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


class LazyArray:
    """Base: ``shape`` (with N first), ``dtype`` (numpy), ``rows(idx) -> np.ndarray``."""

    shape: tuple[int, ...]
    dtype: np.dtype
    epoch: int = 0  # set by the training loop, so augmentation differs per epoch (and a resume repeats it)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, idx: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, key) -> Any:
        import torch

        if isinstance(key, slice):
            idx = np.arange(len(self))[key]
        elif isinstance(key, torch.Tensor):
            idx = key.cpu().numpy().astype(np.int64).reshape(-1)
        else:
            idx = np.asarray(key, dtype=np.int64).reshape(-1)
        return torch.from_numpy(np.ascontiguousarray(self.rows(idx)))

    def take(self, idx: np.ndarray) -> LazyArray:
        """The examples ``idx`` as another lazy array (a split)."""
        raise NotImplementedError  # pragma: no cover


class RowView(LazyArray):
    """Rows ``index`` of an array that stays on disk (``np.memmap`` / ``np.load(mmap_mode='r')``).

    Reads sort the requested rows first so the disk is read in order; only
    the batch is ever in memory.

    >>> a = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> v = RowView(a, np.array([9, 3, 5]))
    >>> v.shape, v[1:].tolist()
    ((3, 2), [[6.0, 7.0], [10.0, 11.0]])
    """

    def __init__(self, base: np.ndarray, index: np.ndarray | None = None, dtype: str | None = None):
        self.base = base
        self.index = np.arange(len(base)) if index is None else np.asarray(index, dtype=np.int64)
        self.dtype = np.dtype(dtype or base.dtype)
        self.shape = (len(self.index),) + tuple(base.shape[1:])

    def rows(self, idx: np.ndarray) -> np.ndarray:
        want = self.index[idx]
        order = np.argsort(want, kind="stable")
        out = np.empty((len(want),) + self.shape[1:], dtype=self.dtype)
        out[order] = self.base[want[order]]
        return out

    def take(self, idx: np.ndarray) -> RowView:
        return RowView(self.base, self.index[idx], str(self.dtype))


def is_lazy(a: Any) -> bool:
    return isinstance(a, LazyArray)


def set_epoch(arrays: Iterable[Any], epoch: int) -> None:
    for a in arrays:
        if is_lazy(a):
            a.epoch = epoch


class _Fetch:
    """A map-style dataset whose items are whole batches: item ``idx`` -> tuple of tensors."""

    def __init__(self, arrays: tuple):
        self.arrays = arrays

    def __getitem__(self, idx):
        from graphspec.errors import GraphspecError

        try:
            return tuple(a[idx] for a in self.arrays)
        except GraphspecError as exc:  # a worker's exception would reach the main process as text only
            return _Failed([d.to_json() for d in exc.diagnostics])

    def __len__(self) -> int:  # pragma: no cover - unused by a sampler-driven loader
        return len(self.arrays[0])


def iter_batches(arrays: tuple, index_batches: list, workers: int, device) -> Iterator[tuple]:
    """The batches ``[a[idx] for a in arrays]`` for each ``idx`` in ``index_batches``, on ``device``.

    With ``workers > 0`` and any lazy array, the batches are built in a
    DataLoader's worker processes (a batch per item, in order), so decoding
    overlaps training; otherwise in this process.
    """
    if workers <= 0 or not any(is_lazy(a) for a in arrays):
        for idx in index_batches:
            yield tuple(a[idx].to(device, non_blocking=True) for a in arrays)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(_Fetch(arrays), sampler=index_batches, batch_size=None, num_workers=workers, collate_fn=_identity, prefetch_factor=4)
    for batch in loader:
        if isinstance(batch, _Failed):
            batch.reraise()
        yield tuple(t.to(device, non_blocking=True) for t in batch)


class _Failed:
    """A GraphspecError raised in a worker, carried back as its diagnostics."""

    def __init__(self, diagnostics: list[dict]):
        self.diagnostics = diagnostics

    def reraise(self):
        from graphspec.errors import GraphspecError

        d = self.diagnostics[0]
        raise GraphspecError.one(d["code"], d["message"], hint=d.get("hint"))


def _identity(x):
    return x


def task_batches(task, arrays: tuple, generator, epoch: int, workers: int) -> Iterator[tuple]:
    """``task.batches(arrays, generator)``, with lazy arrays fetched in ``workers`` processes.

    The batch plan (permutation, DDP share, loss scale) is drawn by
    ``task.batches`` over example numbers, exactly as for tensors, so a run's
    batches do not depend on the number of workers.
    """
    set_epoch(arrays, epoch)
    if workers <= 0 or not any(is_lazy(a) for a in arrays):
        yield from task.batches(arrays, generator)
        return
    import torch

    plan = [(b.cpu(), task.loss_scale) for (b,) in task.batches((torch.arange(len(arrays[0])),), generator)]
    for (_, scale), batch in zip(plan, iter_batches(arrays, [p[0] for p in plan], workers, task.device)):
        task.loss_scale = scale
        yield batch
