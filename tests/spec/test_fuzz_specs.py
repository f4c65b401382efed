"""Mutation fuzzing of valid specs: whatever a user (or an attacker) writes,
loading ends in a :class:`Spec` or a :class:`GraphspecError` whose diagnostics
have registered codes and a place -- never another exception, never a hang.

Seeds are the language fixture and every zoo spec present at test time
(``specs/*.yaml``). Zoo specs are loaded under their own path, so their
``imports:`` still resolve.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphspec.errors import ERROR_CODES, GraphspecError
from graphspec.graph.model import Spec
from graphspec.ops import registry
from graphspec.pipeline import load
from graphspec.spec.yamlload import decode

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "spec" / "fixtures" / "features.yaml"


def _seeds() -> list[Path]:
    return [FIXTURE] + sorted((ROOT / "specs").glob("*.yaml"))


SEEDS = _seeds()
TEXTS = {p: p.read_text(encoding="utf-8") for p in SEEDS}
DATA = {p: yaml.safe_load(TEXTS[p]) for p in SEEDS}
PER_LOAD_SECONDS = 10

FUZZ = settings(
    max_examples=int(os.environ.get("GRAPHSPEC_FUZZ_EXAMPLES", "120")),  # raise it to hunt for bugs
    deadline=None,  # a hang is caught by the alarm below, which interrupts it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


from time_limit import Hang, time_limit  # noqa: E402


def check_outcome(load_fn) -> str:
    """Run one load; fail the test on anything but a Spec or a clean GraphspecError."""
    with time_limit(PER_LOAD_SECONDS, "loading"):
        try:
            spec = load_fn()
        except GraphspecError as exc:
            diags = exc.diagnostics
            assert diags, "a GraphspecError without diagnostics"
            assert any(d.severity == "error" for d in diags)
            for d in diags:
                assert d.code in ERROR_CODES
                assert d.message
                assert d.location is not None and d.location.file, d.format()
                assert d.location.line is not None and d.location.line >= 1, d.format()
            keys = [(d.code, d.message, d.location) for d in diags]
            assert len(keys) == len(set(keys)), "a diagnostic is reported twice"
            return "error"
    assert isinstance(spec, Spec)
    for d in spec.warnings:
        assert d.severity == "warning" and d.code in ERROR_CODES
    return "ok"


# -- strategies -------------------------------------------------------------

names = st.sampled_from(["x", "width", "hidden", "classes", "i", "batch", "seq", "zz", "__class__", "os"])
numbers = st.one_of(st.integers(-10, 10), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, width=32))
atoms = st.one_of(names, numbers.map(repr), st.just("'text'"))


def _combine(children):
    bin_ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or", "if"])
    return st.one_of(
        st.tuples(children, bin_ops, children).map(
            lambda t: f"({t[0]} if {t[2]} else {t[0]})" if t[1] == "if" else f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(st.sampled_from(["-", "not ", "+"]), children).map(lambda t: f"{t[0]}{t[1]}"),
        st.tuples(st.sampled_from(["min", "max", "abs", "int", "float", "round", "ceil", "floor", "ceil_div", "__import__", "eval", "open"]), st.lists(children, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        children.map(lambda c: f"{c}.__class__"),
        children.map(lambda c: f"{c}[0]"),
        children.map(lambda c: f"(lambda: {c})()"),
        children.map(lambda c: f"[{c} for _ in range(3)]"),
        children.map(lambda c: f"[{c}, {c}]"),
    )


expressions = st.recursive(atoms, _combine, max_leaves=8)
expr_strings = st.one_of(
    expressions.map(lambda e: "${" + e + "}"),
    expressions.map(lambda e: "layer${" + e + "}"),
    st.sampled_from(["${", "${}", "${ ${x} }", "$${x}", "${1/0}", "${10**10**10}", "${'a'*10**9}", "${round(5, -10**9)}"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.integers(-(2**80), 2**80),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["x", "batch", "Linear", "ReLU", "Sequential", "fc", "lstm.h_n", "x.bogus", "class", "1abc", ""]),
)
values = st.one_of(
    scalars,
    expr_strings,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), scalars, max_size=3),
)


def _paths(data, prefix=()):
    """Every (path to a container, key) pair in the tree, for choosing a place to mutate."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((prefix, k))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((prefix, i))
            out.extend(_paths(v, prefix + (i,)))
    return out


def _at(data, path):
    for p in path:
        data = data[p]
    return data


