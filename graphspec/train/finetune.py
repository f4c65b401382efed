"""Fine-tuning: start from existing weights (``train.init_from``), freeze parts (``train.freeze``),
per-group optimizer options (``train.optimizer.param_groups``).

:func:`prepare` runs once, right after the task built its models (the
engine's ``_build_model``), in this order:

1. ``init_from``: read a ``.safetensors`` file, a torch ``state_dict`` file
   (``torch.load(weights_only=True)``: no code runs, e.g. torchvision's
   published ``.pth`` files, whose keys the zoo's node paths match) or a run
   folder's ``best.safetensors``; rename key prefixes (``map``), drop keys
   matching ``skip`` globs, copy the rest into the models. A kept key whose
   shape differs is a "checkpoint" error (exit 8) naming it and both shapes;
   with ``strict: true`` so is a missing or unused key. The report (loaded /
   missing / unexpected / skipped keys) is printed and written to
   ``finetune.json`` in the run folder (with the frozen parameters and groups).
2. ``freeze``: parameters whose name (``node.path.param``) or any enclosing
   node path matches a glob get ``requires_grad = False``; BatchNorm layers
   whose parameters are all frozen stay in eval mode (``freeze_bn_eval``).
3. The optimizers are rebuilt over the trainable parameters only (frozen ones
   get no optimizer state and never change, bit for bit), split into
   ``param_groups``: the first group whose globs match a parameter takes it.

This module imports torch only inside functions, so ``graphspec inspect`` can
use :func:`matches` to show frozen parameters without torch.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError


def matches(name: str, globs: Iterable[str]) -> bool:
    """Whether parameter/node ``name`` or one of its enclosing paths matches a glob.

    >>> matches("features.0.weight", ["features"]), matches("fc3.bias", ["fc*"]), matches("fc3.bias", ["conv*"])
    (True, True, False)
    """
    parts = name.split(".")
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(p, g) for g in globs for p in prefixes)


def rename(key: str, mapping: dict[str, str]) -> str:
    """``key`` with its longest matching prefix replaced.

    >>> rename("classifier.6.weight", {"classifier.6": "fc3", "classifier": "head"})
    'fc3.weight'
    """
    for old in sorted(mapping, key=len, reverse=True):
        if key == old or key.startswith(old + ".") or (old.endswith(".") and key.startswith(old)):
            return mapping[old] + key[len(old) :]
    return key


# ----------------------------------------------------------------- reading weights
def weights_path(weights: str, spec_dir: Path | None) -> Path:
    """A weights file from ``init_from.weights``: a file, or a run folder (its best, else last weights)."""
    p = Path(weights).expanduser()
    if not p.is_absolute() and not p.exists() and spec_dir is not None and (Path(spec_dir) / p).exists():
        p = Path(spec_dir) / p
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise GraphspecError.one("checkpoint", f"run folder {str(p)!r} holds no best.safetensors or last.safetensors", hint="train it first, or point init_from.weights at a weights file")
    if not p.exists():
        raise GraphspecError.one("file-not-found", f"init_from weights {str(p)!r} not found", hint="a .safetensors / .pt / .pth file or a run folder such as runs/NAME")
    return p


def read_weights(path: Path) -> dict[str, Any]:
    """{key: tensor} from safetensors, or a torch state_dict read with weights_only=True."""
    import torch

    from graphspec.io import check_input_file

    check_input_file(path, what="init_from weights")
    if path.suffix == ".safetensors":
        from graphspec.train.checkpoint import load_weights

        tensors, _ = load_weights(path)
        return tensors
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; every one means: not a plain state_dict
        raise GraphspecError.one("checkpoint", f"{str(path)!r} is not a torch state_dict readable with weights_only=True ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})")
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        obj = obj.get("state_dict") or obj.get("model") or obj  # a training checkpoint wrapping the state_dict
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise GraphspecError.one("checkpoint", f"{str(path)!r} does not hold a state_dict ({{name: tensor}})")
    return obj


# ----------------------------------------------------------------- the three steps
def load_initial(models: dict, cfg, spec_dir: Path | None) -> dict[str, Any]:
    """Copy ``init_from`` weights into ``models``; returns the report."""
    import torch

    path = weights_path(cfg.weights, spec_dir)
    tensors = {rename(k, cfg.map): v for k, v in read_weights(path).items()}
    own: dict[str, Any] = {}
    for m in models.values():
        own.update(m.state_dict())
    skipped = sorted(k for k in set(tensors) | set(own) if cfg.skip and matches(k, cfg.skip))
    kept = {k: v for k, v in tensors.items() if k not in skipped}
    unexpected = sorted(k for k in kept if k not in own)
    bad = [(k, list(v.shape), list(own[k].shape)) for k, v in kept.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        bad.sort()
        shown = "; ".join(f"{k!r} is {got} in the file, {want} in the model" for k, got, want in bad[:3])
        layers = sorted({k.rsplit(".", 1)[0] + ".*" for k, _, _ in bad})
        raise GraphspecError.one(
            "checkpoint",
            f"init_from {str(path)!r}: weights differ in shape: {shown}" + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""),
            hint=f"skip them (train.init_from.skip: {layers}) to keep the model's fresh weights, or rename keys with init_from.map",
        )
    loaded = sorted(k for k in kept if k in own)
    missing = sorted(k for k in own if k not in kept and k not in skipped)
    if cfg.strict and (missing or unexpected):
        raise GraphspecError.one(
            "checkpoint",
            f"init_from {str(path)!r} with strict: " + "; ".join(p for p in (_few("missing", missing), _few("unexpected", unexpected)) if p),
            hint="set strict: false, or use map/skip to line the keys up",
        )
    with torch.no_grad():
        for k in loaded:
            own[k].copy_(kept[k].to(dtype=own[k].dtype))
    return {"weights": str(path), "loaded": loaded, "missing": missing, "unexpected": unexpected, "skipped": skipped}


def _few(what: str, keys: list[str]) -> str:
    if not keys:
        return ""
    return f"{len(keys)} {what} key(s): " + ", ".join(repr(k) for k in keys[:5]) + (" ..." if len(keys) > 5 else "")


def freeze(models: dict, globs: list[str], bn_eval: bool) -> list[str]:
    """Turn off gradients of matching parameters; returns their names. A glob matching nothing is an error."""
    import torch

    frozen = []
    used = set()
    for m in models.values():
        for name, p in m.named_parameters():
            hit = [g for g in globs if matches(name, [g])]
            if hit:
                p.requires_grad_(False)
                frozen.append(name)
                used.update(hit)
        if bn_eval:
            for mod in m.modules():
                if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and any(True for _ in mod.parameters()) and not any(p.requires_grad for p in mod.parameters()):
                    mod.register_forward_pre_hook(_stay_eval)
    unused = [g for g in globs if g not in used]
    if unused:
        names = sorted({n.rsplit(".", 1)[0] for m in models.values() for n, _ in m.named_parameters()})
        raise GraphspecError.one("bad-value", f"train.freeze: {', '.join(map(repr, unused))} matches no parameter; layers with parameters: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
    return frozen


def _stay_eval(module, _inputs) -> None:
    module.train(False)  # frozen BatchNorm: running statistics fixed, even in a training step


def regroup(task, groups_cfg) -> dict[str, list[str]]:
    """Rebuild each optimizer over its trainable parameters, split into param_groups; returns {group: names}."""
    from graphspec.train.optim import Schedule

    names = {id(p): n for m in task.models.values() for n, p in m.named_parameters()}
    layout: dict[str, list[str]] = {}
    used = set()
    for oname, opt in list(task.optimizers.items()):
        params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
        if not params:
            raise GraphspecError.one("bad-value", f"train.freeze freezes every parameter of optimizer {oname!r}; nothing would train")
        buckets: list[list] = [[] for _ in (groups_cfg or [])] + [[]]
        for p in params:
            n = names.get(id(p), "")
            i = next((i for i, g in enumerate(groups_cfg or []) if matches(n, g.patterns)), len(buckets) - 1)
            buckets[i].append(p)
            if i < len(buckets) - 1:
                used.add(i)
        groups = []
        for i, ps in enumerate(buckets):
            if not ps:
                continue
            g: dict[str, Any] = {"params": ps}
            if i < len(buckets) - 1:
                g.update({k: v for k, v in groups_cfg[i].model_dump(exclude={"params"}).items() if v is not None})
            groups.append(g)
            layout[f"{oname}:{'group ' + str(i) if i < len(buckets) - 1 else 'rest'}"] = [names.get(id(p), "?") for p in ps]
        new = type(opt)(groups, **opt.defaults)
        task.optimizers[oname] = new
        old = task.schedules.get(oname)
        if old is not None:
            task.schedules[oname] = Schedule(new, old.cfg, epochs=task.cfg.epochs, steps_per_epoch=task.num_train_batches())
    for i, g in enumerate(groups_cfg or []):
        if i not in used:
            raise GraphspecError.one("bad-value", f"train.optimizer.param_groups[{i}]: {g.params!r} matches no trainable parameter")
    return layout


def prepare(task, resume: bool = False) -> dict[str, Any] | None:
    """Apply init_from, freeze and param_groups to a set-up task (see the module doc); None when none is set."""
    cfg = task.cfg
    groups = getattr(cfg.optimizer, "param_groups", None)
    if not (cfg.init_from or cfg.freeze or groups):
        return None
    ctx = task.ctx
    if ctx.distributed and cfg.freeze:
        raise GraphspecError.one("usage", "train.freeze is not supported under --nproc yet (DDP wraps the model before it is frozen)", hint="train on one process")
    report: dict[str, Any] = {}
    if cfg.init_from and not resume:  # a resumed run continues from its own checkpoint
        report["init_from"] = load_initial(task.models, cfg.init_from, ctx.spec_dir)
        r = report["init_from"]
        ctx.log(f"init_from {r['weights']}: {len(r['loaded'])} loaded, {len(r['missing'])} missing, {len(r['unexpected'])} unexpected, {len(r['skipped'])} skipped")
        for what in ("missing", "unexpected"):
            if r[what]:
                ctx.log(f"  {what}: {', '.join(r[what][:8])}{' ...' if len(r[what]) > 8 else ''}")
    if cfg.freeze:
        report["frozen"] = freeze(task.models, cfg.freeze, cfg.freeze_bn_eval)
        n = sum(p.numel() for m in task.models.values() for p in m.parameters() if not p.requires_grad)
        ctx.log(f"frozen: {len(report['frozen'])} parameter tensors ({n:,} values) matching {', '.join(cfg.freeze)}")
    report["param_groups"] = regroup(task, groups)
    if ctx.is_main and ctx.run_dir is not None and not resume:
        from graphspec.io import atomic_write

        Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(ctx.run_dir) / "finetune.json", json.dumps(report, indent=2) + "\n", mode="w")
    return report
