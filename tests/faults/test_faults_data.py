"""Fault corpus, users' data (issue 9): image folders, MNIST/CIFAR files, category tables,
streamed arrays, init_from weights and freeze globs, through the real CLI.

Documented outcomes (docs/training.md): a missing folder/file, or a path that is not
a regular file (FIFO), is exit 4 naming it (for MNIST/CIFAR also where the official
copy lives); data that do not fit or are malformed (a broken or non-image file, an
empty class folder, a wrong image size or channel count, a truncated IDX/CIFAR file,
an unknown category at test time) are exit 5 naming the file, folder or column;
a shape-mismatched ``init_from`` key is exit 8 naming it; a ``freeze`` glob that
matches nothing is exit 3 (``bad-value``) naming the glob. ``on_bad_file: skip``
and ``unknown: zero`` turn the matching errors into a warning / zero encoding.

All data are tiny and written by the tests (8x8 PNGs, 28x28 IDX, 32x32 CIFAR records).
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from harness import expect, run_cli, tiny_spec

# --------------------------------------------------------------------- helpers
IMG_SPEC = """\
graphspec: 1
name: data_case
inputs:
  image: {{shape: [batch, {c}, {h}, {w}]}}
nodes:
  flat: {{op: Flatten, in: image}}
  fc: {{op: Linear, in: flat, out_features: {k}}}
outputs: {{logits: fc}}
train:
  task: classify
  data: {data}
  epochs: 1
  batch_size: 8
"""

VEC_SPEC = """\
graphspec: 1
name: data_case
inputs:
  x: {{shape: [batch, {n}]}}
nodes:
  fc: {{op: Linear, in: x, out_features: {k}}}
outputs: {{logits: fc}}
train:
  task: classify
  data: {data}
  epochs: 1
  batch_size: 8
{extra}"""


def img_spec(folder, data: str, c=1, h=8, w=8, k=3):
    return tiny_spec(folder, "train.yaml", IMG_SPEC.format(c=c, h=h, w=w, k=k, data=data))


def vec_spec(folder, data: str, n=4, k=3, extra: str = ""):
    return tiny_spec(folder, "train.yaml", VEC_SPEC.format(n=n, k=k, data=data, extra=extra))


def train(tmp_path, spec, *extra, timeout=60):
    return run_cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", *extra, cwd=tmp_path, timeout=timeout)


def no_run_left(tmp_path):
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a failed run left its folder behind"


def png(path, size=(8, 8), mode="L", seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def image_folder(root, classes=("a", "b", "c"), n=5, size=(8, 8), mode="L"):
    """root/<class>/<i>.png: ``n`` noise images per class."""
    for ci, c in enumerate(classes):
        for i in range(n):
            png(root / c / f"{i}.png", size, mode, seed=100 * ci + i)
    return root


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX format: 0, 0, 0x08 (ubyte), ndim, big-endian int32 dims, then the bytes."""
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.astype(np.uint8).tobytes()


