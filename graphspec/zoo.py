"""Find spec files: a path, or the name of a model in the bundled zoo."""

from __future__ import annotations

from pathlib import Path

# The zoo lives in specs/ at the repository root and is installed with the
# package as graphspec/_zoo (see pyproject's package data / setup).
_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "specs",
    Path(__file__).resolve().parent / "_zoo",
)


def zoo_dir() -> Path | None:
    for c in _CANDIDATES:
        if c.is_dir():
            return c
    return None


def zoo_names() -> list[str]:
    d = zoo_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d else []


def resolve_spec_path(name: str | Path) -> str:
    """``specs/lenet5.yaml`` stays as is; ``lenet5`` finds the zoo file if no such file exists."""
    p = Path(name)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(name):
        return str(name)
    d = zoo_dir()
    if d is not None and (d / f"{name}.yaml").is_file():
        return str(d / f"{name}.yaml")
    return str(name)
