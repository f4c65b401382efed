"""Graph building: blocks, repeat, Sequential, ports, share, several graphs, symbolic dims."""

from __future__ import annotations

import textwrap

import pytest

from graphspec.errors import GraphspecError
from graphspec.graph import build as build_mod
from graphspec.pipeline import load

HEAD = "graphspec: 1\n"


def spec(text: str, **kw):
    return load("t.yaml", text=textwrap.dedent(text), **kw)


def errors(text: str, **kw):
    with pytest.raises(GraphspecError) as info:
        spec(text, **kw)
    return [d for d in info.value.diagnostics if d.severity == "error"]


def shape(graph, node_id, port=0):
    return graph.node(node_id)["meta"]["types"][port].shape


# -- blocks -----------------------------------------------------------------------

BLOCKS = """
graphspec: 1
blocks:
  dense:
    params:
      width: {type: int, doc: output features}      # required (no default)
      act: {type: bool, default: true}
      scale: 2
    inputs: [x]
    nodes:
      fc: {op: Linear, in: x, out_features: "${width * scale}"}
      relu: {op: ReLU, in: fc}
    outputs: {y: relu, pre: fc}
inputs:
  x: {shape: [batch, 16]}
nodes:
  a: {op: dense, in: x, width: 8}
  b: {op: dense, in: a, width: 3, scale: 1}
outputs: {out: b, pre: a.pre}
"""


def test_block_params_defaults_and_expressions():
    g = spec(BLOCKS).graph()
    assert [n for n in g.op_nodes()] == ["a.fc", "a.relu", "b.fc", "b.relu"]
    assert shape(g, "a.fc") == ("batch", 16)  # width 8 * default scale 2
    assert shape(g, "b.fc") == ("batch", 3)
    assert g.outputs == {"out": ("b.relu", 0), "pre": ("a.fc", 0)}
    assert g.node("b.fc")["scope"] == [("b", "dense")]


def test_block_param_required_unknown_and_typed():
    text = BLOCKS.replace("b: {op: dense, in: a, width: 3, scale: 1}", "b: {op: dense, in: a, widht: 3, act: 1, scale: 1.5}")
    errs = errors(text)
    codes = [(d.code, d.node) for d in errs]
    assert ("param-missing", "b") in codes
    assert ("param-unknown", "b") in codes
    assert ("param-type", "b") in codes
    unknown = next(d for d in errs if d.code == "param-unknown")
    assert unknown.hint == "did you mean 'width'?"
    typed = [d.message for d in errs if d.code == "param-type"]
    assert any("'act' must be bool" in m for m in typed)
    assert any("'scale' must be int. Received: 1.5" in m for m in typed)


def test_block_param_long_form_without_type_uses_default():
    text = BLOCKS.replace("scale: 2\n", "scale: {default: 2, doc: multiplier}\n")
    g = spec(text).graph()
    assert shape(g, "a.fc") == ("batch", 16)


def test_block_param_unknown_type_name_and_field():
    text = BLOCKS.replace("act: {type: bool, default: true}", "act: {type: boolean, defualt: true}")
    errs = errors(text)
    assert {d.code for d in errs} == {"param-type", "unknown-field"}
    assert all(d.location.line == 7 for d in errs)


def test_nested_blocks_paths_and_scope():
    text = """
    graphspec: 1
    blocks:
      inner:
        params: {w: 4}
        nodes: {fc: {op: Linear, in: x, out_features: "${w}"}}
        outputs: fc
      outer:
        params: {w: 4}
        nodes:
          first: {op: inner, in: x, w: "${w}"}
          second: {op: inner, in: first, w: "${w * 2}"}
        outputs: second
    inputs: {x: {shape: [2, 3]}}
    nodes:
      net: {op: outer, in: x, w: 5}
    outputs: net
    """
    g = spec(text).graph()
    assert list(g.op_nodes()) == ["net.first.fc", "net.second.fc"]
    assert shape(g, "net.second.fc") == (2, 10)
    assert g.node("net.second.fc")["scope"] == [("net", "outer"), ("net.second", "inner")]


