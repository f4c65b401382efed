"""The bad-spec corpus: every file in this folder must fail `graphspec validate`
cleanly, with the code, place and exit status listed in expected.yaml.

"Cleanly" means: a diagnostic with a registered code, no traceback, no
diagnostic reported twice, diagnostics sorted by place, and for spec problems
a line number.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from graphspec.cli.main import main
from graphspec.errors import ERROR_CODES, GraphspecError

HERE = Path(__file__).resolve().parent
MANIFEST = yaml.safe_load((HERE / "expected.yaml").read_text(encoding="utf-8"))
ROOT = HERE.parent.parent


def _validate_json(capsys, path: Path) -> tuple[int, dict]:
    rc = main(["validate", str(path), "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert "internal error" not in out.err
    return rc, json.loads(out.out)


def test_manifest_lists_every_file():
    files = {p.name for p in HERE.glob("*.yaml")} - {"expected.yaml"}
    assert files - set(MANIFEST) == set(), "corpus files missing from expected.yaml"
    missing = {name for name in set(MANIFEST) - files}
    assert missing == {"missing_file.yaml"}, "expected.yaml names files that are not here"
    assert len(MANIFEST) >= 45


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bad_spec(name, capsys):
    want = MANIFEST[name]
    rc, report = _validate_json(capsys, HERE / name)
    assert rc == want.get("exit", 3)
    assert report["valid"] is False
    [file_report] = report["files"]
    assert file_report["valid"] is False
    diags = file_report["diagnostics"]
    errors = [d for d in diags if d["severity"] == "error"]
    assert errors, diags

    # every code is registered and maps to the exit code reported for it
    for d in diags:
        assert d["code"] in ERROR_CODES
        assert d["exit_code"] == int(ERROR_CODES[d["code"]])
        assert d["message"]
    # nothing is reported twice
    keys = [(d["code"], d["message"], d["file"], d["line"], d["col"]) for d in diags]
    assert len(keys) == len(set(keys)), keys
    # sorted by place within each file
    for f in {d["file"] for d in diags}:
        places = [(d["line"] or 0, d["col"] or 0) for d in diags if d["file"] == f]
        assert places == sorted(places)

    first = errors[0]
    assert first["code"] == want["code"], first
    if want.get("exit", 3) == 3:
        assert first["line"] is not None, first
    if "line" in want:
        assert first["line"] == want["line"], first
    if "col" in want:
        assert first["col"] == want["col"], first
    for text in want.get("contains", []):
        assert text in first["message"], first
    if "hint" in want:
        assert first["hint"] and want["hint"] in first["hint"], first
    if "errors" in want:
        assert [[d["code"], d["line"]] for d in errors] == want["errors"]


def test_text_output_matches_json(capsys):
    """The human-readable report names the same place as the JSON one."""
    rc = main(["validate", str(HERE / "bad_ref.yaml")])
    err = capsys.readouterr().err
    assert rc == 3
    assert "bad_ref.yaml:6:23: error: unknown-ref:" in err
    assert "hint: did you mean 'encoder'?" in err
    assert "1 error(s), 0 warning(s)" in err


def test_several_files_in_one_run(capsys):
    files = [HERE / "bad_ref.yaml", HERE / "missing_file.yaml", ROOT / "tests" / "spec" / "fixtures" / "features.yaml"]
    rc = main(["validate", *map(str, files), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 3  # the first failing file decides
    assert [f["valid"] for f in report["files"]] == [False, False, True]
    assert report["files"][1]["diagnostics"][0]["code"] == "file-not-found"


def test_alias_bomb_fails_fast_and_small():
    from graphspec.pipeline import load

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(GraphspecError) as info:
            load(HERE / "yaml_alias_bomb.yaml")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.diagnostics[0].code == "yaml-too-large"
    assert elapsed < 2.0
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_alias_bomb_below_the_total_limit_is_still_refused():
    """Aliases may add only MAX_ALIAS_EXTRA values: a bomb of ~1M values fails at once."""
    from graphspec.spec.yamlload import MAX_ALIAS_EXTRA, parse

    levels = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcde", "bcdef")
    )
    start = time.perf_counter()
    with pytest.raises(GraphspecError) as info:
        parse(levels, "bomb.yaml")
    assert time.perf_counter() - start < 2.0
    assert info.value.diagnostics[0].code == "yaml-too-large"
    assert f"{MAX_ALIAS_EXTRA:,}" in info.value.diagnostics[0].message


def test_small_anchor_reuse_is_fine():
    from graphspec.spec.yamlload import parse

    text = "base: &base {op: Linear, out_features: 8}\nuses: [*base, *base, *base]\n"
    tree = parse(text, "ok.yaml")
    assert tree.data["uses"] == [{"op": "Linear", "out_features": 8}] * 3


@pytest.mark.parametrize("depth", [70, 900, 5000, 100_000])
def test_absurd_nesting_never_raises_recursion_error(depth):
    from graphspec.pipeline import load

    text = "graphspec: 1\nparams:\n  deep: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(GraphspecError) as info:
        load("deep.yaml", text=text)
    assert info.value.diagnostics[0].code == "yaml-too-deep"


def test_deep_block_style_nesting():
    from graphspec.pipeline import load

    text = "graphspec: 1\nparams:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300)) + "  " * 301 + "v: 1\n"
    with pytest.raises(GraphspecError) as info:
        load("deep.yaml", text=text)
    assert info.value.diagnostics[0].code == "yaml-too-deep"


def test_non_utf8_file_is_committed_as_bytes():
    raw = (HERE / "yaml_non_utf8.yaml").read_bytes()
    assert b"\xe9" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


@pytest.mark.parametrize(
    "name,code,exit_code",
    [
        ("yaml_tag_python.yaml", "yaml-tag", 3),
        ("cycle.yaml", "cycle", 3),
        ("expr_import.yaml", "expr-forbidden", 3),
        ("missing_file.yaml", "file-not-found", 4),
        ("directory.yaml", "file-unreadable", 4),
    ],
)
def test_subprocess_exit_code_and_no_traceback(name, code, exit_code, tmp_path):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("GRAPHSPEC_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "validate", str(HERE / name), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == exit_code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ""
    report = json.loads(proc.stdout)
    assert report["files"][0]["diagnostics"][0]["code"] == code
    # and nothing was executed by the hostile specs
    assert not (tmp_path / "pwned").exists()


def test_subprocess_text_mode_prints_to_stderr(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "validate", str(HERE / "multiple_errors.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if ": error: " in l]
    assert [l.split(": error: ")[1].split(":")[0] for l in lines] == ["unknown-ref", "unknown-op", "bad-value", "unknown-field"]
    assert "4 error(s), 0 warning(s)" in proc.stderr
