"""Fine-tuning: init_from (safetensors, torch state_dict, run folders; map/skip/strict), freeze, param_groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from safetensors.torch import load_file

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train.finetune import matches, rename

NET = """graphspec: 1
name: lenet
params: {classes: 10}
inputs:
  image: {shape: [batch, 1, 8, 8]}
nodes:
  conv1: {op: Conv2d, in: image, out_channels: 12, kernel_size: 5, padding: 2}
  bn1: {op: BatchNorm2d, in: conv1}
  relu1: {op: ReLU, in: bn1}
  pool1: {op: MaxPool2d, in: relu1, kernel_size: 2}
  conv2: {op: Conv2d, in: pool1, out_channels: 32, kernel_size: 3, padding: 1}
  relu2: {op: ReLU, in: conv2}
  pool2: {op: MaxPool2d, in: relu2, kernel_size: 2}
  flatten: {op: Flatten, in: pool2}
  fc1: {op: Linear, in: flatten, out_features: 64}
  relu3: {op: ReLU, in: fc1}
  fc3: {op: Linear, in: relu3, out_features: "${classes}"}
outputs: {logits: fc3}
train:
"""


def write_digits(path: Path, classes) -> Path:
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.isin(d.target, list(classes))
    np.savez(path, image=(d.images[keep] / 16.0).astype(np.float32)[:, None], target=(d.target[keep] - min(classes)).astype(np.int64))
    return path


def write_spec(path: Path, train: str) -> Path:
    path.write_text(NET + "".join("  " + line + "\n" for line in train.strip().splitlines()))
    return path


def train(tmp_path: Path, name: str, train_yaml: str, *extra: str) -> int:
    spec = write_spec(tmp_path / f"{name}.yaml", train_yaml)
    return run_cli("train", spec, "--runs-dir", tmp_path / "runs", "--name", name, "--quiet", "--set", "params.classes=5", *extra)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ft")
    write_digits(tmp / "low.npz", range(5))
    write_digits(tmp / "high.npz", range(5, 10))
    rc = train(tmp, "base", "task: classify\nepochs: 15\nbatch_size: 32\noptimizer: {lr: 0.003}\ndata: {source: low.npz}")
    assert rc == 0
    return tmp


def test_finetune_0_4_to_5_9_with_frozen_convolutions(base_run):
    """The 'done when' of issue 9: loaded keys reported, frozen parameters bit-identical, the head learns (>= 90 %)."""
    tmp = base_run
    rc = train(
        tmp,
        "ft",
        """