def test_block_inputs_by_name_and_arity():
    text = """
    graphspec: 1
    blocks:
      merge:
        inputs: [a, b]
        nodes: {sum: {op: Add, in: [a, b]}}
        outputs: sum
    inputs: {x: {shape: [4]}, y: {shape: [4]}}
    nodes:
      m1: {op: merge, in: {b: y, a: x}}
      m2: {op: merge, in: [m1]}
      m3: {op: merge, in: {a: x, c: y}}
    outputs: [m1, m2, m3]
    """
    errs = errors(text)
    assert [(d.code, d.node) for d in errs] == [("arity", "m2"), ("unknown-port", "m3")]


def test_recursive_block_is_reported_not_expanded():
    text = """
    graphspec: 1
    blocks:
      a: {nodes: {n: {op: b, in: x}}, outputs: n}
      b: {nodes: {n: {op: a, in: x}}, outputs: n}
    inputs: {x: {shape: [4]}}
    nodes: {top: {op: a, in: x}}
    outputs: top
    """
    [err] = errors(text)
    assert err.code == "block"
    assert "a -> b -> a" in err.message


def test_runaway_expansion_is_capped(monkeypatch):
    monkeypatch.setattr(build_mod, "MAX_GRAPH_NODES", 500)
    text = """
    graphspec: 1
    blocks:
      b: {nodes: {r: {op: ReLU, in: x, repeat: 100}}, outputs: r}
    inputs: {x: {shape: [4]}}
    nodes: {top: {op: b, in: x, repeat: 100}}
    outputs: top
    """
    errs = errors(text)
    assert [d.code for d in errs] == ["too-large"]


def test_failing_block_expanded_exponentially_is_capped(monkeypatch):
    """Blocks that each use the next one twice, ending in an error: the calls are
    counted too, so this fails in bounded time instead of 2**30 failed calls."""
    monkeypatch.setattr(build_mod, "MAX_EXPANSION", 5000)
    blocks = "".join(f"  b{i}: {{nodes: {{l: {{op: b{i + 1}, in: x}}, r: {{op: b{i + 1}, in: x}}}}, outputs: l}}\n" for i in range(30))
    text = HEAD + "blocks:\n" + blocks + "  b30: {nodes: {bad: {op: NoSuchOp, in: x}}, outputs: bad}\n"
    text += "inputs: {x: {shape: [4]}}\nnodes: {top: {op: b0, in: x}}\noutputs: top\n"
    with pytest.raises(GraphspecError) as info:
        load("t.yaml", text=text)
    codes = [d.code for d in info.value.diagnostics]
    assert codes.count("unknown-op") == 1  # reported once, not once per use
    assert "too-large" in codes


# -- imports ----------------------------------------------------------------------


def test_imports_with_aliases_and_transitive_blocks(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.yaml").write_text(
        "graphspec: 1\nblocks:\n  fc: {params: {w: 4}, nodes: {l: {op: Linear, in: x, out_features: '${w}'}}, outputs: l}\n"
    )
    (tmp_path / "lib" / "mid.yaml").write_text(
        "graphspec: 1\nimports: {base: base.yaml}\nblocks:\n  two: {nodes: {a: {op: base.fc, in: x, w: 3}, b: {op: base.fc, in: a, w: 5}}, outputs: b}\n"
    )
    main = tmp_path / "main.yaml"
    main.write_text(
        "graphspec: 1\nimports: {m: lib/mid.yaml, b2: lib/base.yaml}\ninputs: {x: {shape: [2, 8]}}\n"
        "nodes:\n  net: {op: m.two, in: x}\n  head: {op: b2.fc, in: net, w: 7}\noutputs: head\n"
    )
    s = load(main)
    g = s.graph()
    assert list(g.op_nodes()) == ["net.a.l", "net.b.l", "head.l"]
    assert shape(g, "head.l") == (2, 7)
    # the transitive import is not re-exported under the importer's alias
    main.write_text(main.read_text().replace("op: b2.fc", "op: m.base.fc"))
    [err] = [d for d in pytest.raises(GraphspecError, load, main).value.diagnostics if d.severity == "error"]
    assert err.code == "unknown-op"