def _copy(data):
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _op_names() -> list[str]:
    return registry.names() + ["Sequential", "dense", "res", "lib.missing", "Conv2D", "relu", ""]


def mutate(data, draw) -> object:
    """Apply one to three random mutations to a copy of a parsed spec."""
    data = _copy(data)
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(data)
        if not places:
            return draw(values)
        path, key = draw(st.sampled_from(places))
        parent = _at(data, path)
        kind = draw(st.sampled_from(["delete", "duplicate", "rename", "value", "expr", "op", "swap"]))
        if kind == "delete":
            del parent[key]
        elif kind == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, _copy(parent[key]))
            else:
                parent[draw(st.sampled_from([f"{key}_copy", f"{key}2", "x", "fc"]))] = _copy(parent[key])
        elif kind == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(st.text(max_size=10), st.sampled_from(["op", "in", "repeat", "share", "nodes", "layers", "x", "class", "1abc", "i"])))
            parent[new] = parent.pop(key)
        elif kind == "expr":
            parent[key] = draw(expr_strings)
        elif kind == "op":
            target = parent[key]
            if isinstance(target, dict):
                target["op"] = draw(st.sampled_from(_op_names()))
            else:
                parent[key] = draw(st.sampled_from(_op_names()))
        elif kind == "swap":
            other_path, other_key = draw(st.sampled_from(places))
            try:
                other = _at(data, other_path)[other_key]
            except (KeyError, IndexError, TypeError):
                continue
            parent[key] = _copy(other)
        else:
            parent[key] = draw(values)
    return data


seed_paths = st.sampled_from(SEEDS)


@FUZZ
@given(seed=seed_paths, data=st.data())
def test_mutated_trees_load_cleanly(seed, data):
    mutated = mutate(DATA[seed], data.draw)
    text = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)
    check_outcome(lambda: load(str(seed), text=text))


def _line_mutation(text: str, draw) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["duplicate", "delete", "indent", "dedent", "tab", "swap"]))
    if kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "delete":
        del lines[i]
    elif kind == "indent":
        lines[i] = "  " + lines[i]
    elif kind == "dedent":
        lines[i] = lines[i].lstrip(" ")
    elif kind == "tab":
        lines[i] = "\t" + lines[i]
    else:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


@FUZZ
@given(seed=seed_paths, data=st.data())
def test_mutated_text_loads_cleanly(seed, data):
    """Edits on the text itself: duplicated lines (duplicate keys), tabs, bad indentation,
    and characters that YAML reads specially."""
    text = TEXTS[seed]
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            text = _line_mutation(text, data.draw)
        else:
            pos = data.draw(st.integers(0, max(len(text) - 1, 0)))
            junk = data.draw(st.sampled_from(["&a ", "*a", "!!python/name:os.system ", "!foo ", "{", "}", "[", "]", ":", "- ", "? ", "<<: ", "---\n", "\t", "'", '"', "${", "#", "\x07", "%YAML 1.1\n", "|\n"]))
            text = text[:pos] + junk + text[pos:]
    check_outcome(lambda: load(str(seed), text=text))


@FUZZ
@given(seed=seed_paths, data=st.data())
def test_corrupted_bytes_load_cleanly(seed, data):
    """Random byte edits: invalid UTF-8 is an 'encoding' error, anything else loads or fails cleanly."""
    raw = bytearray(TEXTS[seed].encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if kind == "replace":
            raw[pos] = byte
        elif kind == "insert":
            raw.insert(pos, byte)
        else:
            del raw[pos : pos + data.draw(st.integers(1, 40))]
    name = str(seed)
    check_outcome(lambda: load(name, text=decode(bytes(raw), name)))


def test_seeds_are_valid():
    """The fuzzing starts from valid specs (a broken zoo spec would make the fuzzing moot)."""
    assert len(SEEDS) >= 1
    for seed in SEEDS:
        assert check_outcome(lambda: load(str(seed))) == "ok", seed


@pytest.mark.parametrize("expr", ["${__import__('os').system('echo pwned')}", "${open('/etc/passwd')}", "${().__class__.__bases__}"])
def test_hostile_expressions_anywhere(expr):
    for seed in SEEDS[:1]:
        data = _copy(DATA[seed])
        data["nodes"]["stem"]["out"] = expr
        text = yaml.safe_dump(data, sort_keys=False)
        with pytest.raises(GraphspecError) as info:
            load(str(seed), text=text)
        assert info.value.diagnostics[0].code == "expr-forbidden"
