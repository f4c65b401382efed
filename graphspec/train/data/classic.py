"""The classic data sets from their published files in a local folder; nothing is downloaded.

- ``mnist:DIR`` / ``fashion_mnist:DIR``: the four IDX files
  ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may be ``.gz``).
- ``cifar10:DIR``: the *binary* version, ``data_batch_1.bin`` ...
  ``data_batch_5.bin`` and ``test_batch.bin`` (records of 1 label byte + 3072
  pixel bytes); class names from ``batches.meta.txt`` when present.
- ``cifar100:DIR``: ``train.bin`` and ``test.bin`` (records of a coarse and a
  fine label byte + 3072 pixel bytes; the fine label is the class);
  names from ``fine_label_names.txt`` when present.

The pickle versions are never read (unpickling runs code). A folder that
``cifar-10-binary.tar.gz`` was unpacked into may hold the files one level down
(``cifar-10-batches-bin/``); that folder is looked in too. Images come out as
uint8 [N, C, H, W] for :mod:`graphspec.train.data.images` (transforms, split).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

MNIST_URL = "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist#get-the-data"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html (the binary version: cifar-10-binary.tar.gz / cifar-100-binary.tar.gz)"
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MAX_FILE = 1 << 31  # no published file of these sets comes near 2 GiB
IDX_DTYPES = {0x08: np.uint8}


def _error(message: str, hint: str | None = None, code: str = "data"):
    from graphspec.errors import GraphspecError

    return GraphspecError.one(code, message, hint=hint)


def _find(root: Path, names: list[str], subdirs: tuple[str, ...], where: str) -> Path:
    for d in (root,) + tuple(root / s for s in subdirs):
        for n in names:
            if (d / n).is_file():
                return d / n
    raise _error(f"{str(root / names[0])!r} not found (nor {', '.join(names[1:])})" if len(names) > 1 else f"{str(root / names[0])!r} not found", hint=f"nothing is downloaded; put the official file there: {where}", code="file-not-found")


def _read(path: Path) -> bytes:
    """File bytes (gunzipped for .gz), capped at MAX_FILE; a bad gzip is a "data" error naming the file."""
    from graphspec.io import check_input_file

    check_input_file(path, what="data file")  # a FIFO or device is refused before reading
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read(MAX_FILE + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # zlib.error: a corrupt deflate block
        raise _error(f"{path}: cannot read ({exc.__class__.__name__}: {exc}); is the file truncated?", code="file-unreadable")
    if len(data) > MAX_FILE:
        raise _error(f"{path}: larger than {MAX_FILE} bytes; not a file of this data set", code="file-unreadable")
    return data


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format): magic 0x0000 0800|dims, big-endian int32 sizes, then the bytes.

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    data = _read(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or not 1 <= data[3] <= 4:
        raise _error(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex() or 'missing'})")
    ndim = data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise _error(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    need = head + int(np.prod(dims, dtype=np.int64))
    if len(data) != need:
        what = "truncated" if len(data) < need else "has trailing bytes"
        raise _error(f"{path}: IDX file {what}: dims {dims} need {need} bytes, the file has {len(data)}", hint="download the file again")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(dims)


def mnist(root: Path, fashion: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images uint8 [N,1,28,28], train labels, test images, test labels, class names)."""
    where = FASHION_URL if fashion else MNIST_URL
    out = []
    for split in ("train", "t10k"):
        pair = []
        for kind, nd in (("images", 3), ("labels", 1)):
            base = f"{split}-{kind}-idx{nd}-ubyte"
            alt = f"{split}-{kind}.idx{nd}-ubyte"  # the name some mirrors use
            path = _find(root, [base, base + ".gz", alt, alt + ".gz"], ("raw",), where)
            arr = read_idx(path)
            if arr.ndim != nd:
                raise _error(f"{path}: holds a {arr.ndim}-d array; {kind} are {nd}-d")
            pair.append((arr, path))
        (x, xp), (y, yp) = pair
        if len(x) != len(y):
            raise _error(f"{xp} holds {len(x)} images but {yp} {len(y)} labels")
        out += [x[:, None, :, :], y.astype(np.int64)]
    names = FASHION_NAMES if fashion else [str(i) for i in range(10)]
    if max(int(out[1].max(initial=0)), int(out[3].max(initial=0))) >= len(names):
        raise _error(f"{root}: labels above {len(names) - 1}; these are not MNIST files")
    return out[0], out[1], out[2], out[3], names