def test_import_cycle_is_reported_not_followed(tmp_path):
    (tmp_path / "a.yaml").write_text("graphspec: 1\nimports: {b: b.yaml}\nblocks: {}\n")
    (tmp_path / "b.yaml").write_text("graphspec: 1\nimports: {a: a.yaml}\nblocks: {}\n")
    main = tmp_path / "main.yaml"
    main.write_text("graphspec: 1\nimports: {a: a.yaml}\ninputs: {x: {shape: [2]}}\nnodes: {r: {op: ReLU, in: x}}\noutputs: r\n")
    with pytest.raises(GraphspecError) as info:
        load(main)
    [d] = info.value.diagnostics
    assert d.code == "import-cycle"
    assert "a.yaml -> b.yaml -> a.yaml" in d.message
    assert d.location.file.endswith("b.yaml") and d.location.line == 2


def test_spec_importing_itself(tmp_path):
    main = tmp_path / "main.yaml"
    main.write_text("graphspec: 1\nimports: {me: main.yaml}\ninputs: {x: {shape: [2]}}\nnodes: {r: {op: ReLU, in: x}}\noutputs: r\n")
    with pytest.raises(GraphspecError) as info:
        load(main)
    assert [d.code for d in info.value.diagnostics] == ["import-cycle"]


def test_bad_blocks_file(tmp_path):
    (tmp_path / "lib.yaml").write_text("graphspec: 2\nimports: {x: 5}\nnodes: {}\nblocks:\n  b: {nodes: {}, outputs: a, extra: 1}\n")
    main = tmp_path / "main.yaml"
    main.write_text("graphspec: 1\nimports: {lib: lib.yaml}\ninputs: {x: {shape: [2]}}\nnodes: {r: {op: ReLU, in: x}}\noutputs: r\n")
    with pytest.raises(GraphspecError) as info:
        load(main)
    got = [(d.code, d.location.line) for d in info.value.diagnostics]
    assert got == [("version", 1), ("bad-type", 2), ("unknown-field", 3), ("unknown-field", 5)]


# -- repeat and Sequential -----------------------------------------------------------


def test_repeat_numbers_children_and_binds_i():
    g = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, 4]}}
        nodes:
          fc: {op: Linear, in: x, out_features: "${8 * (i + 1)}", repeat: 3}
        outputs: fc
        """
    ).graph()
    assert list(g.op_nodes()) == ["fc.0", "fc.1", "fc.2"]
    assert [shape(g, f"fc.{i}")[-1] for i in range(3)] == [8, 16, 24]
    assert g.node("fc.1")["inputs"] == [("fc.0", 0)]
    assert g.outputs["fc"] == ("fc.2", 0)
    assert g.node("fc.0")["scope"] == [("fc", "repeat")]


def test_sequential_numbering_with_repeat_inside_layers():
    g = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, 4]}}
        nodes:
          body:
            op: Sequential
            in: x
            layers:
              - {op: Linear, out_features: 8}
              - {op: ReLU}
              - {op: Linear, out_features: "${4 + i}", repeat: 3}
              - op: Sequential
                layers: [{op: Linear, out_features: 2}, {op: Tanh}]
        outputs: body
        """
    ).graph()
    assert list(g.op_nodes()) == ["body.0", "body.1", "body.2", "body.3", "body.4", "body.5.0", "body.5.1"]
    assert [shape(g, f"body.{i}")[-1] for i in (2, 3, 4)] == [4, 5, 6]
    assert g.outputs["body"] == ("body.5.1", 0)
    assert g.node("body.5.0")["scope"] == [("body", "Sequential"), ("body.5", "Sequential")]


