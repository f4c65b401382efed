"""`graphspec zoo` (list, describe, copy out), zoo-name did-you-mean, and `graphspec completion`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphspec
from graphspec import zoo
from graphspec.cli.main import main
from graphspec.errors import GraphspecError

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# -- where the zoo lives ---------------------------------------------------------------


def test_zoo_lives_inside_the_package_and_specs_is_a_link_to_it():
    assert zoo.zoo_dir() == Path(graphspec.__file__).resolve().parent / "zoo_specs"
    assert {"resnet18", "digits_mlp", "digits_lenet5"} <= set(zoo.zoo_names())
    link = ROOT / "specs"
    assert link.is_symlink() and os.readlink(link) == "graphspec/zoo_specs"  # relative: survives a clone anywhere
    assert sorted(p.name for p in link.glob("*.yaml")) == sorted(p.name for p in zoo.zoo_dir().glob("*.yaml"))


@pytest.mark.parametrize("path", sorted(zoo.zoo_dir().glob("*.yaml")) + sorted(zoo.zoo_dir().glob("blocks/*.yaml")), ids=lambda p: p.name)
def test_zoo_schema_line_resolves_in_the_package_and_through_the_specs_link(path):
    first = path.read_text().splitlines()[0]
    rel = first.split("$schema=", 1)[1]
    assert (path.parent / rel).resolve() == zoo.SCHEMA_FILE  # what an installed package (or graphspec/zoo_specs/) sees
    via_link = ROOT / "specs" / path.relative_to(zoo.zoo_dir())
    assert os.path.normpath(via_link.parent / rel) == str(ROOT / "docs" / "graphspec.schema.json")


# -- the listing ---------------------------------------------------------------------


def test_catalog_describes_every_zoo_model():
    rows = {r["name"]: r for r in zoo.catalog()}
    assert set(rows) == set(zoo.zoo_names())
    for r in rows.values():
        assert r["family"] in zoo.FAMILIES
        assert r["doc"] and all(n > 0 for n in r["params"].values())
    assert rows["resnet18"]["params"] == {"main": 11_689_512}
    assert rows["dcgan"]["params"] == {"generator": 3_576_704, "discriminator": 2_765_568}
    expected = {
        "digits_mlp": "FNN", "resnet18": "CNN", "digits_lstm": "RNN", "char_lm": "RNN",
        "digits_transformer": "attention", "gpt_mini": "attention", "digits_vae": "generative",
        "dcgan": "generative", "cartpole_dqn": "RL", "dqn_nature": "RL",
    }
    assert {n: rows[n]["family"] for n in expected} == expected
    assert rows["digits_mlp"]["trains_on"] == "digits"
    assert rows["cartpole_dqn"]["trains_on"] == "CartPole-v1"
    assert rows["sine_lstm"]["trains_on"] == "sine"
    assert rows["resnet18"]["trains_on"] is None


def test_zoo_command_table_and_json(capsys):
    rc, out, err = run_cli(capsys, "zoo")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["name", "family", "params", "trains"]
    row = next(line for line in lines if line.startswith("resnet18 "))
    assert "CNN" in row and "11.7M" in row and "ResNet-18" in row
    assert f"{len(zoo.zoo_names())} models" in err

    rc, out, _ = run_cli(capsys, "zoo", "--json")
    assert rc == 0
    data = json.loads(out)
    assert [r["name"] for r in data] == zoo.zoo_names()
    assert set(data[0]) == {"name", "family", "params", "trains_on", "doc", "file"}

    rc, out, _ = run_cli(capsys, "zoo", "digits_vae", "--json")
    assert rc == 0 and json.loads(out)["family"] == "generative"
    rc, out, _ = run_cli(capsys, "zoo", "digits_mlp")
    assert rc == 0 and "trains on  digits" in out and "26,122" in out


def test_zoo_listing_never_imports_torch():
    code = (
        "import sys, io, contextlib\n"
        "from graphspec.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['zoo', '--json'])\n"
        "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'graphspec zoo imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# -- did-you-mean for zoo names ---------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect", "validate", "train", "export", "zoo"])
def test_mistyped_zoo_name_gets_did_you_mean_everywhere(capsys, command):
    rc, _, err = run_cli(capsys, command, "resnt18")
    assert rc == 4, err
    assert "file-not-found" in err and "did you mean" in err and "'resnet18'" in err
    assert "Traceback" not in err


def test_unknown_zoo_name_without_close_match_points_at_the_listing(capsys):
    with pytest.raises(GraphspecError) as exc:
        zoo.resolve_spec_path("qqqqqq")
    d = exc.value.diagnostics[0]
    assert d.code == "file-not-found" and "graphspec zoo" in d.hint


def test_paths_are_left_to_the_file_reader(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert zoo.resolve_spec_path("resnt18.yaml") == "resnt18.yaml"  # a suffix: a file name
    assert zoo.resolve_spec_path("sub/resnet18") == "sub/resnet18"  # a slash: a path
    (tmp_path / "resnet18").write_text("graphspec: 1\n")
    assert zoo.resolve_spec_path("resnet18") == "resnet18"  # an existing file wins over the zoo
    assert Path(zoo.resolve_spec_path("lenet5")) == zoo.zoo_dir() / "lenet5.yaml"
    assert zoo.resolve_spec_path("my_net", must_exist=False) == "my_net"  # spec text held in memory (ONNX metadata)


# -- copying a model out ------------------------------------------------------------------


def test_copy_out_with_blocks_validates_where_it_lands(tmp_path, capsys):
    dest = tmp_path / "mine"
    rc, out, _ = run_cli(capsys, "zoo", "resnet18", "-o", str(dest))
    assert rc == 0
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "blocks/resnet.yaml", "graphspec.schema.json", "resnet18.yaml",
    ]
    assert f"wrote {dest / 'resnet18.yaml'}" in out
    spec = graphspec.load(str(dest / "resnet18.yaml"))
    assert spec.graph().total_params == 11_689_512
    assert {Path(f).resolve() for f in spec.files} == {(dest / "resnet18.yaml").resolve(), (dest / "blocks/resnet.yaml").resolve()}
    # the editor line points at the schema copied beside the spec
    for f, rel in (("resnet18.yaml", "graphspec.schema.json"), ("blocks/resnet.yaml", "../graphspec.schema.json")):
        assert (dest / f).read_text().splitlines()[0] == f"# yaml-language-server: $schema={rel}"
    assert (dest / "graphspec.schema.json").read_bytes() == zoo.SCHEMA_FILE.read_bytes()
    rc, _, err = run_cli(capsys, "validate", str(dest / "resnet18.yaml"))
    assert rc == 0, err


def test_copy_out_refuses_to_overwrite_edits_unless_forced(tmp_path, capsys):
    dest = tmp_path / "mine"
    assert run_cli(capsys, "zoo", "lenet5", "-o", str(dest))[0] == 0
    assert run_cli(capsys, "zoo", "lenet5", "-o", str(dest))[0] == 0  # same content again: nothing to lose
    edited = (dest / "lenet5.yaml").read_text().replace("width: 6", "width: 8")
    (dest / "lenet5.yaml").write_text(edited)
    rc, _, err = run_cli(capsys, "zoo", "lenet5", "-o", str(dest))
    assert rc == 4 and "file-exists" in err and "lenet5.yaml" in err and "--force" in err
    assert (dest / "lenet5.yaml").read_text() == edited
    assert run_cli(capsys, "zoo", "lenet5", "-o", str(dest), "--force")[0] == 0
    assert (dest / "lenet5.yaml").read_text() != edited


def test_copy_out_usage_errors(tmp_path, capsys):
    assert run_cli(capsys, "zoo", "-o", str(tmp_path))[0] == 2
    assert run_cli(capsys, "zoo", "--force")[0] == 2
    (tmp_path / "file").write_text("x")
    rc, _, err = run_cli(capsys, "zoo", "lenet5", "-o", str(tmp_path / "file"))
    assert rc == 4 and "not a folder" in err
    rc, _, err = run_cli(capsys, "zoo", "lenet", "-o", str(tmp_path / "d"))
    assert rc == 4 and "did you mean 'lenet5'" in err
    assert not (tmp_path / "d").exists()


# -- shell completion -----------------------------------------------------------------


def test_completion_scripts_name_commands_and_zoo_models(capsys):
    for shell in ("bash", "zsh"):
        rc, out, _ = run_cli(capsys, "completion", shell)
        assert rc == 0
        assert "resnet18" in out and "digits_lenet5" in out and "quickstart" in out
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 2


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_zoo_names_and_files(tmp_path, capsys):
    from graphspec.cli.completion import script

    (tmp_path / "completion.bash").write_text(script("bash"))
    (tmp_path / "mynet.yaml").write_text("graphspec: 1\n")
    probe = r"""
