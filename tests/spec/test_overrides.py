"""Strict ``--set`` overrides: unknown keys refused with hints, ``+KEY`` adds, errors name the override."""

from __future__ import annotations

import subprocess
import sys

import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.spec.overrides import parse_assignments

SPEC = """\
graphspec: 1
name: t
params: {width: 8, depth: 2}
inputs:
  x: {shape: [batch, 4]}
nodes:
  fc: {op: Linear, in: x, out_features: "${width}"}
outputs: {y: fc}
train:
  task: classify
  data: digits
  optimizer: {name: Adam, lr: 0.001}
"""


def load(*items: str):
    return graphspec.load("t.yaml", text=SPEC, set=parse_assignments(items))


def problems(*items: str):
    with pytest.raises(GraphspecError) as exc:
        load(*items)
    return exc.value.diagnostics


def test_misspelt_param_is_refused_with_did_you_mean():
    (d,) = problems("params.widht=64")
    assert d.code == "override" and int(d.exit_code) == 2
    assert "--set params.widht=64" in d.message and "'widht'" in d.message
    assert "did you mean 'width'?" in d.hint and "+params.widht" in d.hint


def test_plus_adds_a_new_param_and_refuses_an_existing_one():
    spec = load("+params.extra=3")
    assert spec.params["extra"] == 3
    (d,) = problems("+params.width=3")
    assert d.code == "override" and "already exists" in d.message


def test_unknown_node_is_refused_but_node_fields_are_checked_by_the_op():
    (d,) = problems("nodes.fcc.out_features=3")
    assert d.code == "override" and "did you mean 'fc'?" in d.hint
    (d,) = problems("nodes.fc.out_featurs=3")
    assert d.code == "unknown-field" and d.location.override == "--set nodes.fc.out_featurs=3"


def test_train_typo_through_set_names_the_override():
    (d,) = problems("train.epochz=3")
    assert d.code == "unknown-field" and "did you mean 'epochs'?" in d.hint
    assert d.location.override == "--set train.epochz=3"
    assert d.format().startswith("t.yaml:9:1: error: unknown-field: --set train.epochz=3: ")


def test_bad_value_through_set_names_the_override_and_the_replaced_line():
    (d,) = problems("train.optimizer.lr=abc")
    assert d.code == "bad-type" and d.location.line == 12
    assert "--set train.optimizer.lr=abc: train.optimizer.lr" in d.format()


def test_schema_fields_need_no_plus():
    spec = load("train.epochs=2", "train.schedule.name=CosineAnnealingLR")
    assert spec.train_config.epochs == 2 and spec.train_config.schedule.name == "CosineAnnealingLR"


def test_every_bad_override_is_reported_at_once():
    diags = problems("params.widht=1", "dims.batchh=2", "nodes.x.y=1")
    assert [d.code for d in diags] == ["override"] * 3


def test_python_api_dict_with_plus():
    spec = graphspec.load("t.yaml", text=SPEC, set={"+params.extra": 1, "params.width": 16})
    assert spec.params == {"width": 16, "depth": 2, "extra": 1}


def test_validate_cli_train_typo_and_set_typo_without_torch(tmp_path):
    """The issue's done-when: exit 3 for a train: typo and 2 for a mistyped --set key, torch never imported."""
    f = tmp_path / "t.yaml"
    f.write_text(SPEC.replace("  data: digits\n", "  data: digits\n  epochz: 3\n").replace("task: classify", "task: clasify"))
    probe = (
        "import sys; from graphspec.cli.main import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    run = lambda *a: subprocess.run([sys.executable, "-c", probe, *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    proc = run("validate", str(f))
    assert proc.returncode == 3, proc.stderr
    assert f"{f}:10:9: error: bad-value: train.task: unknown task 'clasify'" in proc.stderr
    assert "did you mean 'classify'?" in proc.stderr
    f.write_text(SPEC)
    proc = run("validate", str(f), "--set", "params.widht=64")
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'width'?" in proc.stderr and "Traceback" not in proc.stderr
