"""`graphspec import`: a model from the current folder becomes a checked spec (and weights)."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("torch")

import graphspec  # noqa: E402
from graphspec.cli.main import main  # noqa: E402

MODEL = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)) + x)


class Net(nn.Module):
    def __init__(self, width=4, depth=2):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 1)
        self.blocks = nn.Sequential(*[Block(width) for _ in range(depth)])
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def make(width):
    return Net(width=width)
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    (tmp_path / "cli_import_models.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    sys.modules.pop("cli_import_models", None)


def test_import_writes_a_spec_that_loads_the_weights(here, capsys):
    rc = main(["import", "cli_import_models:make", "--args", "[6]", "--input", "x=batch,3,8,8", "-o", "net.yaml", "--weights", "net.safetensors", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    report = json.loads(out)
    assert report["passed"] and report["strict_load"] and report["varies"]
    assert report["params"]["model"] == report["params"]["spec"] > 0
    spec = graphspec.load(str(here / "net.yaml"))
    module = spec.to_torch()
    from safetensors.torch import load_file

    module.load_state_dict(load_file(str(here / "net.safetensors")), strict=True)
    assert "blocks.1.conv.weight" in module.state_dict()
    text = (here / "net.yaml").read_text()
    assert "repeat" in text or text.count("op: Conv2d") == 2  # the two blocks are written once


def test_import_human_report(here, capsys):
    rc = main(["import", "cli_import_models:Net", "--kwargs", '{"depth": 1}', "--input", "x=batch,3,8,8", "-o", "n.yaml"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "wrote n.yaml" in out and "state_dict loads strict" in out and "output out" in out


def test_import_unmappable_writes_nothing(here, capsys):
    (here / "cli_import_bad.py").write_text("import torch\nfrom torch import nn\n\nclass M(nn.Module):\n    def forward(self, x):\n        return torch.erf(x)\n")
    rc = main(["import", "cli_import_bad:M", "--input", "x=batch,3", "-o", "m.yaml"])
    err = capsys.readouterr().err
    assert rc == 10
    assert "cli_import_bad.py:6" in err and "torch.erf" in err
    assert not (here / "m.yaml").exists()
    sys.modules.pop("cli_import_bad", None)
