"""Image folders (images:DIR): layout, transforms, checks against the graph, workers, and LeNet-5 on 28x28 PNGs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, last_json, run_subprocess
from PIL import Image

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import data as D
from graphspec.train.data.images import ImageArray, Transforms, augment_train
from graphspec.train.engine import resolve_config

sys.path.insert(0, str(ROOT / "tools"))
from make_digit_images import write_digit_folder

SPEC = """graphspec: 1
name: t
inputs:
  image: {{shape: [batch, {c}, {h}, {w}]}}
nodes:
  flat: {{op: Flatten, in: image}}
  fc: {{op: Linear, in: flat, out_features: {k}}}
outputs: {{out: fc}}
train:
  task: classify
  data: {data}
"""


def splits(data: str, c=1, h=28, w=28, k=10, **kw):
    spec = graphspec.load("t.yaml", text=SPEC.format(c=c, h=h, w=w, k=k, data=data))
    cfg, _ = resolve_config(spec)
    return D.load_splits(cfg, spec.graph(), None, "classify")


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_digit_folder(root, 28, limit=300)
    return root


def tiny_folder(root: Path, classes=("a", "b"), n=4, size=(10, 12), mode="L") -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode).save(root / c / f"{i}.png")
    return root


def test_folder_layout_classes_and_split(digits_dir):
    s = splits(f'{{source: "images:{digits_dir}"}}')
    assert (len(s.train), len(s.val), len(s.test)) == (210, 45, 45)
    assert s.meta["class_names"] == [str(i) for i in range(10)] and s.meta["cached"]
    x = s.train.inputs["image"][np.arange(5)]
    assert tuple(x.shape) == (5, 1, 28, 28) and x.dtype.is_floating_point and 0 <= float(x.min()) and float(x.max()) <= 1


def test_split_by_folders(tmp_path):
    for part in ("train", "test"):
        tiny_folder(tmp_path / part, n=6 if part == "train" else 3)
    s = splits(f'{{source: "images:{tmp_path}"}}', h=12, w=10, k=2)
    assert len(s.test) == 6 and len(s.train) + len(s.val) == 12
    assert s.meta["class_names"] == ["a", "b"]


def test_normalize_auto_uses_the_training_split(digits_dir):
    s = splits(f'{{source: "images:{digits_dir}", transforms: {{mean: auto}}}}')
    x = s.train.inputs["image"][np.arange(len(s.train))].numpy()
    assert abs(x.mean()) < 1e-3 and abs(x.std() - 1) < 1e-2
    assert len(s.meta["normalize"]["mean"]) == 1


def test_resize_crop_flip_are_declared_and_train_only(tmp_path):
    tiny_folder(tmp_path, n=6, size=(40, 30), mode="RGB")
    s = splits(f'{{source: "images:{tmp_path}", transforms: {{resize: [36, 36], crop: 32, random_crop: true, padding: 4, hflip: true}}}}', c=3, h=32, w=32, k=2)
    tr, te = s.train.inputs["image"], s.test.inputs["image"]
    assert tuple(tr[np.arange(2)].shape) == (2, 3, 32, 32)
    # the evaluation splits are deterministic (center crop), the training split changes per epoch
    assert np.array_equal(te[np.arange(2)].numpy(), te[np.arange(2)].numpy())
    a = tr[np.arange(len(tr))].numpy()
    tr.epoch = 1
    b = tr[np.arange(len(tr))].numpy()
    assert not np.array_equal(a, b)
    tr.epoch = 0
    assert np.array_equal(a, tr[np.arange(len(tr))].numpy())  # same epoch, same augmentation (resume)


def test_augment_train_shapes():
    x = np.arange(2 * 6 * 6, dtype=np.uint8).reshape(2, 6, 6)
    t = Transforms(crop=(4, 4), random_crop=True, padding=1, hflip=True)
    y = augment_train(x, t, np.random.default_rng(0))
    assert y.shape == (2, 4, 4)


def test_wrong_size_names_both_shapes(tmp_path):
    tiny_folder(tmp_path, size=(10, 12))
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path}"}}')
    msg = str(e.value)
    assert "[1, 12, 10]" in msg and "[batch, 1, 28, 28]" in msg and e.value.exit_code == 5


def test_wrong_channel_count(tmp_path):
    tiny_folder(tmp_path, size=(28, 28), mode="RGB")
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path}"}}', k=2)
    assert "[3, 28, 28]" in str(e.value) and "channels" in str(e.value) and e.value.exit_code == 5
    s = splits(f'{{source: "images:{tmp_path}", transforms: {{channels: 1}}}}', k=2)  # the declared conversion fixes it
    assert s.train.inputs["image"].shape[1] == 1


def test_mixed_sizes_name_the_odd_file(tmp_path):
    tiny_folder(tmp_path, size=(28, 28))
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "b" / "odd.png")
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path}"}}', k=2)
    assert "odd.png" in str(e.value) and "20x20" in str(e.value)
    s = splits(f'{{source: "images:{tmp_path}", transforms: {{resize: 28}}}}', k=2)
    assert len(s.train) + len(s.val) + len(s.test) == 9


def test_corrupt_file_stops_or_is_skipped(tmp_path, capsys):
    tiny_folder(tmp_path, size=(28, 28))
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path}"}}', k=2)
    assert "broken.png" in str(e.value) and e.value.exit_code == 5
    s = splits(f'{{source: "images:{tmp_path}", on_bad_file: skip}}', k=2)
    assert len(s.train) + len(s.val) + len(s.test) == 8
    err = capsys.readouterr().err
    assert "skipping" in err and "broken.png" in err and "notes.txt" in err


def test_truncated_pixels_are_a_clean_error_without_cache(tmp_path):
    tiny_folder(tmp_path, size=(28, 28))
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "a" / "cut.png")
    data = (tmp_path / "a" / "cut.png").read_bytes()
    (tmp_path / "a" / "cut.png").write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    with pytest.raises(GraphspecError) as e:  # cached (the default): found while decoding up front
        splits(f'{{source: "images:{tmp_path}"}}', k=2)
    assert "cut.png" in str(e.value)
    s = splits(f'{{source: "images:{tmp_path}", cache: false}}', k=2)  # uncached: found by the batch that needs it
    with pytest.raises(GraphspecError) as e:
        for part in (s.train, s.val, s.test):
            arr = part.inputs["image"]
            arr[np.arange(len(arr))]
    assert "cut.png" in str(e.value) and e.value.exit_code == 5


def test_missing_folder_and_empty_class(tmp_path):
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path / "nope"}"}}')
    assert e.value.exit_code == 4 and "nope" in str(e.value)
    tiny_folder(tmp_path / "d", size=(28, 28))
    (tmp_path / "d" / "c").mkdir()
    with pytest.raises(GraphspecError) as e:
        splits(f'{{source: "images:{tmp_path / "d"}"}}', k=3)
    assert "holds no files" in str(e.value) and e.value.exit_code == 5


def test_bad_transforms_are_spec_errors():
    with pytest.raises(GraphspecError) as e:
        graphspec.load("t.yaml", text=SPEC.format(c=1, h=28, w=28, k=10, data='{source: "images:x", transforms: {random_crop: true}}'))
    assert "random_crop needs crop" in str(e.value) and e.value.exit_code == 3


def test_uncached_lazy_array_matches_cached(digits_dir):
    a = splits(f'{{source: "images:{digits_dir}", cache: false}}')
    b = splits(f'{{source: "images:{digits_dir}"}}')
    assert not a.meta["cached"]
    idx = np.arange(20)
    assert np.array_equal(a.test.inputs["image"][idx].numpy(), b.test.inputs["image"][idx].numpy())
    assert isinstance(a.train.inputs["image"], ImageArray)


def test_workers_give_the_same_run(digits_dir, tmp_path):
    """Decoding in DataLoader workers does not change the batches: same weights as in-process decoding."""
    args = ["train", "lenet5", "--runs-dir", tmp_path, "--quiet", "--json"]
    base = f'train={{task: classify, data: {{source: "images:{digits_dir}", cache: false, workers: WORKERS}}, epochs: 1, batch_size: 32}}'
    r0 = run_subprocess(*args, "--name", "w0", "--set", base.replace("WORKERS", "0"))
    r2 = run_subprocess(*args, "--name", "w2", "--set", base.replace("WORKERS", "2"))
    assert r0.returncode == 0, r0.stderr
    assert r2.returncode == 0, r2.stderr
    assert last_json(r0.stdout)["test_loss"] == last_json(r2.stdout)["test_loss"]


def test_lenet5_reaches_97_percent_on_a_folder_of_28x28_pngs(tmp_path):
    """The 'done when' of issue 9: the zoo's 28x28 lenet5 on the bundled digits, upscaled to PNGs in class folders."""
    root = tmp_path / "digits"
    write_digit_folder(root, 28)
    train = (
        f'train={{task: classify, data: {{source: "images:{root}", transforms: {{mean: auto}}}}, '
        "epochs: 12, batch_size: 32, optimizer: {lr: 0.002}, schedule: {name: CosineAnnealingLR}}"
    )
    r = run_subprocess("train", "lenet5", "--set", train, "--runs-dir", tmp_path / "runs", "--name", "lenet", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    res = last_json(r.stdout)
    assert res["test_accuracy"] >= 0.97, res
    doc = (tmp_path / "runs" / "lenet" / "data.json").read_text()
    assert '"class_names"' in doc and '"normalize"' in doc
