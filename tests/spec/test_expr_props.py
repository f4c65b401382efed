"""Properties of the ${...} expression evaluator (graphspec.spec.expr)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graphspec.spec.expr import MAX_EXPR_CHARS, MAX_INT, ExprError, evaluate, has_expr, interpolate, resolve

from time_limit import time_limit  # noqa: E402

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- integer arithmetic agrees with Python -------------------------------------

class Overflow(Exception):
    pass


SCOPE = {"a": 7, "b": -3, "width": 64, "i": 0}


def int_trees(max_leaves=10):
    leaves = st.one_of(st.integers(-1000, 1000), st.sampled_from(sorted(SCOPE)))
    ops = st.sampled_from(["+", "-", "*", "//", "%"])

    def extend(children):
        return st.one_of(
            st.tuples(children, ops, children),
            st.tuples(st.just("neg"), children),
            st.tuples(st.just("pow"), children, st.integers(0, 3)),
            st.tuples(st.sampled_from(["min", "max"]), children, children),
            st.tuples(st.just("abs"), children),
            st.tuples(st.just("if"), children, children, children),
            st.tuples(st.sampled_from(["and", "or"]), children, children),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def to_source(t) -> str:
    if isinstance(t, int):
        return f"({t})"
    if isinstance(t, str):
        return t
    if t[0] == "neg":
        return f"(-{to_source(t[1])})"
    if t[0] == "pow":
        return f"({to_source(t[1])} ** {t[2]})"
    if t[0] in ("min", "max"):
        return f"{t[0]}({to_source(t[1])}, {to_source(t[2])})"
    if t[0] == "abs":
        return f"abs({to_source(t[1])})"
    if t[0] == "if":
        return f"({to_source(t[1])} if {to_source(t[2])} else {to_source(t[3])})"
    if t[0] in ("and", "or"):
        return f"({to_source(t[1])} {t[0]} {to_source(t[2])})"
    return f"({to_source(t[0])} {t[1]} {to_source(t[2])})"


def reference(t) -> int:
    """Python's value, evaluated in the same order, with the evaluator's bound on every step."""

    def ok(v):
        if abs(v) > MAX_INT:
            raise Overflow
        return v

    if isinstance(t, int):
        return t
    if isinstance(t, str):
        return SCOPE[t]
    if t[0] == "neg":
        return ok(-reference(t[1]))
    if t[0] == "pow":
        return ok(reference(t[1]) ** t[2])
    if t[0] in ("min", "max"):
        a, b = reference(t[1]), reference(t[2])
        return ok(min(a, b) if t[0] == "min" else max(a, b))
    if t[0] == "abs":
        return ok(abs(reference(t[1])))
    if t[0] == "if":
        return reference(t[1]) if reference(t[2]) else reference(t[3])
    if t[0] == "and":
        left = reference(t[1])
        return reference(t[2]) if left else left
    if t[0] == "or":
        left = reference(t[1])
        return left if left else reference(t[2])
    left, op, right = t
    a, b = reference(left), reference(right)
    return ok(eval(f"a {op} b"))  # noqa: S307 - two ints and a fixed operator


@PROPS
@given(int_trees())
def test_integer_arithmetic_equals_python(tree):
    source = to_source(tree)
    assume(len(source) <= MAX_EXPR_CHARS)
    try:
        expected = reference(tree)
    except ZeroDivisionError:
        with pytest.raises(ExprError) as info:
            evaluate(source, SCOPE)
        assert info.value.code == "expr-zero-division"
        return
    except Overflow:
        with pytest.raises(ExprError) as info:
            evaluate(source, SCOPE)
        assert info.value.code == "expr-value"
        return
    result = evaluate(source, SCOPE)
    assert result == expected
    assert type(result) is type(expected)  # an int stays an int (bools included)


@PROPS
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from(["+", "-", "*", "/"]))
def test_float_arithmetic_equals_python(x, y, op):
    source = f"{x!r} {op} {y!r}"
    if op == "/" and y == 0:
        with pytest.raises(ExprError) as info:
            evaluate(source, {})
        assert info.value.code == "expr-zero-division"
        return
    expected = eval(source)  # noqa: S307 - two float literals
    if not math.isfinite(expected):  # 1.0 / 5e-324
        with pytest.raises(ExprError) as info:
            evaluate(source, {})
        assert info.value.code == "expr-value"
        return
    assert math.isclose(evaluate(source, {}), expected, rel_tol=1e-12, abs_tol=1e-12)


@PROPS
@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6).filter(lambda b: b != 0))
def test_ceil_div_and_floor_div(a, b):
    assert evaluate("ceil_div(a, b)", {"a": a, "b": b}) == -(-a // b)
    assert evaluate("a // b", {"a": a, "b": b}) == a // b
    assert evaluate("a % b", {"a": a, "b": b}) == a % b


# -- forbidden constructs are rejected wherever they stand ---------------------

FORBIDDEN = [
    "__import__('os')",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x = 1')",
    "getattr(a, 'real')",
    "a.real",
    "a.__class__.__bases__",
    "().__class__",
    "a[0]",
    "lambda: 1",
    "(lambda: 1)()",
    "[w for w in [1, 2]]",
    "{w for w in [1]}",
    "{w: w for w in [1]}",
    "(w for w in [1])",
    "(y := 1)",
    "f'{a}'",
    "{1, 2}",
    "{1: 2}",
    "b'x'",
    "1 in [1]",
    "1 is 1",
    "1 not in [1]",
    "~1",
    "1 << 2",
    "1 | 2",
    "1 & 2",
    "1 ^ 2",
    "max(1, key=abs)",
    "max(*[1, 2])",
    "...",
    "1j",
]


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_forbidden_alone(bad):
    with pytest.raises(ExprError) as info:
        evaluate(bad, {"a": 1})
    assert info.value.code in ("expr-forbidden", "expr-syntax")


@PROPS
@given(int_trees(max_leaves=5), st.sampled_from(FORBIDDEN), st.data())
def test_forbidden_inside_any_expression(tree, bad, data):
    """A forbidden construct is rejected wherever it is, also in a branch that is
    never taken or after a short-circuiting 'or'."""
    good = to_source(tree)
    template = data.draw(
        st.sampled_from(
            [
                "{g} + ({b})",
                "({b}) * {g}",
                "max({g}, {b})",
                "{g} if 1 else ({b})",
                "({b}) if 0 else {g}",
                "1 or ({b})",
                "0 and ({b})",
                "[{g}, ({b})]",
                "-({b})",
                "{g} < ({b})",
            ]
        )
    )
    source = template.format(g=good, b=bad)
    with pytest.raises(ExprError) as info:
        evaluate(source, {**SCOPE, "a": 1})
    assert info.value.code in ("expr-forbidden", "expr-syntax")


# -- nothing hangs ----------------------------------------------------------------

big = st.one_of(
    st.integers(-(2**62), 2**62),
    st.sampled_from([2**62, 10**18, 9**9, 1e308, 1e-308, 0, -1, 0.5, 64, 65]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        big.map(repr),
        lambda c: st.one_of(
            st.tuples(c, st.sampled_from(["**", "*", "//", "%", "/", "+", "-"]), c).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["round", "int", "float", "ceil", "floor", "abs", "ceil_div", "max"]), st.lists(c, min_size=1, max_size=2)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
        ),
        max_leaves=6,
    )
)
def test_bounded_values_never_hang(source):
    assume(len(source) <= MAX_EXPR_CHARS)
    with time_limit(2, "evaluation"):
        try:
            value = evaluate(source, {})
        except ExprError as exc:
            assert exc.code in ("expr-value", "expr-zero-division", "expr-syntax")
            return
    assert isinstance(value, (int, float))
    if isinstance(value, float):
        assert math.isfinite(value)
    else:
        assert abs(value) <= MAX_INT


@pytest.mark.parametrize(
    "source",
    [
        "10 ** 10 ** 10",
        "9 ** 9 ** 9",
        "(2 ** 62) ** 64",
        "2 ** 62 * 2 ** 62 * 2 ** 62",
        "1e308 * 1e308",
        "1e300 ** 2",
        "(-8) ** 0.5",
        "round(5, -10 ** 9)",
        "round(1.5, 10 ** 9)",
        "int(1e308)",
        "ceil(1e308)",
        "-" * 490 + "1",
        "(" * 300 + "1" + ")" * 300,
        "1" + " + 1" * 120,
        "9" * 499,
        "1\x00",
    ],
)
def test_hostile_values_fail_fast(source):
    with time_limit(2, "evaluation"):
        try:
            value = evaluate(source, {})
        except ExprError as exc:
            assert exc.code in ("expr-value", "expr-zero-division", "expr-syntax")
            return
    assert isinstance(value, (int, float)) and abs(value) <= MAX_INT


# -- interpolation ---------------------------------------------------------------


@PROPS
@given(st.integers(-(10**9), 10**9), st.text(alphabet="abcxyz_ -", max_size=8))
def test_interpolate_whole_and_embedded(n, text):
    assert interpolate("${n}", {"n": n}) == n
    assert interpolate(" ${n} ", {"n": n}) == n
    if text.strip():  # text around the expression makes the result text
        assert interpolate(f"{text}${{n}}{text}", {"n": n}) == f"{text}{n}{text}"


def test_resolve_walks_lists_and_dicts_not_keys():
    data = {"a": ["${x}", {"b": "${x * 2}"}], "${x}": 1}
    assert resolve(data, {"x": 3}) == {"a": [3, {"b": 6}], "${x}": 1}
    assert has_expr("${x}") and not has_expr("x") and not has_expr(3)


@pytest.mark.parametrize("value", ["${", "a${b", "${}", "${ {1: 2} }"])
def test_malformed_interpolation(value):
    with pytest.raises(ExprError) as info:
        interpolate(value, {"b": 1})
    assert info.value.code in ("expr-syntax", "expr-forbidden")


def test_long_expression_rejected():
    with pytest.raises(ExprError) as info:
        evaluate("1+" * 300 + "1", {})
    assert info.value.code == "expr-syntax"


def test_unknown_name_suggests():
    with pytest.raises(ExprError) as info:
        evaluate("widht * 2", {"width": 1})
    assert info.value.code == "expr-name"
    assert info.value.hint == "did you mean 'width'?"


def test_python_boolean_semantics():
    assert evaluate("width or 64", {"width": 0}) == 64
    assert evaluate("width or 64", {"width": 32}) == 32
    assert evaluate("0 and 1 / 0", {}) == 0
    assert evaluate("true", {}) is True and evaluate("False", {}) is False
