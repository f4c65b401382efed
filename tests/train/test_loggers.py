"""Experiment tracking: TensorBoard event files, MLflow, per-epoch plots, callbacks, evaluate --run.

One 2-epoch digits MLP run (TensorBoard and MLflow on, MLflow's default local
store in a temporary folder) is shared by the module; the files are read back
with TensorBoard's own event reader and ``mlflow.search_runs()``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import last_json, run_cli

import graphspec
from graphspec.train.callbacks import Callback, StopTraining
from graphspec.train.engine import RunOptions, train


def _mlp(**sets):
    return graphspec.load("digits_mlp", set={"train.epochs": 2, **sets})


@contextlib.contextmanager
def _in_folder(path):
    old, uri = os.getcwd(), os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
        if uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = uri


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """(run folder, result, folder holding MLflow's default store) of one run with both loggers."""
    home = tmp_path_factory.mktemp("tracked")
    with _in_folder(home):
        result = train(_mlp(), RunOptions(name="m", runs_dir="runs", quiet=True, mlflow=True))
    return home / "runs" / "m", result, home


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


# ---------------------------------------------------------------- TensorBoard
def test_tensorboard_scalars_per_step_and_per_epoch(tracked):
    run, result, _ = tracked
    acc = _events(run)
    tags = set(acc.Tags()["scalars"])
    assert {"step/train_loss", "step/lr", "epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy", "epoch/lr"} <= tags
    steps = [e.step for e in acc.Scalars("step/train_loss")]
    assert steps == list(range(1, result["steps"] + 1))
    assert [e.step for e in acc.Scalars("epoch/val_loss")] == [40, 80]  # at the global step of each epoch's end
    assert [e.value for e in acc.Scalars("epoch/epoch")] == [1, 2]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert acc.Scalars("epoch/val_accuracy")[-1].value == pytest.approx(rows[-1]["val_accuracy"], rel=1e-6)


def test_tensorboard_hparams_and_spec_text(tracked):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run, _, _ = tracked
    acc = _events(run)
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["params.hidden"].number_value == 128
    assert start.hparams["train.optimizer.lr"].number_value > 0
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"]).session_end_info
    assert end.status == 1  # STATUS_SUCCESS
    text = acc.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: digits_mlp" in text and "train:" in text


def test_event_writer_helper_reads_a_stream(tmp_path):
    """The helper process's loop, fed in-process: scalars, text, hparams, end -> one readable event file."""
    from graphspec.train.loggers.tbevents import serve

    msgs = [
        {"text": ["spec", "    name: x"]},
        {"scalars": [[1, 1.0, {"step/train_loss": 2.0}], [2, 2.0, {"step/train_loss": 1.0, "epoch/val_loss": 1.5}]], "hparams": [{"params.width": 8, "train.task": "classify"}, ["epoch/val_loss"]]},
        {"end": "failure"},
    ]
    serve(str(tmp_path), None, io.StringIO("".join(json.dumps(m) + "\n" for m in msgs)))
    acc = _events(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("step/train_loss")] == [(1, 2.0), (2, 1.0)]
    assert set(acc.PluginTagToContent("hparams")) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}


def test_loggers_off(tmp_path):
    train(_mlp(**{"train.loggers": [], "train.epochs": 1}), RunOptions(name="q", runs_dir=str(tmp_path), quiet=True))
    assert not list((tmp_path / "q").glob("events.out.tfevents.*"))
    assert (tmp_path / "q" / "loss.png").is_file()


# ---------------------------------------------------------------- MLflow
def test_mlflow_default_store_has_params_metrics_artifacts(tracked):
    import mlflow
    from mlflow.tracking import MlflowClient

    run, result, home = tracked
    assert (home / "mlflow.db").is_file()  # MLflow 3's default store, in the working folder
    marker = json.loads((run / "mlflow.json").read_text())
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    found = mlflow.search_runs(experiment_names=["digits_mlp"], output_format="list")
    assert [r.info.run_id for r in found] == [marker["run_id"]]
    r = found[0]
    assert r.info.status == "FINISHED" and r.info.run_name == "m"
    assert r.data.params["params.hidden"] == "128" and float(r.data.params["train.optimizer.lr"]) > 0
    assert r.data.metrics["val_loss"] == pytest.approx(result["val_loss"])
    assert r.data.metrics["test_accuracy"] == pytest.approx(result["test_accuracy"])
    history = MlflowClient(uri).get_metric_history(r.info.run_id, "val_loss")
    assert sorted(m.step for m in history) == [1, 2]
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(r.info.run_id)}
    assert {"spec.yaml", "best.safetensors", "model.onnx", "results.json", "metrics.csv", "loss.png"} <= artifacts


