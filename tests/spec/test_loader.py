"""The spec loader: file schema, params, overrides, error collection and order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from graphspec.errors import GraphspecError
from graphspec.pipeline import load
from graphspec.spec.yamlload import parse
from graphspec.spec.overrides import apply, parse_assignments

FIXTURE = Path(__file__).parent / "fixtures" / "features.yaml"

WIDTH = """
graphspec: 1
params: {width: 32, out: "${width // 2}"}
inputs: {x: {shape: [batch, 8]}}
nodes:
  fc: {op: Linear, in: x, out_features: "${width}"}
  head: {op: Linear, in: fc, out_features: "${out}"}
outputs: head
"""


def spec(text: str, **kw):
    return load("t.yaml", text=textwrap.dedent(text), **kw)


def diagnostics(text: str, **kw):
    with pytest.raises(GraphspecError) as info:
        spec(text, **kw)
    return info.value.diagnostics


def test_language_fixture_loads():
    s = load(FIXTURE)
    g = s.graph()
    assert s.name == "mlp"
    assert s.params == {"hidden": 64, "classes": 10, "depth": 2}
    assert g.output_type("logits").shape == ("batch", 10)
    assert g.total_params == 15000
    assert len(s.sha256) == 64 and s.files == [str(FIXTURE)]
    # tied/head2 are not used by the output: warnings, sorted by line, and the spec is valid
    assert [(w.code, w.node, w.location.line) for w in s.warnings] == [("unused-node", "tied", 27), ("unused-node", "head2", 28)]


def test_params_may_use_earlier_params():
    s = spec(WIDTH)
    assert s.params == {"width": 32, "out": 16}
    assert s.graph().output_type("head").shape == ("batch", 16)


def test_set_override_changes_shapes_and_later_params():
    s = spec(WIDTH, set=parse_assignments(["params.width=64"]))
    g = s.graph()
    assert g.node("fc")["meta"]["types"][0].shape == ("batch", 64)
    assert g.output_type("head").shape == ("batch", 32)  # out = width // 2 follows


def test_set_override_reaches_node_fields_and_list_items():
    text = WIDTH.replace("outputs: head", "  seq: {op: Sequential, in: head, layers: [{op: Linear, out_features: 4}]}\noutputs: seq")
    s = spec(text, set=parse_assignments(["nodes.fc.out_features=10", "nodes.seq.layers.0.out_features=7"]))
    g = s.graph()
    assert g.node("fc")["meta"]["types"][0].shape == ("batch", 10)
    assert g.output_type("seq").shape == ("batch", 7)


def test_set_values_are_yaml():
    got = {o.key: o.value for o in parse_assignments(["a=64", "b=true", "c=[3, 3]", "d=1e-3", "e=text", "f=", "g.h='64'"])}
    assert got == {"a": 64, "b": True, "c": [3, 3], "d": 0.001, "e": "text", "f": "", "g.h": "64"}


@pytest.mark.parametrize("item", ["width", "=3", "a..b=1", ".a=1", "a.=1", "params.w=[1,", "params.w=!!python/name:os.system", "params.w=&a [*a]"])
def test_bad_set_syntax_is_a_usage_error(item):
    with pytest.raises(GraphspecError) as info:
        parse_assignments([item])
    [d] = info.value.diagnostics
    assert d.code == "override"
    assert int(info.value.exit_code) == 2


@pytest.mark.parametrize(
    "key",
    ["graphspec.x", "params.width.x", "nodes.fc.op.x"],
)
def test_set_through_a_scalar_is_reported(key):
    [d] = diagnostics(WIDTH, set={key: 1})
    assert d.code == "override" and key in d.message


def test_set_list_index_out_of_range():
    text = WIDTH.replace("outputs: head", "  seq: {op: Sequential, in: head, layers: [{op: ReLU}]}\noutputs: seq")
    [d] = diagnostics(text, set={"nodes.seq.layers.3.op": "Tanh"})
    assert d.code == "override" and "not an index" in d.message


def test_override_does_not_change_the_source_text():
    s = spec(WIDTH, set={"params.width": 64})
    assert "width: 32" in s.text


# -- the file schema ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,code",
    [
        ("", "schema"),
        ("[1, 2]\n", "schema"),
        ("42\n", "schema"),
        ("graphspec: 2\ninputs: {}\nnodes: {}\noutputs: []\n", "version"),
        ("graphspec: '1'\ninputs: {}\nnodes: {}\noutputs: []\n", "version"),
        ("inputs: {}\nnodes: {}\noutputs: []\n", "missing-field"),
        ("graphspec: 1\n", "missing-field"),
        ("graphspec: 1\nnodes: {}\n", "missing-field"),
        ("graphspec: 1\nnodez: {}\n", "unknown-field"),
        ("graphspec: 1\ninputs: {x: {shape: [1], dtyp: float32}}\nnodes: {}\noutputs: x\n", "unknown-field"),
        ("graphspec: 1\ninputs: {x: {shape: [1], dtype: float128}}\nnodes: {}\noutputs: x\n", "bad-value"),
        ("graphspec: 1\ninputs: {x: {shape: 5}}\nnodes: {}\noutputs: x\n", "bad-type"),
        ("graphspec: 1\ndims: {batch: 0}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "bad-value"),
        ("graphspec: 1\ndims: {batch: many}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "bad-type"),
        ("graphspec: 1\nparams: {class: 1}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "bad-name"),
        ("graphspec: 1\nparams: {a: '${b}'}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "expr-name"),
        ("graphspec: 1\nimports: {lib: 5}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "bad-type"),
        ("graphspec: 1\nblocks: {b: {nodes: {}}}\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\n", "missing-field"),
        ("graphspec: 1\ninputs: {x: {shape: [1]}}\nnodes: {r: 5}\noutputs: x\n", "bad-type"),
    ],
)
def test_schema_problems(text, code):
    errs = [d for d in diagnostics(text) if d.severity == "error"]
    assert errs[0].code == code, [d.format() for d in errs]
    assert errs[0].location.line is not None


def test_union_errors_are_one_diagnostic():
    [d] = diagnostics("graphspec: 1\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: 5\n")
    assert d.code == "bad-type"
    assert d.message.startswith("outputs: ")
    assert "valid string" in d.message and "valid list" in d.message
    assert (d.location.line, d.location.col) == (4, 10)


def test_unknown_field_points_at_the_key_with_a_hint():
    [d] = diagnostics("graphspec: 1\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\nparms: {}\n")
    assert (d.code, d.location.line, d.location.col) == ("unknown-field", 5, 1)
    assert d.hint == "did you mean 'params'?"


def test_both_forms_at_once():
    errs = diagnostics(
        "graphspec: 1\ninputs: {x: {shape: [1]}}\nnodes: {}\noutputs: x\ngraphs: {g: {inputs: {x: {shape: [1]}}, nodes: {}, outputs: x}}\n"
    )
    assert [(d.code, d.location.line) for d in errs] == [("schema", 5)]


def test_train_section_is_resolved_with_params():
    s = spec(WIDTH.replace("outputs: head", "outputs: head\ntrain: {task: regress, data: sine, epochs: '${width // 8}', optimizer: {lr: 1e-3}}"))
    assert s.train == {"task": "regress", "data": "sine", "epochs": 4, "optimizer": {"lr": 0.001}}
    assert s.train_config.epochs == 4
    [d] = diagnostics(WIDTH.replace("outputs: head", "outputs: head\ntrain: {task: regress, epochs: '${nope}'}"))
    assert d.code == "expr-name"


def test_errors_are_collected_sorted_and_unique():
    text = """
    graphspec: 1
    blocks:
      bad: {nodes: {fc: {op: Lineer, in: x}}, outputs: fc}
    inputs: {x: {shape: [batch, 4]}}
    nodes:
      z: {op: ReLU, in: nowhere}
      a: {op: bad, in: x}
      b: {op: bad, in: x, repeat: 3}
      c: {op: Linear, in: x, out_features: 0}
    outputs: [z, a, b, c]
    """
    errs = diagnostics(text)
    assert [(d.code, d.location.line) for d in errs] == [("unknown-op", 4), ("unknown-ref", 7), ("bad-value", 10)]


def test_diagnostics_of_imported_files_come_after_the_spec_own(tmp_path):
    (tmp_path / "lib.yaml").write_text("graphspec: 1\nblocks:\n  b: {nodes: {r: {op: Relu, in: x}}, outputs: r}\n")
    main = tmp_path / "main.yaml"
    main.write_text("graphspec: 1\nimports: {lib: lib.yaml}\ninputs: {x: {shape: [2]}}\nnodes:\n  a: {op: lib.b, in: x}\n  c: {op: Tanh, in: q}\noutputs: [a, c]\n")
    with pytest.raises(GraphspecError) as info:
        load(main)
    got = [(Path(d.location.file).name, d.code) for d in info.value.diagnostics]
    assert got == [("main.yaml", "unknown-ref"), ("lib.yaml", "unknown-op")]


def test_empty_and_comment_only_files(tmp_path):
    for text in ("", "# just a comment\n", "\n\n"):
        [d] = diagnostics(text)
        assert d.code == "schema" and "empty" in d.message


def test_apply_creates_missing_mappings_with_plus():
    tree = parse("graphspec: 1\n", "f.yaml")
    apply(tree, parse_assignments(["+params.width=3"]))
    assert tree.data == {"graphspec": 1, "params": {"width": 3}}
    assert tree.loc(("params", "width")).override == "--set +params.width=3"


def test_blocks_file_validates_on_its_own_and_has_no_graph(tmp_path):
    from graphspec.cli.main import main

    lib = tmp_path / "lib.yaml"
    lib.write_text(
        "graphspec: 1\nblocks:\n  dense:\n    params: {out: null}\n"
        "    nodes: {fc: {op: Linear, in: x, out_features: '${out}'}}\n    outputs: fc\n"
    )
    spec = load(str(lib))
    assert spec.graphs == {}
    assert main(["validate", str(lib)]) == 0
    assert main(["inspect", str(lib)]) == 2  # no graph to inspect: a usage error, said plainly
    bad = tmp_path / "bad.yaml"
    bad.write_text("graphspec: 1\nimports: {x: missing.yaml}\nblocks: {}\n")
    assert main(["validate", str(bad)]) == 3


def test_import_nesting_is_limited(tmp_path):
    from graphspec.pipeline.imports import MAX_IMPORT_DEPTH

    n = MAX_IMPORT_DEPTH + 3
    for i in range(n):
        nxt = f"imports: {{n: f{i + 1}.yaml}}\n" if i + 1 < n else ""
        (tmp_path / f"f{i}.yaml").write_text(f"graphspec: 1\n{nxt}blocks: {{}}\n")
    main = tmp_path / "main.yaml"
    main.write_text("graphspec: 1\nimports: {n: f0.yaml}\ninputs: {x: {shape: [2]}}\nnodes: {r: {op: ReLU, in: x}}\noutputs: r\n")
    with pytest.raises(GraphspecError) as info:
        load(str(main))
    [d] = info.value.diagnostics
    assert d.code == "import" and f"deeper than {MAX_IMPORT_DEPTH}" in d.message


def test_independent_problems_are_reported_in_one_run():
    """An unknown reference, a bad expression, a shape error and a train: typo: all four at once."""
    text = (
        "graphspec: 1\nparams: {width: 8}\ninputs:\n  x: {shape: [batch, 3, 8, 8]}\nnodes:\n"
        "  a: {op: ReLU, in: nowhere}\n"
        "  b: {op: Linear, in: x, out_features: '${width * }'}\n"
        "  c: {op: Conv2d, in: x, out_channels: 4, kernel_size: 20}\n"
        "outputs: {a: a, b: b, c: c}\n"
        "train: {task: classify, data: digits, epochz: 2}\n"
    )
    with pytest.raises(GraphspecError) as info:
        load("three.yaml", text=text)
    got = [(d.code, d.location.line) for d in info.value.diagnostics]
    assert got == [("unknown-ref", 6), ("expr-syntax", 7), ("shape-nonpositive", 8), ("unknown-field", 10)]


def test_params_using_a_failed_param_are_not_echoed():
    text = "graphspec: 1\nparams:\n  a: '${1 / 0}'\n  b: '${a + 1}'\n  c: '${b * 2}'\n  d: '${nope}'\ninputs: {x: {shape: [2]}}\nnodes: {r: {op: ReLU, in: x}}\noutputs: r\n"
    with pytest.raises(GraphspecError) as info:
        load("p.yaml", text=text)
    assert [(d.code, d.location.line) for d in info.value.diagnostics] == [("expr-zero-division", 3), ("expr-name", 6)]