def _records(path: Path, labels: int) -> tuple[np.ndarray, np.ndarray]:
    data = _read(path)
    rec = labels + 3072
    if len(data) == 0 or len(data) % rec:
        raise _error(f"{path}: {len(data)} bytes is not a whole number of {rec}-byte CIFAR records; is the file truncated?", hint="download the binary version again")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, rec)
    return arr[:, labels:].reshape(-1, 3, 32, 32), arr[:, labels - 1].astype(np.int64)


def _names(root: Path, files: list[str], n: int) -> list[str]:
    for d in (root, root / "cifar-10-batches-bin", root / "cifar-100-binary"):
        for f in files:
            if (d / f).is_file():
                try:
                    names = [s.strip() for s in (d / f).read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
                except OSError:
                    break
                if len(names) == n:
                    return names
    return [str(i) for i in range(n)]


def cifar(root: Path, classes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images uint8 [N,3,32,32], labels, test images, labels, class names) of CIFAR-10 or -100."""
    sub = ("cifar-10-batches-bin",) if classes == 10 else ("cifar-100-binary",)
    if classes == 10:
        train_files = [_find(root, [f"data_batch_{i}.bin"], sub, CIFAR_URL) for i in range(1, 6)]
        test_files = [_find(root, ["test_batch.bin"], sub, CIFAR_URL)]
        nl = 1
    else:
        train_files, test_files, nl = [_find(root, ["train.bin"], sub, CIFAR_URL)], [_find(root, ["test.bin"], sub, CIFAR_URL)], 2
    parts = []
    for files in (train_files, test_files):
        xs, ys = zip(*(_records(f, nl) for f in files))
        parts += [np.concatenate(xs), np.concatenate(ys)]
    if max(int(parts[1].max()), int(parts[3].max())) >= classes:
        raise _error(f"{root}: labels above {classes - 1}; are these CIFAR-{classes} files?")
    names = _names(root, ["batches.meta.txt"] if classes == 10 else ["fine_label_names.txt"], classes)
    return parts[0], parts[1], parts[2], parts[3], names


def classic_splits(cfg, graph, spec_dir):
    """Splits of ``mnist:``/``fashion_mnist:``/``cifar10:``/``cifar100:`` folders: the official
    test set tests; validation is carved from the official training set (train.val_split)."""
    from graphspec.train.data import resolve_path
    from graphspec.train.data.images import carve_val, finish

    dcfg = cfg.data
    kind, _, folder = dcfg.source.partition(":")
    root = resolve_path(folder, spec_dir)
    if not root.is_dir():
        raise _error(f"{kind} folder {str(root)!r} not found", hint=f"put the official files there: {CIFAR_URL if kind.startswith('cifar') else FASHION_URL if kind == 'fashion_mnist' else MNIST_URL}", code="file-not-found")
    if kind in ("mnist", "fashion_mnist"):
        xtr, ytr, xte, yte, names = mnist(root, fashion=kind == "fashion_mnist")
    else:
        xtr, ytr, xte, yte, names = cifar(root, 10 if kind == "cifar10" else 100)
    t = getattr(dcfg, "transforms", None)
    if t is not None and (t.resize is not None or (t.channels or xtr.shape[1]) != xtr.shape[1]):
        raise _error(f"data {dcfg.source!r}: transforms.resize and channels apply to images:DIR sources; {kind} images are {list(xtr.shape[1:])}", hint="use crop (with random_crop/padding), hflip and mean/std here")
    x = np.concatenate([xtr, xte])
    y = np.concatenate([ytr, yte])
    a, b = carve_val(len(xtr), cfg.val_split, cfg.split_seed)
    te = np.arange(len(xtr), len(x))
    meta = {"source": dcfg.source, "path": str(root), "official_split": True}
    return finish(cfg, graph, x, y, (a, b, te), x.shape[1], x.shape[2:], names, meta)