def mnist_folder(root, n_train=12, n_test=6, gz=False):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            name = f"{split}-{kind}-ubyte"
            data = idx_bytes(np.asarray(arr))
            if gz:
                (root / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


def cifar_folder(root, per_file=4):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        recs = [bytes([i % 10]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for i in range(per_file)]
        (root / f).write_bytes(b"".join(recs))
    return root


MNIST_DATA = "{source: 'mnist:mn'}"
MNIST_ARGS = dict(c=1, h=28, w=28, k=10)
CIFAR_ARGS = dict(c=3, h=32, w=32, k=10)


def table(path, n=40, colours=("red", "green")):
    """x1, x2 numbers; colour a category; species a text label."""
    rng = np.random.default_rng(0)
    species = ["setosa", "versicolor", "virginica"]
    lines = ["x1,x2,colour,species"]
    for i in range(n):
        lines.append(f"{rng.normal():.4f},{rng.normal():.4f},{colours[i % len(colours)]},{species[i % 3]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _test_row(n=40) -> int:
    """A row (0-based, data rows) that lands in the test split with the default split (0.15/0.15, seed 0)."""
    from graphspec.train.data import split_indices  # numpy only: no torch in the test process

    return int(split_indices(n, 0.15, 0.15, 0)[2][0])


def npz_tiny(path, n=40):
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((n, 4)).astype(np.float32), target=rng.integers(0, 3, n))
    return path


# --------------------------------------------------------------------- image folders
def test_image_folder_missing_is_exit_4(tmp_path):
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:no_such_folder'}"))
    expect(r, 4, names=["no_such_folder"])
    no_run_left(tmp_path)


def test_image_folder_without_class_folders_is_exit_5(tmp_path):
    png(tmp_path / "flat" / "0.png")  # an image directly in DIR, no class folders
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:flat'}"))
    expect(r, 5, names=["flat"], contains=["no class folders"])


def test_empty_class_folder_is_exit_5(tmp_path):
    image_folder(tmp_path / "imgs", classes=("a", "b"))
    (tmp_path / "imgs" / "empty_class").mkdir()
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"))
    expect(r, 5, names=[os.path.join("imgs", "empty_class")], contains=["holds no files"])
    no_run_left(tmp_path)


def _corrupt(root, how: str):
    bad = root / "b" / "zz_bad.png"
    if how == "garbage":  # not an image at all: the header check finds it
        bad.write_bytes(b"this is not a PNG file\n" * 4)
    else:  # a valid header, pixel data cut short: found when decoding
        png(bad, seed=7)
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    return bad


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_corrupt_image_stops_naming_it(tmp_path, how):
    root = image_folder(tmp_path / "imgs")
    _corrupt(root, how)
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"))
    expect(r, 5, names=["zz_bad.png"])
    no_run_left(tmp_path)


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_corrupt_image_skipped_with_a_warning(tmp_path, how):
    root = image_folder(tmp_path / "imgs")
    _corrupt(root, how)
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs', on_bad_file: skip}"))
    expect(r, 0, names=["zz_bad.png"], contains=["warning"])


@pytest.mark.parametrize("on_bad, code", [("stop", 5), ("skip", 0)])
def test_non_image_file_in_class_folder(tmp_path, on_bad, code):
    root = image_folder(tmp_path / "imgs")
    (root / "a" / "notes.txt").write_text("labelled by Bob\n")
    r = train(tmp_path, img_spec(tmp_path, f"{{source: 'images:imgs', on_bad_file: {on_bad}}}"))
    expect(r, code, names=["notes.txt"], contains=["not an image"] + (["warning"] if code == 0 else []))


def test_fifo_in_image_folder_does_not_hang(tmp_path):
    root = image_folder(tmp_path / "imgs")
    os.mkfifo(root / "a" / "pipe.png")  # no writer: opening it for reading would block forever
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"), timeout=45)
    expect(r, 5, names=["pipe.png"], contains=["not a regular file"])
    no_run_left(tmp_path)


def test_images_of_the_wrong_size_for_the_input(tmp_path):
    image_folder(tmp_path / "imgs", size=(8, 8))
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}", h=28, w=28))
    expect(r, 5, names=["images:imgs"], contains=["[1, 8, 8]", "[batch, 1, 28, 28]", "resize"])
    no_run_left(tmp_path)


def test_images_of_mixed_sizes_name_the_odd_one(tmp_path):
    root = image_folder(tmp_path / "imgs")
    png(root / "c" / "odd.png", size=(9, 7))
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"))
    expect(r, 5, names=["odd.png"], contains=["9x7"])


def test_images_with_the_wrong_channel_count(tmp_path):
    image_folder(tmp_path / "imgs", mode="RGB")
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}", c=1))
    expect(r, 5, names=["images:imgs"], contains=["[3, 8, 8]", "[batch, 1, 8, 8]", "channels"])


def test_split_folders_with_a_class_missing_from_test(tmp_path):
    """Classes come from train/; a test/ folder lacking one of them is accepted (it just tests fewer classes)."""
    root = tmp_path / "imgs"
    image_folder(root / "train", classes=("a", "b", "c"), n=5)
    image_folder(root / "test", classes=("a", "b"), n=2)
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"))
    expect(r, 0)


