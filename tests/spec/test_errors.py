"""The diagnostic model shared by every layer (graphspec.errors)."""

from __future__ import annotations

import pytest

from graphspec.errors import ERROR_CODES, Collector, Diagnostic, ExitCode, GraphspecError, Location, did_you_mean


def test_location_text():
    assert str(Location("a.yaml", 3, 7)) == "a.yaml:3:7"
    assert str(Location("a.yaml", 3)) == "a.yaml:3"
    assert str(Location("a.yaml")) == "a.yaml"
    assert str(Location()) == "<spec>"


def test_unregistered_code_is_a_bug():
    with pytest.raises(ValueError):
        Diagnostic("no-such-code", "x")


def test_every_code_maps_to_an_exit_code():
    assert all(isinstance(v, ExitCode) for v in ERROR_CODES.values())
    assert ERROR_CODES["file-not-found"] == ExitCode.FILE
    assert ERROR_CODES["override"] == ExitCode.USAGE
    assert ERROR_CODES["unused-node"] == ExitCode.OK


def test_format_and_json():
    d = Diagnostic("unknown-op", "unknown op 'Relu'", Location("s.yaml", 4, 9), node="block.relu", hint="did you mean 'ReLU'?")
    assert d.format() == "s.yaml:4:9: error: unknown-op: unknown op 'Relu'\n  node: block.relu\n  hint: did you mean 'ReLU'?"
    assert d.to_json() == {
        "severity": "error",
        "code": "unknown-op",
        "message": "unknown op 'Relu'",
        "file": "s.yaml",
        "line": 4,
        "col": 9,
        "override": None,
        "node": "block.relu",
        "hint": "did you mean 'ReLU'?",
        "exit_code": 3,
    }
    w = Diagnostic("unused-node", "no output depends on node 'x'", severity="warning")
    assert w.format().startswith("graphspec: warning: unused-node:")


def test_first_error_decides_the_exit_code():
    err = GraphspecError([Diagnostic("unused-node", "w", severity="warning"), Diagnostic("file-not-found", "f"), Diagnostic("shape", "s")])
    assert err.exit_code == ExitCode.FILE
    assert GraphspecError([Diagnostic("unused-node", "w", severity="warning")]).exit_code == ExitCode.OK
    assert "error: file-not-found: f" in str(err)


def test_collector():
    out = Collector()
    out.add("unused-input", "w", severity="warning")
    out.raise_if_errors()  # warnings alone do not raise
    out.add("cycle", "c")
    assert len(out.errors) == 1 and len(out.warnings) == 1
    with pytest.raises(GraphspecError) as info:
        out.raise_if_errors()
    assert [d.code for d in info.value.diagnostics] == ["unused-input", "cycle"]


@pytest.mark.parametrize(
    "name,choices,hint",
    [
        ("Conv2D", ["Conv2d", "Conv1d", "Linear"], "did you mean 'Conv2d'?"),
        ("relu", ["ReLU", "ReLU6"], "did you mean 'ReLU'?"),
        ("encodr", ["encoder", "decoder"], "did you mean one of 'encoder', 'decoder'?"),
        ("zzz", ["Linear"], None),
        ("x", [], None),
    ],
)
def test_did_you_mean(name, choices, hint):
    assert did_you_mean(name, choices) == hint
