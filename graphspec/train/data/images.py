"""Images: ImageFolder-style directories decoded with Pillow, and the declared transforms.

Layout (the one torchvision's ImageFolder reads)::

    DIR/<class>/*.png|jpg|...              one pool, split by train.val_split/test_split
    DIR/train/<class>/...  DIR/test/...    split by folders (DIR/val optional: else carved from train)

Classes are the sorted names of the class folders (of ``train/`` when split
by folders). Every file is checked before training: its header is read
(format, size, mode) without decoding the pixels, so a broken or non-image
file is reported by path (``on_bad_file: stop``, the default) or skipped with
a warning (``skip``).

Transforms (``data.transforms``), in this order: decode to ``channels`` (1:
grayscale, 3: RGB; default: the file's own, grayscale files 1, others 3),
``resize`` to [H, W]; then on the training split only ``random_crop`` to
``crop`` after zero ``padding`` and ``hflip`` (probability 0.5); on the other
splits a center ``crop``; then scaling to 0..1 and ``normalize`` with
``mean``/``std`` (``mean: auto`` computes both per channel on the training
split). Decoded uint8 images are the cacheable unit; the rest runs per batch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphspec.train.data.lazy import LazyArray

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
CACHE_LIMIT = 512 * 2**20  # decoded bytes below which data.cache: auto keeps a set in memory
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _error(message: str, hint: str | None = None, code: str = "data"):
    from graphspec.errors import GraphspecError

    return GraphspecError.one(code, message, hint=hint)


def _pair(v) -> tuple[int, int] | None:
    if v is None:
        return None
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[1]))


@dataclass
class Transforms:
    """The resolved ``data.transforms`` (from the config model, or defaults)."""

    channels: int | None = None
    resize: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    random_crop: bool = False
    padding: int = 0
    hflip: bool = False
    mean: Any = None  # None | "auto" | list of floats
    std: Any = None

    @classmethod
    def of(cls, cfg: Any) -> Transforms:
        if cfg is None:
            return cls()
        get = (lambda k: cfg.get(k)) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k, None))
        return cls(
            channels=get("channels"),
            resize=_pair(get("resize")),
            crop=_pair(get("crop")),
            random_crop=bool(get("random_crop")),
            padding=int(get("padding") or 0),
            hflip=bool(get("hflip")),
            mean=get("mean"),
            std=get("std"),
        )

    def out_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        return self.crop or self.resize or hw

    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v not in (None, False, 0)}


# ----------------------------------------------------------------- scanning
@dataclass
class Scanned:
    """Files of one split with their class numbers, and the headers read."""

    files: list[str]
    labels: np.ndarray
    sizes: list[tuple[int, int]]  # (width, height) per file
    modes: list[str]


def scan_folder(root: Path) -> tuple[dict[str | None, list[tuple[str, int]]], list[str]]:
    """({split or None: [(path, class number)]}, class names); split folders train/val/test when present."""
    if not root.exists():
        raise _error(f"image folder {str(root)!r} not found", code="file-not-found")
    if not root.is_dir():
        raise _error(f"image folder {str(root)!r} is not a directory", code="file-unreadable")
    subdirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if "train" in subdirs and "test" in subdirs:
        classes = _class_dirs(root / "train")
        out = {}
        for split in ("train", "val", "test"):
            if (root / split).is_dir():
                extra = sorted(set(_class_dirs(root / split, allow_empty=True)) - set(classes))
                if extra:
                    raise _error(f"{str(root / split)!r} has class folder(s) {', '.join(map(repr, extra))} that {str(root / 'train')!r} lacks")
                out[split] = _files(root / split, classes)
        return out, classes
    classes = _class_dirs(root)
    return {None: _files(root, classes)}, classes


def _class_dirs(root: Path, allow_empty: bool = False) -> list[str]:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes and not allow_empty:
        raise _error(
            f"image folder {str(root)!r} has no class folders",
            hint="put the images in one folder per class: DIR/<class>/*.png (or DIR/train/<class>/ and DIR/test/<class>/)",
        )
    return classes


def _files(root: Path, classes: list[str]) -> list[tuple[str, int]]:
    out = []
    for i, c in enumerate(classes):
        d = root / c
        if not d.is_dir():
            continue
        found = []
        for dirpath, dirnames, filenames in os.walk(d, followlinks=True):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            found += [os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith(".")]
        if not found:
            raise _error(f"class folder {str(d)!r} holds no files", hint="every class needs examples; remove the empty folder")
        out += [(f, i) for f in found]
    return out


def read_headers(items: list[tuple[str, int]], on_bad: str, warn) -> Scanned:
    """Open every file's header (no pixel decoding); a non-image is an error or, with ``skip``, a warning."""
    from PIL import Image, UnidentifiedImageError

    files, labels, sizes, modes, bad = [], [], [], [], []
    for path, label in items:
        why = None
        if not os.path.isfile(path):  # a FIFO or device would block or never end
            why = "not a regular file"
        elif not path.lower().endswith(IMAGE_EXTS):
            why = "not an image file (extension)"
        else:
            try:
                with Image.open(path) as im:
                    size, mode = im.size, im.mode
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                why = f"not a readable image ({exc.__class__.__name__}: {exc})"
        if why:
            if on_bad != "skip":
                raise _error(f"{path}: {why}", hint="remove or fix the file, or set train.data.on_bad_file: skip")
            bad.append(path)
            warn(f"graphspec: warning: skipping {path}: {why}")
            continue
        files.append(path)
        labels.append(label)
        sizes.append(size)
        modes.append(mode)
    return Scanned(files, np.asarray(labels, dtype=np.int64), sizes, modes)


