"""Experiment trackers as engine callbacks: ``train.loggers: [tensorboard, mlflow]``.

- ``tensorboard`` (default): event files in the run folder, for ``tensorboard --logdir runs``
  (:mod:`graphspec.train.loggers.tensorboard`);
- ``mlflow``: an MLflow run with params, per-epoch metrics and artifacts; needs the
  ``graphspec[mlflow]`` extra (:mod:`graphspec.train.loggers.mlflow`).
"""

from __future__ import annotations

from typing import Any

from graphspec.train.callbacks import Callback

LOGGERS = ("tensorboard", "mlflow")


def require(package: str, logger: str, hint: str) -> None:
    """Exit 9 (``dependency``) when ``package`` is not installed, before the run folder exists."""
    import importlib.util

    if importlib.util.find_spec(package) is None:
        from graphspec.errors import GraphspecError

        raise GraphspecError.one("dependency", f"the {logger} logger needs the {package!r} package", hint=hint)


def make_loggers(names: list[str], *, mlflow_uri: str | None = None) -> list[Callback]:
    """The logger callbacks for ``names`` (duplicates ignored); a missing package is exit 9, before the run starts."""
    out: list[Callback] = []
    for name in dict.fromkeys(names):
        if name == "tensorboard":
            from graphspec.train.loggers.tensorboard import TensorBoardLogger

            out.append(TensorBoardLogger())
        elif name == "mlflow":
            from graphspec.train.loggers.mlflow import MLflowLogger

            out.append(MLflowLogger(uri=mlflow_uri))
        else:  # pragma: no cover -- the config's Literal rejects other names
            raise ValueError(f"unknown logger {name!r}")
    return out


def run_params(state: Any) -> dict[str, Any]:
    """What loggers record as a run's hyperparameters: the spec's params and the train options, flattened to ``params.x`` / ``train.a.b`` scalars."""
    out: dict[str, Any] = {}
    raw = state.spec.raw if isinstance(state.spec.raw, dict) else {}
    _flatten("params", raw.get("params") or {}, out)
    _flatten("train", state.cfg.model_dump(mode="json", exclude_none=True), out)
    out.pop("train.loggers", None)
    return out


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, (bool, int, float, str)):
        out[prefix] = value
    elif value is not None:
        out[prefix] = str(value)
