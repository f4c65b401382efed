"""graphspec train / evaluate end to end on tiny runs (in-process)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from conftest import SPECS, last_json

JSON_KEYS = {
    "name", "run_dir", "spec", "task", "seed", "epochs", "steps", "best_epoch", "best_metric", "best_value", "stopped",
    "params", "device", "world_size", "train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "wall_s",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 2-epoch MLP run shared by the tests of this module."""
    from graphspec.cli.main import main
    import contextlib
    import io

    runs = tmp_path_factory.mktemp("runs")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", str(SPECS / "digits_mlp.yaml"), "--set", "train.epochs=2", "--runs-dir", str(runs), "--name", "m", "--json", "--quiet"])
    assert rc == 0
    return runs / "m", json.loads(out.getvalue())


def test_json_keys_and_values(trained):
    run, res = trained
    assert JSON_KEYS <= set(res)
    assert res["epochs"] == 2 and res["task"] == "classify" and res["steps"] == 2 * 40
    assert 0.0 <= res["test_accuracy"] <= 1.0 and math.isfinite(res["test_loss"])
    assert json.loads((run / "results.json").read_text())["test_accuracy"] == res["test_accuracy"]


def test_run_folder_contents(trained):
    run, _ = trained
    for name in ("spec.yaml", "metrics.jsonl", "metrics.csv", "loss.png", "metrics.png", "last.safetensors", "best.safetensors", "last.state.pt", "best.state.pt", "results.json"):
        assert (run / name).is_file(), name
    assert not list(run.glob(".*.tmp"))
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "wall_s"} <= set(rows[0])
    csv = (run / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,step,train_loss") and len(csv) == 3
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoints_load_safely(trained):
    run, _ = trained
    weights = load_file(str(run / "last.safetensors"))
    assert set(weights) == {"hidden.0.fc.weight", "hidden.0.fc.bias", "hidden.1.fc.weight", "hidden.1.fc.bias", "head.weight", "head.bias"}
    state = torch.load(run / "last.state.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 80
    assert {"optimizers", "schedules", "extra"} <= set(state["task_state"]) and "torch" in state["rng"]
    assert torch.equal(state["weights"]["head.weight"], weights["head.weight"])


def test_resolved_spec_yaml_trains_again(trained):
    import graphspec

    run, _ = trained
    spec = graphspec.load(str(run / "spec.yaml"))
    assert spec.train["epochs"] == 2 and spec.train["optimizer"]["name"] == "AdamW"


def test_evaluate_matches_training(trained, cli, capsys):
    run, res = trained
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--run", run, "--json") == 0
    ev = last_json(capsys.readouterr().out)
    assert ev["test_accuracy"] == pytest.approx(res["test_accuracy"])
    assert ev["test_loss"] == pytest.approx(res["test_loss"], rel=1e-6)
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--run", run) == 0
    assert "test_accuracy" in capsys.readouterr().out


def test_evaluate_missing_run(cli, capsys, tmp_path):
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--run", tmp_path / "nope") == 8
    assert "checkpoint" in capsys.readouterr().err


def test_evaluate_corrupt_weights(trained, cli, capsys, tmp_path):
    run, _ = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "best.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--run", bad) == 8
    assert "corrupt" in capsys.readouterr().err


def test_evaluate_mismatched_spec(trained, cli, capsys):
    run, _ = trained
    assert cli("evaluate", SPECS / "digits_mlp.yaml", "--run", run, "--set", "params.hidden=64") == 8
    err = capsys.readouterr().err
    assert "checkpoint does not match" in err and "hidden.0.fc.weight" in err


def test_existing_run_needs_resume(trained, cli, capsys):
    run, _ = trained
    assert cli("train", SPECS / "digits_mlp.yaml", "--runs-dir", run.parent, "--name", "m", "--quiet") == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_of_finished_run_is_a_no_op(trained, cli, capsys):
    run, res = trained
    assert cli("train", SPECS / "digits_mlp.yaml", "--set", "train.epochs=2", "--runs-dir", run.parent, "--name", "m", "--resume", "--quiet", "--json") == 0
    again = last_json(capsys.readouterr().out)
    assert again["epochs"] == 2 and again["test_accuracy"] == pytest.approx(res["test_accuracy"])


def test_resume_without_checkpoint(cli, capsys, tmp_path):
    assert cli("train", SPECS / "digits_mlp.yaml", "--runs-dir", tmp_path, "--name", "x", "--resume", "--quiet") == 8


def test_default_names_count_up(cli, tmp_path):
    args = ["train", SPECS / "digits_mlp.yaml", "--set", "train.epochs=1", "--runs-dir", tmp_path, "--quiet"]
    assert cli(*args) == 0 and cli(*args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_mlp", "digits_mlp-2"]


def test_precision_needs_cuda(cli, capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert cli("train", SPECS / "digits_mlp.yaml", "--device", "cpu", "--precision", "bf16", "--runs-dir", tmp_path, "--quiet") == 2


def test_regress_quick_run(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "sine_lstm.yaml", "--set", "train.epochs=2", "--set", "train.data.samples=300", "--runs-dir", tmp_path, "--json", "--quiet")
    assert rc == 0
    res = last_json(capsys.readouterr().out)
    assert {"test_mse", "test_mae", "test_r2", "val_loss"} <= set(res) and res["task"] == "regress"


def test_char_lm_quick_run(cli, capsys, tmp_path):
    rc = cli("train", SPECS / "char_lm.yaml", "--set", "train.epochs=1", "--set", "params.hidden=16", "--runs-dir", tmp_path, "--json", "--quiet")
    assert rc == 0
    res = last_json(capsys.readouterr().out)
    assert res["task"] == "sequence" and res["test_perplexity"] > 1 and "test_accuracy" in res


def test_plain_progress_lines(cli, capsys, tmp_path):
    assert cli("train", SPECS / "digits_mlp.yaml", "--set", "train.epochs=2", "--runs-dir", tmp_path) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "val_accuracy" in err and "done:" in err


def test_early_stopping(cli, capsys, tmp_path):
    rc = cli(
        "train", SPECS / "digits_mlp.yaml", "--set", "train.epochs=30", "--set", "train.optimizer.lr=1e-6",
        "--set", "train.early_stopping={metric: val_accuracy, patience: 1, min_delta: 0.5}", "--runs-dir", tmp_path, "--json", "--quiet",
    )
    assert rc == 0
    res = last_json(capsys.readouterr().out)
    assert res["stopped"] == "early_stopping" and res["epochs"] == 2 and res["best_metric"] == "val_accuracy"
