"""The end of a sweep: the trials as data, a table, and the best spec written out."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from graphspec.config.sweep import Param

SPEC_LIMIT = 8 * 1024 * 1024  # the loader's own spec size limit


def _trial_row(t, params: list[Param]) -> dict[str, Any]:
    from graphspec.sweep.study import trial_values

    attrs = dict(t.user_attrs)
    row: dict[str, Any] = {
        "number": t.number,
        "state": t.state.name.lower(),
        "values": trial_values(params, t.params),
        "value": t.value if t.state.name == "COMPLETE" else None,
        "run_dir": attrs.pop("run_dir", None),
    }
    if t.state.name == "PRUNED" and t.intermediate_values:
        row["pruned_at_epoch"] = max(t.intermediate_values)
    row.update(attrs)
    if t.datetime_start and t.datetime_complete:
        row["seconds"] = round((t.datetime_complete - t.datetime_start).total_seconds(), 2)
    return row


def summary(study, opts, folder: Path, metric: str, direction: str, url: str, ran_here: int = 0) -> dict[str, Any]:
    """Every counted trial of the study (all processes), the counts by state and the best trial."""
    from graphspec.sweep.study import counts_toward_size

    trials = [t for t in study.get_trials(deepcopy=False) if counts_toward_size(t)]
    rows = [_trial_row(t, opts.params) for t in sorted(trials, key=lambda t: t.number)]
    counts = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "fail", "running")}
    done = [r for r in rows if r["value"] is not None]
    best = None
    if done:
        best = (max if direction == "maximize" else min)(done, key=lambda r: r["value"])
    return {
        "sweep": folder.name,
        "folder": str(folder),
        "storage": url,
        "spec": opts.spec,
        "metric": metric,
        "direction": direction,
        "space": [p.describe() for p in opts.params],
        "trials_requested": opts.trials,
        "counts": counts,
        "ran_here": ran_here,
        "trials": rows,
        "best": best,
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_table(doc: dict[str, Any], stream=None) -> None:
    """The trials as a rich table, best first within each state; the best row marked *."""
    from rich.console import Console
    from rich.table import Table

    rows = doc["trials"]
    paths = [s.split("=", 1)[0] for s in doc["space"]]
    tests = sorted({k for r in rows for k in r if k.startswith("test_")})
    best_n = doc["best"]["number"] if doc["best"] else None
    table = Table(title=f"sweep {doc['sweep']}: {doc['direction']} {doc['metric']}", title_justify="left")
    for col in ["trial", "state", *paths, doc["metric"], *tests, "epochs", "seconds"]:
        table.add_column(col, justify="left" if col in ("trial", "state") or col in paths else "right")
    rev = doc["direction"] == "maximize"
    order = sorted(rows, key=lambda r: (r["value"] is None, -(r["value"] or 0) if rev else (r["value"] or 0), r["number"]))
    for r in order:
        mark = "*" if r["number"] == best_n else ""
        table.add_row(
            f"{r['number']}{mark}",
            r["state"] + (f" @{r['pruned_at_epoch']}" if r.get("pruned_at_epoch") else ""),
            *(_fmt(r["values"].get(p)) for p in paths),
            _fmt(r["value"]),
            *(_fmt(r.get(k)) for k in tests),
            _fmt(r.get("epochs")),
            _fmt(r.get("seconds")),
        )
    console = Console(file=stream or sys.stdout, width=max(100, len(paths) * 24 + 80))
    console.print(table)
    c = doc["counts"]
    console.print(f"{c['complete']} complete, {c['pruned']} pruned, {c['fail']} failed, {c['running']} running; {doc['ran_here']} run by this process")
    if doc["best"]:
        b = doc["best"]
        console.print(f"best: trial {b['number']} {doc['metric']} {b['value']:.4g} -> {doc.get('best_spec')}  (run: {b['run_dir']})")


# ----------------------------------------------------------------- best spec
def _rebase(rel: str, src_dir: Path, dst_dir: Path) -> str:
    """A path relative to the source spec's folder, made relative to ``dst_dir``."""
    if os.path.isabs(rel):
        return rel
    return os.path.relpath((src_dir / rel).resolve(), dst_dir.resolve())


def _rebase_paths(data: dict, src_dir: Path, dst_dir: Path) -> None:
    """Imports and data files are relative to the spec's folder; the best spec lives elsewhere."""
    imports = data.get("imports")
    if isinstance(imports, dict):
        for k, v in imports.items():
            if isinstance(v, str):
                imports[k] = _rebase(v, src_dir, dst_dir)
    train = data.get("train")
    if not isinstance(train, dict):
        return
    holder, key = (train, "data") if isinstance(train.get("data"), str) else (train.get("data"), "source")
    src = holder.get(key) if isinstance(holder, dict) else None
    if not isinstance(src, str) or src in ("digits", "digits_rows", "sine"):
        return
    if src.startswith("text:"):
        holder[key] = "text:" + _rebase(src[5:], src_dir, dst_dir)
    elif src.endswith((".npz", ".csv")):
        holder[key] = _rebase(src, src_dir, dst_dir)


def best_spec_text(spec: str, sets: list, values: dict[str, Any], dest: Path) -> str:
    """The source spec with ``--set`` values and the winning values applied, as YAML for ``dest``."""
    import yaml

    from graphspec.io import read_text
    from graphspec.spec import overrides as ov
    from graphspec.spec.yamlload import parse
    from graphspec.zoo import resolve_spec_path

    path = Path(resolve_spec_path(spec))
    tree = parse(read_text(path, what="spec file", limit_bytes=SPEC_LIMIT), str(path))
    ov.apply(tree, list(sets) + ov.as_overrides(values))
    data = tree.data
    data.pop("sweep", None)  # the search is done: this spec is its answer
    _rebase_paths(data, path.parent, dest.parent)
    head = "".join(f"# {k.removeprefix('+')} = {v!r}\n" for k, v in values.items())
    return f"# best trial of a graphspec sweep over {path}\n{head}" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_best_spec(opts, folder: Path, values: dict[str, Any]) -> Path:
    """Write ``<folder>/best.yaml`` and load it back, so what is written is a valid spec."""
    import graphspec
    from graphspec.io import atomic_write

    dest = folder / "best.yaml"
    atomic_write(dest, best_spec_text(opts.spec, opts.sets, values, dest), mode="w")
    graphspec.load(str(dest))
    return dest
