"""The bundled model zoo: find a spec by name, describe the zoo, copy a model out.

The zoo ships inside the package as ``graphspec/zoo_specs/`` (package data; the
repository's ``specs/`` is a symlink to it), so zoo names work from any folder
after a plain ``pip install``. Nothing here imports torch: the listing uses the
torch-free loader and analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphspec.errors import GraphspecError, Location, did_you_mean

_PACKAGE = Path(__file__).resolve().parent
_ZOO = _PACKAGE / "zoo_specs"
# The packaged copy of docs/graphspec.schema.json; zoo files point at it with
# "../docs/graphspec.schema.json", which resolves both here and in the checkout.
SCHEMA_FILE = _PACKAGE / "docs" / "graphspec.schema.json"
_SCHEMA_LINE = "# yaml-language-server: $schema="

FAMILIES = ("FNN", "CNN", "RNN", "attention", "generative", "RL")


def zoo_dir() -> Path:
    """The folder holding the zoo specs (``blocks/`` inside it)."""
    return _ZOO


def zoo_names() -> list[str]:
    return sorted(p.stem for p in _ZOO.glob("*.yaml"))


def _looks_like_zoo_name(name: str) -> bool:
    return "/" not in name and "\\" not in name and Path(name).suffix == "" and name not in ("", ".", "..")


def resolve_spec_path(name: str | Path, *, must_exist: bool = True) -> str:
    """``specs/lenet5.yaml`` stays as is; ``lenet5`` finds the zoo file if no such file exists.

    A name that looks like a zoo name (no suffix, no slash) and is neither a
    file nor a zoo model is a ``file-not-found`` error with a did-you-mean hint
    (returned unchanged with ``must_exist=False``: a name for spec text held in memory).

    >>> Path(resolve_spec_path("lenet5")).name
    'lenet5.yaml'
    >>> resolve_spec_path("lenet")
    Traceback (most recent call last):
    ...
    graphspec.errors.GraphspecError: lenet: error: file-not-found: no spec file or zoo model named 'lenet'
      hint: did you mean 'lenet5'?
    """
    text = str(name)
    if Path(text).exists() or not _looks_like_zoo_name(text):
        return text
    if (_ZOO / f"{text}.yaml").is_file():
        return str(_ZOO / f"{text}.yaml")
    if not must_exist:
        return text
    names = zoo_names()
    # A typed prefix ('lenet', 'resnet') means the models it starts; else the closest spellings.
    prefixed = [n for n in names if n.startswith(text)]
    hint = did_you_mean(text, prefixed or names) or "'graphspec zoo' lists the zoo models; a spec file needs its .yaml suffix"
    raise GraphspecError.one(
        "file-not-found", f"no spec file or zoo model named {text!r}", location=Location(text), hint=hint
    )


# -- describing the zoo ------------------------------------------------------------


def family(spec: Any) -> str:
    """The model family of a loaded spec, from its task, graphs and op categories.

    Checked in order: RL (task dqn, or Q-value outputs), generative (task
    vae/gan, a generator/decoder graph or a generative op), RNN (recurrent
    ops), attention, CNN (convolutions), else FNN.
    """
    train = spec.train or {}
    task = train.get("task") if isinstance(train, dict) else None
    outputs = {o for g in spec.graphs.values() for o in g.outputs}
    categories = {g.node(n)["op"].category for g in spec.graphs.values() for n in g.op_nodes()}
    if task == "dqn" or any(o.startswith("q_") or o == "q" for o in outputs):
        return "RL"
    if task in ("vae", "gan") or {"generator", "decoder"} & set(spec.graphs) or "generative" in categories:
        return "generative"
    for category, name in (("recurrent", "RNN"), ("attention", "attention"), ("conv", "CNN")):
        if category in categories:
            return name
    return "FNN"


def trains_on(spec: Any) -> str | None:
    """What the spec's ``train:`` section trains on (its data source or environment), or None."""
    train = spec.train
    if not isinstance(train, dict):
        return None
    env = train.get("env")
    if env is not None:
        return str(env.get("id", env) if isinstance(env, dict) else env)
    data = train.get("data")
    if isinstance(data, dict):
        data = data.get("source")
    return None if data is None else str(data)