def channels_of(modes: Sequence[str], want: int | None) -> int:
    if want:
        return int(want)
    return 1 if all(m in GRAY_MODES for m in modes) else 3


def decode(path: str, channels: int, resize: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 [C, H, W]; a file whose pixels do not decode is a "data" error naming it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if resize is not None and im.size != (resize[1], resize[0]):
                im = im.resize((resize[1], resize[0]), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise _error(f"{path}: the image does not decode ({exc.__class__.__name__}: {exc})", hint="remove or fix the file")
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


# ----------------------------------------------------------------- per-batch transforms
def _crop(x: np.ndarray, hw: tuple[int, int], top: int, left: int) -> np.ndarray:
    return x[:, top : top + hw[0], left : left + hw[1]]


def augment_eval(x: np.ndarray, t: Transforms) -> np.ndarray:
    """Center crop (uint8 [C, H, W])."""
    if t.crop is None:
        return x
    h, w = x.shape[1:]
    return _crop(x, t.crop, (h - t.crop[0]) // 2, (w - t.crop[1]) // 2)


def augment_train(x: np.ndarray, t: Transforms, rng: np.random.Generator) -> np.ndarray:
    """Random crop after zero padding, and a horizontal flip with probability 0.5."""
    if t.crop is not None and t.random_crop:
        p = t.padding
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p)))
        h, w = x.shape[1:]
        x = _crop(x, t.crop, int(rng.integers(0, h - t.crop[0] + 1)), int(rng.integers(0, w - t.crop[1] + 1)))
    else:
        x = augment_eval(x, t)
    if t.hflip and rng.random() < 0.5:
        x = x[:, :, ::-1]
    return x


class ImageArray(LazyArray):
    """Images as float32 [N, C, H, W], made per batch from files (decoded then) or a decoded uint8 array.

    ``train=True`` applies the random augmentation, drawn from a generator
    seeded by (seed, epoch, example), so batches are the same in any worker
    and after a resume.
    """

    def __init__(self, source, index: np.ndarray, channels: int, hw: tuple[int, int], t: Transforms, train: bool, seed: int = 0, stats=None):
        self.source = source  # list of paths, or uint8 ndarray [M, C, H, W]
        self.index = np.asarray(index, dtype=np.int64)
        self.channels, self.hw, self.t, self.train, self.seed = channels, hw, t, train, seed
        self.stats = stats  # (mean [C], std [C]) or None
        oh, ow = t.out_hw(hw)
        self.shape = (len(self.index), channels, oh, ow)
        self.dtype = np.dtype(np.float32)

    def take(self, idx: np.ndarray, train: bool | None = None) -> ImageArray:
        return ImageArray(self.source, self.index[idx], self.channels, self.hw, self.t, self.train if train is None else train, self.seed, self.stats)

    def raw(self, i: int) -> np.ndarray:
        if isinstance(self.source, np.ndarray):
            return self.source[i]
        return decode(self.source[i], self.channels, self.t.resize)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        if isinstance(self.source, np.ndarray) and not (self.train and (self.t.random_crop or self.t.hflip)):
            out = self._cached_rows(self.index[idx])  # decoded and deterministic: one vectorised copy
        else:
            out = self._decoded_rows(self.index[idx])
        if self.stats is not None:
            mean, std = self.stats
            out -= mean[None, :, None, None]
            out /= std[None, :, None, None]
        return out

    def _cached_rows(self, keys: np.ndarray) -> np.ndarray:
        x = self.source[keys]
        if self.t.crop is not None:
            h, w = x.shape[2:]
            top, left = (h - self.t.crop[0]) // 2, (w - self.t.crop[1]) // 2
            x = x[:, :, top : top + self.t.crop[0], left : left + self.t.crop[1]]
        return x.astype(np.float32) * np.float32(1.0 / 255.0)

    def _decoded_rows(self, keys: np.ndarray) -> np.ndarray:
        out = np.empty((len(keys),) + self.shape[1:], dtype=np.float32)
        for j, k in enumerate(keys):
            x = self.raw(int(k))
            if x.shape[1:] != self.hw:
                where = self.source[int(k)] if not isinstance(self.source, np.ndarray) else f"example {int(k)}"
                raise _error(f"{where}: image is {x.shape[2]}x{x.shape[1]}, the others {self.hw[1]}x{self.hw[0]}", hint="set train.data.transforms.resize: [H, W]")
            if self.train:
                x = augment_train(x, self.t, np.random.default_rng((self.seed, self.epoch, int(k))))
            else:
                x = augment_eval(x, self.t)
            out[j] = x
        out *= np.float32(1.0 / 255.0)
        return out


