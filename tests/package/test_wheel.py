"""The built wheel is self-contained: zoo, blocks, JSON Schema and bundled data ship inside it.

The wheel is built once per session from a copy of the package sources (so no
build/ folder lands in the checkout). Installing it and running commands from an
empty folder is tools/wheel_smoke.sh, which CI runs after the tests.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "graphspec"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A copy of the package sources: the wheel is built from it and checked against it."""
    src = tmp_path_factory.mktemp("wheel") / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "graphspec", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


@pytest.fixture(scope="module")
def wheel(snapshot) -> zipfile.ZipFile:
    dist = snapshot.parent / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(snapshot), "-w", str(dist)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = dist.glob("graphspec-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def _package_source_files(snapshot: Path) -> list[str]:
    """Files of the package snapshot that git does not ignore (all of them without git)."""
    files = [p.relative_to(snapshot).as_posix() for p in (snapshot / "graphspec").rglob("*") if p.is_file()]
    try:
        ignored = subprocess.run(
            ["git", "check-ignore", "--no-index", "--stdin"], input="\n".join(files),
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        ).stdout.split("\n")
    except OSError:
        ignored = []
    return sorted(set(files) - set(ignored))


def test_wheel_ships_every_package_file(wheel, snapshot):
    names = set(wheel.namelist())
    missing = [f for f in _package_source_files(snapshot) if f not in names]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"


def test_wheel_holds_the_zoo_schema_and_data_as_real_files(wheel, snapshot):
    names = set(wheel.namelist())
    zoo = sorted(p.name for p in (snapshot / "graphspec" / "zoo_specs").glob("*.yaml"))
    blocks = sorted(p.name for p in (snapshot / "graphspec" / "zoo_specs" / "blocks").glob("*.yaml"))
    assert len(zoo) >= 20 and {"resnet18.yaml", "digits_mlp.yaml", "digits_lenet5.yaml"} <= set(zoo)
    assert blocks and "resnet.yaml" in blocks
    for name in zoo:
        assert f"graphspec/zoo_specs/{name}" in names
    for name in blocks:
        assert f"graphspec/zoo_specs/blocks/{name}" in names
    assert "graphspec/train/data/fables.txt" in names
    # real contents, not symlinks or pointers
    assert wheel.read("graphspec/zoo_specs/resnet18.yaml") == (snapshot / "graphspec" / "zoo_specs" / "resnet18.yaml").read_bytes()
    assert wheel.read("graphspec/docs/graphspec.schema.json") == (snapshot / "graphspec" / "docs" / "graphspec.schema.json").read_bytes()
    assert not [n for n in names if not n.startswith(("graphspec/", "graphspec-"))], "only the package and its metadata"


def test_wheel_metadata(wheel):
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(meta_name))
    assert meta["License-Expression"] == "Apache-2.0"
    requires = meta.get_all("Requires-Dist")
    (torch,) = [r for r in requires if r.split(">")[0].split("=")[0].strip() == "torch"]
    assert "<" not in torch and "==" not in torch, f"torch must have no upper bound: {torch}"
    assert any(r.startswith("shtab") for r in requires)
    (ep_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "graphspec = graphspec.cli.main:main" in wheel.read(ep_name).decode()


def test_pyproject_license_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # a table ({text = ...}) is deprecated by setuptools


def test_packaged_schema_matches_docs():
    assert (PACKAGE / "docs" / "graphspec.schema.json").read_bytes() == (ROOT / "docs" / "graphspec.schema.json").read_bytes(), (
        "run: python tools/gen_docs.py"
    )


def test_ci_runs_the_wheel_smoke():
    assert "tools/wheel_smoke.sh" in (ROOT / ".ci" / "run").read_text()
    proc = subprocess.run(["bash", "-n", str(ROOT / "tools" / "wheel_smoke.sh")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