def graph_params(spec: Any) -> dict[str, int]:
    """Parameter count of each graph (graphs of one spec may share weights, so they are not summed)."""
    return {name: int(g.total_params) for name, g in spec.graphs.items()}


def describe(name: str) -> dict[str, Any]:
    """One zoo model as data: name, family, params per graph, trains_on, doc, file."""
    from graphspec.pipeline import load

    path = _ZOO / f"{name}.yaml"
    spec = load(str(path), None)
    return {
        "name": name,
        "family": family(spec),
        "params": graph_params(spec),
        "trains_on": trains_on(spec),
        "doc": (spec.raw.get("doc") or "").strip() or None,
        "file": str(path),
    }


def catalog() -> list[dict[str, Any]]:
    """Every zoo model, described (see describe); sorted by name.

    A model that does not load here (say, it needs a plugin's op) is listed with
    its first error instead of stopping the listing.
    """
    rows = []
    for name in zoo_names():
        try:
            rows.append(describe(name))
        except GraphspecError as exc:
            first = exc.diagnostics[0].message if exc.diagnostics else str(exc)
            rows.append({"name": name, "family": None, "params": {}, "trains_on": None,
                         "doc": f"does not load: {first}", "file": str(_ZOO / f"{name}.yaml")})
    return rows


# -- copying a model out -------------------------------------------------------------


def _zoo_files(name: str) -> list[Path]:
    """The zoo spec and every blocks file it imports (recursively), as paths inside the zoo."""
    from graphspec.pipeline import load

    spec = load(str(_ZOO / f"{name}.yaml"), None)
    files = [Path(f).resolve() for f in spec.files] or [(_ZOO / f"{name}.yaml").resolve()]
    root = _ZOO.resolve()
    for f in files:
        if not f.is_relative_to(root):  # a zoo file importing from outside the zoo: a packaging bug
            raise GraphspecError.one("file-not-found", f"zoo model {name!r} imports {f}, which is outside the zoo")
    return files


def _with_local_schema(text: str, depth: int) -> str:
    """Point the yaml-language-server line at the schema copied next to the spec."""
    first, sep, rest = text.partition("\n")
    if first.startswith(_SCHEMA_LINE):
        first = _SCHEMA_LINE + "../" * depth + SCHEMA_FILE.name
    return first + sep + rest


def copy_out(name: str, dest: str | Path, *, force: bool = False) -> list[Path]:
    """Copy zoo model ``name`` and the blocks files it imports into ``dest``, keeping relative paths.

    The packaged JSON Schema is copied too and the spec's editor line points at
    it. Nothing is written when any target exists (unless ``force``) and differs.
    Returns the files written.
    """
    if name not in zoo_names():
        resolve_spec_path(name)  # raises the did-you-mean error for a zoo-like name
        hint = "'graphspec zoo' lists the zoo models"
        raise GraphspecError.one("file-not-found", f"no zoo model named {name!r}", hint=hint)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise GraphspecError.one("file-exists", f"{dest} exists and is not a folder")
    root = _ZOO.resolve()
    plan: dict[Path, bytes] = {}
    for f in _zoo_files(name):
        rel = f.relative_to(root)
        plan[dest / rel] = _with_local_schema(f.read_text(encoding="utf-8"), len(rel.parts) - 1).encode("utf-8")
    plan[dest / SCHEMA_FILE.name] = SCHEMA_FILE.read_bytes()
    clashes = [p for p, data in plan.items() if p.exists() and (not p.is_file() or p.read_bytes() != data)]
    if clashes and not force:
        shown = ", ".join(str(p) for p in clashes)
        raise GraphspecError.one("file-exists", f"would overwrite {shown}", hint="pass --force to overwrite")
    from graphspec.io import atomic_write

    written = []
    for path, data in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        written.append(path)
    return written


__all__ = ["FAMILIES", "SCHEMA_FILE", "catalog", "copy_out", "describe", "family", "resolve_spec_path", "trains_on", "zoo_dir", "zoo_names"]
