"""MLflow tracking: one MLflow run per graphspec run (``train.loggers: [mlflow]`` or ``--mlflow [URI]``).

- where: the tracking URI given (``--mlflow URI``), else ``$MLFLOW_TRACKING_URI``,
  else MLflow's default -- with MLflow 3.x ``sqlite:///mlflow.db`` in the current
  folder, artifacts under ``./mlruns`` (MLflow 2.x: the ``./mlruns`` file store);
- experiment: ``$MLFLOW_EXPERIMENT_NAME``, else the spec's name; run name: the run folder's;
- params: the spec's ``params`` and the resolved ``train:`` options (``params.width``,
  ``train.optimizer.lr`` ...); metrics: every metrics.jsonl column per epoch
  (step = epoch), the test metrics at the end;
- artifacts: spec.yaml at the start; at the end best.safetensors, model.onnx (the
  best weights exported without the parity check; skipped with a warning when the
  spec's graph cannot be exported), results.json, metrics.csv/jsonl and the plots.

The MLflow run id is kept in ``mlflow.json`` in the run folder, so ``--resume``
continues the same MLflow run. MLflow is an optional extra: without it a run asking
for it stops before it starts (exit 9).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError
from graphspec.train.callbacks import Callback
from graphspec.train.loggers import require

_SKIP = {"epoch", "step"}
_ARTIFACTS = ("best.safetensors", "model.onnx", "results.json", "metrics.csv", "metrics.jsonl", "loss.png", "metrics.png", "lr.png")
_PARAM_MAX = 500  # characters of one param value kept (MLflow's limit is a few thousand)


class MLflowLogger(Callback):
    def __init__(self, uri: str | None = None, experiment: str | None = None, onnx: bool = True) -> None:
        require("mlflow", "mlflow", "pip install 'graphspec[mlflow]' (or drop mlflow from train.loggers / --mlflow)")
        self.uri = uri
        self.experiment = experiment
        self.onnx = onnx
        self.client = None
        self.run_id: str | None = None

    # ---- hooks ---------------------------------------------------------------
    def on_train_start(self, state: Any) -> None:
        from mlflow.tracking import MlflowClient

        _quiet_mlflow_logs()  # after the import, which sets MLflow's own levels

        uri = self.uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._open_run(state)
        except Exception as exc:  # noqa: BLE001 -- any store problem, named with its URI
            shown = uri or "MLflow's default store"
            raise GraphspecError.one("usage", f"MLflow tracking at {shown!r} failed: {_first_line(exc)}", hint="check --mlflow URI / MLFLOW_TRACKING_URI") from None

    def on_epoch_end(self, state: Any, logs: dict[str, Any]) -> None:
        self._log_metrics({k: v for k, v in logs.items() if k not in _SKIP}, int(logs["epoch"]))

    def on_train_end(self, state: Any, result: dict[str, Any]) -> None:
        if self.run_id is None:
            return
        try:
            self._log_metrics({k: v for k, v in result.items() if k.startswith("test_")}, int(result.get("epochs", 0)))
            if self.onnx:
                self._export_onnx(state)
            for name in _ARTIFACTS:
                if (state.run_dir / name).is_file():
                    self.client.log_artifact(self.run_id, str(state.run_dir / name))
            self.client.set_terminated(self.run_id, "FINISHED")
        except GraphspecError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the run itself is complete on disk
            _warn(f"MLflow logging failed at the end of the run: {_first_line(exc)}")

    def on_train_error(self, state: Any, error: BaseException) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

    # ---- helpers -------------------------------------------------------------
    def _open_run(self, state: Any) -> str:
        """A new MLflow run, or (on --resume) the one this run folder started."""
        from graphspec.io import atomic_write
        from graphspec.train.loggers import run_params

        marker = Path(state.run_dir) / "mlflow.json"
        if state.epoch > 0 and marker.is_file():
            old = json.loads(marker.read_text(encoding="utf-8"))
            if old.get("tracking_uri") == self.client.tracking_uri:
                self.client.update_run(old["run_id"], status="RUNNING")
                return old["run_id"]
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or state.spec.name or "graphspec"
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(name)
        tags = {"graphspec.run_dir": str(Path(state.run_dir).resolve()), "graphspec.spec": state.spec.name, "graphspec.task": state.cfg.task}
        run = self.client.create_run(exp_id, run_name=Path(state.run_dir).name, tags=tags)
        run_id = run.info.run_id
        atomic_write(marker, json.dumps({"tracking_uri": self.client.tracking_uri, "run_id": run_id, "experiment": name}) + "\n", mode="w")
        self._log_params(run_id, run_params(state))
        spec_file = Path(state.run_dir) / "spec.yaml"
        if spec_file.is_file():
            self.client.log_artifact(run_id, str(spec_file))
        return run_id

    def _log_params(self, run_id: str, values: dict[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)[:_PARAM_MAX]) for k, v in values.items()]
        for i in range(0, len(params), 100):  # log_batch takes at most 100 params
            self.client.log_batch(run_id, params=params[i : i + 100])

    def _log_metrics(self, values: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        if self.run_id is None:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def _export_onnx(self, state: Any) -> None:
        """model.onnx from the best weights (no parity check: it is an artifact, not a release)."""
        from graphspec.backends.onnx_export import export

        best = Path(state.run_dir) / "best.safetensors"
        try:
            export(state.spec, Path(state.run_dir) / "model.onnx", graph=state.cfg.graph, weights=str(best), parity=False)
        except Exception as exc:  # noqa: BLE001 -- e.g. several graphs (gan) or an op without ONNX form
            _warn(f"no model.onnx for MLflow: {_first_line(exc)}")


def _quiet_mlflow_logs() -> None:
    """MLflow and alembic log table creation at INFO; keep the user's terminal to graphspec's lines."""
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _warn(text: str) -> None:
    print(f"graphspec: warning: {text}", file=sys.stderr, flush=True)