def test_mlflow_missing_is_exit_9_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed: find_spec() says None
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = run_cli("train", "digits_mlp", "--set", "train.epochs=1", "--runs-dir", tmp_path, "--name", "x", "--mlflow", "--quiet")
    assert rc == 9
    assert "graphspec[mlflow]" in err.getvalue()
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- plots
def test_plot_helper_draws_from_a_stream(tmp_path):
    from graphspec.train.plots import serve

    rows = [{"epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 10, "lr": 1e-3} for e in (1, 2, 3)]
    serve(tmp_path, io.StringIO("".join(json.dumps(r) + "\n" for r in rows)))
    for name in ("loss.png", "metrics.png", "lr.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not list(tmp_path.glob(".*tmp*"))


def test_killed_run_has_its_curves(tmp_path):
    """SIGKILL after the second epoch's checkpoint: the plots of the finished epochs are there."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    args = ["digits_mlp", "--set", "train.epochs=50", "--set", "train.loggers=[]", "--runs-dir", str(tmp_path), "--name", "k", "--quiet", "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-m", "graphspec", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    metrics = tmp_path / "k" / "metrics.jsonl"
    deadline = time.time() + 600
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None, "the run ended early"
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    png = tmp_path / "k" / "loss.png"
    while not png.is_file():  # the helper process finishes its drawing after the kill
        assert time.time() < deadline, "no loss.png after the run was killed"
        time.sleep(0.05)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- callbacks
class Recorder(Callback):
    def __init__(self, stop_after: int | None = None):
        self.calls: list[str] = []
        self.steps = 0
        self.stop_after = stop_after

    def on_train_start(self, state):
        self.calls.append("start")
        assert state.model is not None and state.optimizer is not None and state.run_dir.is_dir()

    def on_step_end(self, state, logs):
        self.steps += 1
        assert state.step == self.steps and "loss" in logs

    def on_epoch_end(self, state, logs):
        self.calls.append(f"epoch{logs['epoch']}")
        assert state.rows[-1] is logs and state.epoch == logs["epoch"]
        if self.stop_after and state.epoch >= self.stop_after:
            raise StopTraining("enough")

    def on_train_end(self, state, result):
        self.calls.append(f"end:{result['stopped']}")


def test_callbacks_see_every_step_and_epoch(tmp_path):
    rec = Recorder()
    res = train(_mlp(**{"train.loggers": []}), RunOptions(name="c", runs_dir=str(tmp_path), quiet=True, callbacks=[rec]))
    assert rec.calls == ["start", "epoch1", "epoch2", "end:completed"]
    assert rec.steps == res["steps"] == 80


def test_stop_training_ends_the_run_cleanly(tmp_path):
    rec = Recorder(stop_after=1)
    spec = _mlp(**{"train.epochs": 4, "train.loggers": []})
    res = train(spec, RunOptions(name="s", runs_dir=str(tmp_path), quiet=True, callbacks=[rec]))
    assert res["stopped"] == "enough" and res["epochs"] == 1 and "test_accuracy" in res
    assert rec.calls == ["start", "epoch1", "end:enough"]
    again = train(spec, RunOptions(name="s", runs_dir=str(tmp_path), quiet=True, resume=True))
    assert again["epochs"] == 1 and again["stopped"] == "enough"  # a stopped run stays stopped


def test_resume_does_not_repeat_tensorboard_steps(tmp_path):
    """Interrupted in the middle of epoch 2, resumed: every step shows once."""

    class Interrupt(Callback):
        def on_step_end(self, state, logs):
            if state.step == 60:
                raise KeyboardInterrupt

    spec = _mlp()
    with pytest.raises(KeyboardInterrupt):
        train(spec, RunOptions(name="r", runs_dir=str(tmp_path), quiet=True, callbacks=[Interrupt()]))
    res = train(spec, RunOptions(name="r", runs_dir=str(tmp_path), quiet=True, resume=True))
    steps = [e.step for e in _events(tmp_path / "r").Scalars("step/train_loss")]
    assert steps == list(range(1, res["steps"] + 1))


# ---------------------------------------------------------------- evaluate --run
def test_evaluate_run_without_spec(tracked, capsys):
    run, result, _ = tracked
    assert run_cli("evaluate", "--run", run, "--json") == 0
    out = last_json(capsys.readouterr().out)
    assert out["test_accuracy"] == pytest.approx(result["test_accuracy"]) and "warning" not in out


def test_evaluate_with_the_runs_own_spec_does_not_warn(tracked, capsys):
    run, _, _ = tracked
    assert run_cli("evaluate", run / "spec.yaml", "--run", run, "--json") == 0
    assert "warning" not in last_json(capsys.readouterr().out)
    assert run_cli("evaluate", "digits_mlp", "--set", "train.epochs=2", "--run", run, "--json") == 0
    assert "warning" not in last_json(capsys.readouterr().out)


def test_evaluate_warns_about_a_different_spec(tracked, capsys):
    run, _, _ = tracked
    assert run_cli("evaluate", "digits_mlp", "--set", "train.test_split=0.3", "--run", run, "--json") == 0
    out = last_json(capsys.readouterr().out)
    assert "train.test_split" in out["warning"] and "train.epochs" not in out["warning"]
