"""The search-space grammar: what parses, and every refusal with its message (exit 2 / 3)."""

from __future__ import annotations

import pytest

from graphspec.config.sweep import Param, SweepConfig, check_unique, parse_param
from graphspec.errors import ExitCode, GraphspecError


@pytest.mark.parametrize(
    "text, want",
    [
        ("params.width=int(16,128,log)", Param("params.width", "int", 16, 128, log=True)),
        ("params.width = int( 16 , 128 )", Param("params.width", "int", 16, 128)),
        ("params.depth=int(1,8,step=2)", Param("params.depth", "int", 1, 8, step=2)),
        ("train.optimizer.lr=float(1e-4,1e-2,log)", Param("train.optimizer.lr", "float", 1e-4, 1e-2, log=True)),
        ("train.dropout=float(0,0.5,step=0.1)", Param("train.dropout", "float", 0.0, 0.5, step=0.1)),
        ("params.act=choice(ReLU,GELU)", Param("params.act", "choice", choices=("ReLU", "GELU"))),
        ("params.k=choice([3, 3], [5, 5])", Param("params.k", "choice", choices=([3, 3], [5, 5]))),
        ("params.flag=choice(true, false, 'a,b')", Param("params.flag", "choice", choices=(True, False, "a,b"))),
        ("+params.new=choice(1)", Param("+params.new", "choice", choices=(1,))),
    ],
)
def test_parses(text, want):
    got = parse_param(text)
    assert got == want
    assert parse_param(got.describe()) == got  # describe() round-trips


@pytest.mark.parametrize(
    "text, message",
    [
        ("params.width", "expected PATH=RANGE"),
        ("=int(1,2)", "bad path ''"),
        ("params..w=int(1,2)", "bad path"),
        ("params.w=range(1,2)", "unknown kind 'range'"),
        ("params.w=int(1,2", "expected int(LOW,HIGH)"),
        ("params.w=int(1)", "int() needs LOW and HIGH"),
        ("params.w=int(1.5,8)", "low must be an integer, received '1.5'"),
        ("params.w=int(8,1)", "low (8) must be below high (1)"),
        ("params.w=int(4,4)", "low (4) must be below high (4)"),
        ("params.w=float(0,1,log)", "a log range needs low > 0"),
        ("params.w=float(nan,1)", "low must be finite"),
        ("params.w=float(1e-3,1,log,step=0.1)", "log and step cannot be combined"),
        ("params.w=int(1,8,lg)", "unknown or repeated option 'lg'"),
        ("params.w=int(1,8,log,log)", "unknown or repeated option 'log'"),
        ("params.w=int(1,8,step=0)", "step must be positive"),
        ("params.w=int(1,99999999999999999999)", "high is too large"),
        ("params.w=choice()", "choice() needs at least one value"),
        ("params.w=choice(a,a)", "lists a value twice"),
        ("params.w=choice([1,2)", "unclosed '['"),
        ("params.w=choice(a,)", "empty choice"),
    ],
)
def test_refuses_with_a_clear_usage_error(text, message):
    with pytest.raises(GraphspecError) as exc:
        parse_param(text)
    d = exc.value.diagnostics[0]
    assert exc.value.exit_code == ExitCode.USAGE
    assert d.message.startswith(f"--param {text}: ")
    assert message in d.message
    assert d.hint and "--param params.width=int(16,128,log)" in d.hint


def test_long_text_is_refused_before_parsing():
    with pytest.raises(GraphspecError, match="longer than"):
        parse_param("params.w=choice(" + "a," * 5000 + "b)")


def test_a_path_searched_twice_is_refused():
    with pytest.raises(GraphspecError, match="searched twice"):
        check_unique([parse_param("params.w=int(1,2)"), parse_param("params.w=int(3,4)")])


def test_section_model_validates_each_range_at_its_key():
    from pydantic import ValidationError

    cfg = SweepConfig.model_validate({"params": {"params.w": "int(2, 64, log)", "params.act": ["ReLU", "GELU"]}, "trials": 5, "direction": "maximize"})
    assert [p.kind for p in cfg.space()] == ["int", "choice"]
    with pytest.raises(ValidationError) as exc:
        SweepConfig.model_validate({"params": {"params.w": "int(64, 2)", "bad path": "int(1,2)"}, "trials": 0, "pruner": "x"})
    locs = {tuple(e["loc"])[:2] for e in exc.value.errors()}
    assert ("params", "params.w") in locs and ("trials",) in locs and ("pruner",) in locs
