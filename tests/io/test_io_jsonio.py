"""Results files stay valid JSON."""

import json

from graphspec.io import json_dumps


def test_nan_and_inf_become_null():
    text = json_dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": float("-inf")}})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": {"d": None}}
    assert "NaN" not in text and "Infinity" not in text