def test_split_folders_with_a_class_only_in_test(tmp_path):
    root = tmp_path / "imgs"
    image_folder(root / "train", classes=("a", "b"), n=5)
    image_folder(root / "test", classes=("a", "b", "zebra"), n=2)
    r = train(tmp_path, img_spec(tmp_path, "{source: 'images:imgs'}"))
    expect(r, 5, names=["zebra", os.path.join("imgs", "test")])
    no_run_left(tmp_path)


@pytest.mark.parametrize(
    "data, field",
    [
        ("{source: 'images:imgs', on_bad_file: ignore}", "on_bad_file"),
        ("{source: 'images:imgs', transforms: {random_crop: true}}", "random_crop"),
        ("{source: 'images:imgs', transforms: {resize: 0}}", "resize"),
        ("{source: 'x.csv', unknown: drop}", "unknown"),
    ],
)
def test_validate_rejects_bad_data_options(tmp_path, data, field):
    r = run_cli("validate", img_spec(tmp_path, data), cwd=tmp_path, timeout=30)
    expect(r, 3, names=["train.yaml", field])


# --------------------------------------------------------------------- MNIST IDX
def test_mnist_folder_missing(tmp_path):
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 4, names=["mn"], contains=["yann.lecun.com"])


def test_mnist_idx_file_missing_names_it_and_the_official_copy(tmp_path):
    root = mnist_folder(tmp_path / "mn")
    (root / "t10k-labels-idx1-ubyte").unlink()
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 4, names=["t10k-labels-idx1-ubyte"], contains=["yann.lecun.com", "nothing is downloaded"])
    no_run_left(tmp_path)


def test_mnist_idx_truncated(tmp_path):
    root = mnist_folder(tmp_path / "mn")
    p = root / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 5, names=["train-images-idx3-ubyte"], contains=["truncated"])
    no_run_left(tmp_path)


def test_mnist_idx_header_truncated(tmp_path):
    root = mnist_folder(tmp_path / "mn")
    (root / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0]))
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 5, names=["train-labels-idx1-ubyte"], contains=["truncated"])


def test_mnist_idx_wrong_magic(tmp_path):
    root = mnist_folder(tmp_path / "mn")
    p = root / "train-images-idx3-ubyte"
    data = bytearray(p.read_bytes())
    data[:4] = b"\x1f\x8b\x08\x00"  # e.g. a gzip left unnamed .gz
    p.write_bytes(bytes(data))
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 5, names=["train-images-idx3-ubyte"], contains=["not an IDX file"])


def test_mnist_gzip_truncated(tmp_path):
    root = mnist_folder(tmp_path / "mn", gz=True)
    p = root / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, 4, names=["train-images-idx3-ubyte.gz"])
    no_run_left(tmp_path)


def test_mnist_gzip_corrupt_stream(tmp_path):
    """Bytes flipped inside the compressed data (stored blocks of random pixels): a CRC error."""
    root = mnist_folder(tmp_path / "mn", gz=True)
    p = root / "train-images-idx3-ubyte.gz"
    data = bytearray(p.read_bytes())
    for i in range(20, min(len(data) - 8, 400)):
        data[i] ^= 0xA5
    p.write_bytes(bytes(data))
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, (4, 5), names=["train-images-idx3-ubyte.gz"])


def test_mnist_gzip_invalid_deflate_block(tmp_path):
    root = mnist_folder(tmp_path / "mn", gz=True)
    p = root / "train-labels-idx1-ubyte.gz"
    data = bytearray(p.read_bytes())
    data[10] = 0xFF  # the first deflate block header (after the 10-byte gzip header): BTYPE=11, reserved
    p.write_bytes(bytes(data))
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS))
    expect(r, (4, 5), names=["train-labels-idx1-ubyte.gz"])


def test_mnist_fifo_instead_of_file(tmp_path):
    root = mnist_folder(tmp_path / "mn")
    (root / "t10k-images-idx3-ubyte").unlink()
    os.mkfifo(root / "t10k-images-idx3-ubyte")
    r = train(tmp_path, img_spec(tmp_path, MNIST_DATA, **MNIST_ARGS), timeout=45)
    expect(r, 4, names=["t10k-images-idx3-ubyte"])