def test_sequential_rejects_in_share_and_empty_layers():
    errs = errors(
        """
        graphspec: 1
        inputs: {x: {shape: [4]}}
        nodes:
          a: {op: Sequential, in: x, layers: []}
          b: {op: Sequential, in: x, layers: [{op: ReLU, share: a}]}
          c: {op: Sequential, in: x, layers: [{op: ReLU}], extra: 1}
        outputs: [a, b, c]
        """
    )
    assert [(d.code, d.node) for d in errs] == [("bad-type", "a"), ("share", "b.0"), ("unknown-field", "c")]


def test_repeat_of_a_block_and_of_a_sequential():
    g = spec(
        """
        graphspec: 1
        blocks:
          unit: {nodes: {fc: {op: Linear, in: x, out_features: 4}}, outputs: fc}
        inputs: {x: {shape: [4]}}
        nodes:
          u: {op: unit, in: x, repeat: 2}
          s: {op: Sequential, in: u, repeat: 2, layers: [{op: ReLU}, {op: Linear, out_features: 4}]}
        outputs: s
        """
    ).graph()
    assert list(g.op_nodes()) == ["u.0.fc", "u.1.fc", "s.0.0", "s.0.1", "s.1.0", "s.1.1"]


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "'three'", "true", "10001", "'${1/0}'"])
def test_bad_repeat(value):
    [err] = errors(f"graphspec: 1\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  r: {{op: ReLU, in: x, repeat: {value}}}\noutputs: r\n")
    assert err.code in ("bad-value", "expr-zero-division")
    assert err.location.line == 4


# -- references and ports ------------------------------------------------------------

LSTM = """
graphspec: 1
dims: {batch: 2, seq: 5}
inputs:
  x: {shape: [batch, seq, 8]}
nodes:
  lstm: {op: LSTM, in: x, hidden_size: 16}
  last: {op: Select, in: lstm.output, dim: 1, index: -1}
  fc: {op: Linear, in: last, out_features: 3}
outputs: {logits: fc, h: lstm.h_n, c: lstm.c_n}
"""


def test_multi_output_refs_and_symbolic_dims():
    s = spec(LSTM)
    g = s.graph()
    assert g.node("last")["inputs"] == [("lstm", 0)]
    assert g.outputs["h"] == ("lstm", 1) and g.outputs["c"] == ("lstm", 2)
    assert shape(g, "lstm") == ("batch", "seq", 16)
    assert shape(g, "lstm", 1) == (1, "batch", 16)
    assert g.output_type("logits").shape == ("batch", 3)
    # MACs are counted at the example dims
    assert g.node("fc")["meta"]["macs"] == 2 * 16 * 3


def test_unknown_port_suggests():
    [err] = errors(LSTM.replace("lstm.c_n}", "lstm.c_m}"))
    assert err.code == "unknown-port"
    assert err.hint == "did you mean 'c_n'?"
    assert err.location.line == 10


def test_unknown_refs_everywhere_are_reported_once():
    errs = errors(
        """
        graphspec: 1
        params: {src: nowhere}
        blocks:
          b: {nodes: {r: {op: ReLU, in: x}}, outputs: {y: rr}}
        inputs: {x: {shape: [4]}}
        nodes:
          a: {op: ReLU, in: "${src}"}
          c: {op: b, in: x}
          d: {op: b, in: x}
          e: {op: ReLU, in: a}
        outputs: {o1: e, o2: missing, o3: c, o4: d}
        """
    )
    assert [(d.code, d.location.line) for d in errs] == [("unknown-ref", 5), ("unknown-ref", 8), ("unknown-ref", 12)]
    assert "'rr'" in errs[0].message and errs[0].hint == "did you mean 'r'?"
    assert "'nowhere'" in errs[1].message
    assert "output 'o2'" in errs[2].message


def test_expression_refs_order_the_scope():
    g = spec(
        """
        graphspec: 1
        params: {which: late}
        inputs: {x: {shape: [4]}}
        nodes:
          early: {op: ReLU, in: "${which}"}
          late: {op: Tanh, in: x}
        outputs: early
        """
    ).graph()
    assert g.node("early")["inputs"] == [("late", 0)]


