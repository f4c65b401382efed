"""graphspec schema (JSON Schema of the language) and graphspec ops (the op reference)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graphspec.cli.main import main
from graphspec.ops import registry
from graphspec.pipeline import jsonschema as js

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs" / "blocks").glob("*.yaml"))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def schema() -> dict:
    return js.build(js.builtin_ops())


# -- graphspec schema ------------------------------------------------------------


def test_schema_command_prints_draft_2020_12(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    doc = json.loads(out)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["properties"]["graphspec"]["const"] == 1
    assert doc["additionalProperties"] is False


def test_schema_command_writes_a_file(tmp_path, capsys):
    out = tmp_path / "s.json"
    code, stdout, err = run(capsys, "schema", "--builtin-only", "-o", out)
    assert code == 0 and stdout == "" and "wrote" in err
    assert json.loads(out.read_text()) == json.loads(js.dumps(js.build(js.builtin_ops())))
    code, _, err = run(capsys, "schema", "-o", tmp_path / "missing" / "s.json")
    assert code == 4 and "cannot write" in err


def test_every_op_has_a_node_model(schema):
    defs = schema["$defs"]
    names = registry.names()
    assert schema["$defs"]["OpNode"]["properties"]["op"]["enum"] == sorted(names)
    dispatch = {c["if"]["properties"]["op"]["const"]: c["then"]["$ref"] for c in defs["OpNode"]["allOf"]}
    for name in names:
        d = defs[name]
        assert dispatch[name] == f"#/$defs/{name}"
        assert d["properties"]["op"]["const"] == name
        assert d["additionalProperties"] is False
        assert {"in", "repeat", "share", "doc"} <= set(d["properties"])
        fields = registry.get(name).model_fields
        assert set(fields) <= set(d["properties"])
        for field in fields:  # every parameter also accepts an expression
            assert {"$ref": "#/$defs/Expr"} in d["properties"][field].get("anyOf", []) or d["properties"][field].get("type") == "string", (name, field)
        required = {f for f, info in fields.items() if info.is_required()}
        assert set(d.get("required", [])) == required | {"op"}


def test_node_dispatch_covers_sequential_and_block_calls(schema):
    node = schema["$defs"]["Node"]
    assert node["then"] == {"$ref": "#/$defs/OpNode"}
    assert node["else"]["then"] == {"$ref": "#/$defs/SequentialNode"}
    assert node["else"]["else"] == {"$ref": "#/$defs/BlockCallNode"}
    assert schema["$defs"]["SequentialNode"]["properties"]["layers"]["items"] == {"$ref": "#/$defs/Node"}
    for holder in (schema, schema["$defs"]["GraphDecl"], schema["$defs"]["BlockDecl"]):
        assert holder["properties"]["nodes"] == {"$ref": "#/$defs/Nodes"}


def test_any_case_pattern():
    import re

    pattern = js._any_case(["Conv2d", "ReLU"])
    assert re.fullmatch(pattern, "conv2D") and re.fullmatch(pattern, "RELU")
    assert not re.fullmatch(pattern, "Conv2dx") and not re.fullmatch(pattern, "basic")


@pytest.fixture(scope="module")
def validator(schema):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


BASE = {"graphspec": 1, "inputs": {"x": {"shape": ["batch", 3, 32, 32]}}, "outputs": "n"}


@pytest.mark.parametrize(
    "node, problem",
    [
        ({"op": "Conv2d", "in": "x", "out_channels": 8, "kernel_size": 3}, None),
        ({"op": "Conv2d", "in": "x", "out_channels": "${w * 2}", "kernel_size": ["${k}", 3]}, None),
        ({"op": "Conv2d", "in": "x", "out_channels": 8, "kernel_size": 3, "repeat": "${n}"}, None),
        ({"op": "Sequential", "in": "x", "layers": [{"op": "ReLU"}, {"op": "Linear", "out_features": 3}]}, None),
        ({"op": "basic", "in": "x", "planes": 64}, None),
        ({"op": "resnet.basic", "in": {"x": "x"}, "planes": "${w}"}, None),
        ({"op": "Conv2d", "in": "x", "out_channels": 8, "kernel_size": 3, "kernel": 3}, "'kernel' was unexpected"),
        ({"op": "Conv2d", "in": "x", "kernel_size": 3}, "'out_channels' is a required property"),
        ({"op": "Conv2d", "in": "x", "out_channels": -1, "kernel_size": 3}, "minimum of 0"),
        ({"op": "Conv2d", "in": "x", "out_channels": "eight", "kernel_size": 3}, "does not match"),
        ({"op": "Conv2d", "in": "x", "out_channels": 8, "kernel_size": 3, "padding_mode": "zero"}, "zero"),
        ({"op": "Conv2D", "in": "x", "out_channels": 8}, "not valid under any"),  # neither an op nor a block name, nor an expression
        ({"op": "Sequential", "in": "x", "layers": [{"op": "ReLU", "slope": 1}]}, "'slope' was unexpected"),
        ({"op": "Sequential", "in": "x", "layers": []}, "should be non-empty"),
        ({"op": "ReLU", "in": "x", "repeat": 0}, "minimum of 1"),
        ({"in": "x"}, "'op' is a required property"),
    ],
)
def test_schema_accepts_and_rejects_nodes(validator, node, problem):
    import jsonschema

    errors = list(validator.iter_errors({**BASE, "nodes": {"n": node}}))
    if problem is None:
        assert errors == []
    else:
        best = jsonschema.exceptions.best_match(errors)
        assert best is not None and problem in best.message, [e.message for e in errors]


def test_schema_checks_file_structure(validator):
    node = {"op": "ReLU", "in": "x"}
    assert list(validator.iter_errors({**BASE, "nodes": {"n": node}, "dims": {"batch": 0}}))
    assert list(validator.iter_errors({**BASE, "nodes": {"n": node}, "nodez": {}}))
    assert list(validator.iter_errors({**BASE, "nodes": {"n": node}, "graphspec": 2}))
    block = {"params": {"c": {"type": "integer"}}, "nodes": {"a": node}, "outputs": "a"}
    assert list(validator.iter_errors({**BASE, "nodes": {"n": node}, "blocks": {"B": block}}))
    block["params"] = {"c": None, "d": 3, "e": {"type": "int", "default": 2, "doc": "width"}}
    assert not list(validator.iter_errors({**BASE, "nodes": {"n": node}, "blocks": {"B": block}}))


@pytest.mark.parametrize("path", ZOO, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_zoo_specs_validate_against_the_schema(validator, path):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_fixture_spec_validates(validator):
    data = yaml.safe_load((ROOT / "tests" / "spec" / "fixtures" / "features.yaml").read_text())
    assert not list(validator.iter_errors(data))


# -- op descriptions ------------------------------------------------------------


def test_op_info_of_conv2d():
    info = js.op_info(registry.get("Conv2d"))
    assert info["category"] == "conv"
    assert info["inputs"] == [{"name": "x", "kind": "required"}] and info["outputs"] == ["out"]
    params = {p["name"]: p for p in info["params"]}
    assert params["out_channels"]["required"] and params["out_channels"]["type"] == "int"
    assert params["out_channels"]["range"] == "> 0, <= 1_000_000"
    assert params["stride"]["default"] == 1 and not params["stride"]["required"]
    assert params["padding"]["type"] == "int | [int, ...] | 'same' | 'valid'"
    assert params["padding_mode"]["default"] == "zeros"
    assert "[batch, 3, 224, 224] -> [batch, 64, 55, 55]" in info["example"]


def test_every_op_is_described():
    for cls in registry.all_ops():
        info = js.op_info(cls)
        assert info["summary"], f"{cls.op_name} has no docstring"
        for p in info["params"]:
            assert p["description"], f"{cls.op_name}.{p['name']} has no description"
            assert p["type"] != "any", f"{cls.op_name}.{p['name']} has no JSON type"


# -- graphspec ops --------------------------------------------------------------


def test_ops_lists_every_op_by_category(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    for cls in registry.all_ops():
        assert f"  {cls.op_name} " in out
    assert out.index("\nconv\n") < out.index("\ndense\n")  # categories sorted
    assert "out_channels" in out and "required" in out and "> 0, <= 1_000_000" in out
    assert f"{len(registry.names())} op(s)" in out


def test_ops_brief(capsys):
    code, out, _ = run(capsys, "ops", "--brief")
    assert code == 0 and "Conv2d" in out and "out_channels" not in out


def test_ops_one_op(capsys):
    code, out, _ = run(capsys, "ops", "LSTM")
    assert code == 0
    assert out.startswith("LSTM  (recurrent)")
    assert "h0  optional" in out and "h_n" in out and "hidden_size" in out
    assert "in a spec:" in out and "hidden_size: <int>" in out


def test_ops_name_is_case_insensitive_and_categories_work(capsys):
    code, out, _ = run(capsys, "ops", "conv2D")
    assert code == 0 and out.startswith("Conv2d")
    code, out, _ = run(capsys, "ops", "pool")
    assert code == 0 and "MaxPool2d" in out and "Conv2d" not in out


def test_ops_typo_suggests(capsys):
    code, out, err = run(capsys, "ops", "Conv2dd")
    assert code == 2
    assert "no op or category named 'Conv2dd'" in err and "did you mean" in err and "Conv2d" in err


def test_ops_json(capsys):
    code, out, _ = run(capsys, "ops", "--json")
    assert code == 0
    doc = json.loads(out)
    assert {d["name"] for d in doc} == set(registry.names())
    code, out, _ = run(capsys, "ops", "Linear", "--json")
    one = json.loads(out)
    assert one["name"] == "Linear" and one["params"][0]["name"] == "out_features"
    assert set(one) >= {"category", "summary", "shape_rule", "inputs", "outputs", "params"}