def channel_stats(arr: ImageArray, limit: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (up to ``limit`` evenly spread) training images, un-augmented, in 0..1."""
    plain = ImageArray(arr.source, arr.index, arr.channels, arr.hw, arr.t, train=False)
    pick = np.linspace(0, len(plain) - 1, min(limit, len(plain))).astype(np.int64)
    s = np.zeros(arr.channels)
    sq = np.zeros(arr.channels)
    n = 0
    for start in range(0, len(pick), 512):
        x = plain.rows(pick[start : start + 512]).astype(np.float64)
        s += x.sum(axis=(0, 2, 3))
        sq += (x**2).sum(axis=(0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = s / max(n, 1)
    std = np.sqrt(np.maximum(sq / max(n, 1) - mean**2, 0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def decode_all(files: list[str], channels: int, resize, hw, on_bad: str, warn, workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, C, H, W] of the files that decode, kept positions); bad pixels stop or are skipped."""
    out = np.empty((len(files), channels) + tuple(hw), dtype=np.uint8)
    keep = np.ones(len(files), dtype=bool)
    from graphspec.errors import GraphspecError

    for i, f in enumerate(files):
        try:
            x = decode(f, channels, resize)
            if x.shape[1:] != tuple(hw):
                raise _error(f"{f}: image is {x.shape[2]}x{x.shape[1]}, the others {hw[1]}x{hw[0]}", hint="set train.data.transforms.resize: [H, W]")
        except GraphspecError as exc:
            if on_bad != "skip":
                raise
            warn(f"graphspec: warning: skipping {exc.diagnostics[0].message}")
            keep[i] = False
            continue
        out[i] = x
    return out[keep], np.flatnonzero(keep)


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------- assembly
def check_image_input(graph, chw: tuple[int, int, int], source: str) -> str:
    """The graph's one image input; its [C, H, W] must equal the data's (a "data" error naming both)."""
    names = list(graph.inputs)
    if len(names) != 1:
        raise _error(f"data {source!r} feeds one input, but graph {graph.name!r} has {len(names)}: {', '.join(names)}")
    name = names[0]
    want = tuple(graph.inputs[name].type.shape)
    ok = len(want) == 4 and all(not isinstance(w, int) or w == g for w, g in zip(want[1:], chw))
    if not ok:
        hint = "set train.data.transforms.channels" if len(want) == 4 and isinstance(want[1], int) and want[1] != chw[0] else "set train.data.transforms.resize (or crop) to the input's size"
        raise _error(
            f"data {source!r} gives {name!r} examples of shape [{', '.join(map(str, chw))}], but graph input {name!r} is [{', '.join(map(str, want))}]",
            hint=hint,
        )
    if graph.inputs[name].type.dtype not in ("float32", "float16", "bfloat16", "float64"):
        raise _error(f"data {source!r} gives float images, but graph input {name!r} has dtype {graph.inputs[name].type.dtype}")
    return name


def finish(cfg, graph, source, labels: np.ndarray, parts: tuple, channels: int, hw, classes: list[str], meta: dict):
    """Splits of ImageArrays over ``source`` (paths or uint8 [N, C, H, W]) for index arrays ``parts`` (train, val, test)."""
    import torch

    from graphspec.train.data import Dataset, Splits

    dcfg = cfg.data
    t = Transforms.of(getattr(dcfg, "transforms", None))
    name = check_image_input(graph, (channels,) + tuple(t.out_hw(hw)), dcfg.source)
    if t.crop is not None and (t.crop[0] > hw[0] + 2 * t.padding or t.crop[1] > hw[1] + 2 * t.padding):
        raise _error(f"data {dcfg.source!r}: crop {list(t.crop)} is larger than the images ({hw[0]}x{hw[1]})")
    base = ImageArray(source, np.arange(len(labels)), channels, tuple(hw), t, train=False, seed=cfg.seed)
    train = base.take(parts[0], train=True)
    stats = None
    if t.mean == "auto":
        stats = channel_stats(train)
    elif t.mean is not None:
        mean = np.asarray(t.mean, dtype=np.float32)
        std = np.asarray(t.std if t.std is not None else [1.0] * channels, dtype=np.float32)
        if len(mean) != channels or len(std) != channels:
            raise _error(f"data {dcfg.source!r}: transforms.mean/std need {channels} values (one per channel); got {len(mean)} and {len(std)}")
        stats = (mean, std)
    datasets = []
    for i, idx in enumerate(parts):
        arr = base.take(idx, train=i == 0)
        arr.stats = stats
        datasets.append(Dataset({name: arr}, torch.from_numpy(labels[idx].copy())))
    meta = dict(meta, classes=len(classes), class_names=list(classes), n=len(labels), transforms=t.describe())
    if stats is not None:
        meta["normalize"] = {"mean": [float(v) for v in stats[0]], "std": [float(v) for v in stats[1]]}
    return Splits(*datasets, meta=meta)


def want_cache(dcfg, n: int, channels: int, hw) -> bool:
    mode = getattr(dcfg, "cache", None)
    if mode is None or mode == "auto":
        return n * channels * hw[0] * hw[1] <= CACHE_LIMIT
    return bool(mode)


def folder_splits(cfg, graph, spec_dir, warn=_warn):
    """Splits of an ``images:DIR`` source (see the module doc)."""
    from graphspec.train.data import resolve_path, split_indices

    dcfg = cfg.data
    root = resolve_path(dcfg.source.split(":", 1)[1], spec_dir)
    on_bad = getattr(dcfg, "on_bad_file", None) or "stop"
    t = Transforms.of(getattr(dcfg, "transforms", None))
    groups, classes = scan_folder(root)
    order = [k for k in ("train", "val", "test", None) if k in groups]
    scanned = {k: read_headers(groups[k], on_bad, warn) for k in order}
    files = [f for k in order for f in scanned[k].files]
    if not files:
        raise _error(f"image folder {str(root)!r} holds no readable images")
    labels = np.concatenate([scanned[k].labels for k in order])
    modes = [m for k in order for m in scanned[k].modes]
    sizes = [s for k in order for s in scanned[k].sizes]
    channels = channels_of(modes, t.channels)
    if t.resize is not None:
        hw = t.resize
    else:
        w, h = sizes[0]
        hw = (h, w)
        odd = next((i for i, s in enumerate(sizes) if s != sizes[0]), None)
        if odd is not None:
            raise _error(f"{files[odd]}: image is {sizes[odd][0]}x{sizes[odd][1]}, but {files[0]} is {w}x{h}", hint="images of one set must have one size; or set train.data.transforms.resize: [H, W]")
    check_image_input(graph, (channels,) + tuple(t.out_hw(hw)), dcfg.source)  # before any decoding
    source: Any = files
    keep = np.arange(len(files))
    if want_cache(dcfg, len(files), channels, hw):
        source, keep = decode_all(files, channels, t.resize, hw, on_bad, warn)
        labels = labels[keep]
    pos = np.full(len(files), -1)
    pos[keep] = np.arange(len(keep))  # file number -> row in source (-1: skipped)
    counts = {k: len(scanned[k].files) for k in order}
    starts = np.cumsum([0] + [counts[k] for k in order])
    rng_of = {k: np.arange(starts[i], starts[i + 1]) for i, k in enumerate(order)}

    def rows(k):
        r = pos[rng_of[k]] if k in rng_of else np.zeros(0, np.int64)
        return r[r >= 0]

    if None in groups:
        tr, va, te = (rows(None)[s] for s in split_indices(len(rows(None)), cfg.val_split, cfg.test_split, cfg.split_seed))
    else:
        tr, va, te = rows("train"), rows("val"), rows("test")
        if "val" not in groups:
            a, b = carve_val(len(tr), cfg.val_split, cfg.split_seed)
            tr, va = tr[a], tr[b]
    meta = {"source": dcfg.source, "path": str(root), "cached": not isinstance(source, list)}
    return finish(cfg, graph, source, labels, (tr, va, te), channels, hw, classes, meta)


def carve_val(n: int, val: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) positions when the test set is given: a seeded ``int(n * val)`` go to validation.

    >>> [len(p) for p in carve_val(12, 0.15, 0)]
    [11, 1]
    """
    perm = np.random.default_rng(seed).permutation(n)
    k = int(n * val)
    return np.sort(perm[k:]), np.sort(perm[:k])