# --------------------------------------------------------------------- CIFAR binary
def test_cifar_binary_missing(tmp_path):
    root = cifar_folder(tmp_path / "cf")
    (root / "data_batch_3.bin").unlink()
    r = train(tmp_path, img_spec(tmp_path, "{source: 'cifar10:cf'}", **CIFAR_ARGS))
    expect(r, 4, names=["data_batch_3.bin"], contains=["cs.toronto.edu"])
    no_run_left(tmp_path)


def test_cifar_binary_truncated(tmp_path):
    root = cifar_folder(tmp_path / "cf")
    p = root / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1000])
    r = train(tmp_path, img_spec(tmp_path, "{source: 'cifar10:cf'}", **CIFAR_ARGS))
    expect(r, 5, names=["test_batch.bin"], contains=["truncated"])
    no_run_left(tmp_path)


def test_cifar_pickle_version_is_not_read(tmp_path):
    """The python (pickle) version's files are not the binary ones: a missing-file error, nothing unpickled."""
    root = tmp_path / "cf"
    root.mkdir()
    for f in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (root / f).write_bytes(b"\x80\x04not really a pickle")
    r = train(tmp_path, img_spec(tmp_path, "{source: 'cifar10:cf'}", **CIFAR_ARGS))
    expect(r, 4, names=["data_batch_1.bin"], contains=["binary version"])


# --------------------------------------------------------------------- tables with categories
def _unknown_at_test_time(tmp_path):
    p = table(tmp_path / "t.csv")
    rows = p.read_text().splitlines()
    i = _test_row()
    cells = rows[i + 1].split(",")
    cells[2] = "purple"
    rows[i + 1] = ",".join(cells)
    p.write_text("\n".join(rows) + "\n")
    return i


def test_csv_unknown_category_at_test_time_is_exit_5(tmp_path):
    i = _unknown_at_test_time(tmp_path)
    r = train(tmp_path, vec_spec(tmp_path, "{source: t.csv, target: species}"))
    expect(r, 5, names=["t.csv", "'colour'", "'purple'", f"row {i + 2}"])
    no_run_left(tmp_path)


def test_csv_unknown_category_with_unknown_zero_trains(tmp_path):
    _unknown_at_test_time(tmp_path)
    r = train(tmp_path, vec_spec(tmp_path, "{source: t.csv, target: species, unknown: zero}"), "--name", "u")
    expect(r, 0)
    assert "purple" not in (tmp_path / "runs" / "u" / "data.json").read_text()  # categories come from the training split


def test_csv_declared_categorical_column_missing(tmp_path):
    table(tmp_path / "t.csv")
    r = train(tmp_path, vec_spec(tmp_path, "{source: t.csv, target: species, categorical: [shape]}"))
    expect(r, 5, names=["t.csv", "'shape'"], contains=["categorical"])


def test_csv_target_column_missing(tmp_path):
    table(tmp_path / "t.csv")
    r = train(tmp_path, vec_spec(tmp_path, "{source: t.csv, target: label}"))
    expect(r, 5, names=["t.csv", "'label'"])


def test_csv_text_typo_in_numeric_column(tmp_path):
    p = table(tmp_path / "t.csv")
    rows = p.read_text().splitlines()
    cells = rows[5].split(",")
    cells[1] = "1.2.3"
    rows[5] = ",".join(cells)
    p.write_text("\n".join(rows) + "\n")
    r = train(tmp_path, vec_spec(tmp_path, "{source: t.csv, target: species}"))
    expect(r, 5, names=["t.csv:6", "'x2'", "'1.2.3'"])


def test_csv_text_target_for_regression(tmp_path):
    table(tmp_path / "t.csv")
    spec = vec_spec(tmp_path, "{source: t.csv, target: species}", k=1)
    spec.write_text(spec.read_text().replace("task: classify", "task: regress"))
    r = train(tmp_path, spec)
    expect(r, 5, names=["'species'", "t.csv"], contains=["holds text"])


def test_evaluate_when_the_table_gained_an_unknown_category(tmp_path):
    """Trained on a clean table; the file then changes under the run: evaluate stops naming the cell."""
    table(tmp_path / "t.csv")
    spec = vec_spec(tmp_path, "{source: t.csv, target: species}")
    expect(train(tmp_path, spec, "--name", "e"), 0)
    i = _unknown_at_test_time(tmp_path)
    r = run_cli("evaluate", spec, "--run", tmp_path / "runs" / "e", cwd=tmp_path, timeout=60)
    expect(r, 5, names=["t.csv", "'colour'", "'purple'", f"row {i + 2}"])


