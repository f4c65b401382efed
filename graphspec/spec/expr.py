"""Safe arithmetic over spec parameters: ``${width * 2}``, ``${max(c // 4, 8)}``.

Expressions are parsed with :mod:`ast` and evaluated by walking a small
allowlist of node types. There is no ``eval``, no attribute access, no
subscripts, no lambdas, no comprehensions and no imports, so a hostile spec
cannot reach Python objects. Values are bounded so that ``${10 ** 10 ** 10}``
fails fast instead of hanging.

A string that is exactly ``${expr}`` becomes the expression's value (an int
stays an int); ``${...}`` inside longer text is formatted into the text.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any, Mapping

MAX_EXPR_CHARS = 500
MAX_INT = 2**62
# Results are size-capped as they are built, so doubling a string or a list
# through params (b: "${a}${a}", c: "${b}${b}", ...) stops at once.
MAX_STR_CHARS = 10_000
MAX_LIST_ITEMS = 10_000  # counted through nested lists
_INTERP = re.compile(r"\$\{([^{}]*)\}")


class ExprError(Exception):
    """An expression problem; ``code`` is a graphspec error code."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


def _items(value: list, budget: int) -> int:
    """Elements of a (nested) list, counting stops past ``budget`` (shared sublists would make a full count exponential)."""
    n = 0
    stack = [value]
    while stack and n <= budget:
        for v in stack.pop():
            n += 1
            if isinstance(v, list):
                stack.append(v)
    return n


def _sized(value: Any) -> Any:
    """The size caps, applied where values grow (list displays, interpolated strings):
    everything else only passes operands through or computes numbers."""
    if isinstance(value, str) and len(value) > MAX_STR_CHARS:
        raise ExprError("expr-value", f"string result of {len(value):,} characters is too long (at most {MAX_STR_CHARS:,})")
    if isinstance(value, list) and _items(value, MAX_LIST_ITEMS) > MAX_LIST_ITEMS:
        raise ExprError("expr-value", f"list result has more than {MAX_LIST_ITEMS:,} elements (nested lists included)")
    return value


def _checked(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ExprError("expr-value", f"integer result {value:.3e} is out of range (|x| <= 2**62)")
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ExprError("expr-value", f"result is {value}")
    if isinstance(value, complex):
        raise ExprError("expr-value", f"result {value} is a complex number")
    return value


def _div(a, b):
    if b == 0:
        raise ExprError("expr-zero-division", "division by zero")
    return a / b


def _floordiv(a, b):
    if b == 0:
        raise ExprError("expr-zero-division", "integer division by zero")
    return a // b


def _mod(a, b):
    if b == 0:
        raise ExprError("expr-zero-division", "modulo by zero")
    return a % b


def _pow(a, b):
    if isinstance(b, (int, float)) and abs(b) > 64:
        raise ExprError("expr-value", f"exponent {b} is too large (at most 64)")
    if isinstance(a, (int, float)) and abs(a) > 2**32 and b > 2:
        raise ExprError("expr-value", "power result would be too large")
    if a == 0 and b < 0:
        raise ExprError("expr-zero-division", "zero raised to a negative power")
    try:
        result = a**b
    except OverflowError:
        raise ExprError("expr-value", f"{a!r} ** {b!r} is too large")
    if isinstance(result, complex):
        raise ExprError("expr-value", f"{a!r} ** {b!r} is not a real number")
    return result


_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _ceil_div(a, b):
    return -_floordiv(-a, b)


def _round(x, ndigits=None):
    # round(5, -10**9) would compute 10**(10**9): bound the digits
    if ndigits is not None and (isinstance(ndigits, bool) or not isinstance(ndigits, int) or abs(ndigits) > 30):
        raise ExprError("expr-value", f"round(): ndigits must be an integer from -30 to 30. Received: {ndigits!r}")
    return round(x) if ndigits is None else round(x, ndigits)


FUNCTIONS: dict[str, Any] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "ceil_div": _ceil_div,
}


def _strip(node: ast.AST) -> str:
    return type(node).__name__


