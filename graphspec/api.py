"""The Python API: the same operations as the CLI, through the same code.

``graphspec train`` is :func:`train`, ``graphspec evaluate`` is
:meth:`Run.evaluate`, ``graphspec export`` is :func:`export`, ``graphspec
inspect`` is :meth:`graphspec.graph.model.Spec.inspect`. Nothing here imports
torch until a function that needs it is called, so ``import graphspec`` stays
light.

>>> import graphspec
>>> spec = graphspec.load("digits_mlp", set={"params.hidden": 32})
>>> spec.inspect()["total_params"]
3466
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from graphspec.errors import GraphspecError

RESULTS_LIMIT = 16 * 1024 * 1024  # results.json is a few kB; refuse anything absurd before reading


class Run:
    """A training run folder ``runs/<name>/``: its metrics, weights and results.

    ``graphspec.train(...)`` returns one; ``Run.open("runs/x")`` opens one
    trained earlier (by the CLI or the API).
    """

    def __init__(self, path: str | Path, *, spec=None, result: dict[str, Any] | None = None):
        self.path = Path(path)
        self._spec = spec
        self._result = result

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        """An existing run folder; a missing one is a ``checkpoint`` error (exit 8)."""
        path = Path(path)
        if not path.is_dir():
            raise GraphspecError.one("checkpoint", f"run folder {str(path)!r} not found", hint="train it first: graphspec.train(spec, name=...)")
        return cls(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """One dict per finished epoch (``epoch``, ``train_loss``, ``val_...``, ``lr`` ...)."""
        from graphspec.train.checkpoint import read_metrics

        return read_metrics(self.path)

    @property
    def results(self) -> dict[str, Any]:
        """The final metrics (``results.json``: test metrics from the best weights, epochs, time ...)."""
        from graphspec.io import read_text

        if self._result is not None:
            return self._result
        p = self.path / "results.json"
        if not p.is_file():
            raise GraphspecError.one("checkpoint", f"{str(self.path)!r} has no results.json (the run has not finished)", hint="resume it: graphspec train SPEC --name NAME --resume")
        try:
            return json.loads(read_text(p, what="run results", limit_bytes=RESULTS_LIMIT))
        except json.JSONDecodeError as exc:
            raise GraphspecError.one("checkpoint", f"{p} is not valid JSON: {exc}") from None

    @property
    def best_weights(self) -> Path:
        """Path of ``best.safetensors``; :meth:`state_dict` loads it."""
        return self.path / "best.safetensors"

    def state_dict(self, which: str = "best") -> dict[str, Any]:
        """The ``best`` (or ``last``) weights as a dict of tensors, ready for ``model.load_state_dict``."""
        from graphspec.train.checkpoint import load_weights

        return load_weights(self.path / f"{which}.safetensors")[0]

    @property
    def spec(self):
        """The spec this run was trained from (the run's own resolved ``spec.yaml`` when opened)."""
        if self._spec is None:
            from graphspec.train.engine import load_run_spec

            self._spec = load_run_spec(self.path)
        return self._spec

    def evaluate(self, *, which: str = "best", device: str = "auto") -> dict[str, Any]:
        """Validation and test metrics from the ``best`` (or ``last``) weights, as ``graphspec evaluate``."""
        from graphspec.train.engine import evaluate_run

        return evaluate_run(self.spec, self.path, device=device, which=which)

    def export(self, path: str | Path, *, graph: str | None = None, which: str = "best", **options: Any):
        """Export the trained model to ONNX with a parity check (see :func:`export`)."""
        return export(self.spec, path, weights=self.path / f"{which}.safetensors", graph=graph, **options)


def _as_spec(spec, overrides: list):
    """A loaded Spec from a path, a zoo name or a Spec (``set`` needs a path or name)."""
    import graphspec
    from graphspec.graph.model import Spec

    if isinstance(spec, Spec):
        if not overrides:
            return spec
        if not spec.path:
            raise GraphspecError.one("usage", "set= needs a spec file or zoo name, not a Spec loaded from text")
        spec = spec.path
    return graphspec.load(str(spec), set=overrides or None)


def _overrides(set: Mapping[str, Any] | Sequence | None, epochs: int | None = None, seed: int | None = None) -> list:  # noqa: A002
    from graphspec.spec.overrides import Override, as_overrides

    out = as_overrides(set)
    for key, value in (("epochs", epochs), ("seed", seed)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "epochs" else 0):
                raise GraphspecError.one("usage", f"{key} must be an integer{' of at least 1' if key == 'epochs' else ' >= 0'}. Received: {value!r}")
            out.append(Override(f"train.{key}", value, text=f"{key}={value}"))
    return out


def train(
    spec,
    set: Mapping[str, Any] | Sequence | None = None,  # noqa: A002 - mirrors --set
    *,
    name: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    runs_dir: str | Path = "runs",
    quiet: bool = True,
    **options: Any,
) -> Run:
    """Train what the spec's ``train:`` section says into ``runs_dir/<name>``; the finished :class:`Run`.

    ``spec`` is a file, a zoo name or a loaded Spec; ``set`` holds ``--set``
    overrides (``{"params.width": 64}``). Other keywords are the engine's run
    options (``device``, ``resume``, ``threads``, ``callbacks``, ``precision``,
    ``compile``, ``progress``). Errors raise :class:`GraphspecError`.
    """
    from graphspec.train.engine import RunOptions
    from graphspec.train.engine import train as _train

    known = {f.name for f in fields(RunOptions)} - {"name", "runs_dir", "quiet"}
    unknown = sorted(k for k in options if k not in known)
    if unknown:
        raise TypeError(f"train() got unknown option(s) {', '.join(unknown)}; options: {', '.join(sorted(known))}")
    loaded = _as_spec(spec, _overrides(set, epochs, seed))
    opts = RunOptions(name=name, runs_dir=str(runs_dir), quiet=quiet, **options)
    result = _train(loaded, opts)
    return Run(result["run_dir"], spec=loaded, result=result)


def export(
    spec,
    path: str | Path,
    *,
    weights: str | Path | None = None,
    graph: str | None = None,
    outputs: Sequence[str] | None = None,
    set: Mapping[str, Any] | Sequence | None = None,  # noqa: A002
    **options: Any,
):
    """Export a graph to ONNX, check it and prove parity on onnxruntime, as ``graphspec export``.

    ``weights`` is a ``.safetensors`` file or a run folder. Options: ``opset``,
    ``parity`` (default True), ``provider``, ``atol``, ``rtol``, ``strict``
    (raise a ``parity`` error when parity fails). Returns the ExportResult
    (``result.parity.passed``, ``result.to_json()``).
    """
    from graphspec.backends.onnx_export import export as _export

    overrides = _overrides(set)
    loaded = _as_spec(spec, overrides)
    if overrides:
        options.setdefault("overrides", {o.key: o.value for o in overrides})  # recorded in the model's metadata
    return _export(loaded, path, graph=graph, outputs=list(outputs) if outputs else None, weights=weights, **options)

