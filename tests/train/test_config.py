"""The train: schema: defaults, allowlists, and errors located in the spec file."""

from __future__ import annotations

import pytest

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train.config import LossConfig, OptimizerConfig, ScheduleConfig, TrainConfig, parse_train
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
    spec = load(train_yaml)
    with pytest.raises(GraphspecError) as exc:
        resolve_config(spec)
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


def test_parse_train_without_tree():
    with pytest.raises(GraphspecError) as exc:
        parse_train({"task": "regress", "epochs": 0})
    assert exc.value.diagnostics[0].location is None


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
        spec = graphspec.load(str(path))
        if spec.train is None:
            continue
        try:
            resolve_config(spec)
        except GraphspecError as exc:
            if any(d.code == "usage" and "unknown task" in d.message for d in exc.diagnostics):
                continue  # a task module another change has not landed yet
            raise AssertionError(f"{path.name}: {exc}")
