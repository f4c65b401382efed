"""The documentation matches the code: generated files are fresh, references are complete."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from graphspec.cli.main import COMMANDS
from graphspec.errors import ERROR_CODES, ExitCode

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_docs_are_up_to_date():
    stale = _gen_docs().check()
    assert not stale, "\n".join(stale) + "\nrun: python tools/gen_docs.py"


def test_gen_docs_check_mode_reports_stale_files(tmp_path, monkeypatch, capsys):
    gen = _gen_docs()
    monkeypatch.setattr(gen, "OPS_MD", tmp_path / "ops.md")
    monkeypatch.setattr(gen, "SCHEMA_JSON", tmp_path / "graphspec.schema.json")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    assert "ops.md is out of date" in capsys.readouterr().err
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    (tmp_path / "ops.md").write_text((tmp_path / "ops.md").read_text().replace("Conv2d", "Conv2D", 1))
    assert gen.main(["--check"]) == 1


def test_ops_md_lists_every_builtin_op():
    from graphspec.pipeline.jsonschema import builtin_ops

    text = (DOCS / "ops.md").read_text()
    for cls in builtin_ops():
        assert f"\n### {cls.op_name}\n" in text
        assert f"[{cls.op_name}](#{cls.op_name.lower()})" in text


def test_committed_schema_is_json_schema_2020_12():
    schema = json.loads((DOCS / "graphspec.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)


def _zoo():
    return sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs" / "blocks").glob("*.yaml"))


@pytest.mark.parametrize("path", _zoo(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_zoo_validates_against_committed_schema(path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DOCS / "graphspec.schema.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_cli_md_documents_every_command_and_exit_code():
    text = (DOCS / "cli.md").read_text()
    for name in COMMANDS:
        assert f"\n## graphspec {name}\n" in text, f"docs/cli.md has no section for {name}"
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", text, re.M))
    for code in ExitCode:
        assert str(int(code)) in table, f"exit code {int(code)} ({code.name}) missing from docs/cli.md"


def test_main_epilog_matches_the_exit_codes():
    from graphspec.cli.main import build_parser

    epilog = " ".join(build_parser().epilog.split())
    for code in ExitCode:
        if code not in (ExitCode.INTERRUPTED,):
            assert f"{int(code)} " in epilog


def test_spec_language_lists_every_error_code_with_its_exit_code():
    text = (DOCS / "spec-language.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d+) \|", text, re.M))
    assert set(rows) == set(ERROR_CODES), f"missing: {set(ERROR_CODES) - set(rows)}, extra: {set(rows) - set(ERROR_CODES)}"
    for code, exit_code in ERROR_CODES.items():
        assert int(rows[code]) == int(exit_code), code


def test_spec_language_covers_the_language():
    text = (DOCS / "spec-language.md").read_text()
    from graphspec.spec.expr import FUNCTIONS
    from graphspec.spec.schema import SpecFile

    for key in SpecFile.model_fields:
        assert f"`{key}`" in text, f"top-level key {key} is not documented"
    for fn in FUNCTIONS:
        assert f"`{fn}" in text, f"expression function {fn} is not documented"
    for topic in ("repeat", "Sequential", "share", "imports", "--set", "state_dict", "${i}", "node.port"):
        assert topic in text


def test_docs_links_resolve():
    for page in ("spec-language.md", "cli.md", "ops.md"):
        text = (DOCS / page).read_text()
        for target in re.findall(r"\]\(([a-z-]+\.md)(?:#[^)]*)?\)", text):
            if target == "training.md" and not (DOCS / target).exists():
                continue  # written by the training work
            assert (DOCS / target).exists(), f"{page} links to missing {target}"
