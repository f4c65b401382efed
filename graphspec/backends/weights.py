"""Trained weights for export: a ``.safetensors`` file or a run folder, loaded strictly."""

from __future__ import annotations

from pathlib import Path

from graphspec.errors import GraphspecError


def resolve_weights(path: str | Path) -> Path:
    """A .safetensors file, or a run folder's best.safetensors (else last.safetensors)."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise GraphspecError.one(
            "checkpoint",
            f"run folder {p} has no best.safetensors or last.safetensors",
            hint="pass a .safetensors file, or the folder of a finished 'graphspec train' run",
        )
    if not p.exists():
        raise GraphspecError.one("file-not-found", f"no such weights file or run folder: {p}")
    from graphspec.io import check_input_file

    return check_input_file(p, what="weights file", limit_bytes=64 * 1024**3)  # FIFO/device: exit 4, never a hang


def load_weights(module, path: str | Path, *, allow_extra: bool = False) -> tuple[str, int]:
    """Load a safetensors state_dict into ``module`` strictly; returns (file, ignored key count).

    ``allow_extra``: the checkpoint may hold more tensors than the module (the
    weights of a whole spec loaded into one of its graphs or a subgraph); those
    are ignored, but every tensor the module needs must be there with its shape.
    """
    file = resolve_weights(path)
    try:
        from safetensors.torch import load_file

        state = load_file(str(file))
    except Exception as exc:
        raise GraphspecError.one(
            "checkpoint", f"cannot read weights {file}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint="the file is corrupt or not a safetensors file",
        ) from None
    own = module.state_dict()
    extra = [k for k in state if k not in own]
    ignored = 0
    if extra and allow_extra:
        state = {k: v for k, v in state.items() if k in own}
        ignored = len(extra)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k}: checkpoint {list(state[k].shape)}, model {list(own[k].shape)}" for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): " + ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else ""))
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): " + "; ".join(mismatched[:5]))
        raise GraphspecError.one(
            "checkpoint",
            f"weights {file} do not fit the model: " + " | ".join(parts),
            hint="were they trained from this spec with the same params (and --set overrides)?",
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GraphspecError.one("checkpoint", f"weights {file} do not fit the model: {exc}") from None
    return str(file), ignored
