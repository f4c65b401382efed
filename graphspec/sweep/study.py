"""Run a sweep: an Optuna study whose trials are ordinary training runs.

Each trial loads the spec with the sampled values as ``--set`` overrides and
trains it with :func:`graphspec.train.engine.train` into
``runs/<sweep>/trial-<N>/``; a :class:`PruneCallback` reports the per-epoch
metric to Optuna and stops a trial its pruner gives up on. The study lives in
``runs/<sweep>/study.db`` (SQLite) unless ``storage`` names another database,
so several processes can share one study.

``trials`` is the size of the whole study, not of one process: each process
asks for a trial only while fewer than ``trials`` are counted (running,
finished or failed), and a trial numbered past that count (two processes asked
at once) is closed unrun, so N trials run in total, never N+1.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from graphspec.config.sweep import Param
from graphspec.errors import ExitCode, GraphspecError
from graphspec.train.callbacks import Callback, StopTraining

SURPLUS = "surplus"  # user attr of a trial closed unrun (the study was already full), for the record
CONTINUE_ON = (ExitCode.DIVERGED, ExitCode.SPEC)  # a bad point of the space fails its trial only


@dataclass
class SweepOptions:
    spec: str  # spec file or zoo name
    params: list[Param]
    trials: int = 20
    sets: list = field(default_factory=list)  # --set overrides (graphspec.spec.overrides.Override) for every trial
    timeout: float | None = None  # seconds; no new trial starts after it
    metric: str | None = None  # default: the spec's train monitor (val_loss unless set)
    direction: str | None = None  # maximize | minimize; default from the metric's name
    name: str | None = None  # sweep folder runs/<name>; default <spec name>-sweep
    runs_dir: str = "runs"
    storage: str | None = None  # any Optuna storage URL; default sqlite in the sweep folder
    sampler: str = "tpe"  # tpe | random
    pruner: str = "median"  # median | hyperband | none
    seed: int | None = None  # sampler seed
    device: str = "auto"
    quiet: bool = False


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise GraphspecError.one("dependency", "graphspec sweep needs optuna, which is not installed", hint="pip install 'graphspec[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ----------------------------------------------------------------- setup
def _load(spec: str, sets: list, values: dict[str, Any] | None = None):
    """The spec with the --set overrides, then the trial's values (``+path`` adds a key)."""
    import graphspec
    from graphspec.spec.overrides import as_overrides

    return graphspec.load(spec, set=list(sets) + as_overrides(values or {}) or None)


def resolve_target(opts: SweepOptions) -> tuple[Any, str, str]:
    """(base spec, metric, "maximize"/"minimize"), checking the space against the spec first."""
    from graphspec.config.train import metric_mode
    from graphspec.train.engine import resolve_config

    if not opts.params:
        raise GraphspecError.one("usage", "nothing to search: no --param and no sweep.params in the spec", hint="e.g. --param params.width=int(16,128,log)")
    base = _load(opts.spec, opts.sets)
    cfg, _cls = resolve_config(base)
    # both ends of every range must make a valid spec before any trial trains
    for end in ("low", "high"):
        point = {p.path: (getattr(p, end) if p.kind != "choice" else p.choices[0 if end == "low" else -1]) for p in opts.params}
        resolve_config(_load(opts.spec, opts.sets, point))
    metric = opts.metric or cfg.monitor
    if not metric.startswith(("val_", "train_")):
        raise GraphspecError.one("usage", f"--metric {metric}: a sweep ranks trials by a per-epoch metric (val_... or train_...)", hint="e.g. --metric val_accuracy or --metric val_loss")
    direction = opts.direction or ("maximize" if metric_mode(metric) == "max" else "minimize")
    if metric != cfg.monitor:
        # each trial keeps (and tests) the weights of its best epoch by the sweep's metric
        from graphspec.spec.overrides import Override

        opts.sets = [*opts.sets, Override("train.best_metric", metric, text=f"--metric {metric}")]
    return base, metric, direction


