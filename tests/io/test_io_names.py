"""User strings that become file names never become paths."""

from __future__ import annotations

import pytest

from graphspec.errors import GraphspecError
from graphspec.io import check_name, safe_join
from graphspec.io.names import sanitize


@pytest.mark.parametrize("name", ["lenet5", "resnet18-v2.1", "a_b+c", "X" * 128])
def test_safe_names_pass(name):
    assert check_name(name, what="spec name") == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "/etc/passwd", ".hidden", "-rf", "a\nb", 'a"b', "a\x00b", "a b", "x" * 129, "ü", None, 3],
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(GraphspecError) as info:
        check_name(name, what="spec name")
    assert info.value.diagnostics[0].code == "bad-name" and info.value.exit_code == 3


def test_options_use_the_usage_code(tmp_path):
    with pytest.raises(GraphspecError) as info:
        safe_join(tmp_path, "../out", what="--name", code="usage")
    assert info.value.exit_code == 2
    assert safe_join(tmp_path, "ok", what="--name") == tmp_path / "ok"


def test_sanitize_makes_defaults_safe():
    assert sanitize("../a b") == "_a_b" and sanitize("..") == "model" and sanitize("") == "model"