def test_cycle_message_and_other_nodes_still_checked():
    errs = errors(
        """
        graphspec: 1
        inputs: {x: {shape: [4]}}
        nodes:
          a: {op: Add, in: [x, c]}
          b: {op: ReLU, in: a}
          c: {op: ReLU, in: b}
          self: {op: ReLU, in: self}
          other: {op: Linear, in: x, out_features: 0}
        outputs: [c, self, other]
        """
    )
    assert [d.code for d in errs] == ["cycle", "cycle", "bad-value"]
    assert "a -> b -> c -> a" in errs[0].message
    assert "self -> self" in errs[1].message


def test_node_without_op_referenced_by_others():
    [err] = errors("graphspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  a: {in: x}\n  b: {op: ReLU, in: a}\noutputs: b\n")
    assert err.code == "missing-field" and err.location.line == 4


@pytest.mark.parametrize("outputs", ["{}", "[]"])
def test_no_outputs(outputs):
    [err] = errors(f"graphspec: 1\ninputs: {{x: {{shape: [4]}}}}\nnodes: {{r: {{op: ReLU, in: x}}}}\noutputs: {outputs}\n")
    assert err.code == "bad-value"


def test_block_without_outputs():
    [err] = errors("graphspec: 1\nblocks: {b: {nodes: {r: {op: ReLU, in: x}}, outputs: []}}\ninputs: {x: {shape: [4]}}\nnodes: {r: {op: b, in: x}}\noutputs: r\n")
    assert err.code == "bad-value" and "block 'b'" in err.message


# -- share -----------------------------------------------------------------------------


def test_share_counts_parameters_once():
    s = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, 8]}, y: {shape: [batch, 8]}}
        nodes:
          enc_x: {op: Linear, in: x, out_features: 4}
          enc_y: {op: Linear, in: y, out_features: 4, share: enc_x}
          sum: {op: Add, in: [enc_x, enc_y]}
        outputs: sum
        """
    )
    g = s.graph()
    assert g.node("enc_y")["module"] == "enc_x"
    assert g.node("enc_x")["meta"]["params"] == 36
    assert g.node("enc_y")["meta"]["params"] == 0
    assert g.total_params == 36
    assert g.node("enc_y")["meta"]["macs"] == g.node("enc_x")["meta"]["macs"] == 32


def test_share_errors():
    errs = errors(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, 8]}, y: {shape: [batch, 6]}}
        nodes:
          a: {op: Linear, in: x, out_features: 4}
          b: {op: Linear, in: x, out_features: 5, share: a}
          c: {op: ReLU, in: x, share: a}
          d: {op: Linear, in: x, out_features: 4, share: x}
          e: {op: Linear, in: y, out_features: 4, share: a}
          f: {op: Linear, in: x, out_features: 4, share: a, repeat: 2}
        outputs: [a, b, c, d, e, f]
        """
    )
    # e's mismatch is found by the cost pass, which runs once the graph builds
    assert [(d.code, d.node) for d in errs] == [("share", n) for n in "bcdf"]


# -- several graphs ---------------------------------------------------------------------


def test_several_graphs_share_blocks_and_params():
    s = spec(
        """
        graphspec: 1
        params: {latent: 3}
        blocks:
          dec: {nodes: {fc: {op: Linear, in: z, out_features: 8}}, inputs: [z], outputs: fc}
        graphs:
          full:
            inputs: {x: {shape: [batch, 8]}}
            nodes:
              enc: {op: Linear, in: x, out_features: "${latent}"}
              decoder: {op: dec, in: enc}
            outputs: {recon: decoder, code: enc}
          decoder:
            inputs: {z: {shape: [batch, "${latent}"]}}
            nodes:
              decoder: {op: dec, in: z}
            outputs: {image: decoder}
        """
    )
    assert list(s.graphs) == ["full", "decoder"]
    assert list(s.graph("decoder").op_nodes()) == ["decoder.fc"]
    assert s.graph("full").total_params == 27 + 32
    with pytest.raises(GraphspecError) as info:
        s.graph()
    assert info.value.diagnostics[0].code == "unknown-graph"
    with pytest.raises(GraphspecError) as info:
        s.graph("decodr")
    assert info.value.diagnostics[0].hint == "did you mean 'decoder'?"