task: classify
epochs: 15
batch_size: 32
optimizer: {lr: 0.003, param_groups: [{params: "fc1", lr: 0.001}]}
data: {source: high.npz}
init_from: {weights: runs/base, skip: ["fc3.*"]}
freeze: ["conv*", "bn1"]
""",
    )
    assert rc == 0
    report = json.loads((tmp / "runs" / "ft" / "finetune.json").read_text())
    init = report["init_from"]
    assert "conv1.weight" in init["loaded"] and "fc1.weight" in init["loaded"] and "bn1.running_mean" in init["loaded"]
    assert init["skipped"] == ["fc3.bias", "fc3.weight"] and init["missing"] == [] and init["unexpected"] == []
    assert sorted(report["frozen"]) == ["bn1.bias", "bn1.weight", "conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
    assert list(report["param_groups"]) == ["main:group 0", "main:rest"]
    before = load_file(str(tmp / "runs" / "base" / "best.safetensors"))
    after = load_file(str(tmp / "runs" / "ft" / "best.safetensors"))
    for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(before[k], after[k]), k  # frozen (and BatchNorm kept in eval): bit for bit
    assert not torch.equal(before["fc1.weight"], after["fc1.weight"])
    res = json.loads((tmp / "runs" / "ft" / "results.json").read_text())
    assert res["test_accuracy"] >= 0.90, res


def test_state_dict_file_and_map(base_run):
    tmp = base_run
    sd = load_file(str(tmp / "runs" / "base" / "best.safetensors"))
    torch.save({"model": {"features." + k: v for k, v in sd.items()}}, tmp / "wrapped.pth")
    spec = graphspec.load(str(write_spec(tmp / "m.yaml", "task: classify\ndata: {source: high.npz}\ninit_from: {weights: wrapped.pth, map: {features: ''}, strict: true}")), set={"params.classes": 5})
    from graphspec.train.engine import resolve_config
    from graphspec.train.finetune import load_initial

    cfg, _ = resolve_config(spec)
    model = spec.to_torch()
    # map {features: ''} strips the prefix ("features.conv1.weight" -> ".conv1.weight"); use "features." instead
    with pytest.raises(GraphspecError):
        load_initial({"m": model}, cfg.init_from, tmp)
    cfg.init_from.map = {"features.": ""}
    r = load_initial({"m": model}, cfg.init_from, tmp)
    assert len(r["loaded"]) == len(model.state_dict()) and torch.equal(model.state_dict()["conv1.weight"], sd["conv1.weight"])


def test_shape_mismatch_on_a_kept_key_is_exit_8(base_run, capsys):
    rc = train(base_run, "mm", "task: classify\nepochs: 1\ndata: {source: high.npz}\ninit_from: runs/base", "--set", "params.classes=7")
    assert rc == 8
    err = capsys.readouterr().err
    assert "'fc3.weight'" in err and "[5, 64]" in err and "[7, 64]" in err and "skip" in err


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"conv1.weight": Evil()}, tmp_path / "evil.pt")
    from graphspec.train.finetune import read_weights

    with pytest.raises(GraphspecError) as e:
        read_weights(tmp_path / "evil.pt")
    assert e.value.exit_code == 8 and "weights_only" in str(e.value)


def test_freeze_glob_that_matches_nothing(base_run, capsys):
    rc = train(base_run, "nf", "task: classify\nepochs: 1\ndata: {source: high.npz}\nfreeze: [convv*]")
    assert rc == 3
    assert "'convv*' matches no parameter" in capsys.readouterr().err


def test_glob_helpers():
    assert matches("layer1.0.conv1.weight", ["layer1"]) and matches("layer1.0.conv1.weight", ["layer*.0"])
    assert not matches("layer10.weight", ["layer1"])
    assert rename("classifier.6.weight", {"classifier.6": "fc"}) == "fc.weight"


def test_inspect_shows_trainable_and_frozen(tmp_path, capsys):
    spec = write_spec(tmp_path / "f.yaml", "task: classify\ndata: digits\nfreeze: [conv*, fc1.bias]")
    assert run_cli("inspect", spec) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith(("conv1 ", "fc1 ", "fc3 ", "relu1 "))}
    assert rows["conv1"] == "frozen" and rows["fc1"] == "partly" and rows["fc3"] == "yes" and rows["relu1"] == "0"
    assert "trainable:" in out and "frozen 3,800" in out  # conv1 312 + conv2 3,488
    assert run_cli("inspect", spec, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    g = doc["graphs"][0]
    assert g["frozen_params"] == sum(n["params"] for n in g["nodes"] if n["trainable"] == "frozen") > 0


def test_finetuned_run_resumes_bit_identically(base_run, monkeypatch):
    """freeze and param_groups are re-applied on --resume before the optimizer state loads; init_from is not re-read."""
    from graphspec.train import engine
    from graphspec.train.engine import RunOptions
    from graphspec.train.engine import train as train_spec

    tmp = base_run
    text = "task: classify\nepochs: 3\nbatch_size: 32\ndata: {source: high.npz}\ninit_from: {weights: runs/base, skip: ['fc3.*']}\nfreeze: [conv*]\noptimizer: {param_groups: [{params: fc1, lr: 0.0005}]}"
    spec = graphspec.load(str(write_spec(tmp / "r.yaml", text)), set={"params.classes": 5})
    full = train_spec(spec, RunOptions(name="r-full", runs_dir=str(tmp / "runs"), progress="quiet"))

    class Stop(Exception):
        pass

    original = engine._save_checkpoint
    calls = {"n": 0}

    def save_then_stop(*a, **kw):
        original(*a, **kw)
        calls["n"] += 1
        if calls["n"] == 1:
            raise Stop

    monkeypatch.setattr(engine, "_save_checkpoint", save_then_stop)
    with pytest.raises(Stop):
        train_spec(spec, RunOptions(name="r-part", runs_dir=str(tmp / "runs"), progress="quiet"))
    monkeypatch.setattr(engine, "_save_checkpoint", original)
    res = train_spec(spec, RunOptions(name="r-part", runs_dir=str(tmp / "runs"), progress="quiet", resume=True))
    assert res["test_loss"] == full["test_loss"]
    a = load_file(str(tmp / "runs" / "r-full" / "last.safetensors"))
    b = load_file(str(tmp / "runs" / "r-part" / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_torchvision_layout_pth_loads_into_the_zoo_resnet18(tmp_path):
    """A .pth laid out like torchvision's published resnet18 weights (keys and shapes from the
    recorded fixture) loads with strict: true; a new 10-class head is skipped and stays fresh."""
    from graphspec.train.engine import resolve_config
    from graphspec.train.finetune import load_initial

    layout = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "torchvision" / "resnet18.json").read_text())["state_dict"]
    dtypes = {"float32": torch.float32, "int64": torch.int64}
    sd = {e["key"]: torch.full(e["shape"], 0.5, dtype=dtypes[e["dtype"]]) if e["shape"] else torch.tensor(7, dtype=dtypes[e["dtype"]]) for e in layout}
    torch.save(sd, tmp_path / "resnet18-f37072fd.pth")  # a plain state_dict, as torchvision publishes them
    spec = graphspec.load("resnet18", set={"+train": {"task": "classify", "data": "digits", "init_from": {"weights": str(tmp_path / "resnet18-f37072fd.pth"), "strict": True}}})
    cfg, _ = resolve_config(spec)
    model = spec.to_torch()
    report = load_initial({"m": model}, cfg.init_from, tmp_path)
    assert len(report["loaded"]) == len(layout) and not report["missing"] and not report["unexpected"]
    assert torch.equal(model.state_dict()["layer4.1.conv2.weight"], sd["layer4.1.conv2.weight"])
    spec10 = graphspec.load("resnet18", set={"params.classes": 10, "+train": {"task": "classify", "data": "digits", "init_from": {"weights": str(tmp_path / "resnet18-f37072fd.pth"), "skip": ["fc.*"]}}})
    cfg10, _ = resolve_config(spec10)
    model10 = spec10.to_torch()
    fresh = model10.state_dict()["fc.weight"].clone()
    report = load_initial({"m": model10}, cfg10.init_from, tmp_path)
    assert report["skipped"] == ["fc.bias", "fc.weight"] and len(report["loaded"]) == len(layout) - 2
    assert torch.equal(model10.state_dict()["fc.weight"], fresh)
