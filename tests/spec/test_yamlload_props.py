"""Properties and edge cases of the located YAML loader (graphspec.spec.yamlload)."""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graphspec.errors import GraphspecError
from graphspec.spec.yamlload import MAX_DEPTH, decode, load_file, parse, read_text

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Plain strings that the loader reads differently from YAML 1.1 on purpose:
# unquoted 1e-3 is a number for graphspec (users mean lr: 1e-3), not text.
_EXP_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20).filter(lambda s: not _EXP_FLOAT.fullmatch(s))
keys = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), texts).filter(lambda k: k != "<<")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**100), 2**100),
    st.floats(allow_nan=False),
    texts,
)
plain_data = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@PROPS
@given(plain_data, st.booleans())
def test_round_trip_of_plain_data(data, flow):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    tree = parse(text, "rt.yaml")
    assert _same(tree.data, data), (text, tree.data)
    # and PyYAML itself agrees
    assert _same(yaml.safe_load(text), data)


# plain keys that YAML 1.1 reads as booleans or null (the loader rejects those as keys)
_RESERVED = {"yes", "no", "on", "off", "true", "false", "null"}
plain_keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: k not in _RESERVED)


@PROPS
@given(st.lists(st.tuples(plain_keys, st.one_of(st.integers(), texts, st.lists(st.integers(), max_size=3))), min_size=1, max_size=12, unique_by=lambda kv: kv[0]), st.lists(st.integers(0, 2), min_size=12, max_size=12))
def test_locations_point_at_the_right_line(items, gaps):
    """Each key's location, and its value's, is the line and column where it is written."""
    lines = ["# a comment line", "graphspec: 1"]
    where = {}
    for (key, value), gap in zip(items, gaps):
        lines.extend(["", "# spacer"][:gap])
        lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
        where[key] = len(lines)
    text = "\n".join(lines) + "\n"
    tree = parse(text, "loc.yaml")
    for key, line in where.items():
        assert tree.key_locations[(key,)].line == line
        assert tree.key_locations[(key,)].col == 1
        assert tree.locations[(key,)].line == line
        assert tree.locations[(key,)].col == len(key) + 3
        assert tree.loc((key,)).file == "loc.yaml"


def test_nested_locations_and_fallback_to_ancestor():
    text = "graphspec: 1\nnodes:\n  conv:\n    op: Conv2d\n    kernel_size: [3,\n      5]\n"
    tree = parse(text, "n.yaml")
    assert tree.loc(("nodes", "conv", "kernel_size", 1)).line == 6
    assert tree.loc(("nodes", "conv", "kernel_size", 1)).col == 7
    assert tree.loc(("nodes", "conv", "op"), key=True).line == 4
    # a path that does not exist points at its nearest ancestor
    assert tree.loc(("nodes", "conv", "nonexistent", 3)).line == 4  # the mapping value of conv starts there
    assert tree.loc(("nothing",)).line == 1


def test_numbers_as_users_mean_them():
    tree = parse("a: 1e-3\nb: '1e-3'\nc: 0x1F\nd: 0o17\ne: 017\nf: 1_000\ng: -0b101\nh: .inf\ni: 0\nj: +5\n", "n.yaml")
    assert tree.data == {"a": 0.001, "b": "1e-3", "c": 31, "d": "0o17", "e": 15, "f": 1000, "g": -5, "h": math.inf, "i": 0, "j": 5}


def test_bom_is_skipped_and_crlf_is_fine():
    text = decode("\ufeffgraphspec: 1\r\nname: x\r\n".encode("utf-8"), "bom.yaml")
    assert parse(text, "bom.yaml").data == {"graphspec": 1, "name": "x"}