def test_graph_name_must_be_an_identifier():
    errs = errors("graphspec: 1\ngraphs:\n  my-graph:\n    inputs: {x: {shape: [1]}}\n    nodes: {r: {op: ReLU, in: x}}\n    outputs: r\n")
    assert [d.code for d in errs] == ["bad-name"]


# -- inputs -------------------------------------------------------------------------


def test_input_dims_from_params_and_symbols():
    g = spec(
        """
        graphspec: 1
        params: {c: 3}
        inputs:
          img: {shape: [batch, "${c}", h, w], dtype: float16}
        nodes: {r: {op: ReLU, in: img}}
        outputs: r
        """
    ).graph()
    assert g.inputs["img"].type.shape == ("batch", 3, "h", "w")
    assert g.inputs["img"].type.dtype == "float16"


def test_bad_input_dims_all_reported():
    errs = errors(
        """
        graphspec: 1
        inputs:
          x: {shape: [0, "${1/0}", "a b", "${2.5}", 10000000000]}
        nodes: {r: {op: ReLU, in: x}}
        outputs: r
        """
    )
    assert [d.code for d in errs] == ["bad-value", "expr-zero-division", "bad-value", "bad-type", "too-large"]
    assert [d.location.col for d in errs] == sorted(d.location.col for d in errs)


def test_block_named_like_a_builtin_op():
    errs = errors(
        """
        graphspec: 1
        blocks:
          Linear: {nodes: {r: {op: ReLU, in: x}}, outputs: r}
        inputs: {x: {shape: [4]}}
        nodes: {a: {op: ReLU, in: x}}
        outputs: a
        """
    )
    assert [(d.code, d.location.line) for d in errs] == [("bad-name", 4)]


# -- stacks with extra inputs, lexical params, share on blocks --------------------------

STACK = """
graphspec: 1
params: {w: 16}
blocks:
  res:
    inputs: [x, ctx]
    params: {h: "${w * 2}"}          # shorthand default from a spec param: type of its value
    nodes:
      a: {op: Linear, in: x, out_features: "${h}"}
      b: {op: Linear, in: a, out_features: "${w}"}
      add: {op: Add, in: [b, ctx]}
    outputs: add
inputs:
  x: {shape: [batch, "${w}"]}
nodes:
  body: {op: res, in: [x, x], repeat: 3}
  tail: {op: Add, in: [body, x], repeat: 2}
outputs: {y: tail}
"""


def test_repeat_passes_extra_inputs_to_every_copy():
    g = spec(STACK).graph()
    # copy 1 reads copy 0's output as x and the graph input as ctx
    assert g.node("body.1.a")["inputs"] == [("body.0.add", 0)]
    assert g.node("body.1.add")["inputs"] == [("body.1.b", 0), ("x", 0)]
    assert g.node("tail.1")["inputs"] == [("tail.0", 0), ("x", 0)]


def test_spec_blocks_see_spec_params_and_expression_defaults():
    g = spec(STACK, set={"params.w": 8}).graph()
    assert shape(g, "body.0.a") == ("batch", 16)  # h = w * 2
    assert shape(g, "body.2.b") == ("batch", 8)


def test_share_on_a_block_call_is_an_error():
    errs = errors(
        """
        graphspec: 1
        blocks:
          one:
            nodes: {fc: {op: Linear, in: x, out_features: 4}}
            outputs: fc
        inputs: {x: {shape: [batch, 4]}}
        nodes:
          a: {op: one, in: x}
          b: {op: one, in: a, share: a}
        outputs: {y: b}
        """
    )
    assert [e.code for e in errs] == ["share"]