def sweep_dir(spec, opts: SweepOptions) -> Path:
    """runs/<name>: one folder per study, shared by every process working on it (so not claimed)."""
    from graphspec.io import safe_join
    from graphspec.io.names import sanitize

    if opts.name:
        return safe_join(opts.runs_dir, opts.name, what=f"--name {opts.name!r}", code="usage")
    return Path(opts.runs_dir) / (sanitize(spec.name or "spec") + "-sweep")


def open_study(optuna, opts: SweepOptions, folder: Path, metric: str, direction: str):
    folder.mkdir(parents=True, exist_ok=True)
    url = opts.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    storage = _storage(optuna, url)
    sampler = optuna.samplers.RandomSampler(seed=opts.seed) if opts.sampler == "random" else optuna.samplers.TPESampler(seed=opts.seed)
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(),
        "none": lambda: optuna.pruners.NopPruner(),
    }[opts.pruner]()
    study = optuna.create_study(study_name=folder.name, storage=storage, direction=direction, sampler=sampler, pruner=pruner, load_if_exists=True)
    _check_same_study(study, opts, metric, direction, url)
    return study, url


def _storage(optuna, url: str, attempts: int = 6):
    """Optuna's RDB storage; retried, because processes started together race to create its tables."""
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": 120}}} if url.startswith("sqlite:") else {}  # wait for the lock
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:  # optuna/sqlalchemy raise many kinds, for a bad URL and for the race
            if attempt == attempts - 1 or "://" not in url:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise GraphspecError.one("usage", f"--storage {url}: cannot open it: {first}", hint="e.g. --storage sqlite:///sweep.db") from None
            time.sleep(0.2 * (attempt + 1))


def _check_same_study(study, opts: SweepOptions, metric: str, direction: str, url: str) -> None:
    """A study continued (or shared) must search the same space for the same metric."""
    want = {"metric": metric, "direction": direction, "space": [p.describe() for p in opts.params]}
    have = study.user_attrs.get("graphspec")
    if have is None:
        study.set_user_attr("graphspec", want)
    elif have != want:
        raise GraphspecError.one(
            "usage",
            f"study {study.study_name!r} in {url} was started with another search space or metric: {have}",
            hint="pass the same --param/--metric as the running sweep, or another --name",
        )