@pytest.mark.parametrize(
    "text,code,line",
    [
        ("a: 1\na: 2\n", "yaml-duplicate-key", 2),
        ("a:\n\tb: 1\n", "yaml-tab", 2),
        ("a: !!python/object/apply:os.system ['true']\n", "yaml-tag", 1),
        ("a: !!binary aGVsbG8=\n", "yaml-tag", 1),
        ("a: !!set {x}\n", "yaml-tag", 1),
        ("a: !custom 1\n", "yaml-tag", 1),
        ("a: &x {b: 1}\nc: {<<: *x}\n", "yaml-tag", 2),
        ("? [1, 2]\n: 3\n", "yaml-key-type", 1),
        ("~: 1\n", "yaml-key-type", 1),
        ("true: 1\n", "yaml-key-type", 1),
        ("1.5: 1\n", "yaml-key-type", 1),
        ("a: 1\n---\nb: 2\n", "yaml-multi-document", 2),
        ("a: [1, 2\n", "yaml-syntax", 2),
        ("a: 'unterminated\n", "yaml-syntax", 2),
        ("a: &x [*x]\n", "yaml-alias-cycle", 1),
        ("a: *nowhere\n", "yaml-syntax", 1),
        ("a: 1:30\n", "bad-value", 1),
        ("a: 0b" + "1" * 64 + "\n", "yaml-too-large", 1),
        ("a: \x07\n", "yaml-syntax", 1),
        ("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "yaml-too-deep", 1),
    ],
)
def test_rejected_yaml(text, code, line):
    with pytest.raises(GraphspecError) as info:
        parse(text, "bad.yaml")
    [d] = info.value.diagnostics
    assert d.code == code, d.format()
    assert d.location.file == "bad.yaml"
    assert d.location.line == line, d.format()


def test_integer_keys_become_text():
    assert parse("1: a\n2: b\n", "k.yaml").data == {"1": "a", "2": "b"}


def test_nesting_at_the_limit_is_fine():
    depth = MAX_DEPTH - 1
    tree = parse("a: " + "[" * depth + "]" * depth + "\n", "d.yaml")
    node = tree.data["a"]
    for _ in range(depth - 1):
        node = node[0]
    assert node == []


def test_empty_document_is_none():
    assert parse("", "e.yaml").data is None
    assert parse("# only a comment\n", "e.yaml").data is None


def test_undecodable_bytes_are_located():
    with pytest.raises(GraphspecError) as info:
        decode(b"a: 1\nb: caf\xe9\n", "enc.yaml")
    [d] = info.value.diagnostics
    assert (d.code, d.location.line, d.location.col) == ("encoding", 2, 7)
    assert "0xe9" in d.message


def test_file_errors(tmp_path):
    with pytest.raises(GraphspecError) as info:
        read_text(tmp_path / "missing.yaml")
    assert info.value.diagnostics[0].code == "file-not-found"
    assert int(info.value.exit_code) == 4
    with pytest.raises(GraphspecError) as info:
        read_text(tmp_path)
    assert info.value.diagnostics[0].code == "file-unreadable"
    with pytest.raises(GraphspecError) as info:
        read_text(str(tmp_path / "a\x00b.yaml"))
    assert info.value.diagnostics[0].code == "file-unreadable"
    good = tmp_path / "ok.yaml"
    good.write_text("graphspec: 1\n", encoding="utf-8")
    assert load_file(good).data == {"graphspec": 1}


def test_file_too_large(tmp_path, monkeypatch):
    from graphspec.spec import yamlload

    monkeypatch.setattr(yamlload, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 200 + "\n", encoding="utf-8")
    with pytest.raises(GraphspecError) as info:
        read_text(big)
    assert info.value.diagnostics[0].code == "file-too-large"


@PROPS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw):
    try:
        text = decode(raw, "b.yaml")
        parse(text, "b.yaml")
    except GraphspecError as exc:
        assert exc.diagnostics[0].location.file == "b.yaml"


@PROPS
@given(st.text(alphabet=st.sampled_from(list("ab:- [{]}&*!'\"#|>\n\t,?%@`~0123")), max_size=60))
def test_arbitrary_yamlish_text_never_crashes(text):
    try:
        tree = parse(text, "t.yaml")
    except GraphspecError as exc:
        d = exc.diagnostics[0]
        assert d.location.file == "t.yaml"
        assert d.location.line is not None
    else:
        assume(tree.data is not None)
