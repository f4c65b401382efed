"""`graphspec validate`: exit codes, text and JSON reports, --set, --strict, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graphspec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "spec" / "fixtures" / "features.yaml"
BAD = ROOT / "tests" / "bad_specs"

DIAGNOSTIC_KEYS = {"severity", "code", "message", "file", "line", "col", "override", "node", "hint", "exit_code"}


def run_json(capsys, *argv) -> tuple[int, dict]:
    rc = main(["validate", *map(str, argv), "--json"])
    captured = capsys.readouterr()
    return rc, json.loads(captured.out)


def test_json_report_structure(capsys):
    rc, report = run_json(capsys, FIXTURE, BAD / "multiple_errors.yaml")
    assert rc == 3
    assert set(report) == {"valid", "files"} and report["valid"] is False
    ok, bad = report["files"]
    assert ok["file"] == str(FIXTURE) and ok["valid"] is True
    assert [d["code"] for d in ok["diagnostics"]] == ["unused-node", "unused-node"]  # warnings only
    assert all(d["severity"] == "warning" and d["exit_code"] == 0 for d in ok["diagnostics"])
    assert bad["valid"] is False
    for d in bad["diagnostics"]:
        assert set(d) == DIAGNOSTIC_KEYS
        assert d["file"] == str(BAD / "multiple_errors.yaml")
        assert isinstance(d["line"], int) and isinstance(d["col"], int)
        assert d["exit_code"] == 3
    assert [d["line"] for d in bad["diagnostics"]] == [5, 6, 7, 8]
    assert bad["diagnostics"][1]["node"] == "a" and bad["diagnostics"][1]["hint"] == "did you mean 'ReLU'?"


def test_valid_spec_text_output(capsys):
    rc = main(["validate", str(FIXTURE)])
    captured = capsys.readouterr()
    assert rc == 0
    assert f"{FIXTURE}: ok (2 warning(s))" in captured.out
    assert "warning: unused-node" in captured.err
    rc = main(["validate", "-q", str(FIXTURE)])
    assert rc == 0 and "ok" not in capsys.readouterr().out


def test_strict_turns_warnings_into_failure(capsys):
    rc = main(["validate", "--strict", str(FIXTURE)])
    capsys.readouterr()
    assert rc == 3


def test_set_overrides_apply_to_every_file(capsys, tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("graphspec: 1\nparams: {width: 8}\ninputs: {x: {shape: [4]}}\nnodes: {fc: {op: Linear, in: x, out_features: '${width}'}}\noutputs: fc\n")
    rc, report = run_json(capsys, spec, "--set", "params.width=0")
    assert rc == 3
    diags = report["files"][0]["diagnostics"]
    assert [d["code"] for d in diags if d["severity"] == "error"] == ["bad-value"]
    d = next(d for d in diags if d["severity"] == "error")
    assert d["line"] == 4
    rc, report = run_json(capsys, spec, "--set", "params.width=16")
    assert rc == 0 and report["valid"] is True


@pytest.mark.parametrize("item", ["width", "params.width=[1,", "a..b=1"])
def test_bad_set_syntax_exits_2(capsys, item):
    rc = main(["validate", str(FIXTURE), "--set", item])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error: override:" in err
    assert "Traceback" not in err


def test_missing_and_directory_exit_4(capsys, tmp_path):
    rc, report = run_json(capsys, tmp_path / "nope.yaml")
    assert rc == 4 and report["files"][0]["diagnostics"][0]["code"] == "file-not-found"
    rc, report = run_json(capsys, tmp_path)
    assert rc == 4 and report["files"][0]["diagnostics"][0]["code"] == "file-unreadable"


def test_first_failing_file_decides_the_exit_code(capsys, tmp_path):
    rc, _ = run_json(capsys, tmp_path / "nope.yaml", BAD / "cycle.yaml")
    assert rc == 4
    rc, _ = run_json(capsys, BAD / "cycle.yaml", tmp_path / "nope.yaml")
    assert rc == 3


def test_zoo_names_resolve(capsys):
    zoo = sorted((ROOT / "specs").glob("*.yaml"))
    if not zoo:
        pytest.skip("no zoo specs yet")
    rc, report = run_json(capsys, zoo[0].stem)
    assert report["files"][0]["file"] == zoo[0].stem
    assert rc == 0, report


def test_unknown_command_suggests(capsys):
    assert main(["valdate", str(FIXTURE)]) == 2
    assert "'validate'" in capsys.readouterr().err


def test_validate_does_not_import_torch():
    code = (
        "import sys\n"
        "from graphspec.cli.main import main\n"
        f"rc = main(['validate', {str(FIXTURE)!r}, {str(BAD / 'shape_mismatch.yaml')!r}, '--json'])\n"
        "assert rc == 3, rc\n"
        "assert 'torch' not in sys.modules, 'validate imported torch'\n"
        "assert 'onnxruntime' not in sys.modules\n"
        # start-up pays for this command only: no other command's module, no backend
        "others = sorted(m for m in sys.modules if m.startswith(('graphspec.cli.', 'graphspec.backends')) and m not in ('graphspec.cli.main', 'graphspec.cli.common', 'graphspec.cli.validate'))\n"
        "assert not others, others\n"
        # op validators are built on first use: lenet5's few ops, not the whole registry
        "from graphspec.ops import registry\n"
        "built = [n for n in registry.names() if registry.get(n).__pydantic_complete__]\n"
        "assert 0 < len(built) < len(registry.names()) // 2, built\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_as_a_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "graphspec", "validate", str(BAD / "bad_port.yaml")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 3
    assert "bad_port.yaml:6:24: error: unknown-port:" in proc.stderr
    assert "hint: did you mean 'h_n'?" in proc.stderr


def test_validate_always_checks_train_sections(tmp_path, capsys):
    from graphspec.cli.main import main

    f = tmp_path / "t.yaml"
    f.write_text(
        "graphspec: 1\ninputs: {x: {shape: [batch, 4]}}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\n"
        "outputs: {y: fc}\ntrain:\n  task: classify\n  data: digits\n  epochs: -1\n"
    )
    assert main(["validate", "--json", str(f)]) == 3
    report = __import__("json").loads(capsys.readouterr().out)
    (diag,) = report["files"][0]["diagnostics"]
    assert diag["line"] == 9 and "train.epochs" in diag["message"]