def evaluate(source: str, scope: Mapping[str, Any], max_chars: int | None = MAX_EXPR_CHARS) -> Any:
    """Evaluate one expression (without the ``${ }``) over ``scope``.

    >>> evaluate("width * 2 + 1", {"width": 8})
    17
    >>> evaluate("max(c // 4, 8)", {"c": 64})
    16
    >>> evaluate("2 if i == 0 else 1", {"i": 0})
    2
    """
    if max_chars is not None and len(source) > max_chars:
        raise ExprError("expr-syntax", f"expression is longer than {max_chars} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError("expr-syntax", f"cannot parse expression {source!r}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ExprError("expr-syntax", f"cannot parse expression {source!r}: {type(exc).__name__}")
    _check_allowed(tree.body)
    try:
        return _checked(_Eval(scope).visit(tree.body))
    except RecursionError:
        raise ExprError("expr-syntax", "expression is nested too deeply")
    except ArithmeticError as exc:  # float overflow and the like: never a crash
        raise ExprError("expr-value", f"cannot compute {source.strip()!r}: {exc}")


_HINT = (
    "expressions allow numbers, names, + - * / // % **, comparisons, "
    "'a if c else b' and min/max/abs/int/float/round/ceil/floor/ceil_div"
)


def _check_allowed(root: ast.AST) -> None:
    """Reject any construct outside the allowlist anywhere in the expression,
    also in a branch that evaluation would not take (``1 if c else x.y``)."""
    for node in ast.walk(root):
        if isinstance(node, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)):
            continue  # checked with the node that holds them
        if getattr(_Eval, "v_" + type(node).__name__, None) is None:
            raise ExprError("expr-forbidden", f"{_strip(node)} is not allowed in an expression", hint=_HINT)
        if isinstance(node, ast.Constant) and not (isinstance(node.value, (int, float, str, bool)) or node.value is None):
            raise ExprError("expr-forbidden", f"constant {node.value!r} is not allowed")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
            raise ExprError("expr-forbidden", f"operator {_strip(node.op)} is not allowed")
        if isinstance(node, ast.UnaryOp) and type(node.op) not in _UNARY:
            raise ExprError("expr-forbidden", f"operator {_strip(node.op)} is not allowed")
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise ExprError("expr-forbidden", f"comparison {_strip(op)} is not allowed")
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            raise ExprError("expr-forbidden", f"assigning to {node.id!r} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExprError(
                    "expr-forbidden",
                    f"{_strip(node.func)} is not allowed in an expression (only the listed functions can be called, by name)",
                    hint="allowed functions: " + ", ".join(sorted(FUNCTIONS)),
                )
            if node.func.id not in FUNCTIONS:
                raise ExprError("expr-forbidden", f"function {node.func.id!r} is not allowed", hint="allowed functions: " + ", ".join(sorted(FUNCTIONS)))
            if node.keywords:
                raise ExprError("expr-forbidden", "keyword arguments are not allowed in expressions")


class _Eval:
    def __init__(self, scope: Mapping[str, Any]):
        self.scope = scope

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, "v_" + type(node).__name__, None)
        if method is None:
            raise ExprError("expr-forbidden", f"{_strip(node)} is not allowed in an expression", hint=_HINT)
        return _checked(method(node))

    def v_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ExprError("expr-forbidden", f"constant {node.value!r} is not allowed")

    def v_Name(self, node: ast.Name) -> Any:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        from graphspec.errors import did_you_mean

        raise ExprError("expr-name", f"unknown name {node.id!r} in expression", hint=did_you_mean(node.id, self.scope))

    def v_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExprError("expr-forbidden", f"operator {_strip(node.op)} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        self._numbers(left, right)
        return op(left, right)

    def v_UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ExprError("expr-forbidden", f"operator {_strip(node.op)} is not allowed")
        value = self.visit(node.operand)
        if not isinstance(node.op, ast.Not):
            self._numbers(value)
        return op(value)

    def v_BoolOp(self, node: ast.BoolOp) -> Any:
        # Python's semantics: 'a or b' is a if a is true, else b (so ${width or 64} works)
        value = None
        for operand in node.values:
            value = self.visit(operand)
            if bool(value) != isinstance(node.op, ast.And):
                return value
        return value

    def v_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise ExprError("expr-forbidden", f"comparison {_strip(op)} is not allowed")
            right = self.visit(comp)
            try:
                ok = fn(left, right)
            except TypeError:
                raise ExprError("expr-value", f"cannot compare {left!r} with {right!r}")
            if not ok:
                return False
            left = right
        return True

    def v_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def v_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ExprError(
                "expr-forbidden",
                f"{_strip(node.func)} is not allowed in an expression (only the listed functions can be called, by name)",
                hint="allowed functions: " + ", ".join(sorted(FUNCTIONS)),
            )
        if node.func.id not in FUNCTIONS:
            name = node.func.id
            raise ExprError(
                "expr-forbidden",
                f"function {name!r} is not allowed",
                hint="allowed functions: " + ", ".join(sorted(FUNCTIONS)),
            )
        if node.keywords:
            raise ExprError("expr-forbidden", "keyword arguments are not allowed in expressions")
        args = [self.visit(a) for a in node.args]
        self._numbers(*args)
        try:
            return FUNCTIONS[node.func.id](*args)
        except ExprError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError("expr-value", f"{node.func.id}(): {exc}")

    def v_List(self, node: ast.List) -> Any:
        return _sized([self.visit(e) for e in node.elts])

    v_Tuple = v_List

    @staticmethod
    def _numbers(*values: Any) -> None:
        for v in values:
            if not isinstance(v, (int, float)):
                raise ExprError("expr-value", f"arithmetic needs numbers, received {v!r}")


def has_expr(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def interpolate(value: str, scope: Mapping[str, Any]) -> Any:
    """Resolve ``${...}`` in one string.

    >>> interpolate("${a * 2}", {"a": 3})
    6
    >>> interpolate("layer${i}", {"i": 2})
    'layer2'
    """
    match = _INTERP.fullmatch(value.strip())
    if match:
        return evaluate(match.group(1), scope)
    if "${" in value and not _INTERP.search(value):
        raise ExprError("expr-syntax", f"unterminated '${{' in {value!r}")

    total = len(value)

    def repl(m: re.Match) -> str:
        nonlocal total
        text = str(evaluate(m.group(1), scope))
        total += len(text)
        if total > MAX_STR_CHARS:  # checked piece by piece: "${a}" x 100,000 stops at once
            raise ExprError("expr-value", f"the interpolated string would be longer than {MAX_STR_CHARS:,} characters")
        return text

    return _INTERP.sub(repl, value)


def resolve(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve expressions anywhere inside lists/dicts (not keys)."""
    if isinstance(value, str):
        return interpolate(value, scope) if "${" in value else value
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, scope) for k, v in value.items()}
    return value