# --------------------------------------------------------------------- arrays read from disk
def test_npy_mmap_truncated(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((40, 4)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) - 37])
    r = train(tmp_path, vec_spec(tmp_path, "{source: x.npy, target: y.npy, mmap: true}"))
    expect(r, 4, names=["x.npy"], contains=["truncated"])
    no_run_left(tmp_path)


def test_npy_target_fifo(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((40, 4)).astype(np.float32))
    os.mkfifo(tmp_path / "y.npy")
    r = train(tmp_path, vec_spec(tmp_path, "{source: x.npy, target: y.npy}"), timeout=45)
    expect(r, 4, names=["y.npy"])


def test_npz_compressed_member_with_mmap(tmp_path):
    rng = np.random.default_rng(0)
    np.savez_compressed(tmp_path / "d.npz", x=rng.standard_normal((40, 4)).astype(np.float32), target=rng.integers(0, 3, 40))
    r = train(tmp_path, vec_spec(tmp_path, "{source: d.npz, mmap: true}"))
    expect(r, 4, names=["d.npz"], contains=["compressed", "savez"])
    no_run_left(tmp_path)


# --------------------------------------------------------------------- init_from / freeze
def test_init_from_weights_missing(tmp_path):
    npz_tiny(tmp_path / "d.npz")
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: {weights: gone.safetensors}\n"))
    expect(r, 4, names=["gone.safetensors"])
    no_run_left(tmp_path)


def test_init_from_empty_run_folder(tmp_path):
    npz_tiny(tmp_path / "d.npz")
    (tmp_path / "old_run").mkdir()
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: old_run\n"))
    expect(r, 8, names=["old_run"])


def test_init_from_shape_mismatch_is_exit_8_naming_the_key(tmp_path):
    from safetensors.numpy import save_file

    npz_tiny(tmp_path / "d.npz")
    save_file({"fc.weight": np.zeros((5, 4), np.float32), "fc.bias": np.zeros(5, np.float32)}, str(tmp_path / "w.safetensors"))
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: {weights: w.safetensors}\n"))
    expect(r, 8, names=["w.safetensors", "'fc.weight'", "'fc.bias'"], contains=["[5, 4]", "[3, 4]"])
    no_run_left(tmp_path)


def test_init_from_shape_mismatch_skipped_trains(tmp_path):
    from safetensors.numpy import save_file

    npz_tiny(tmp_path / "d.npz")
    save_file({"fc.weight": np.zeros((5, 4), np.float32), "fc.bias": np.zeros(5, np.float32)}, str(tmp_path / "w.safetensors"))
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: {weights: w.safetensors, skip: ['fc.*']}\n"), "--name", "s")
    expect(r, 0)
    assert (tmp_path / "runs" / "s" / "finetune.json").is_file()


def test_init_from_fifo_does_not_hang(tmp_path):
    npz_tiny(tmp_path / "d.npz")
    os.mkfifo(tmp_path / "w.safetensors")
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: {weights: w.safetensors}\n"), timeout=45)
    expect(r, 4, names=["w.safetensors"])


def test_init_from_pickle_with_code_is_refused(tmp_path):
    """A .pt that is not a plain state_dict (here: not a pickle at all) is a checkpoint error, never unpickled code."""
    npz_tiny(tmp_path / "d.npz")
    (tmp_path / "w.pt").write_bytes(b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR.")
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  init_from: {weights: w.pt}\n"))
    expect(r, 8, names=["w.pt"])
    assert "pwned" not in r.output


def test_freeze_glob_matching_nothing_is_exit_3(tmp_path):
    npz_tiny(tmp_path / "d.npz")
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  freeze: ['conv*']\n"))
    expect(r, 3, names=["'conv*'"], contains=["matches no parameter", "fc"])


def test_freeze_everything_is_exit_3(tmp_path):
    npz_tiny(tmp_path / "d.npz")
    r = train(tmp_path, vec_spec(tmp_path, "d.npz", extra="  freeze: ['fc']\n"))
    expect(r, 3, contains=["freeze", "nothing would train"])
