"""The Python API: same results as the CLI (one code path), runs readable back, docs/api.md runs."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

import graphspec
from graphspec.cli.main import main
from graphspec.errors import ExitCode, GraphspecError

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
graphspec: 1
name: tiny
params: {hidden: 8}
inputs:
  image: {shape: [batch, 1, 8, 8]}
nodes:
  flatten: {op: Flatten, in: image}
  fc: {op: Linear, in: flatten, out_features: "${hidden}"}
  act: {op: ReLU, in: fc}
  head: {op: Linear, in: act, out_features: 10}
outputs: {logits: head}
train:
  task: classify
  data: digits
  epochs: 3
  batch_size: 128
  optimizer: {name: Adam, lr: 0.01}
  metrics: [accuracy]
"""


def test_import_graphspec_imports_no_torch():
    code = "import sys, graphspec; graphspec.Run; graphspec.export; graphspec.train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_train_stays_callable_after_the_training_package_is_imported():
    import graphspec.train.engine  # noqa: F401 -- binds graphspec.train to the package

    assert callable(graphspec.train)


def test_inspect_is_the_cli_document(capsys):
    spec = graphspec.load("digits_lenet5", set={"params.classes": 7})
    assert main(["inspect", "digits_lenet5", "--set", "params.classes=7", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    # the CLI adds the train.freeze annotations (cli/inspect.py mark_trainable) on top of the shared table
    for rep in cli["graphs"]:
        rep.pop("trainable_params", None), rep.pop("frozen_params", None)
        for r in rep["nodes"]:
            r.pop("trainable", None)
    assert cli == json.loads(json.dumps(spec.inspect()))
    rows = spec.inspect()["graphs"][0]["nodes"]
    assert sum(r["params"] for r in rows) == spec.inspect()["total_params"] == spec.graph().total_params
    # other sizes count other MACs, and leave the spec's own counts as they were
    big = spec.inspect(dims={"batch": 4})
    assert big["total_macs"] == 4 * spec.inspect()["total_macs"] and big["dims"]["batch"] == 4
    assert spec.graph().total_macs == spec.inspect()["total_macs"]
    assert {r["node"] for r in spec.inspect(depth=1)["graphs"][0]["nodes"]} <= {r["node"].split(".")[0] for r in rows}


def test_train_matches_the_cli_and_the_run_reads_back(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    run = graphspec.train(str(spec), epochs=2, name="api", runs_dir=tmp_path / "runs", set={"params.hidden": 12})
    assert main(["train", str(spec), "--epochs", "2", "--name", "cli", "--runs-dir", str(tmp_path / "runs"), "--set", "params.hidden=12", "--json", "--quiet"]) == 0
    cli = json.loads(capsys.readouterr().out)
    api = run.results
    for key in ("epochs", "steps", "params", "best_epoch", "train_loss", "val_loss", "val_accuracy", "test_accuracy"):
        assert api[key] == cli[key], key  # same seed, same code: the same numbers
    assert [r["epoch"] for r in run.metrics] == [1, 2]
    assert run.best_weights == tmp_path / "runs" / "api" / "best.safetensors" and run.best_weights.is_file()
    assert set(run.state_dict()) == {"fc.weight", "fc.bias", "head.weight", "head.bias"}

    opened = graphspec.Run.open(tmp_path / "runs" / "cli")
    assert [r["val_loss"] for r in opened.metrics] == [r["val_loss"] for r in run.metrics]
    assert opened.results["test_accuracy"] == api["test_accuracy"]
    scores = opened.evaluate()  # from the run's own spec.yaml
    assert scores["test_accuracy"] == api["test_accuracy"] and "warning" not in scores


def test_export_of_a_run_and_of_a_spec(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    run = graphspec.train(str(spec), epochs=1, name="r", runs_dir=tmp_path / "runs")
    result = run.export(tmp_path / "a.onnx")
    assert result.parity.passed and Path(result.model_path).is_file()
    assert result.weights and "best.safetensors" in result.weights
    other = graphspec.export(str(spec), tmp_path / "b.onnx", weights=run.path, parity=False)
    assert other.parity is None and (tmp_path / "b.onnx").is_file()


def test_mistakes_raise_clear_errors(tmp_path):
    with pytest.raises(GraphspecError) as exc:
        graphspec.train("digits_mlp", epochs=0)
    assert exc.value.exit_code == ExitCode.USAGE and "epochs must be an integer of at least 1" in str(exc.value)
    with pytest.raises(TypeError, match="unknown option"):
        graphspec.train("digits_mlp", epohcs=2)
    with pytest.raises(GraphspecError) as exc:
        graphspec.train("digits_mlp", set={"params.hiden": 3})
    assert exc.value.exit_code == ExitCode.USAGE and "did you mean 'hidden'" in str(exc.value)
    with pytest.raises(GraphspecError) as exc:
        graphspec.Run.open(tmp_path / "nope")
    assert exc.value.exit_code == ExitCode.CHECKPOINT
    with pytest.raises(GraphspecError) as exc:
        _ = graphspec.Run(tmp_path).results
    assert exc.value.exit_code == ExitCode.CHECKPOINT and "no results.json" in str(exc.value)
    with pytest.raises(GraphspecError, match="depth must be a positive integer"):
        graphspec.load("digits_mlp").inspect(depth=0)


def test_docs_api_md_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    failed, attempted = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 10 and failed == 0
