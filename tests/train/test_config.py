"""The train: schema: defaults, allowlists, and errors located in the spec file.

``train:`` is checked inside ``graphspec.load()`` (graphspec.pipeline), so a
bad section fails the load itself, before any training code runs.
"""

from __future__ import annotations

import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.config.train import LossConfig, OptimizerConfig, ScheduleConfig, TrainConfig
from graphspec.errors import Collector
from graphspec.pipeline.train import validate_train
from graphspec.train.engine import resolve_config

BASE = """\
graphspec: 1
name: t
inputs:
  image: {shape: [batch, 1, 8, 8]}
nodes:
  flat: {op: Flatten, in: image}
  fc: {op: Linear, in: flat, out_features: 10}
outputs: {logits: fc}
train:
"""


def load(train_yaml: str):
    return graphspec.load("t.yaml", text=BASE + train_yaml)


def errors(train_yaml: str) -> list:
    with pytest.raises(GraphspecError) as exc:
        load(train_yaml)
    return exc.value.diagnostics


def test_defaults():
    cfg = TrainConfig.model_validate({"task": "classify", "data": "digits"})
    assert cfg.optimizer.name == "Adam" and cfg.optimizer.lr == 1e-3
    assert cfg.schedule.name == "constant" and cfg.epochs == 10 and cfg.batch_size == 64
    assert cfg.val_split == 0.15 and cfg.test_split == 0.15 and cfg.split_seed == 0
    assert cfg.monitor == "val_loss" and cfg.monitor_mode == "min"


def test_valid_section_resolves():
    cfg, cls = resolve_config(load("  task: classify\n  data: digits\n  optimizer: {name: SGD, lr: 0.1, momentum: 0.9, nesterov: true}\n"))
    assert cls.name == "classify"
    assert cfg.optimizer.kwargs() == {"lr": 0.1, "weight_decay": 0.0, "momentum": 0.9, "nesterov": True}


def test_unknown_field_is_located_with_hint():
    (d,) = errors("  task: classify\n  data: digits\n  optimizer: {name: Adam, lrr: 0.1}\n")
    assert d.code == "unknown-field"
    assert d.location.file == "t.yaml" and d.location.line == 12
    assert "train.optimizer" in d.message and "lr" in (d.hint or "")


def test_unknown_optimizer_names_allowlist():
    (d,) = errors("  task: classify\n  data: digits\n  optimizer: {name: Adamm}\n")
    assert d.code == "bad-value" and d.location.line == 12
    assert "train.optimizer.name" in d.message and "'Adam'" in (d.hint or "")


def test_option_of_another_optimizer_points_at_it():
    (d,) = errors("  task: classify\n  data: digits\n  optimizer:\n    name: SGD\n    betas: [0.9, 0.99]\n")
    assert d.code == "bad-value" and "takes no option 'betas'" in d.message
    assert d.location.line == 14  # the betas line


def test_unknown_task_did_you_mean():
    (d,) = errors("  task: clasify\n  data: digits\n")
    assert d.code == "bad-value" and d.location.line == 10 and "'classify'" in d.hint


def test_missing_task():
    (d,) = errors("  data: digits\n")
    assert d.code == "missing-field"


def test_bad_data_source():
    (d,) = errors("  task: classify\n  data: mnist\n")
    assert d.location.line == 11 and "unknown data source" in d.message


def test_metric_the_task_does_not_report():
    (d,) = errors("  task: classify\n  data: digits\n  metrics: [r2]\n")
    assert d.location.line == 12 and "does not report 'r2'" in d.message


def test_data_the_task_cannot_use():
    (d,) = errors("  task: classify\n  data: sine\n")
    assert d.location.line == 11 and "cannot use data 'sine'" in d.message


def test_splits_must_leave_training_data():
    (d,) = errors("  task: classify\n  data: digits\n  val_split: 0.5\n  test_split: 0.5\n")
    assert "below 1" in d.message


def test_schedule_and_loss_allowlists():
    with pytest.raises(ValueError):
        ScheduleConfig(name="StepLR")  # needs step_size
    assert ScheduleConfig(name="StepLR", step_size=3).every == "epoch"
    assert ScheduleConfig(name="CosineAnnealingLR").every == "step"
    assert LossConfig.model_validate("MSELoss").name == "MSELoss"
    with pytest.raises(ValueError):
        LossConfig(name="MSELoss", label_smoothing=0.1)
    with pytest.raises(ValueError):
        OptimizerConfig(name="SGD", betas=(0.9, 0.9))


def test_wrong_type_is_bad_type():
    (d,) = errors("  task: classify\n  data: digits\n  epochs: many\n")
    assert d.code == "bad-type" and d.location.line == 12 and "train.epochs" in d.message


def test_no_train_section():
    spec = graphspec.load("t.yaml", text=BASE.replace("train:\n", ""))
    with pytest.raises(GraphspecError) as exc:
        resolve_config(spec)
    assert exc.value.diagnostics[0].code == "missing-field"


def test_validate_train_without_tree():
    out = Collector()
    assert validate_train({"task": "regress", "epochs": 0}, None, out) is None
    (d,) = out.diagnostics
    assert d.location is None and "train.epochs" in d.message


def test_train_errors_come_with_graph_errors():
    """A shape error in the graph and a misspelt train: field show in one run."""
    bad = BASE.replace("out_features: 10}", "out_features: 10}\n  bad: {op: Linear, in: nowhere, out_features: 3}")
    with pytest.raises(GraphspecError) as exc:
        graphspec.load("t.yaml", text=bad + "  task: classify\n  data: digits\n  epochz: 3\n")
    codes = sorted(d.code for d in exc.value.diagnostics)
    assert codes == ["unknown-field", "unknown-ref"], codes


def test_cli_exit_code_3_for_bad_section(tmp_path, cli, capsys):
    p = tmp_path / "t.yaml"
    p.write_text(BASE + "  task: classify\n  data: digits\n  optimizer: {name: Adam, lrr: 1}\n")
    assert cli("train", p, "--runs-dir", tmp_path / "runs") == 3
    err = capsys.readouterr().err
    assert f"{p}:12:" in err and "unknown-field" in err
    assert not (tmp_path / "runs").exists()


def test_every_zoo_train_section_is_valid():
    from graphspec.zoo import zoo_dir

    for path in sorted(zoo_dir().glob("*.yaml")):
        spec = graphspec.load(str(path))  # raises on a bad train: section
        if spec.train is not None:
            cfg, cls = resolve_config(spec)
            assert cls.name == cfg.task