# ----------------------------------------------------------------- trials
def suggest(trial, p: Param) -> Any:
    """The trial's value for ``p`` (choices that are lists go through their index)."""
    if p.kind == "int":
        return trial.suggest_int(p.path, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    if p.kind == "float":
        return trial.suggest_float(p.path, float(p.low), float(p.high), step=p.step, log=p.log)
    if all(c is None or isinstance(c, (bool, int, float, str)) for c in p.choices):
        return trial.suggest_categorical(p.path, list(p.choices))
    i = trial.suggest_categorical(p.path, list(range(len(p.choices))))
    return p.choices[i]


def trial_values(params: list[Param], trial_params: dict[str, Any]) -> dict[str, Any]:
    """Map a finished trial's stored params back to spec values."""
    out = {}
    for p in params:
        if p.path not in trial_params:
            continue
        v = trial_params[p.path]
        simple = all(c is None or isinstance(c, (bool, int, float, str)) for c in p.choices)
        out[p.path] = p.choices[v] if p.kind == "choice" and not simple else v
    return out


def counts_toward_size(t) -> bool:
    """Running, finished and failed-by-training trials count; closed unrun or interrupted ones do not
    (they failed without an ``error``), so continuing the study runs them again."""
    return t.state.name != "FAIL" or "error" in t.user_attrs


def _counted(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if counts_toward_size(t)]


def _claim(optuna, study, trials: int):
    """A new trial, or None when the study already has ``trials`` (checked again after asking)."""
    if len(_counted(study)) >= trials:
        return None
    trial = study.ask()
    earlier = [t for t in _counted(study) if t.number < trial.number]
    if len(earlier) >= trials:
        trial.set_user_attr(SURPLUS, True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    return trial


def run_sweep(opts: SweepOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run trials until the study has ``opts.trials`` (or the timeout); returns the summary document."""
    from graphspec.sweep.report import summary, write_best_spec

    optuna = require_optuna()
    log = log or (lambda s: None if opts.quiet else print(s, file=sys.stderr, flush=True))
    base, metric, direction = resolve_target(opts)
    folder = sweep_dir(base, opts)
    study, url = open_study(optuna, opts, folder, metric, direction)
    log(f"sweep {folder.name}: {len(opts.params)} parameter(s), {opts.trials} trials, {direction} {metric}; study {url}")
    t0 = time.monotonic()
    ran = 0
    while opts.timeout is None or time.monotonic() - t0 < opts.timeout:
        trial = _claim(optuna, study, opts.trials)
        if trial is None:
            break
        _run_trial(optuna, study, trial, opts, folder, metric, direction, log)
        ran += 1
    doc = summary(study, opts, folder, metric, direction, url, ran_here=ran)
    best = doc.get("best")
    if best is not None:
        doc["best_spec"] = str(write_best_spec(opts, folder, best["values"]))
    return doc


def _run_trial(optuna, study, trial, opts: SweepOptions, folder: Path, metric: str, direction: str, log) -> None:
    from graphspec.train.engine import RunOptions, train

    values = {p.path: suggest(trial, p) for p in opts.params}  # "+params.x" keys add params
    run_dir = folder / f"trial-{trial.number}"
    trial.set_user_attr("run_dir", str(run_dir))
    shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
    prune = PruneCallback(trial, metric, direction)
    t = time.monotonic()
    try:
        spec = _load(opts.spec, opts.sets, values)
        run_opts = RunOptions(name=run_dir.name, runs_dir=str(folder), device=opts.device, quiet=True, progress="quiet", callbacks=[prune])
        result = train(spec, run_opts)
    except GraphspecError as exc:
        trial.set_user_attr("error", exc.diagnostics[0].message)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log(f"trial {trial.number}: {shown} -> failed ({exc.diagnostics[0].code}): {exc.diagnostics[0].message}")
        if exc.exit_code not in CONTINUE_ON:
            raise
        return
    except BaseException:  # interrupted (or a bug): failed without an "error", so it does not count
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    keep = {k: v for k, v in result.items() if k.startswith(("test_", "val_")) or k in ("epochs", "wall_s", "stopped", "best_epoch")}
    for k, v in keep.items():
        trial.set_user_attr(k, v)
    secs = time.monotonic() - t
    if prune.pruned_at is not None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log(f"trial {trial.number}: {shown} -> pruned at epoch {prune.pruned_at} ({metric} {prune.last:.4g}), {secs:.1f}s")
        return
    value = prune.best
    if value is None:
        trial.set_user_attr("error", f"no finite {metric} in any epoch")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log(f"trial {trial.number}: {shown} -> failed: no finite {metric}")
        return
    study.tell(trial, value)
    log(f"trial {trial.number}: {shown} -> {metric} {value:.4g} ({result.get('epochs')} epochs, {secs:.1f}s)")


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------- pruning
class PruneCallback(Callback):
    """Reports the metric after each epoch to the trial; stops the run when Optuna's pruner says so."""

    def __init__(self, trial, metric: str, direction: str):
        self.trial, self.metric, self.maximize = trial, metric, direction == "maximize"
        self.best: float | None = None
        self.last: float = math.nan
        self.pruned_at: int | None = None

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.metric not in logs:
            known = ", ".join(k for k in logs if k.startswith(("val_", "train_")))
            raise GraphspecError.one("usage", f"--metric {self.metric}: this run does not report it", hint=f"it reports: {known}")
        value, epoch = logs[self.metric], int(logs["epoch"])
        if value is None or not math.isfinite(value):
            return
        self.last = float(value)
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = float(value)
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            raise StopTraining(f"pruned by the sweep at epoch {epoch}")
