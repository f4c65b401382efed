"""A run's own spec: runs/<name>/spec.yaml, written at the start, read by evaluate --run.

The file is the resolved spec (``--set`` values applied, ``train:`` with every
default filled in) under a first line naming the original spec file, so it
can be loaded back as that file: relative ``imports`` and data paths resolve
where they did for training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError


def dump_spec(spec, cfg) -> str:
    """spec.yaml of a run: the spec as trained (overrides applied, every train: default filled in)."""
    import yaml

    data = dict(spec.raw) if isinstance(spec.raw, dict) else {}
    data["train"] = cfg.model_dump(mode="json", exclude_none=True)
    source = Path(spec.path).resolve() if spec.path else None  # absolute: load_run_spec works from any folder
    head = f"{_SPEC_HEAD}{source}, sha256 {spec.sha256})\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


_SPEC_HEAD = "# resolved spec of this run (source "


def _spec_body(text: str) -> str:
    return text.split("\n", 1)[1] if text.startswith(_SPEC_HEAD) else text


def load_run_spec(run: str | Path, set: Any = None):
    """The spec a run was trained with, from its spec.yaml (the resolved spec: params, --set values, train:).

    It is loaded as if it were the original spec file named in its first line, so
    relative ``imports`` and data paths resolve where they did for training.
    """
    from graphspec.io import read_text
    from graphspec.pipeline import load

    path = Path(run) / "spec.yaml"
    if not Path(run).is_dir():
        raise GraphspecError.one("checkpoint", f"run folder {str(run)!r} not found", hint="train it first: graphspec train SPEC --name NAME")
    if not path.is_file():
        raise GraphspecError.one(
            "checkpoint",
            f"{str(run)!r} has no spec.yaml to rebuild the model from",
            hint="pass the spec too: graphspec evaluate SPEC --run RUN",
        )
    text = read_text(path, what="run spec", limit_bytes=64 << 20)
    first = text.split("\n", 1)[0]
    source = first[len(_SPEC_HEAD):].rsplit(", sha256 ", 1)[0] if first.startswith(_SPEC_HEAD) else "None"
    name = source if source != "None" and Path(source).parent.is_dir() else str(path)
    return load(name, set, text=text)


# train: options that only steer training: a run evaluated with other values of these is the same model
_TRAINING_ONLY = {"epochs", "batch_size", "optimizer", "schedule", "early_stopping", "best_metric", "grad_clip", "loggers", "init_from", "freeze", "freeze_bn_eval"}


def spec_differences(spec, cfg, run: Path, meta: dict[str, str]) -> list[str]:
    """Top-level keys (``params``, ``graphs``, ``train.data`` ...) where ``spec`` (resolved, with
    its --set values) differs from the one ``run`` was trained with; training-only options are ignored."""
    import yaml

    saved = Path(run) / "spec.yaml"
    from graphspec.io import read_text

    try:  # checked read: never blocks on a FIFO, never reads a huge file
        old = yaml.safe_load(_spec_body(read_text(saved, what="run spec", limit_bytes=64 << 20)))
    except (GraphspecError, yaml.YAMLError):
        old = None
    if not isinstance(old, dict):  # a run from before spec.yaml: compare the file hashes
        return ["the spec file"] if meta.get("spec_sha256") and meta["spec_sha256"] != spec.sha256 else []
    new = yaml.safe_load(_spec_body(dump_spec(spec, cfg)))
    out = [k for k in dict.fromkeys([*old, *new]) if k not in ("train", "name") and old.get(k) != new.get(k)]
    old_t, new_t = old.get("train") or {}, new.get("train") or {}
    out += [f"train.{k}" for k in dict.fromkeys([*old_t, *new_t]) if k not in _TRAINING_ONLY and old_t.get(k) != new_t.get(k)]
    return out