source ./completion.bash
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
         _shtab_graphspec graphspec "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
comp graphspec insp
comp graphspec inspect resn
comp graphspec train m
comp graphspec zoo digits_l
comp graphspec quickstart --spec digits_le
"""
    proc = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    zoo_m = [n for n in zoo.zoo_names() if n.startswith("m")]
    assert lines[0] == ["inspect"]
    assert lines[1] == [n for n in zoo.zoo_names() if n.startswith("resn")] and "resnet18" in lines[1]
    assert lines[2] == zoo_m + ["mynet.yaml"] and "mlp" in zoo_m  # zoo names, then files
    assert lines[3] == [n for n in zoo.zoo_names() if n.startswith("digits_l")] and "digits_lenet5" in lines[3]
    assert "digits_lenet5" in lines[4]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completion_script_parses(tmp_path):
    from graphspec.cli.completion import script

    (tmp_path / "_graphspec").write_text(script("zsh"))
    proc = subprocess.run(["zsh", "-n", str(tmp_path / "_graphspec")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_zoo_model_that_does_not_load_is_listed_with_its_error(tmp_path, monkeypatch, capsys):
    shutil.copy(zoo.zoo_dir() / "lenet5.yaml", tmp_path / "lenet5.yaml")
    (tmp_path / "broken.yaml").write_text("graphspec: 1\nname: broken\ninputs: {x: {shape: [batch, 4]}}\nnodes: {fc: {op: Nope, in: x}}\noutputs: fc\n")
    monkeypatch.setattr(zoo, "_ZOO", tmp_path)
    rc, out, _ = run_cli(capsys, "zoo")
    assert rc == 0
    broken = next(line for line in out.splitlines() if line.startswith("broken "))
    assert "does not load" in broken and "Nope" in broken
    assert any(line.startswith("lenet5 ") and "CNN" in line for line in out.splitlines())
